// mmap, mmap64, munmap and mremap: forwarded with raw system calls (never
// through libc, whose mmap this library replaces). Anonymous private
// mappings are charged to the calling thread's group, page-rounded, and
// tracked so that munmap and mremap uncharge the group that was charged,
// also partially. File-backed and shared mappings are not charged.
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>

#include "api/alloc_path.h"
#include "base/sys.h"
#include "engine/mmap_tracker.h"

using namespace memgroup::internal;
using namespace memgroup::internal::preload;

namespace {

size_t PageRound(size_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

bool IsCharged(int flags) {
  return (flags & MAP_ANONYMOUS) != 0 && (flags & MAP_SHARED) == 0 &&
         (flags & MAP_PRIVATE) != 0;
}

void UnchargeRange(uint32_t group, size_t bytes, void*) {
  // Relaxed: statistics, slow path.
  GlobalRegistry().state(group).mmap_bytes.fetch_sub(
      static_cast<int64_t>(bytes), std::memory_order_relaxed);
  UnchargeSlow(group, static_cast<int64_t>(bytes));
}

void ForgetRange(uint32_t, size_t bytes, void* ctx) {
  *static_cast<size_t*>(ctx) += bytes;
}

uint32_t CallerGroup() {
  ThreadState& t = t_thread;
  if (t.status == kThreadNew) SetupThread();
  return t.status == kThreadReady ? CurrentGroupSlow() : t.group;
}

void* MmapImpl(void* addr, size_t len, int prot, int flags, int fd,
               off_t off) {
  if (!IsCharged(flags) || len == 0 || !EnsureInit()) {
    return SysMmap(addr, len, prot, flags, fd, off);
  }
  size_t bytes = PageRound(len);
  if (bytes < len) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  uint32_t group = CallerGroup();
  if (ChargeSlow(group, static_cast<int64_t>(bytes), ChargeKind::kMmap) !=
      ChargeResult::kOk) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  void* p = SysMmap(addr, len, prot, flags, fd, off);
  if (p == MAP_FAILED) {
    int err = errno;
    UnchargeSlow(group, static_cast<int64_t>(bytes));
    errno = err;
    return p;
  }
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  // MAP_FIXED may have replaced tracked mappings: those are gone.
  if ((flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) != 0) {
    mmap_tracker::Remove(start, bytes, UnchargeRange, nullptr);
  }
  if (!mmap_tracker::Insert(start, bytes, group)) {
    // Cannot track it: do not keep an untracked charge.
    UnchargeSlow(group, static_cast<int64_t>(bytes));
    return p;
  }
  // Relaxed: statistics, slow path.
  GlobalRegistry().state(group).mmap_bytes.fetch_add(
      static_cast<int64_t>(bytes), std::memory_order_relaxed);
  return p;
}

}  // namespace

extern "C" {

MG_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd,
                     off_t off) noexcept {
  return MmapImpl(addr, len, prot, flags, fd, off);
}

MG_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd,
                       off_t off) noexcept {
  return MmapImpl(addr, len, prot, flags, fd, off);
}

MG_EXPORT int munmap(void* addr, size_t len) noexcept {
  int r = SysMunmap(addr, len);
  if (r == 0 && len != 0) {
    mmap_tracker::Remove(reinterpret_cast<uintptr_t>(addr), PageRound(len),
                         UnchargeRange, nullptr);
  }
  return r;
}

MG_EXPORT void* mremap(void* old_addr, size_t old_len, size_t new_len,
                       int flags, ...) noexcept {
  void* new_addr = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  uintptr_t old_start = reinterpret_cast<uintptr_t>(old_addr);
  uint32_t group = mmap_tracker::GroupOf(old_start);
  if (group == kNoGroup) {
    return SysMremap(old_addr, old_len, new_len, flags, new_addr);
  }
  size_t old_b = PageRound(old_len);
  size_t new_b = PageRound(new_len);
  int64_t grow = static_cast<int64_t>(new_b) - static_cast<int64_t>(old_b);
  if (grow > 0 &&
      ChargeSlow(group, grow, ChargeKind::kMmap) != ChargeResult::kOk) {
    errno = ENOMEM;
    return MAP_FAILED;
  }
  void* p = SysMremap(old_addr, old_len, new_len, flags, new_addr);
  if (p == MAP_FAILED) {
    int err = errno;
    if (grow > 0) UnchargeSlow(group, grow);
    errno = err;
    return p;
  }
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  // The old range moves (or shrinks/grows in place) with its charge.
  size_t moved = 0;
  mmap_tracker::Remove(old_start, old_b, ForgetRange, &moved);
  if ((flags & MREMAP_FIXED) != 0) {
    mmap_tracker::Remove(start, new_b, UnchargeRange, nullptr);
  }
  if (!mmap_tracker::Insert(start, new_b, group)) {
    UnchargeSlow(group, static_cast<int64_t>(moved) + (grow > 0 ? grow : 0));
    GlobalRegistry().state(group).mmap_bytes.fetch_sub(
        static_cast<int64_t>(moved), std::memory_order_relaxed);
    return p;
  }
  if (grow < 0) UnchargeSlow(group, -grow);
  // Relaxed: statistics, slow path.
  GlobalRegistry().state(group).mmap_bytes.fetch_add(grow,
                                                     std::memory_order_relaxed);
  return p;
}

}  // extern "C"
