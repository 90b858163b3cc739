/* Allocates past the engine's address-space reservation: run under a small
 * `ulimit -v` and no group limit, malloc must return NULL with errno ENOMEM
 * (never crash), calloc and a growing realloc must fail the same way with
 * the old block intact, and after everything is freed blocks of the same
 * size are served again.
 *   reserve_exhaust CAP_MIB   fails (exit 4) past CAP_MIB without a failure */
#include <errno.h>

#include "common.h"

enum { kBlockBytes = 256 << 10, kMaxBlocks = 1 << 14 };
static void* g_blocks[kMaxBlocks];

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CAP_MIB\n", argv[0]);
    return 2;
  }
  const size_t cap_blocks = (size_t)atoi(argv[1]) * ((1 << 20) / kBlockBytes);
  size_t n = 0;
  for (;;) {
    void* p = malloc(kBlockBytes);
    if (p == NULL) {
      MG_EXPECT(errno == ENOMEM);
      break;
    }
    Fill(p, kBlockBytes, (unsigned)n);
    g_blocks[n++] = p;
    if (n > cap_blocks || n == kMaxBlocks) {
      fprintf(stderr, "no failure after %zu blocks\n", n);
      return 4;
    }
  }
  MG_EXPECT(n > 0);
  errno = 0;
  MG_EXPECT(calloc(1, kBlockBytes) == NULL && errno == ENOMEM);
  errno = 0;
  MG_EXPECT(realloc(g_blocks[0], (size_t)64 << 20) == NULL && errno == ENOMEM);
  for (size_t i = 0; i < n; ++i) {
    MG_EXPECT(Check(g_blocks[i], kBlockBytes, (unsigned)i));
    free(g_blocks[i]);
  }
  /* The freed blocks serve the same size again. */
  for (size_t i = 0; i < n / 2; ++i) {
    g_blocks[i] = malloc(kBlockBytes);
    MG_EXPECT(g_blocks[i] != NULL);
    Fill(g_blocks[i], kBlockBytes, 1);
  }
  for (size_t i = 0; i < n / 2; ++i) free(g_blocks[i]);
  printf("reserve_exhaust: ENOMEM after %zu MiB\n", n * kBlockBytes >> 20);
  puts("reserve_exhaust: OK");
  return 0;
}
