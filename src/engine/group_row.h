// The engine's row of per-group entries: those that a process touches for
// its root group whatever it does (its arena or mimalloc arena id, its slab
// bins, its transfer-cache stacks, its charged free pages, its cached large
// blocks), side by side in one 40-byte row per group slot instead of one
// table each, so that the root group's entries share one page: a page a
// process touches is a page fault of its start-up, five of them as five
// tables (docs/perf.md, "What a start costs on this machine"). Owns the
// layout only: each entry is written, read and ordered by the layer named
// beside it, which documents it. Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_GROUP_ROW_H_
#define MEMGROUP_SRC_ENGINE_GROUP_ROW_H_

#include <atomic>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"

namespace memgroup::internal::engine {

namespace slab {
struct GroupBins;
}  // namespace slab
namespace transfer {
struct TransferGroup;
}  // namespace transfer

struct GroupRow {
  // The group's arena entry, 0 while it has none (engine_internal.h, ArenaOf).
  std::atomic<uint32_t> arena_ind;
  // The group's slab bins (slab_internal.h, Bins).
  std::atomic<slab::GroupBins*> bins;
  // The group's transfer-cache stacks (transfer_cache.cc).
  std::atomic<transfer::TransferGroup*> transfer;
  // Charged free pages of the group, in bytes (free_pages.cc).
  std::atomic<int64_t> free_pages;
  // Bytes of the group's large blocks in threads' front caches
  // (front_cache.h).
  std::atomic<int64_t> cached_large;
};
static_assert(sizeof(GroupRow) == 40,
              "five entries: 4 bytes, 4 of padding, then four of 8");

// Indexed by group slot; zero-filled (every entry empty) until written.
MG_HIDDEN extern GroupRow g_group_rows[kMaxGroups];

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_GROUP_ROW_H_
