// Fixed-size registration tables of program callbacks (reclaimers,
// thresholds, pressure callbacks): an entry with fn == nullptr is free, a
// handle is the entry's index + 1, and entries remember the generation of
// their group so that a destroyed group's callbacks are never called.
// Must never: call a callback (the tables' users copy entries to the stack
// under the lock and call out with no lock held), allocate.
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_CALLBACK_TABLE_H_
#define MEMGROUP_SRC_GROUP_CALLBACK_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/spinlock.h"
#include "group/errc.h"
#include "group/registry.h"

namespace memgroup::internal {

inline uint32_t GenerationOfSlot(uint32_t index) {
  return GenerationOf(GlobalRegistry().IdOf(index));
}

// Whether slot `index` still holds the group of `generation`.
inline bool StillLive(uint32_t index, uint32_t generation) {
  GroupId id = GlobalRegistry().IdOf(index);
  return id != kInvalidGroupId && GenerationOf(id) == generation;
}

// Adds `entry` to the first free entry of `table`. `count` (optional) tracks
// the used entries so that hot paths can skip an empty table with one
// relaxed load.
template <typename Entry, size_t N>
Errc AddEntry(SpinLock* lock, Entry (&table)[N], std::atomic<int>* count,
              const Entry& entry, int* handle) {
  SpinLockHolder h(lock);
  for (size_t i = 0; i < N; ++i) {
    if (table[i].fn != nullptr) continue;
    table[i] = entry;
    *handle = static_cast<int>(i) + 1;
    // Relaxed: a registration count read by hot paths; a stale value only
    // delays one check (the table itself is read under `lock`).
    if (count != nullptr) count->fetch_add(1, std::memory_order_relaxed);
    return Errc::kOk;
  }
  return Errc::kResourceExhausted;
}

template <typename Entry, size_t N>
Errc RemoveEntry(SpinLock* lock, Entry (&table)[N], std::atomic<int>* count,
                 int handle) {
  SpinLockHolder h(lock);
  if (handle < 1 || static_cast<size_t>(handle) > N ||
      table[handle - 1].fn == nullptr) {
    return Errc::kNotFound;
  }
  table[handle - 1].fn = nullptr;
  // Relaxed: see AddEntry.
  if (count != nullptr) count->fetch_sub(1, std::memory_order_relaxed);
  return Errc::kOk;
}

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_CALLBACK_TABLE_H_
