// Per-group state of the group layer beyond the counter: OOM policy, events
// (memory.events and memory.events.local) and the slow-path statistics. Lives
// in a flat array indexed by slot, beside the counter nodes, in MetaMap'ed
// memory. Allocates: never. Nothing here is touched on the malloc fast path.
#ifndef MEMGROUP_SRC_GROUP_GROUP_STATE_H_
#define MEMGROUP_SRC_GROUP_GROUP_STATE_H_

#include <atomic>
#include <cstdint>

#include "base/limits.h"
#include "base/spinlock.h"

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

// Notifications delivered to the callbacks registered on a group through
// the C ABI (thresholds.h, pressure.h): one per callback call, by kind.
enum Crossing : uint32_t {
  kCrossThresholdAbove = 0,
  kCrossThresholdBelow,
  kCrossPressureLow,  // pressure level 1; medium and critical follow
  kCrossPressureMedium,
  kCrossPressureCritical,
  kNumCrossings,
};

struct GroupState {
  // OOM policy and its wait timeout. Written by the control API (relaxed:
  // a charge that reads the old policy behaves as if it ran just before the
  // write); read by the charger on refusal.
  std::atomic<uint32_t> oom_policy{0};
  std::atomic<int64_t> oom_wait_ns{-1};  // -1 = forever
  // Events: local (this group only) and hierarchical (its subtree, the root
  // included). Relaxed counters: exact once quiesced.
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

  // OOM handler (handler policy). Written by SetOomHandler (release),
  // read by the charger (acquire) as a pair: fn last.
  std::atomic<void*> oom_handler_arg{nullptr};
  std::atomic<void*> oom_handler_fn{nullptr};

  // Slow-path statistics. Relaxed counters.
  std::atomic<uint64_t> reclaim_calls{0};
  std::atomic<int64_t> reclaimed_bytes{0};
  std::atomic<int64_t> throttled_ns{0};
  std::atomic<int64_t> oom_wait_ns_total{0};
  std::atomic<uint64_t> faults_injected{0};  // calls failed by MEMGROUP_FAULT

  // Crossings (Crossing order): counted when the call is made, under the
  // callback table's lock, before the callback runs. Relaxed counters:
  // exact once quiesced; the job's group table publishes them
  // (job_groups.h). threshold_last: the threshold of the last crossing
  // upwards [0] and downwards [1], -1 before the first.
  std::atomic<uint64_t> crossings[kNumCrossings] = {};
  std::atomic<int64_t> threshold_last[2] = {-1, -1};

  // Pressure (PSI) state, guarded by psi_lock (slow paths only). Counts are
  // hierarchical (kernel memory.pressure): threads of the group's subtree.
  SpinLock psi_lock;
  uint32_t stalled = 0;     // threads of the subtree stalled now
  uint32_t members = 0;     // threads whose current group is in the subtree
  int64_t psi_last_ns = 0;  // last accrual
  int64_t some_ns = 0;      // total time with >= 1 thread stalled
  int64_t full_ns = 0;      // total time with every member stalled
  int64_t avg_last_ns = 0;  // last average update
  int64_t avg_some_base = 0, avg_full_base = 0;
  double some_avg[3] = {0, 0, 0};  // 10 s, 60 s, 300 s windows
  double full_avg[3] = {0, 0, 0};

  void Reset() {
    oom_policy.store(0, std::memory_order_relaxed);
    oom_wait_ns.store(-1, std::memory_order_relaxed);
    for (auto& e : events_local) e.store(0, std::memory_order_relaxed);
    for (auto& e : events) e.store(0, std::memory_order_relaxed);
    mmap_bytes.store(0, std::memory_order_relaxed);
    explicit_bytes.store(0, std::memory_order_relaxed);
    oom_handler_fn.store(nullptr, std::memory_order_relaxed);
    oom_handler_arg.store(nullptr, std::memory_order_relaxed);
    reclaim_calls.store(0, std::memory_order_relaxed);
    reclaimed_bytes.store(0, std::memory_order_relaxed);
    throttled_ns.store(0, std::memory_order_relaxed);
    oom_wait_ns_total.store(0, std::memory_order_relaxed);
    faults_injected.store(0, std::memory_order_relaxed);
    for (auto& c : crossings) c.store(0, std::memory_order_relaxed);
    for (auto& t : threshold_last) t.store(-1, std::memory_order_relaxed);
    SpinLockHolder h(&psi_lock);
    stalled = members = 0;
    psi_last_ns = some_ns = full_ns = avg_last_ns = 0;
    avg_some_base = avg_full_base = 0;
    for (int i = 0; i < 3; ++i) some_avg[i] = full_avg[i] = 0;
  }
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_GROUP_STATE_H_
