// The per-group extent hooks: each group's jemalloc arena gets its memory
// only from 2 MiB chunks tagged for that group (owner_table.h), carved from
// the group's current run of chunks. Slow paths only (jemalloc calls the
// hooks when an arena grows). Allocates: never (through malloc).
#ifndef MEMGROUP_SRC_ENGINE_GROUP_ARENA_H_
#define MEMGROUP_SRC_ENGINE_GROUP_ARENA_H_

#include <cstdint>

#include "engine/jemalloc_private.h"

namespace memgroup::internal::engine {

// The hooks to create `group`'s arena with (arenas.create), set up for the
// group. Called under the engine lock, before the arena exists.
extent_hooks_t* GroupHooks(uint32_t group);

// Bytes of chunks claimed for `group`'s arena (a statistic: racy by design,
// it only grows).
uint64_t MappedBytes(uint32_t group);

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_GROUP_ARENA_H_
