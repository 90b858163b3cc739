// The pool of idle jemalloc arenas (the jemalloc engine). A retired group's
// arena (engine_init.cc: nothing of the group is left anywhere) is purged
// (arena.<i>.purge: every free page goes back to the OS, its extents stay
// as retained, zeroed address space), its chunks are tagged for nobody
// (group_arena.h's DetachGroupArena) and it waits here; the next group that
// needs an arena takes it, its chunks tagged for that group first
// (AttachGroupArena), instead of creating one (arenas.create makes and
// faults in a new base of about 90 KiB, and a retired arena's chunks would
// be returned and claimed again). Bounded: at most kArenaPoolMax idle
// arenas; a group retired when the pool is full destroys its arena
// (arena.<i>.destroy) as before. docs/architecture.md, "What a group
// costs", says what an idle arena keeps.
//
// Owns the pool (a stack of arena indices and their records). Everything
// here runs under the engine lock (engine_internal.h). Slow paths only;
// allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_ARENA_POOL_H_
#define MEMGROUP_SRC_ENGINE_ARENA_POOL_H_

#include <cstdint>

namespace memgroup::internal::engine {

// The most idle arenas kept. Each keeps about 90 KiB resident (its base:
// arena_t, its bins and extent heaps, extent records), so the pool holds at
// most about 3 MiB; jemalloc's per-index ctl statistics (about 50 KB) stay
// for every arena index ever used at once, pooled or not.
inline constexpr uint32_t kArenaPoolMax = 32;

// Parks arena `ind` of `group`, a retired group: no block of the group is
// left anywhere, its slab bins are retired (slab::FiniGroup) and nothing of
// the arena is allocated. Purges the arena, then detaches its record from
// the group (chunks tagged for nobody). False, and nothing changed, when
// the pool is full or the group has no record. Under the engine lock.
// Allocates: never.
[[nodiscard]] bool ParkArenaLocked(uint32_t group, unsigned ind);

// An idle arena for `group`, its chunks (and its later claims) tagged for
// `group`: its index, or 0 when the pool is empty. The caller sets up the
// group's slab bins and publishes the index. Under the engine lock.
// Allocates: never.
unsigned TakeArenaLocked(uint32_t group);

// Gives back to the pool arena `ind`, which TakeArenaLocked just returned
// for `group` and nothing was allocated from (the group's bins could not be
// set up). Under the engine lock. Allocates: never.
void UntakeArenaLocked(uint32_t group, unsigned ind);

// Idle arenas in the pool (a statistic; racy by design). Allocates: never.
uint32_t IdleArenas();

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_ARENA_POOL_H_
