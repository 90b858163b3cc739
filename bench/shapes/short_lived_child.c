/* The child of shape 5 (short_lived): a tiny program doing a little
 * allocation, as a short command does: 2,000 blocks of 16 to 1,024 bytes,
 * a 256 KiB buffer, a few reallocs, everything freed. Exit status 0. */
#define _GNU_SOURCE
#include <string.h>

#include "shape_common.h"

enum { kBlocks = 2000 };

int main(void) {
  static void* blocks[kBlocks];
  uint64_t rng = 5;
  for (int i = 0; i < kBlocks; ++i) {
    const size_t size = 16 + (size_t)(shape_rand(&rng) % 1009);
    blocks[i] = malloc(size);
    if (blocks[i] == NULL) return 1;
    memset(blocks[i], i, 16);
  }
  char* buf = malloc(256 << 10);
  if (buf == NULL) return 1;
  memset(buf, 1, 256 << 10);
  for (int i = 0; i < 64; ++i) {
    void* p = realloc(blocks[i], 2048 + (size_t)i * 64);
    if (p == NULL) return 1;
    blocks[i] = p;
  }
  for (int i = kBlocks - 1; i >= 0; --i) free(blocks[i]);
  shape_keep(buf);
  free(buf);
  return 0;
}
