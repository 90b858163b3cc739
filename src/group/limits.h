// Writing a group's limits with cgroup v2 semantics: the one entry for both
// the C ABI (mg_group_set_limit) and the environment configuration
// (MEMGROUP_MAX/HIGH/LOW/MIN).
// Must never: hold the limits lock while draining, reclaiming or waking
// (reclaim callbacks run with no memgroup lock held), allocate, call the
// engine or any layer above. Allocates: never (reclaim callbacks may).
#ifndef MEMGROUP_SRC_GROUP_LIMITS_H_
#define MEMGROUP_SRC_GROUP_LIMITS_H_

#include <cstdint>

#include "group/errc.h"

namespace memgroup::internal {

enum class LimitKind { kMax, kHigh, kLow, kMin };

// Sets `kind` of `group` (a live slot index) to `bytes` (kUnlimited for
// none):
//   max:  exchanged (may go below usage); when lowered, every stock of the
//         subtree is drained and the excess reclaimed; when raised, threads
//         waiting under the `wait` policy are woken;
//   high: set; when lowered, the subtree's stocks are drained;
//   low, min: set.
// Counter writes are serialised by the limits lock (counter_tree.h: Set*
// on one node must be serialised by the caller). kInvalidArgument for a
// negative size or an unknown kind.
Errc SetLimit(uint32_t group, LimitKind kind, int64_t bytes);

// fork(2): hold the limits lock across fork; the child resets it.
void LimitsPrepareFork();
void LimitsParentFork();
void LimitsChildFork();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_LIMITS_H_
