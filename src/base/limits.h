// Process-wide constants of memgroup.
#ifndef MEMGROUP_SRC_BASE_LIMITS_H_
#define MEMGROUP_SRC_BASE_LIMITS_H_

#include <cstdint>

namespace memgroup::internal {

// Group slots per process: the root "/" (index 0) and 65,535 more, as many
// cgroups as memcg allows. Every place that stores a group index holds at
// least 16 bits of it: the chunk owner table 32 (owner_table.h), the
// page-map entry 24 (owner_table::kEntryGroupShift), the stock slot 32 with
// its retired bit above (charge_stock.h).
inline constexpr uint32_t kMaxGroups = 65536;
inline constexpr uint32_t kRootGroup = 0;
// No group: above every index (and not a valid index in any table).
inline constexpr uint32_t kNoGroup = 0xffffffffu;
// Longest group name component, including the NUL.
inline constexpr uint32_t kMaxGroupName = 64;

// A limit that never refuses: the value of an unset max or high, and what
// the size "max" parses to.
inline constexpr int64_t kUnlimited = INT64_MAX;

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_LIMITS_H_
