// The per-group extent hooks and their records: each group's jemalloc arena
// gets its memory only from 2 MiB chunks tagged for that group
// (owner_table.h), carved from the group's current run of chunks; the record
// lists every chunk the group claimed, so that retiring the group's arena
// gives them all back (ReleaseGroupArena), and so that an idle arena can pass
// to another group with all its chunks (DetachGroupArena, AttachGroupArena).
// Records are pooled: at most kMaxArenaRecords exist, one per jemalloc arena
// of ours. Slow paths only (jemalloc
// calls the hooks when an arena grows). Allocates: never (through malloc).
#ifndef MEMGROUP_SRC_ENGINE_GROUP_ARENA_H_
#define MEMGROUP_SRC_ENGINE_GROUP_ARENA_H_

#include <cstdint>

#include "engine/jemalloc_private.h"

namespace memgroup::internal::engine {

// jemalloc addresses at most 4095 arenas (MALLOCX_ARENA's 12 bits, its
// automatic ones included), so no more records are ever needed.
inline constexpr uint32_t kMaxArenaRecords = 4096;

// Maps the chunk-link array. Called once by the engine's Init, under the
// engine lock. False when metadata memory is exhausted.
[[nodiscard]] bool InitGroupArenas();

// Takes a record for `group` and returns the hooks to create its arena with
// (arenas.create); nullptr when every record is taken. Called under the
// engine lock, before the arena exists.
extent_hooks_t* GroupHooks(uint32_t group);

// Gives back everything `group`'s record holds: each chunk it claimed
// (owner_table::ReleaseChunks: pages to the OS, chunk to the free list),
// then the record. Called under the engine lock, once no arena uses the
// hooks (arena.<i>.destroy returned, or arenas.create failed) and no block
// of the group is left anywhere.
void ReleaseGroupArena(uint32_t group);

// A detached record (DetachGroupArena), or none.
inline constexpr uint32_t kNoRecord = 0xffffffffu;

// Detaches `group`'s record from the group, for an arena going idle into the
// pool (arena_pool.h): every chunk it claimed is tagged for nobody
// (kNoGroup) and the record (its chunks, current run and hooks) stays with
// the arena. Returns the record's handle, kNoRecord when the group has none.
// Called under the engine lock, once no block of the group is left anywhere
// and no block of the arena is allocated. Allocates: never.
uint32_t DetachGroupArena(uint32_t group);

// Gives the detached record `record` to `group`: every chunk of it is tagged
// for `group`, and later claims are too. Called under the engine lock,
// before the caller publishes the arena for `group`, so that the arena never
// serves a block from a chunk `group` does not own. Allocates: never.
void AttachGroupArena(uint32_t record, uint32_t group);

// Bytes of chunks claimed for `group`'s current arena (a statistic: racy by
// design).
uint64_t MappedBytes(uint32_t group);

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_GROUP_ARENA_H_
