// Implements meta_alloc.h with raw mmap. Allocates: never.
#include "base/meta_alloc.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include "base/sys.h"

namespace memgroup::internal {
namespace {
size_t RoundUp(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }
}  // namespace

void* MetaMap(size_t bytes) {
  int saved = errno;
  void* p = SysMmap(nullptr, RoundUp(bytes, kPageSize), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  errno = saved;
  return p == MAP_FAILED ? nullptr : p;
}

void MetaUnmap(void* p, size_t bytes) {
  if (p == nullptr) return;
  int saved = errno;
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
