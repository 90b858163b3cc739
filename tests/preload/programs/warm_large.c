// Freed large blocks: their pages are reused by the next large block without
// being faulted in again, and the freed memory a group keeps is bounded
// (src/engine/warm_large.h: 128 MiB, checked every 16 MiB freed). The reuse
// is checked only under memgroup (found by its C interface): other
// allocators may unmap a freed block. The bound holds under any of them.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"

enum { kMiB = 1 << 20, kBlocks = 16 };

static long MinorFaults(void) {
  struct rusage ru;
  MG_EXPECT(getrusage(RUSAGE_SELF, &ru) == 0);
  return ru.ru_minflt;
}

static size_t RssBytes(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  MG_EXPECT(f != NULL);
  unsigned long size = 0, resident = 0;
  MG_EXPECT(fscanf(f, "%lu %lu", &size, &resident) == 2);
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void Touch(char* p, size_t n) {
  for (size_t off = 0; off < n; off += 4096) p[off] = 1;
  Escape(p);
}

int main(void) {
  const int memgroup = dlsym(RTLD_DEFAULT, "mg_root") != NULL;
  const size_t block = 20 * (size_t)kMiB;
  const size_t pages = block / 4096;

  // Reuse: the second block takes the first one's pages.
  char* p = malloc(block);
  MG_EXPECT(p != NULL);
  Touch(p, block);
  free(p);
  long before = MinorFaults();
  p = malloc(block);
  MG_EXPECT(p != NULL);
  Touch(p, block);
  long faults = MinorFaults() - before;
  free(p);
  printf("faults of a reused 20 MiB block: %ld of %zu pages\n", faults, pages);
  if (memgroup) MG_EXPECT(faults < (long)(pages / 4));

  // Bound: 16 blocks of 20 MiB alive (320 MiB resident), then all freed.
  // Without the bound all of it would stay dirty.
  static char* blocks[kBlocks];
  const size_t base = RssBytes();
  for (int i = 0; i < kBlocks; ++i) {
    blocks[i] = malloc(block);
    MG_EXPECT(blocks[i] != NULL);
    Touch(blocks[i], block);
  }
  for (int i = 0; i < kBlocks; ++i) free(blocks[i]);
  const size_t rss = RssBytes();
  const size_t kept = rss > base ? rss - base : 0;
  printf("resident after freeing 320 MiB: %zu MiB above the start\n",
         kept / kMiB);
  // 128 MiB + 16 MiB between checks + 16 MiB of slack (metadata, stack).
  MG_EXPECT(kept <= (size_t)160 * kMiB);
  printf("warm_large: OK\n");
  return 0;
}
