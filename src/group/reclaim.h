// Group-local reclaim (at max, and proactive as memory.reclaim): the
// reclaimer registration table and the protection-ordered walk that asks
// the reclaimers of a subtree for memory.
// Must never: hold a lock while a reclaimer runs (reclaimers run with the
// thread's slow-path depth raised, so their own allocations are charged
// directly and never re-enter reclaim), allocate, call the engine or any
// layer above. Allocates: never (the table is fixed-size, static).
#ifndef MEMGROUP_SRC_GROUP_RECLAIM_H_
#define MEMGROUP_SRC_GROUP_RECLAIM_H_

#include <cstdint>

#include "group/errc.h"
#include "group/registry.h"

namespace memgroup::internal {

// Asked to release up to `target_bytes` charged to `group` (an id); returns
// the bytes it released (0 if none).
using ReclaimFn = int64_t (*)(GroupId group, int64_t target_bytes, void* arg);

inline constexpr int kMaxReclaimers = 1024;

// Registers a reclaimer on a live group; *handle > 0 on success.
Errc RegisterReclaimer(uint32_t group, ReclaimFn fn, void* arg, int* handle);
Errc UnregisterReclaimer(int handle);

// Returns the free pages the engine holds for `target` and its descendants
// (empty slabs, cached blocks, purged arena pages) to the OS and their
// charge to the counter; returns the bytes uncharged. Installed by
// src/alloc at init (the group layer cannot call the engine).
using PageReclaimFn = int64_t (*)(uint32_t target);
void SetPageReclaimHook(PageReclaimFn fn);

// Runs the page reclaim hook alone for `target`'s subtree (0 without one):
// the free engine pages of its groups go back to the OS and are uncharged.
// What an OOM policy's retry runs first (a free of a large block keeps its
// charge as the group's free pages instead of uncharging). Allocates:
// never.
int64_t ReturnFreePagesOf(uint32_t target);

// Runs the page reclaim hook first (free pages go before anything a
// program holds, as the kernel's page cache does), then the reclaimers of
// `target` and its descendants for `bytes`, honouring
// effective min/low protection (kernel page_counter_calculate_protection):
// groups at or below emin are never asked; groups at or below elow only in
// a second pass when the first released nothing (raising the `low` event).
// Returns the bytes released (free pages included), or -1 when no page was
// free and no reclaimer exists in the subtree.
// Allocates: never (callbacks may).
int64_t ReclaimSubtree(uint32_t target, int64_t bytes);

// Proactive reclaim (memory.reclaim): asks for `bytes` in rounds of a
// quarter of the remainder, stopping after 16 rounds without progress.
// Returns the bytes released (>= 0).
int64_t ProactiveReclaim(uint32_t target, int64_t bytes);

// fork(2): hold the reclaimer lock across fork (after the registry and
// stock locks); the child resets it.
void ReclaimPrepareFork();
void ReclaimParentFork();
void ReclaimChildFork();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_RECLAIM_H_
