// Process-wide constants of memgroup.
#ifndef MEMGROUP_SRC_BASE_LIMITS_H_
#define MEMGROUP_SRC_BASE_LIMITS_H_

#include <cstdint>

namespace memgroup::internal {

// Group slots per process (index 0 is the root "/"). Owner tables store
// indices in 16 bits.
inline constexpr uint32_t kMaxGroups = 4096;
inline constexpr uint32_t kRootGroup = 0;
inline constexpr uint32_t kNoGroup = 0xffff;
// Longest group name component, including the NUL.
inline constexpr uint32_t kMaxGroupName = 64;

// A limit that never refuses: the value of an unset max or high, and what
// the size "max" parses to.
inline constexpr int64_t kUnlimited = INT64_MAX;

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_LIMITS_H_
