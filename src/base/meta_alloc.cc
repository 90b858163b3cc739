// Implements meta_alloc.h with raw mmap. Allocates: never.
#include "base/meta_alloc.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include "base/macros.h"
#include "base/sys.h"

namespace memgroup::internal {
namespace {
size_t RoundUp(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

// ThreadSanitizer does not see the raw mmap and munmap: memory one thread
// read before unmapping it, mapped again at the same address by another,
// would look like a race. Every unmap happens before every later map (the
// kernel's order), and the build says so through one sync object. No-ops
// otherwise.
#ifdef MG_TSAN
char g_tsan_meta_sync;
#endif
void TsanUnmapping() {
#ifdef MG_TSAN
  __tsan_release(&g_tsan_meta_sync);
#endif
}
void TsanMapped() {
#ifdef MG_TSAN
  __tsan_acquire(&g_tsan_meta_sync);
#endif
}
}  // namespace

void* MetaMap(size_t bytes) {
  int saved = errno;
  void* p = SysMmap(nullptr, RoundUp(bytes, kPageSize), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  errno = saved;
  if (p == MAP_FAILED) return nullptr;
  TsanMapped();
  return p;
}

void MetaUnmap(void* p, size_t bytes) {
  if (p == nullptr) return;
  int saved = errno;
  TsanUnmapping();
  SysMunmap(p, RoundUp(bytes, kPageSize));
  errno = saved;
}

void* MetaReserve(size_t bytes, size_t align) {
  int saved = errno;
  size_t len = bytes + align;
  void* p = SysMmap(nullptr, len, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  errno = saved;
  if (p == MAP_FAILED) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = RoundUp(start, align);
  if (aligned > start) SysMunmap(p, aligned - start);
  uintptr_t tail = aligned + bytes;
  uintptr_t end = start + len;
  if (end > tail) SysMunmap(reinterpret_cast<void*>(tail), end - tail);
  errno = saved;
  return reinterpret_cast<void*>(aligned);
}

}  // namespace memgroup::internal
