/* The decay of free pages returns them to the OS (the jemalloc engine, whose
 * group arenas have jemalloc's own decay off: engine/warm_large.h):
 *  A. group "a" frees 32 MiB of touched 8 MiB blocks: they stay resident,
 *     charged to it as its free pages; idle for the decay (3 s, scanned every
 *     second), they go back: RssAnon falls by at least 28 MiB and the group
 *     reads 0.
 *  B. group "b" shrinks a touched 12 MiB block to 5 MiB in place (realloc):
 *     the 7 MiB tail stays dirty in its arena with no count (below the
 *     16 MiB after which warm_large.h's check charges or purges it; the
 *     group reads 5 MiB, the live block); the decay purges it too: RssAnon
 *     falls by at least 6 MiB.
 * The program drives the decay itself (an allocation slow path every
 * 50 ms: mg_malloc_in of the root group) and waits at most 10 s for each
 * fall; jemalloc's own decay would not run in those idle arenas, and
 * without the decay's mark of B's arena nothing would purge it.
 * Prints the RssAnon figures and "decay_resident: OK". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <time.h>

#include "preloaded.h"
#include "memgroup/memgroup.h"

#define MIB (1024L * 1024L)

static void Nap(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void) {
  MG_NEED(root, mg_root);
  MG_NEED(create, mg_group_create);
  MG_NEED(malloc_in, mg_malloc_in);
  MG_NEED(current, mg_group_current);

  mg_group_t a = 0, b = 0;
  MG_EXPECT(create(root(), "a", &a) == 0 && create(root(), "b", &b) == 0);
  int64_t bytes = -1;

  /* A: 32 MiB freed, kept charged as a's free pages. */
  void* blocks[4];
  for (int i = 0; i < 4; ++i) {
    blocks[i] = malloc_in(a, 8 * MIB);
    MG_EXPECT(blocks[i] != NULL);
    memset(blocks[i], 0x5a, 8 * MIB);
  }
  for (int i = 0; i < 4; ++i) free(blocks[i]);
  MG_EXPECT(current(a, 1, &bytes) == 0);
  if (bytes < 32 * MIB) {
    fprintf(stderr, "a reads %lld after its frees, below 32 MiB\n",
            (long long)bytes);
    return 1;
  }

  /* B: a 12 MiB block shrunk in place to 5 MiB. */
  char* p = malloc_in(b, 12 * MIB);
  MG_EXPECT(p != NULL);
  memset(p, 0x33, 12 * MIB);
  char* q = realloc(p, 5 * MIB);
  MG_EXPECT(q != NULL);
  if (q != p) {
    fprintf(stderr, "the shrink moved the block: not the case tested\n");
    return 1;
  }
  MG_EXPECT(current(b, 1, &bytes) == 0);
  if (bytes > 6 * MIB) {
    fprintf(stderr, "b reads %lld: the tail was charged\n", (long long)bytes);
    return 1;
  }

  const long high = RssAnonKib();
  printf("RssAnon with the free pages and the tail: %ld KiB\n", high);
  /* Both must go: 32 MiB of A and 7 MiB of B (with 1 MiB of slack each). */
  const long want = high - (28 + 6) * 1024;
  const double start = Now();
  long rss = high;
  while (Now() - start < 10.0) {
    free(malloc_in(root(), 64));  /* a slow path: drives the decay */
    rss = RssAnonKib();
    if (rss <= want) break;
    Nap(50);
  }
  printf("after %.1f s: RssAnon %ld KiB (%+ld KiB)\n", Now() - start, rss,
         rss - high);
  if (rss > want) {
    fprintf(stderr, "free pages still resident after the decay: RssAnon"
            " %ld KiB, want at most %ld\n", rss, want);
    return 1;
  }
  MG_EXPECT(current(a, 1, &bytes) == 0 && bytes == 0);
  MG_EXPECT(current(b, 1, &bytes) == 0 && bytes <= 6 * MIB);
  memset(q, 0x44, 5 * MIB);  /* the live block is intact and usable */
  free(q);
  printf("decay_resident: OK\n");
  return 0;
}
