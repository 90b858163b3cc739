// The fragmented-heap probe of docs/perf.md and docs/preload.md ("What the
// limit bounds"): fills 48 MiB with blocks of SIZE bytes (default 20480),
// each written, frees 15 of every 16, then writes 1 MiB blocks until malloc
// refuses one, and prints the peak RssAnon (KiB, /proc/self/status) it saw.
// Run it under a limit: `memgroup run [--engine E] --max 64M --
// build/release/bench/fragment_probe SIZE`; the limit bounds RSS when the
// peak stays within 64 MiB x 1.02 + 4 MiB (70,942 KiB).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long RssAnonKiB(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "RssAnon:", 8) == 0) kib = atol(line + 8);
  }
  fclose(f);
  return kib;
}

int main(int argc, char** argv) {
  const size_t size = argc > 1 ? strtoul(argv[1], NULL, 10) : 20480;
  if (size == 0) {
    fprintf(stderr, "usage: fragment_probe [SIZE]\n");
    return 2;
  }
  const size_t n = ((size_t)48 << 20) / size;
  char** blocks = malloc(n * sizeof *blocks);
  if (blocks == NULL) return 1;
  for (size_t i = 0; i < n; ++i) {
    blocks[i] = malloc(size);
    if (blocks[i] == NULL) return 1;
    memset(blocks[i], 1, size);
  }
  long peak = RssAnonKiB();
  for (size_t i = 0; i < n; ++i) {
    if (i % 16 != 0) free(blocks[i]);
  }
  const long after_free = RssAnonKiB();
  size_t big = 0;
  for (;;) {
    char* p = malloc((size_t)1 << 20);
    if (p == NULL) break;
    memset(p, 1, (size_t)1 << 20);
    ++big;
    const long rss = RssAnonKiB();
    if (rss > peak) peak = rss;
  }
  printf("block %zu: after the frees %ld KiB, 1 MiB blocks %zu, peak %ld KiB\n",
         size, after_free, big, peak);
  return 0;
}
