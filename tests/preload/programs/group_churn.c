/* Group churn (the jemalloc engine): 3 rounds of 10,000 groups created,
 * used (a 64 B, 1,000 B, 40,000 B and 300,000 B block each, the first 64
 * bytes of each written) and
 * destroyed, 100 of them live at a time, through the C ABI (dlsym).
 * Every allocation succeeds, every block belongs to its group, each group
 * reads exactly what holds its blocks (the two small ones: the pages of
 * their slabs that their regions crossed, read once they are allocated, at
 * most two pages each; the large ones: their usable sizes), the same slab
 * pages and the large blocks' pages once the blocks are freed (a bin keeps
 * its empty slab; the arena keeps the pages dirty, charged as the group's
 * free pages) and 0 after mg_group_reclaim gave them back, and
 * after each round RssAnon is at most 16 MiB above its value before the
 * first, and later rounds leave at most 1 MiB more than the first: a
 * destroyed group's slabs and pages go back, and its arena is reused by a
 * later group (the pool of idle arenas) or destroyed with its chunks.
 * (What stays is a high-water mark of the groups allocating at once, about
 * 58 KB each, reused by later groups: jemalloc's per-arena ctl statistics
 * and the slab-bin pool; and the bases of at most 32 idle arenas, about
 * 51 KB each; docs/perf.md, "Groups".)
 * Prints "group_churn: OK" and exits 0 on success. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>

#include "preloaded.h"
#include "memgroup/memgroup.h"

#define ROUNDS 3
#define GROUPS 10000
#define WINDOW 100


static const size_t kSizes[] = {64, 1000, 40000, 300000};
/* Bytes written and checked at the start of each block: page faults are
 * slow on this project's CI machines, and the blocks' own pages are not
 * what is measured. */
static const size_t kTouch = 64;
#define NSIZES 4
/* Blocks of up to 14 KiB are slab regions, charged by the pages of their
 * slab that regions have crossed (src/engine/slab.h); the first two sizes
 * are small, the others large. */
#define NSMALL 2
#define PAGE 4096

int main(void) {
  MG_NEED(root, mg_root);
  MG_NEED(create, mg_group_create);
  MG_NEED(destroy, mg_group_destroy);
  MG_NEED(malloc_in, mg_malloc_in);
  MG_NEED(block_group, mg_block_group);
  MG_NEED(current, mg_group_current);
  MG_NEED(usable, malloc_usable_size);
  MG_NEED(reclaim, mg_group_reclaim);

  static mg_group_t live[WINDOW];
  static void* blocks[WINDOW][NSIZES];
  static int64_t slab_pages[WINDOW]; /* the small blocks' charge */
  const long start = RssAnonKib();
  long worst = 0, first = 0;
  for (int r = 0; r < ROUNDS; ++r) {
    for (int i = 0; i < GROUPS + WINDOW; ++i) {
      const int w = i % WINDOW;
      if (i >= WINDOW) {
        int64_t expect = 0, kept = slab_pages[w], bytes = -1;
        for (int k = 0; k < NSIZES; ++k) {
          mg_group_t g = 0;
          MG_EXPECT(block_group(blocks[w][k], &g) == 0 && g == live[w]);
          MG_EXPECT(Check(blocks[w][k], kTouch, (unsigned)(i - WINDOW + k)));
          if (k >= NSMALL) {
            const int64_t u = (int64_t)usable(blocks[w][k]);
            expect += u;
            kept += u;
          }
        }
        expect += slab_pages[w];
        MG_EXPECT(current(live[w], 1, &bytes) == 0);
        if (bytes != expect) {
          fprintf(stderr, "round %d group %d reads %lld, blocks %lld\n", r,
                  i - WINDOW, (long long)bytes, (long long)expect);
          return 1;
        }
        for (int k = 0; k < NSIZES; ++k) free(blocks[w][k]);
        MG_EXPECT(current(live[w], 1, &bytes) == 0);
        if (bytes != kept) {
          fprintf(stderr, "round %d group %d reads %lld after its frees,"
                  " expected %lld\n", r, i - WINDOW, (long long)bytes,
                  (long long)kept);
          return 1;
        }
        int64_t released = 0;
        MG_EXPECT(reclaim(live[w], INT64_MAX / 2, &released) == 0 &&
                  released == kept);
        MG_EXPECT(current(live[w], 1, &bytes) == 0 && bytes == 0);
        MG_EXPECT(destroy(live[w]) == 0);
      }
      if (i >= GROUPS) continue;
      char name[32];
      snprintf(name, sizeof(name), "c%d", i);
      MG_EXPECT(create(root(), name, &live[w]) == 0);
      for (int k = 0; k < NSIZES; ++k) {
        blocks[w][k] = malloc_in(live[w], kSizes[k]);
        MG_EXPECT(blocks[w][k] != NULL);
        Fill(blocks[w][k], kTouch, (unsigned)(i + k));
        if (k + 1 == NSMALL) {
          MG_EXPECT(current(live[w], 1, &slab_pages[w]) == 0);
          MG_EXPECT(slab_pages[w] > 0 && slab_pages[w] % PAGE == 0 &&
                    slab_pages[w] <= NSMALL * 2 * PAGE);
        }
      }
    }
    const long rss = RssAnonKib();
    printf("round %d: RssAnon %ld KiB (%+ld KiB)\n", r, rss, rss - start);
    if (rss - start > worst) worst = rss - start;
    if (r == 0) first = rss - start;
    MG_EXPECT(rss - start - first <= 1024);
  }
  MG_EXPECT(worst <= 16 * 1024);
  printf("group_churn: OK\n");
  return 0;
}
