// Commit accounting of mappings under MEMGROUP_MAX=64M (set by the test):
// 1 GiB PROT_NONE and MAP_NORESERVE reservations are free; mprotect to
// PROT_READ|PROT_WRITE charges (and over the limit fails with ENOMEM,
// leaving the protections unchanged); PROT_NONE uncharges; partial munmap,
// mprotect splits and mremap grow, shrink and moves keep the charge exact;
// MAP_FIXED of a file over a charged range drops its charge at once; file
// and shared mappings show in stat.file_mapped and stat.shmem; at the end
// everything reads 0. The charge is read through the C ABI (mg_group_stat's
// `mmap`, and mg_stats_write's lines), dlsym'ed so that the program builds
// without memgroup.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"
#include "memgroup/memgroup.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)

static int (*g_stat)(mg_group_t, mg_stat_t*);
static int (*g_stats_write)(int);
static mg_group_t g_root;

static int64_t Charged(void) {
  mg_stat_t s;
  MG_EXPECT(g_stat(g_root, &s) == 0);
  return s.mmap;
}

// The value of `key` in the root group's block of mg_stats_write.
static int64_t StatLine(const char* key) {
  char path[] = "/tmp/mg_mmap_commit.XXXXXX";
  int fd = mkstemp(path);
  MG_EXPECT(fd >= 0);
  unlink(path);
  MG_EXPECT(g_stats_write(fd) == 0);
  static char buf[1 << 16];
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  close(fd);
  MG_EXPECT(n > 0);
  buf[n] = '\0';
  size_t klen = strlen(key);
  for (char* line = buf; line != NULL && *line != '\0';) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
      return strtoll(line + klen + 1, NULL, 10);
    }
    line = strchr(line, '\n');
    if (line != NULL) ++line;
  }
  fprintf(stderr, "no '%s' line in the stats\n", key);
  exit(1);
}

// The permissions ("rw-p", "---p") of the mapping holding addr.
static void PermsOf(void* addr, char out[5]) {
  FILE* f = fopen("/proc/self/maps", "r");
  MG_EXPECT(f != NULL);
  char line[512];
  uintptr_t a = (uintptr_t)addr;
  strcpy(out, "none");
  while (fgets(line, sizeof(line), f) != NULL) {
    unsigned long lo, hi;
    char perms[5];
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo <= a &&
        a < hi) {
      memcpy(out, perms, 5);
      break;
    }
  }
  fclose(f);
}

#define EXPECT_CHARGED(bytes)                                             \
  do {                                                                    \
    int64_t got_ = Charged();                                             \
    if (got_ != (int64_t)(bytes)) {                                       \
      fprintf(stderr, "%s:%d: charged %lld, expected %lld\n", __FILE__,   \
              __LINE__, (long long)got_, (long long)(bytes));             \
      exit(1);                                                            \
    }                                                                     \
  } while (0)

