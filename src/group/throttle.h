// High throttling (the kernel's memory.high): after a successful charge above
// `high`, reclaim the excess, then sleep on the kernel's curve
// ((overage/high)^2 per 64 pages, capped at 2 s, nothing below 10 ms).
// Must never: hold a lock while reclaiming or sleeping, allocate, call the
// engine or any layer above. Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_THROTTLE_H_
#define MEMGROUP_SRC_GROUP_THROTTLE_H_

#include <cstdint>

namespace memgroup::internal {

// Called after `bytes` were charged to `group` on the slow path.
void MaybeThrottle(uint32_t group, int64_t bytes);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_THROTTLE_H_
