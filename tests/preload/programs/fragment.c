// The limit bounds resident memory, whatever the allocation pattern: fill
// 40 MiB with 100-byte blocks, free 15 of every 16 (every slab keeps a live
// block), then take 64 KiB blocks until refused; or, given a block SIZE,
// fill 48 MiB with blocks of SIZE bytes, free 15 of every 16 (a large
// block's neighbours live on: with 16 to 64 KiB blocks on the mimalloc
// engine, every mimalloc page keeps one), then take 1 MiB blocks until
// refused. Every block is written. Under `memgroup run --max M` anonymous
// RSS, read after each block of the second phase, must stay within M x
// 1.02 + 4 MiB (docs/architecture.md, "What is charged"). Then, with
// `reclaim`: free everything, and mg_group_reclaim of the root must give
// the free pages back (RssAnon drops by most of what the program held).
// With `slabs`: fill MAX - 16 MiB with 1 KiB blocks, free every block
// outside every eighth 64 KiB slab (the released slabs' neighbours live
// on: on the mimalloc engine, one of the eight slabs of each mimalloc
// page), idle 5 s (the decay returns the released slabs), then take 1 MiB
// blocks until refused, checking the bound as above.
// Usage: fragment MAX_MIB [reclaim | slabs | SIZE]. Prints "fragment: OK".
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "common.h"

enum { kMiB = 1 << 20 };

// RssAnon of /proc/self/status, in bytes. open/read into a stack buffer:
// at the limit, stdio's own buffers could not be allocated.
static size_t RssAnon(void) {
  char text[8192];
  int fd = open("/proc/self/status", O_RDONLY);
  MG_EXPECT(fd >= 0);
  size_t len = 0;
  for (ssize_t n; len < sizeof(text) - 1 &&
                  (n = read(fd, text + len, sizeof(text) - 1 - len)) > 0;) {
    len += (size_t)n;
  }
  close(fd);
  text[len] = '\0';
  const char* line = strstr(text, "RssAnon:");
  MG_EXPECT(line != NULL);
  return (size_t)strtoul(line + strlen("RssAnon:"), NULL, 10) * 1024;
}

int main(int argc, char** argv) {
  MG_EXPECT(argc >= 2);
  const size_t max = (size_t)atol(argv[1]) * kMiB;
  const int reclaim = argc >= 3 && strcmp(argv[2], "reclaim") == 0;
  const int slabs = argc >= 3 && strcmp(argv[2], "slabs") == 0;
  const size_t size =
      argc >= 3 && !reclaim && !slabs ? strtoul(argv[2], NULL, 10) : 0;
  MG_EXPECT(argc < 3 || reclaim || slabs || size > 0);
  const size_t small = size > 0 ? size : slabs ? 1024 : 100;
  const size_t nsmall = size > 0  ? 48 * (size_t)kMiB / small
                        : slabs ? (max - 16 * (size_t)kMiB) / small
                                : 40 * (size_t)kMiB / small;
  void** smalls = malloc(nsmall * sizeof(void*));
  MG_EXPECT(smalls != NULL);
  for (size_t i = 0; i < nsmall; ++i) {
    smalls[i] = malloc(small);
    MG_EXPECT(smalls[i] != NULL);
    memset(smalls[i], (int)i, small);
  }
  for (size_t i = 0; i < nsmall; ++i) {
    const int keep = slabs ? (((uintptr_t)smalls[i] >> 16) & 7) == 0
                           : i % 16 == 0;
    if (!keep) {
      free(smalls[i]);
      smalls[i] = NULL;
    }
  }
  if (slabs) sleep(5);
  // 64 KiB (1 MiB after blocks of SIZE) blocks until refused (at most 4 x
  // max: a bound for a library that enforces nothing).
  const size_t big = size > 0 || slabs ? (size_t)kMiB : 64 * 1024;
  const size_t maxbig = 4 * max / big;
  void** bigs = calloc(maxbig, sizeof(void*));
  MG_EXPECT(bigs != NULL);
  size_t nbig = 0, rss = RssAnon();
  while (nbig < maxbig) {
    void* p = malloc(big);
    if (p == NULL) break;
    memset(p, 1, big);
    bigs[nbig++] = p;
    const size_t now = RssAnon();
    if (now > rss) rss = now;
  }
  const size_t bound = max + max / 50 + 4 * (size_t)kMiB;
  // Room for stdio's buffer.
  if (nbig > 0) free(bigs[--nbig]);
  printf("fragment: %zu blocks of %zu B, then %zu of %zu KiB, peak RssAnon"
         " %zu KiB, bound %zu KiB\n",
         nsmall, small, nbig, big / 1024, rss / 1024, bound / 1024);
  MG_EXPECT(nbig < maxbig);  // refused at some point
  MG_EXPECT(rss <= bound);
  if (reclaim) {
    for (size_t i = 0; i < nbig; ++i) free(bigs[i]);
    for (size_t i = 0; i < nsmall; i += 16) free(smalls[i]);
    const size_t before = RssAnon();
    typedef uint64_t (*RootFn)(void);
    typedef int (*ReclaimFn)(uint64_t, int64_t, int64_t*);
    RootFn root = (RootFn)dlsym(RTLD_DEFAULT, "mg_root");
    ReclaimFn reclaim_fn = (ReclaimFn)dlsym(RTLD_DEFAULT, "mg_group_reclaim");
    MG_EXPECT(root != NULL && reclaim_fn != NULL);
    int64_t released = 0;
    MG_EXPECT(reclaim_fn(root(), INT64_MAX / 2, &released) == 0);
    const size_t after = RssAnon();
    printf("fragment: reclaim released %lld bytes, RssAnon %zu -> %zu KiB\n",
           (long long)released, before / 1024, after / 1024);
    // The small blocks' slabs (about 42 MiB) and the large blocks go back:
    // the jemalloc engine keeps freed pages dirty in its arenas until their
    // decay, and reclaim purges them at once, so at least half of what was
    // resident goes (the mimalloc engine keeps them: the test runs this
    // mode on the jemalloc engine only).
    MG_EXPECT(released > 0);
    MG_EXPECT(after < before / 2);
  }
  free(bigs);
  free(smalls);
  printf("fragment: OK\n");
  return 0;
}