int main(void) {
  mg_group_t (*root)(void) = (mg_group_t(*)(void))dlsym(RTLD_DEFAULT, "mg_root");
  g_stat = (int (*)(mg_group_t, mg_stat_t*))dlsym(RTLD_DEFAULT,
                                                   "mg_group_stat");
  g_stats_write = (int (*)(int))dlsym(RTLD_DEFAULT, "mg_stats_write");
  MG_EXPECT(root != NULL && g_stat != NULL && g_stats_write != NULL);
  g_root = root();
  EXPECT_CHARGED(0);

  // Reservations far above the limit cost nothing.
  char* r = mmap(NULL, GiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MG_EXPECT(r != MAP_FAILED);
  char* nr = mmap(NULL, GiB, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  MG_EXPECT(nr != MAP_FAILED);
  char* nrw = mmap(NULL, GiB, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  MG_EXPECT(nrw != MAP_FAILED);
  EXPECT_CHARGED(0);
  // A committed mapping over the limit is refused.
  errno = 0;
  MG_EXPECT(mmap(NULL, 128 * MiB, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
  MG_EXPECT(errno == ENOMEM);

  // Commit 8 MiB of the reservation.
  MG_EXPECT(mprotect(r, 8 * MiB, PROT_READ | PROT_WRITE) == 0);
  EXPECT_CHARGED(8 * MiB);
  Fill(r, 8 * MiB, 1);
  // 128 MiB more does not fit: ENOMEM, protections unchanged.
  errno = 0;
  MG_EXPECT(mprotect(r + 8 * MiB, 128 * MiB, PROT_READ | PROT_WRITE) == -1);
  MG_EXPECT(errno == ENOMEM);
  char perms[5];
  PermsOf(r + 8 * MiB, perms);
  MG_EXPECT(strcmp(perms, "---p") == 0);
  PermsOf(r + 100 * MiB, perms);
  MG_EXPECT(strcmp(perms, "---p") == 0);
  EXPECT_CHARGED(8 * MiB);
  // A NORESERVE reservation made writable is never charged.
  MG_EXPECT(mprotect(nr, 256 * MiB, PROT_READ | PROT_WRITE) == 0);
  Fill(nr, MiB, 2);
  Fill(nrw, MiB, 3);
  EXPECT_CHARGED(8 * MiB);
  // Making it inaccessible uncharges; writable again charges again.
  MG_EXPECT(mprotect(r, 8 * MiB, PROT_NONE) == 0);
  EXPECT_CHARGED(0);
  MG_EXPECT(mprotect(r, 8 * MiB, PROT_READ | PROT_WRITE) == 0);
  EXPECT_CHARGED(8 * MiB);
  // Mixed pages: a hole of PROT_NONE, then read-only (still uncharged),
  // then the whole range writable again.
  MG_EXPECT(mprotect(r + 2 * MiB, MiB, PROT_NONE) == 0);
  EXPECT_CHARGED(7 * MiB);
  MG_EXPECT(mprotect(r + 2 * MiB, MiB, PROT_READ) == 0);
  EXPECT_CHARGED(7 * MiB);
  MG_EXPECT(mprotect(r + 5 * MiB, 4 * KiB, PROT_READ) == 0);
  EXPECT_CHARGED(7 * MiB);
  MG_EXPECT(mprotect(r, 16 * MiB, PROT_READ | PROT_WRITE) == 0);
  EXPECT_CHARGED(16 * MiB);
  MG_EXPECT(mprotect(r + 8 * MiB, 8 * MiB, PROT_NONE) == 0);
  EXPECT_CHARGED(8 * MiB);
  // Partial munmap: charged pages, reserved pages, a page-unaligned length.
  MG_EXPECT(munmap(r + 4 * MiB, MiB) == 0);
  EXPECT_CHARGED(7 * MiB);
  MG_EXPECT(munmap(r + 8 * MiB, 64 * KiB) == 0);
  EXPECT_CHARGED(7 * MiB);
  MG_EXPECT(munmap(r + 7 * MiB, 4 * KiB + 1) == 0);
  EXPECT_CHARGED(7 * MiB - 8 * KiB);

  // A committed mapping: mremap grow (may move), shrink, move.
  char* p = mmap(NULL, 16 * MiB, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MG_EXPECT(p != MAP_FAILED);
  const int64_t base = 7 * MiB - 8 * KiB;
  EXPECT_CHARGED(base + 16 * MiB);
  Fill(p, 16 * MiB, 4);
  p = mremap(p, 16 * MiB, 24 * MiB, MREMAP_MAYMOVE);
  MG_EXPECT(p != MAP_FAILED);
  EXPECT_CHARGED(base + 24 * MiB);
  MG_EXPECT(Check(p, 16 * MiB, 4));
  // Growth over the limit fails and changes nothing.
  errno = 0;
  MG_EXPECT(mremap(p, 24 * MiB, 200 * MiB, MREMAP_MAYMOVE) == MAP_FAILED);
  MG_EXPECT(errno == ENOMEM);
  EXPECT_CHARGED(base + 24 * MiB);
  p = mremap(p, 24 * MiB, 4 * MiB + 100, 0);
  MG_EXPECT(p != MAP_FAILED);
  EXPECT_CHARGED(base + 4 * MiB + 4 * KiB);
  // A move to a fixed address (over part of the reservation, which is
  // reserved there: nothing to release).
  char* q = mremap(p, 4 * MiB + 4 * KiB, 4 * MiB + 4 * KiB,
                   MREMAP_MAYMOVE | MREMAP_FIXED, r + 10 * MiB);
  MG_EXPECT(q == r + 10 * MiB);
  EXPECT_CHARGED(base + 4 * MiB + 4 * KiB);
  MG_EXPECT(Check(q, 4 * MiB, 4));
  // Growing a reservation in place leaves it uncharged.
  char* g = mmap(NULL, MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MG_EXPECT(g != MAP_FAILED);
  g = mremap(g, MiB, 3 * MiB, MREMAP_MAYMOVE);
  MG_EXPECT(g != MAP_FAILED);
  EXPECT_CHARGED(base + 4 * MiB + 4 * KiB);
  MG_EXPECT(mprotect(g + MiB, 2 * MiB, PROT_READ | PROT_WRITE) == 0);
  EXPECT_CHARGED(base + 6 * MiB + 4 * KiB);
  MG_EXPECT(munmap(g, 3 * MiB) == 0);
  EXPECT_CHARGED(base + 4 * MiB + 4 * KiB);

  // MAP_FIXED of a file over 1 MiB of the moved range drops its charge at
  // once, and the file shows in stat.file_mapped.
  char path[] = "/tmp/mg_mmap_file.XXXXXX";
  int fd = mkstemp(path);
  MG_EXPECT(fd >= 0);
  unlink(path);
  MG_EXPECT(ftruncate(fd, 2 * MiB) == 0);
  MG_EXPECT(StatLine("stat.file_mapped") == 0);
  char* f = mmap(q, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                 0);
  MG_EXPECT(f == q);
  EXPECT_CHARGED(base + 3 * MiB + 4 * KiB);
  MG_EXPECT(StatLine("stat.file_mapped") == (int64_t)MiB);
  char* fs = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
  MG_EXPECT(fs != MAP_FAILED);
  MG_EXPECT(StatLine("stat.file_mapped") == (int64_t)(3 * MiB));
  close(fd);
  // Shared anonymous memory: shmem, not charged.
  char* sh = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  MG_EXPECT(sh != MAP_FAILED);
  Fill(sh, 2 * MiB, 5);
  MG_EXPECT(StatLine("stat.shmem") == (int64_t)(2 * MiB));
  EXPECT_CHARGED(base + 3 * MiB + 4 * KiB);
  // MAP_FIXED anonymous over the group's own charged pages at the limit
  // re-uses their charge.
  char* big = mmap(NULL, 40 * MiB, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MG_EXPECT(big != MAP_FAILED);
  MG_EXPECT(mmap(big, 40 * MiB, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == big);
  EXPECT_CHARGED(base + 43 * MiB + 4 * KiB);
  MG_EXPECT(mmap(big, 40 * MiB, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == big);
  EXPECT_CHARGED(base + 3 * MiB + 4 * KiB);
  MG_EXPECT(munmap(big, 40 * MiB) == 0);

  // MREMAP_DONTUNMAP (Linux 5.7): the old range stays committed and the
  // moved pages are committed again.
  char* d = mmap(NULL, MiB, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  MG_EXPECT(d != MAP_FAILED);
  char* d2 = mremap(d, MiB, MiB, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
  if (d2 != MAP_FAILED) {
    EXPECT_CHARGED(base + 5 * MiB + 4 * KiB);
    MG_EXPECT(munmap(d2, MiB) == 0);
  } else {
    MG_EXPECT(errno == EINVAL);
  }
  MG_EXPECT(munmap(d, MiB) == 0);
  EXPECT_CHARGED(base + 3 * MiB + 4 * KiB);

  // Everything back to 0.
  MG_EXPECT(munmap(r, GiB) == 0);  // also the moved range inside it
  MG_EXPECT(munmap(nr, GiB) == 0);
  MG_EXPECT(munmap(nrw, GiB) == 0);
  MG_EXPECT(munmap(fs, 2 * MiB) == 0);
  MG_EXPECT(munmap(sh, 2 * MiB) == 0);
  EXPECT_CHARGED(0);
  MG_EXPECT(StatLine("stat.file_mapped") == 0);
  MG_EXPECT(StatLine("stat.shmem") == 0);
  MG_EXPECT(StatLine("stat.mmap") == 0);
  puts("mmap_commit: OK");
  return 0;
}
