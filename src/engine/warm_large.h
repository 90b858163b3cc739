// How much freed large memory a group's arena keeps warm. jemalloc's
// immediate purge of large extents is off for the engine's arenas
// (oversize_threshold in jemalloc_glue.cc), so a freed large block stays
// dirty (resident, charged to the group as its free pages, free_pages.h)
// and the group's next large allocations reuse its pages without faulting
// them in again; the decay of free pages (free_pages.h, 3 s) returns them
// over time. jemalloc's own decay is off in the groups' arenas
// (kGroupArenaDirtyDecayMs, set by InitWarmLarge before any is created):
// it would purge pages the count stands for on its own schedule, and the
// count would read too high until the next check. So a group arena's
// dirty pages go down only by memgroup's purges, and the count is exact
// between them (but for the cases free_pages.h's SyncFreePages lists).
// NoteLargeFree bounds them in bytes: after every kWarmCheckBytes of large
// blocks a group frees, the group's arena is asked for its dirty pages; the
// charged free pages drop to that figure if above it; dirty pages beyond
// them by more than kUnchargedDirtyBytes (charged to nobody: a block charged
// from the free pages that jemalloc put in fresh pages, the old extent of a
// realloc that moved) are charged as free pages when the group's limits
// allow it (TryChargePages), and otherwise, or when the dirty pages exceed
// kWarmBytes, the arena is purged and its free pages uncharged. Freed
// blocks keep their charge as free pages, and front-cache blocks keep
// theirs in the cache and out of it (front_cache.h, CacheLarge), so the
// uncharged part comes from fresh placements (at most kUnchargedDirtyBytes
// between two checks, NoteLargeAlloc) and moved reallocs' old extents
// (kWarmCheckBytes between two checks).
#ifndef MEMGROUP_SRC_ENGINE_WARM_LARGE_H_
#define MEMGROUP_SRC_ENGINE_WARM_LARGE_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace memgroup::internal::engine {

// Dirty bytes a group's arena may keep: a check that finds more purges the
// arena (to 0).
inline constexpr size_t kWarmBytes = size_t{128} << 20;
// Bytes of large blocks a group frees between two checks.
inline constexpr size_t kWarmCheckBytes = size_t{16} << 20;
// Dirty bytes beyond the charged free pages a check tolerates.
inline constexpr size_t kUnchargedDirtyBytes = size_t{1} << 20;

// jemalloc's dirty_decay_ms in the groups' arenas: -1, no purge of
// jemalloc's own (arena 0, jemalloc's, keeps jemalloc_glue.cc's).
inline constexpr ssize_t kGroupArenaDirtyDecayMs = -1;

// Resolves the MIBs and sets arenas.dirty_decay_ms (the default of the
// arenas created afterwards) to kGroupArenaDirtyDecayMs; called by Init
// under the engine lock, before any group arena exists. False if this
// jemalloc lacks them. Allocates: never.
bool InitWarmLarge();

// Counts `bytes` of a large block of `group` just freed to jemalloc and runs
// the check when kWarmCheckBytes have been freed since the last one. A
// counter add; a mallctl round (epoch, pdirty, maybe purge) once per
// kWarmCheckBytes. Allocates: never.
void NoteLargeFree(uint32_t group, size_t bytes);

// After a large block of `bytes` was made for `group`: when its charge was
// taken from the group's free pages (TookFreePages), jemalloc may have
// served it from fresh pages, leaving the dirty ones it was charged for
// (it cannot put a block in free extents too small for it). Such bytes are
// counted, and the check runs once they reach kUnchargedDirtyBytes (it
// then finds dirty pages beyond the charged count: charged when the limits
// allow, else purged). A TLS flag test per large block; a mallctl round
// per kUnchargedDirtyBytes of blocks charged from free pages.
// Allocates: never.
void NoteLargeAlloc(uint32_t group, size_t bytes);

// After a large block of `group` was resized by jemalloc (realloc, in
// place or moved; the jemalloc engine, nothing otherwise): `dirtied`
// bytes went back to the arena as dirty pages no count covers (the old
// extent of a move, the tail of a shrink) and count towards the next
// check as freed bytes do; the arena is marked for the decay
// (free_pages.h, NoteArenaDirtied) in any case. Allocates: never.
void NoteLargeResize(uint32_t group, size_t dirtied);

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_WARM_LARGE_H_
