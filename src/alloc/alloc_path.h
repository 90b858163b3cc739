// The allocation paths shared by the malloc, operator new and C ABI entry
// points: the inline fast paths (a front-cache pop or push plus a stock
// take or give, no call) and the misses they fall back to (slow_path.h).
// Owns: the fast paths' shape. Must never: call anything but the misses on
// a failed compare, lock, use an atomic read-modify-write, allocate through
// the public malloc. Included by preload/ and src/api (and src/alloc).
// Allocates: never.
//
// Fast path shape (TLS loads, a compare, the list operation):
// engine::t_front and t_thread.stock are nullptr for a thread that has not
// run its first slow path (and after thread exit), which fails the first
// compare. The stock always belongs to
// the thread's current group and the front cache to its bound group;
// rebinding drains the one and flushes the other.
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
#include "group/thread_binding.h"

namespace memgroup::internal::alloc {

// The fast paths miss: everything that is not a front-cache hit (other
// sizes, alignments, calloc, empty or full bins, other groups, stock misses,
// threads not set up yet). Defined in slow_path.cc. Allocates: never.
MG_NOINLINE void* AllocMiss(size_t size, size_t align, bool zero);
MG_NOINLINE void FreeMiss(void* p);

// malloc's fast path: pop a block of the request's class from the thread's
// front cache, charging its usable size to slot 0 of the stock. The cache's
// group is the thread's current group whenever the cache exists
// (MoveThread, thread.h, moves both or neither), and ConsumePrimary checks
// that slot 0 holds that group's stock.
MG_ALWAYS_INLINE void* AllocImpl(size_t size, size_t align, bool zero) {
  if (MG_LIKELY(align == 0 && !zero && size <= engine::kFrontSmallMax)) {
    engine::FrontCache* fc = engine::t_front;
    ThreadStock* ts = t_thread.stock;
    if (MG_LIKELY(fc != nullptr && ts != nullptr)) {
      engine::FrontBin& bin =
          fc->bins[engine::g_class_of_size8[(size + 7) >> 3]];
      const uint32_t n = bin.count;
      if (MG_LIKELY(n != 0 && GlobalRegistry().stocks().ConsumePrimary(
                                  ts, fc->group, bin.size))) {
        return engine::BinPop(bin);
      }
    }
  }
  return AllocMiss(size, align, zero);
}

// free's fast path: the page map gives the block's group and class in one
// load; a block of the bound group whose bin has room is pushed and its size
// returned to slot 0 of the stock. Null and foreign pointers read entry 0
// and miss; so does a pointer misaligned for its class (an interior pointer,
// reported by the miss; every small free in MEMGROUP_CHECK mode: see
// engine::g_align_mask_of_class, copied into each cache). Allocates:
// never.
MG_ALWAYS_INLINE void FreeImpl(void* p) {
  engine::FrontCache* fc = engine::t_front;
  if (MG_LIKELY(fc != nullptr)) {
    const uint32_t cls = owner_table::PageEntry(p) - fc->tag;
    if (MG_LIKELY(cls - 1 < engine::kFrontClasses - 1)) {
      engine::FrontBin& bin = fc->bins[cls];
      const uint32_t n = bin.count;
      ThreadStock* ts = t_thread.stock;
      if (MG_LIKELY(n < bin.cap && ts != nullptr &&
                    (reinterpret_cast<uintptr_t>(p) & fc->align_mask[cls]) ==
                        0 &&
                    GlobalRegistry().stocks().RefillPrimary(ts, fc->group,
                                                            bin.size))) {
        engine::BinPush(bin, p);
        return;
      }
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
