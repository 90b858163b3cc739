/* Shape 4, slow leak: a long loop that allocates blocks of 16 to 512 bytes
 * and keeps a growing fraction of them for the rest of the run (from 0 at
 * the start to 10% at the end, as a program with a slow leak or a growing
 * cache does); the others live briefly (a window of the last 1,024 blocks)
 * and are freed. The kept blocks are freed at the end. Prints the wall time.
 * usage: slow_leak [BLOCKS]   (default 4000000) */
#define _GNU_SOURCE
#include <string.h>

#include "shape_common.h"

enum { kWindow = 1024 };

int main(int argc, char** argv) {
  const long blocks = shape_arg(argc, argv, 1, 4000000);
  /* Upper bound of the kept blocks: 10% at the end, so 5% on average; the
   * array is sized for the worst case of the draws. */
  const long cap = blocks / 10 + 1;
  void** kept = malloc((size_t)cap * sizeof(void*));
  void* window[kWindow] = {0};
  if (kept == NULL) return 1;
  long nkept = 0;
  uint64_t rng = 4;
  const double start = shape_now();
  for (long n = 0; n < blocks; ++n) {
    const size_t size = 16 + (size_t)(shape_rand(&rng) % 497);
    char* p = malloc(size);
    if (p == NULL) {
      fprintf(stderr, "slow_leak: malloc(%zu) failed\n", size);
      return 1;
    }
    memset(p, (int)n, size < 64 ? size : 64);
    /* Keep with probability 0.1 * n / blocks (a 20-bit draw). */
    const uint64_t draw = shape_rand(&rng) & ((1u << 20) - 1);
    const uint64_t threshold = (uint64_t)((double)n / (double)blocks * 0.1 * (1u << 20));
    if (draw < threshold && nkept < cap) {
      kept[nkept++] = p;
    } else {
      const long w = n % kWindow;
      free(window[w]);
      window[w] = p;
    }
  }
  for (int w = 0; w < kWindow; ++w) free(window[w]);
  for (long i = 0; i < nkept; ++i) free(kept[i]);
  free(kept);
  const double elapsed = shape_now() - start;
  fprintf(stderr, "slow_leak: kept %ld of %ld blocks\n", nkept, blocks);
  shape_result("wall_s", elapsed);
  return 0;
}
