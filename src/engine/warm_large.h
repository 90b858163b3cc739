// How much freed large memory a group's arena keeps warm. jemalloc's
// immediate purge of large extents is off for the engine's arenas
// (oversize_threshold in jemalloc_glue.cc), so a freed large block stays
// dirty (resident, uncharged) and the group's next large allocations reuse
// its pages without faulting them in again; jemalloc's decay
// (dirty_decay_ms) returns them over time. NoteLargeFree bounds them in
// bytes: after every kWarmCheckBytes of large blocks a group frees, the
// group's arena is asked for its dirty pages, and purged if they exceed
// kWarmBytes. So a group keeps at most kWarmBytes + kWarmCheckBytes of
// freed memory dirty through frees (plus what reallocs that move a large
// block leave, which decay alone returns).
#ifndef MEMGROUP_SRC_ENGINE_WARM_LARGE_H_
#define MEMGROUP_SRC_ENGINE_WARM_LARGE_H_

#include <cstddef>
#include <cstdint>

namespace memgroup::internal::engine {

// Dirty bytes a group's arena may keep: a check that finds more purges the
// arena (to 0).
inline constexpr size_t kWarmBytes = size_t{128} << 20;
// Bytes of large blocks a group frees between two checks.
inline constexpr size_t kWarmCheckBytes = size_t{16} << 20;

// Resolves the MIBs; called by Init under the engine lock. False if this
// jemalloc lacks them. Allocates: never.
bool InitWarmLarge();

// Counts `bytes` of a large block of `group` just freed to jemalloc and runs
// the check when kWarmCheckBytes have been freed since the last one. A
// counter add; a mallctl round (epoch, pdirty, maybe purge) once per
// kWarmCheckBytes. Allocates: never.
void NoteLargeFree(uint32_t group, size_t bytes);

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_WARM_LARGE_H_
