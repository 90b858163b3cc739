// Implements mmap_charge.h. GroupState::mmap_bytes is a relaxed statistic;
// the ranges are guarded by mmap_tracker's own lock.
#include "alloc/mmap_charge.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "alloc/charge.h"
#include "alloc/init.h"
#include "alloc/thread.h"
#include "base/sys.h"
#include "engine/mmap_tracker.h"
#include "group/charger.h"
#include "group/registry.h"

namespace memgroup::internal::alloc {
namespace {

size_t PageRound(size_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

bool IsCharged(int flags) {
  return (flags & MAP_ANONYMOUS) != 0 && (flags & MAP_SHARED) == 0 &&
         (flags & MAP_PRIVATE) != 0;
}

void AddMmapBytes(uint32_t group, int64_t bytes) {
  // Relaxed: statistics, slow path.
  GlobalRegistry().state(group).mmap_bytes.fetch_add(
      bytes, std::memory_order_relaxed);
}

void UnchargeRange(uint32_t group, size_t bytes, void*) {
  AddMmapBytes(group, -static_cast<int64_t>(bytes));
  Uncharge(group, static_cast<int64_t>(bytes));
}

void ForgetRange(uint32_t, size_t bytes, void* ctx) {
  *static_cast<size_t*>(ctx) += bytes;
}

}  // namespace

void* MapCharged(void* addr, size_t len, int prot, int flags, int fd,
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
    Uncharge(group, static_cast<int64_t>(bytes));
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
    Uncharge(group, static_cast<int64_t>(bytes));
    return p;
  }
  AddMmapBytes(group, static_cast<int64_t>(bytes));
  return p;
}

int UnmapCharged(void* addr, size_t len) {
  int r = SysMunmap(addr, len);
  if (r == 0 && len != 0) {
    mmap_tracker::Remove(reinterpret_cast<uintptr_t>(addr), PageRound(len),
                         UnchargeRange, nullptr);
  }
  return r;
}

void* RemapCharged(void* old_addr, size_t old_len, size_t new_len, int flags,
                   void* new_addr) {
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
    if (grow > 0) Uncharge(group, grow);
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
    Uncharge(group, static_cast<int64_t>(moved) + (grow > 0 ? grow : 0));
    AddMmapBytes(group, -static_cast<int64_t>(moved));
    return p;
  }
  if (grow < 0) Uncharge(group, -grow);
  AddMmapBytes(group, grow);
  return p;
}

}  // namespace memgroup::internal::alloc
