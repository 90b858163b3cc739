/* 65,535 groups in one process (the jemalloc engine), through the C ABI
 * (mg_* found with dlsym; memgroup.h for the types only):
 *  - all 65,535 children of the root are created; the next create gets
 *    ENOSPC; an empty group costs at most 4 KiB of RSS (RssAnon);
 *  - a 64-byte and a 40,000-byte block are allocated in each group until
 *    the first group that cannot get an arena (at least 4,000 groups get
 *    one); from there on every allocation fails (ENOMEM: never a block of
 *    another group) and binding a thread to such a group gives ENOSPC;
 *  - every block's owner is its group, and each group reads exactly
 *    its 64-byte block's slab pages (those its regions crossed, read
 *    once it is allocated: one or two pages) + 40,960 bytes (the large
 *    block's usable size); RSS per allocating group is at most 256 KiB;
 *  - once its blocks are freed a group reads those slab pages + 40,960
 *    (its bin keeps the empty slab, and its arena the large block's
 *    pages, both still charged), and 0 after mg_group_reclaim gave them
 *    back;
 *  - after every block is freed and every group destroyed, RSS is at most
 *    64 KiB per group that held an arena above what the empty groups and
 *    the probes of the groups without one cost (the registry entries stay
 *    for the next groups; per arena index ever used at once, jemalloc's ctl
 *    statistics, about 50 KB, stay in jemalloc's base and are reused by
 *    later arenas; up to 32 arenas stay idle in the pool, purged;
 *    docs/perf.md), and a new group allocates again.
 * Prints "many_groups: OK" and exits 0 on success. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>

#include "preloaded.h"
#include "memgroup/memgroup.h"

#define NGROUPS 65535
#define SMALL 64
#define LARGE 40000
#define LARGE_USABLE 40960
#define PAGE 4096


int main(void) {
  MG_NEED(root, mg_root);
  MG_NEED(create, mg_group_create);
  MG_NEED(destroy, mg_group_destroy);
  MG_NEED(malloc_in, mg_malloc_in);
  MG_NEED(block_group, mg_block_group);
  MG_NEED(current, mg_group_current);
  MG_NEED(set_group, mg_thread_set_group);
  MG_NEED(reclaim, mg_group_reclaim);

  mg_group_t* groups = calloc(NGROUPS, sizeof(*groups));
  void** small = calloc(NGROUPS, sizeof(void*));
  void** large = calloc(NGROUPS, sizeof(void*));
  /* The small block's charge: the pages of its slab its regions crossed. */
  int64_t* slab_pages = calloc(NGROUPS, sizeof(int64_t));
  MG_EXPECT(groups != NULL && small != NULL && large != NULL &&
            slab_pages != NULL);
  const long start = RssAnonKib();
  for (int i = 0; i < NGROUPS; ++i) {
    char name[32];
    snprintf(name, sizeof(name), "g%d", i);
    int err = create(root(), name, &groups[i]);
    if (err != 0) {
      fprintf(stderr, "create %d failed: %d\n", i, err);
      return 1;
    }
  }
  mg_group_t extra = 0;
  MG_EXPECT(create(root(), "one-too-many", &extra) == ENOSPC);
  const long empty = RssAnonKib();
  const double per_empty = (double)(empty - start) * 1024.0 / NGROUPS;
  printf("empty group: %.0f bytes of RSS\n", per_empty);
  MG_EXPECT(per_empty <= 4096.0);

  int allocating = 0;
  for (; allocating < NGROUPS; ++allocating) {
    small[allocating] = malloc_in(groups[allocating], SMALL);
    if (small[allocating] == NULL) break;
    MG_EXPECT(current(groups[allocating], 1, &slab_pages[allocating]) == 0);
    MG_EXPECT(slab_pages[allocating] > 0 &&
              slab_pages[allocating] % PAGE == 0 &&
              slab_pages[allocating] <= 2 * PAGE);
    large[allocating] = malloc_in(groups[allocating], LARGE);
    MG_EXPECT(large[allocating] != NULL);
    Fill(small[allocating], SMALL, (unsigned)allocating);
    Fill(large[allocating], LARGE, (unsigned)allocating);
  }
  printf("groups with blocks: %d\n", allocating);
  MG_EXPECT(allocating >= 4000);
  /* Past the arenas: every group without one is refused, never served
   * from another group's memory. The probes read those groups' engine
   * entries, which on a kernel without a shared zero page (a read of an
   * untouched anonymous page gives it a page of its own) costs RSS that
   * no group holds: measured, and left out of the bound after the
   * destroys. */
  const long probe_start = RssAnonKib();
  for (int i = allocating; i < NGROUPS; i += 97) {
    errno = 0;
    void* p = malloc_in(groups[i], SMALL);
    MG_EXPECT(p == NULL && errno == ENOMEM);
    MG_EXPECT(malloc_in(groups[i], LARGE) == NULL);
    int64_t bytes = -1;
    MG_EXPECT(current(groups[i], 1, &bytes) == 0 && bytes == 0);
  }
  if (allocating < NGROUPS) {
    MG_EXPECT(set_group(groups[allocating]) == ENOSPC);
  }
  const long used = RssAnonKib();
  const long probes = used - probe_start;
  const double per_used =
      allocating ? (double)(used - empty - probes) * 1024.0 / allocating : 0.0;
  printf("group with blocks: %.0f bytes of RSS\n", per_used);
  MG_EXPECT(per_used <= 256.0 * 1024.0);
  for (int i = 0; i < allocating; ++i) {
    mg_group_t g = 0;
    MG_EXPECT(block_group(small[i], &g) == 0 && g == groups[i]);
    MG_EXPECT(block_group(large[i], &g) == 0 && g == groups[i]);
    MG_EXPECT(Check(small[i], SMALL, (unsigned)i));
    MG_EXPECT(Check(large[i], LARGE, (unsigned)i));
    int64_t bytes = -1;
    MG_EXPECT(current(groups[i], 1, &bytes) == 0);
    if (bytes != slab_pages[i] + LARGE_USABLE) {
      fprintf(stderr, "group %d reads %lld\n", i, (long long)bytes);
      return 1;
    }
  }
  for (int i = 0; i < NGROUPS; ++i) {
    if (i < allocating) {
      free(small[i]);
      free(large[i]);
      int64_t bytes = -1, released = 0;
      MG_EXPECT(current(groups[i], 1, &bytes) == 0);
      // The spare slab's pages and the large block's pages (its free pages).
      if (bytes != slab_pages[i] + LARGE_USABLE) {
        fprintf(stderr, "group %d reads %lld after its frees\n", i,
                (long long)bytes);
        return 1;
      }
      MG_EXPECT(reclaim(groups[i], INT64_MAX / 2, &released) == 0 &&
                released == slab_pages[i] + LARGE_USABLE);
      MG_EXPECT(current(groups[i], 1, &bytes) == 0 && bytes == 0);
    }
    MG_EXPECT(destroy(groups[i]) == 0);
  }
  const long end = RssAnonKib();
  printf("RSS: start %ld KiB, empty groups %ld, with blocks %ld (probes %ld),"
         " destroyed %ld\n", start, empty, used, probes, end);
  MG_EXPECT((end - empty - probes) * 1024 / allocating <= 64 * 1024);
  /* The slots and arenas are reusable. */
  mg_group_t again = 0;
  MG_EXPECT(create(root(), "again", &again) == 0);
  void* p = malloc_in(again, 300000);
  mg_group_t g = 0;
  MG_EXPECT(p != NULL && block_group(p, &g) == 0 && g == again);
  free(p);
  MG_EXPECT(destroy(again) == 0);
  printf("many_groups: OK\n");
  return 0;
}
