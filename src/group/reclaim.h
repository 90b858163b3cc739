// Group-local reclaim (spec §3.4 step 2, §3.6 proactive reclaim), OOM
// handlers, usage thresholds and stall (pressure) accounting. Owns the
// registration tables; callbacks always run with no memgroup lock held and
// with the thread's slow-path depth raised, so their own allocations are
// charged directly and never re-enter reclaim.
// Allocates: never (tables are fixed-size, in static storage).
#ifndef MEMGROUP_SRC_GROUP_RECLAIM_H_
#define MEMGROUP_SRC_GROUP_RECLAIM_H_

#include <cstdint>

#include "group/registry.h"

namespace memgroup::internal {

// Asked to release up to `target_bytes` charged to `group` (an id); returns
// the bytes it released (0 if none).
using ReclaimFn = int64_t (*)(GroupId group, int64_t target_bytes, void* arg);
// Decides a refused charge: returns kOomRetry, kOomFail or kOomForce.
using OomHandlerFn = int (*)(GroupId group, int64_t bytes, void* arg);
// Called when usage crosses `threshold` upwards (above=1) or downwards.
using ThresholdFn = void (*)(GroupId group, int64_t threshold, int above,
                             void* arg);
// Called when a group's pressure level (0 none, 1 low, 2 medium,
// 3 critical) rises to or above the registered level.
using PressureFn = void (*)(GroupId group, int level, void* arg);

inline constexpr int kOomRetry = 0;
inline constexpr int kOomFail = 1;
inline constexpr int kOomForce = 2;

inline constexpr int kMaxReclaimers = 1024;
inline constexpr int kMaxThresholds = 256;

// Registers a reclaimer on a live group. Returns a handle > 0, or a negative
// Errc-like code: -ENOSPC-style failures are reported through *err.
Errc RegisterReclaimer(uint32_t group, ReclaimFn fn, void* arg, int* handle);
Errc UnregisterReclaimer(int handle);

// Runs the reclaimers of `target` and its descendants for `bytes`, honouring
// effective min/low protection (kernel page_counter_calculate_protection):
// groups at or below emin are never asked; groups at or below elow only in
// a second pass when the first released nothing (raising the `low` event).
// Returns the bytes released, or -1 when no reclaimer exists in the subtree.
// Allocates: never (callbacks may).
int64_t ReclaimSubtree(uint32_t target, int64_t bytes);

// Proactive reclaim (memory.reclaim): asks for `bytes` in rounds of a
// quarter of the remainder, stopping after 16 rounds without progress.
// Returns the bytes released (>= 0).
int64_t ProactiveReclaim(uint32_t target, int64_t bytes);

Errc SetOomHandler(uint32_t group, OomHandlerFn fn, void* arg);
// Runs the group's OOM handler; kOomFail when none is set.
int RunOomHandler(uint32_t group, int64_t bytes);

Errc RegisterThreshold(uint32_t group, int64_t threshold, ThresholdFn fn,
                       void* arg, int* handle);
Errc UnregisterThreshold(int handle);
// Checks the thresholds of `group` and its ancestors after a counter change.
// Cheap when none is registered (one relaxed load). Allocates: never.
void CheckThresholds(uint32_t group);

Errc RegisterPressureCallback(uint32_t group, int level, PressureFn fn,
                              void* arg, int* handle);
Errc UnregisterPressureCallback(int handle);

// Stall accounting (PSI-style): a thread of `group` starts/stops stalling
// in reclaim, throttling or an OOM wait.
enum class StallKind { kReclaim, kThrottle, kOomWait };
void StallBegin(uint32_t group);
void StallEnd(uint32_t group, StallKind kind, int64_t ns);
// Thread membership of a group, for PSI `full`.
void MemberJoin(uint32_t group);
void MemberLeave(uint32_t group);

// fork(2): hold the registration locks across fork (after the registry and
// stock locks); the child resets them.
void ReclaimPrepareFork();
void ReclaimParentFork();
void ReclaimChildFork();

struct Pressure {
  double some_avg10, some_avg60, some_avg300;
  double full_avg10, full_avg60, full_avg300;
  uint64_t some_total_us, full_total_us;
};
// Reads the group's pressure (updates the running averages first).
void ReadPressure(uint32_t group, Pressure* out);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_RECLAIM_H_
