/* Shape 1, large blocks: allocates blocks of 5 to 25 MiB, touches one byte
 * per page of each (so every page is faulted in, as a program that uses its
 * buffer does), and frees them, with at most 4 alive at once, for a fixed
 * number of iterations. Prints the wall time.
 * usage: large_blocks [ITERATIONS]   (default 40) */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "shape_common.h"

enum { kAlive = 4 };

int main(int argc, char** argv) {
  const long iterations = shape_arg(argc, argv, 1, 40);
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t min_size = (size_t)5 << 20, span = (size_t)20 << 20;
  uint64_t rng = 1;
  char* alive[kAlive] = {0};
  const double start = shape_now();
  for (long i = 0; i < iterations; ++i) {
    const int slot = (int)(i % kAlive);
    free(alive[slot]);
    const size_t size = min_size + (size_t)(shape_rand(&rng) % (span + 1));
    char* p = malloc(size);
    if (p == NULL) {
      fprintf(stderr, "large_blocks: malloc(%zu) failed\n", size);
      return 1;
    }
    for (size_t off = 0; off < size; off += page) p[off] = (char)i;
    p[size - 1] = (char)i;
    shape_keep(p);
    alive[slot] = p;
  }
  for (int s = 0; s < kAlive; ++s) free(alive[s]);
  shape_result("wall_s", shape_now() - start);
  return 0;
}
