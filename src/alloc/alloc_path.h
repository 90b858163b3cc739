// The allocation paths shared by the malloc, operator new and C ABI entry
// points: the inline fast paths (a front-cache pop or push, no charge: small
// blocks are charged with their slab, no call) and the misses they fall back
// to (slow_path.h).
// Owns: the fast paths' shape. Must never: call anything but the misses on
// a failed compare, lock, use an atomic read-modify-write, allocate through
// the public malloc. Included by preload/ and src/api (and src/alloc).
// Allocates: never.
//
// Fast path shape (a TLS load, the bin's test, the list operation):
// engine::t_front is never nullptr; a thread that has not run its first
// slow path, has exited or runs under fault injection reads the cache that
// holds nothing (engine::g_no_front), whose bins are empty for malloc and
// full for free. The front cache belongs to the thread's bound group;
// rebinding flushes it.
#ifndef MEMGROUP_SRC_ALLOC_ALLOC_PATH_H_
#define MEMGROUP_SRC_ALLOC_ALLOC_PATH_H_

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/macros.h"
#include "engine/engine.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#include "group/registry.h"

namespace memgroup::internal::alloc {

// The fast paths miss: everything that is not a front-cache hit (other
// sizes, alignments, calloc, empty or full bins, other groups, stock misses,
// threads not set up yet). Defined in slow_path.cc. Allocates: never.
MG_NOINLINE void* AllocMiss(size_t size, size_t align, bool zero);
MG_NOINLINE void FreeMiss(void* p);

// malloc's fast path: pop a block of the request's class from the thread's
// front cache. Small blocks are slab regions, charged with their slab
// (engine/page_charge.h): the pop charges nothing. The cache's group is the
// thread's current group whenever the cache exists (MoveThread, thread.h,
// moves both or neither). A thread without a cache (not set up, or fault
// injection on: every call must reach the miss, which draws) misses. A
// thread whose stock could not be had (no metadata memory) keeps its cache:
// a pop charges nothing.
MG_ALWAYS_INLINE void* AllocImpl(size_t size, size_t align, bool zero) {
  if (MG_LIKELY(align == 0 && !zero && size <= engine::kFrontSmallMax)) {
    engine::FrontBin& bin =
        engine::t_front->bins[engine::g_class_of_size8[(size + 7) >> 3]];
    void* p = engine::BinTryPop(bin);
    if (MG_LIKELY(p != nullptr)) return p;
  }
  return AllocMiss(size, align, zero);
}

// free's fast path: the page map gives the block's group and class in one
// load; a slab region of the bound group whose bin has room is pushed (its
// slab stays charged: nothing to return). Null and foreign pointers read
// entry 0 and miss; so do large blocks (cap 0) and a pointer that is not at
// a multiple of its class size from its slab's start (a pointer inside a
// block, reported by the miss; every small free in MEMGROUP_CHECK mode: see
// engine::g_region_magic_of_class, copied into each cache). Allocates:
// never.
MG_ALWAYS_INLINE void FreeImpl(void* p) {
  engine::FrontCache* fc = engine::t_front;
  const uint32_t cls = owner_table::PageEntry(p) - fc->tag;
  // Class 0 (a large block above the cached classes, or a pointer the
  // root group's cache reads entry 0 for) finds bins[0], whose capacity
  // is 0, like a large class's: one compare covers both ends.
  if (MG_LIKELY(cls < engine::kFrontClasses)) {
    engine::FrontBin& bin = fc->bins[cls];
    if (MG_LIKELY(bin.count < bin.cap &&
                  engine::OnRegionGrid(p, fc->region_magic[cls]))) {
      engine::BinPush(bin, p);
      return;
    }
  }
  FreeMiss(p);
}

// calloc of `total` bytes (the product already checked): small requests
// take malloc's fast path, then clear (a cached block is dirty anyway);
// larger ones keep the engine's zeroing, which skips fresh pages.
MG_ALWAYS_INLINE void* ZeroedAllocImpl(size_t total) {
  if (MG_LIKELY(total <= engine::kFrontSmallMax)) {
    void* p = AllocImpl(total, 0, false);
    if (MG_LIKELY(p != nullptr)) memset(p, 0, total);
    return p;
  }
  return AllocImpl(total, 0, true);
}

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_ALLOC_PATH_H_
