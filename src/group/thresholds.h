// Usage thresholds (memory.events-style notifications when a group's usage
// crosses a registered value): registration and the check made after every
// counter change on a slow path.
// Must never: hold a lock while a callback runs (callbacks run with the
// thread's slow-path depth raised; a check from inside a callback does
// nothing), allocate, call the engine or any layer above.
// Allocates: never (the table is fixed-size, static).
#ifndef MEMGROUP_SRC_GROUP_THRESHOLDS_H_
#define MEMGROUP_SRC_GROUP_THRESHOLDS_H_

#include <cstdint>

#include "group/errc.h"
#include "group/registry.h"

namespace memgroup::internal {

// Called when usage crosses `threshold` upwards (above=1) or downwards.
using ThresholdFn = void (*)(GroupId group, int64_t threshold, int above,
                             void* arg);

inline constexpr int kMaxThresholds = 256;

Errc RegisterThreshold(uint32_t group, int64_t threshold, ThresholdFn fn,
                       void* arg, int* handle);
Errc UnregisterThreshold(int handle);
// Checks the thresholds of `group` and its ancestors after a counter change.
// Cheap when none is registered (one relaxed load). Allocates: never.
void CheckThresholds(uint32_t group);

// fork(2): hold the threshold lock across fork; the child resets it.
void ThresholdsPrepareFork();
void ThresholdsParentFork();
void ThresholdsChildFork();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_THRESHOLDS_H_
