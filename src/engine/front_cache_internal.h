// The engine-side operations on front caches (front_cache.cc), used by the
// engines' bind, alloc, free, exit and fork paths (both engines: small
// blocks and, pushed by CacheLarge, large ones). Everything here
// runs on the cache's owner thread (except ChildFork) and is a slow path.
// Allocates: never (through malloc).
#ifndef MEMGROUP_SRC_ENGINE_FRONT_CACHE_INTERNAL_H_
#define MEMGROUP_SRC_ENGINE_FRONT_CACHE_INTERNAL_H_

#include <cstddef>
#include <cstdint>

#include "engine/front_cache.h"

namespace memgroup::internal::engine::front {

// Fills the class tables from ComputedClassSize and checks them (the
// jemalloc engine: against three of jemalloc's figures). Called once from the engine's init;
// false leaves the front cache disabled (Acquire returns nullptr) and the
// jemalloc engine working without it (the mimalloc engine cannot start).
bool InitClasses();

// jemalloc's size class `j` (0-based: its small bins, then its large
// extents) computed for Debian's build; what both engines' tables hold.
size_t ComputedClassSize(unsigned j);

// Fills g_region_magic_of_class from the class sizes and CheckMode().
void FillRegionMagic();
// A cache for the calling thread, holding blocks of `group` (empty).
// nullptr when disabled, under fault injection (group/fault_injection.h)
// or out of metadata memory.
FrontCache* Acquire(uint32_t group);
// Sets the group whose blocks `fc` (empty) holds from now on.
void SetGroup(FrontCache* fc, uint32_t group);
// Flushes `fc` (small blocks to the group's slabs, large ones to the engine:
// jemalloc, or mi::FreeLarge; the group's transfer cache is drained too)
// and recycles it (thread exit).
void Retire(FrontCache* fc);
// Returns every cached block to the slabs or the engine, and drains the
// group's transfer cache (rebind, purge). The calling thread must still be
// bound to fc->group.
void Flush(FrontCache* fc);
// A fork child's handlers (engine.h, ChildForkDropInherited), on the
// forking thread's cache. ReturnLarge returns the large blocks `fc` holds
// to the engine with their charge, as an eviction does (the group's free
// pages on the jemalloc engine); their bytes. SetAsideLarge (the mimalloc
// engine) leaves them where they are, unwritten, and marks the bins set
// aside (FreeSetAside frees them at their next use); their bytes, which
// leave the group's cached_large and which the caller uncharges: a child
// that execs first writes neither their pages nor the engine's, as the
// frees would. Owner only. Allocates: never.
int64_t ReturnLarge(FrontCache* fc);
int64_t SetAsideLarge(FrontCache* fc);

// Takes a batch of regions of small class `cls` from the group's transfer
// cache (transfer_cache.h) or else its slabs, keeps all but one in the bin
// and returns that one; nullptr if there is no memory.
void* Refill(FrontCache* fc, uint32_t cls);
// One block of large class `cls` from jemalloc (the jemalloc engine only),
// published in the page map, reading zero when `zero` (jemalloc clears the
// pages it does not know to read zero); nullptr if there is no memory or
// jemalloc serves this thread from another arena.
void* RefillLarge(FrontCache* fc, uint32_t cls, bool zero);
// Caches a freed block of class `cls`, flushing half a full small bin first
// (to the group's transfer cache, or its slabs when that is full).
// False if a large block does not fit (the caller frees it to jemalloc).
bool Push(FrontCache* fc, void* p, uint32_t cls);

// fork(2): the cache list lock across fork. In the child the caches of the
// threads that do not exist any more are left as they are (see ChildFork).
void PrepareFork();
void ParentFork();
void ChildFork();

}  // namespace memgroup::internal::engine::front

#endif  // MEMGROUP_SRC_ENGINE_FRONT_CACHE_INTERNAL_H_
