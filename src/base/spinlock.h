// A small futex-backed lock for slow paths (registry, drains, mmap ranges).
// Never used on the malloc fast path. Allocates: never. Not recursive.
#ifndef MEMGROUP_SRC_BASE_SPINLOCK_H_
#define MEMGROUP_SRC_BASE_SPINLOCK_H_

#include <atomic>
#include <cstdint>

#include "base/sys.h"

namespace memgroup::internal {

class SpinLock {
 public:
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void Lock() {
    uint32_t expected = 0;
    // Pairs with Unlock: acquire makes the previous holder's writes visible.
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
    LockSlow();
  }
  bool TryLock() {
    uint32_t expected = 0;
    // Pairs with Unlock: acquire on success.
    return state_.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void Unlock() {
    // Pairs with Lock/LockSlow: release publishes the critical section.
    if (state_.exchange(0, std::memory_order_release) == 2) {
      SysFutexWake(reinterpret_cast<const uint32_t*>(&state_), 1);
    }
  }
  // After fork in the child: the lock was held by the parent's preparing
  // thread (now the child's only thread); reset it.
  void ResetAfterFork() { state_.store(0, std::memory_order_relaxed); }

 private:
  void LockSlow() {
    for (int i = 0; i < 100; ++i) {
      uint32_t expected = 0;
      // Pairs with Unlock.
      if (state_.compare_exchange_weak(expected, 1, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
        return;
      }
      __builtin_ia32_pause();
    }
    // State 2 = locked with waiters. Pairs with Unlock's exchange.
    while (state_.exchange(2, std::memory_order_acquire) != 0) {
      SysFutexWait(reinterpret_cast<const uint32_t*>(&state_), 2, -1);
    }
  }

  // 0 unlocked, 1 locked, 2 locked with possible waiters. Written by lockers
  // (CAS/exchange) and the holder (Unlock).
  std::atomic<uint32_t> state_{0};
};

class SpinLockHolder {
 public:
  explicit SpinLockHolder(SpinLock* l) : l_(l) { l_->Lock(); }
  ~SpinLockHolder() { l_->Unlock(); }
  SpinLockHolder(const SpinLockHolder&) = delete;
  SpinLockHolder& operator=(const SpinLockHolder&) = delete;

 private:
  SpinLock* l_;
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_SPINLOCK_H_
