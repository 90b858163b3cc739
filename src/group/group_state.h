// Per-group state of the group layer beyond the counter: OOM policy, events
// (memory.events and memory.events.local) and the slow-path statistics. Lives
// in a flat array indexed by slot, beside the counter nodes, in MetaMap'ed
// memory. Allocates: never. Nothing here is touched on the malloc fast path.
#ifndef MEMGROUP_SRC_GROUP_GROUP_STATE_H_
#define MEMGROUP_SRC_GROUP_GROUP_STATE_H_

#include <atomic>
#include <cstdint>

#include "base/limits.h"

namespace memgroup::internal {

enum class OomPolicy : uint32_t {
  kEnomem = 0,  // fail the allocation (default)
  kAbort = 1,   // report, then abort()
  kKill = 2,    // report, then SIGKILL the process
  kWait = 3,    // block until the charge fits (timeout -> enomem)
  kHandler = 4, // program callback decides
};

enum Event : uint32_t {
  kEventLow = 0,
  kEventHigh,
  kEventMax,
  kEventOom,
  kEventOomKill,
  kEventOomGroupKill,
  kNumEvents,
};

inline constexpr const char* kEventNames[kNumEvents] = {
    "low", "high", "max", "oom", "oom_kill", "oom_group_kill"};

struct GroupState {
  // OOM policy and its wait timeout. Written by the control API (relaxed:
  // a charge that reads the old policy behaves as if it ran just before the
  // write); read by the charger on refusal.
  std::atomic<uint32_t> oom_policy{0};
  std::atomic<int64_t> oom_wait_ns{-1};  // -1 = forever
  // Events, local and hierarchical. Relaxed counters: exact once quiesced.
  std::atomic<uint64_t> events_local[kNumEvents] = {};
  std::atomic<uint64_t> events[kNumEvents] = {};
  // Bytes charged for anonymous mappings and explicit charges (exactly this
  // group, not descendants). Relaxed counters, slow path only.
  std::atomic<int64_t> mmap_bytes{0};
  std::atomic<int64_t> explicit_bytes{0};
  // Wait-policy futex word: bumped (release) whenever usage may have dropped
  // or a limit was raised; waiters sleep on it.
  std::atomic<uint32_t> wake_seq{0};
  std::atomic<uint32_t> waiters{0};

  void Reset() {
    oom_policy.store(0, std::memory_order_relaxed);
    oom_wait_ns.store(-1, std::memory_order_relaxed);
    for (auto& e : events_local) e.store(0, std::memory_order_relaxed);
    for (auto& e : events) e.store(0, std::memory_order_relaxed);
    mmap_bytes.store(0, std::memory_order_relaxed);
    explicit_bytes.store(0, std::memory_order_relaxed);
  }
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_GROUP_STATE_H_
