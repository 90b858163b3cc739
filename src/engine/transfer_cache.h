// The transfer cache: per (group, small class), a few batches of free slab
// regions that one thread's front cache flushed (a full bin's older half)
// and that the next refill of the class, in a thread of the group whose
// shard (slab.h, ThreadShard) is the shard of the batch's first region's
// slab, takes whole, so that a region freed by one thread and allocated by
// another (a producer and a consumer) moves between their front caches
// without going back to its slab: a flush or a refill is then one
// compare-and-swap or exchange instead of a bin lock and a bitmap update
// per region (slab::FreeBatch, slab::AllocBatch). tcmalloc's transfer
// cache is the same idea.
//
// Owns: each group's batch stacks (metadata memory, 41 KiB, made at the
// group's first flush and kept for later groups of the same id).
//
// Cost: at most 256 KiB of free regions per (group, class), 10 MiB per
// group if every class filled its stack, held (and charged, as their slabs
// are) until a drain; the OOM path and reclaim drain before they decide.
// Must never: hold regions of a group other than the slot's; take a lock on
// the alloc or free paths; hold more than kBatchBytes of regions per (group,
// class). Regions in a stack are out of their slab (their slab stays charged):
// Drain returns them: a flush of a whole front cache drains its group's
// (thread exit, rebind, Purge, which reclaim and the OOM path call), and
// so does the retirement of a destroyed group (slab::FiniGroup fails while
// a region is out). Disabled in
// check mode (engine.h): a double free there is found among the thread's
// caches and the slabs, not in these stacks.
// Allocates: never (through malloc).
//
// SYNCHRONIZATION: each (group, class) holds a stack of batches (each its
// first region's address and its region count) under a try-lock (an atomic
// word: acquire exchange to take, release store to give back). Put and Take
// never wait: a taken lock sends their batch to or from the slabs instead;
// only Drain waits, for a hold of a few instructions. The putting thread
// writes a batch's links before its lock's release; the taker reads them
// after its acquire. A fork child resets the locks a lost thread held
// (ChildFork), dropping that class's batches.
#ifndef MEMGROUP_SRC_ENGINE_TRANSFER_CACHE_H_
#define MEMGROUP_SRC_ENGINE_TRANSFER_CACHE_H_

#include <cstdint>

namespace memgroup::internal::engine::transfer {

// Offers the `n` (1 to 255) regions of class `cls` (a slab class) of `group`
// linked through their first words from `head` (the last link is not read).
// True when the class's stack took them; false (nothing changed) when it is
// full (kBytesPerClass) or locked, the group's stacks cannot be made, or in
// check mode. Allocates:
// never (through malloc); maps the group's stacks at its first call.
bool Put(uint32_t group, uint32_t cls, void* head, uint32_t n);

// Takes one batch of class `cls` of `group` whose first region's slab is
// of shard `shard` (slab.h, the caller's ThreadShard): its first region
// (linked to the others through first words; the last link is stale), its
// count in *n. nullptr when there is none or the stack is locked: a thread
// takes no other shard's batch, whose regions share lines and slabs with
// that shard's thread (a producer's regions, which its consumer flushes,
// are of the producer's shard). Allocates: never. Never waits.
void* Take(uint32_t group, uint32_t cls, uint32_t shard, uint32_t* n);

// Returns every batch of `group` to its slabs (slab::FreeBatch). Allocates:
// never (through malloc).
void Drain(uint32_t group);

// fork(2), in the child: a class whose lock a lost thread held at fork loses
// its batches (their regions are leaked, as that thread's front cache is)
// and becomes usable again. Allocates: never.
void ChildFork();

// Regions of `group` held in its stacks (statistics and tests; racy while
// other threads put or take). Allocates: never.
uint64_t RegionsHeld(uint32_t group);

}  // namespace memgroup::internal::engine::transfer

#endif  // MEMGROUP_SRC_ENGINE_TRANSFER_CACHE_H_
