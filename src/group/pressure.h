// Stall (pressure, PSI-style) accounting per group, the thread membership
// of groups that PSI `full` needs, and the pressure-level callbacks
// (vmpressure levels from reclaim rounds).
// Must never: hold a lock while a callback runs, allocate, call the engine
// or any layer above. Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_PRESSURE_H_
#define MEMGROUP_SRC_GROUP_PRESSURE_H_

#include <cstdint>

#include "group/errc.h"
#include "group/registry.h"

namespace memgroup::internal {

// Called when a group's pressure level (0 none, 1 low, 2 medium,
// 3 critical) rises to or above the registered level.
using PressureFn = void (*)(GroupId group, int level, void* arg);

Errc RegisterPressureCallback(uint32_t group, int level, PressureFn fn,
                              void* arg, int* handle);
Errc UnregisterPressureCallback(int handle);
// Calls the pressure callbacks registered on `target`'s ancestors (and
// itself) after a reclaim round that released `released` of `requested`.
void NotifyReclaimPressure(uint32_t target, int64_t requested,
                           int64_t released);

// Stall accounting: a thread of `group` starts/stops stalling in reclaim,
// throttling or an OOM wait. Counted at `group` and every ancestor.
enum class StallKind { kReclaim, kThrottle, kOomWait };
void StallBegin(uint32_t group);
void StallEnd(uint32_t group, StallKind kind, int64_t ns);
// Thread membership of a group and its ancestors, for PSI `full`.
void MemberJoin(uint32_t group);
void MemberLeave(uint32_t group);

struct Pressure {
  double some_avg10, some_avg60, some_avg300;
  double full_avg10, full_avg60, full_avg300;
  uint64_t some_total_us, full_total_us;
};
// Reads the group's pressure: stalls of its whole subtree (updates the
// running averages first).
void ReadPressure(uint32_t group, Pressure* out);

// fork(2): hold the callback table's lock across fork; the child resets it.
void PressurePrepareFork();
void PressureParentFork();
void PressureChildFork();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_PRESSURE_H_
