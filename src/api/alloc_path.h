// The allocation paths shared by the malloc, operator new and C ABI entry
// points: the inline fast paths (a front-cache pop or push plus a stock
// take or give, no call) and the declarations of the misses and slow paths.
// Only preload/ and src/api include it. Allocates: never (through the public
// malloc).
//
// Fast path shape (style.md §6.1): engine::t_front and t_thread.stock are
// nullptr for a thread that has not run its first slow path (and after
// thread exit), which fails the first compare. The stock always belongs to
// the thread's current group and the front cache to its bound group;
// rebinding drains the one and flushes the other.
#ifndef MEMGROUP_SRC_API_ALLOC_PATH_H_
#define MEMGROUP_SRC_API_ALLOC_PATH_H_

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/engine.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#include "group/charger.h"
#include "group/registry.h"

namespace memgroup::internal::preload {

// Lazy init from any first call. Returns true when the engine is ready. The
// initialising thread's own nested calls get false and are served from the
// bootstrap buffer. Allocates: never.
bool EnsureInit();

// Bootstrap buffer for allocations made while initialising.
void* BootstrapAlloc(size_t size, size_t align);
bool IsBootstrap(const void* p);
size_t BootstrapSize(const void* p);

// The slow allocation path: init, thread setup, charge (with the group's OOM
// policy), engine. Returns nullptr with errno = ENOMEM on failure.
MG_NOINLINE void* AllocSlow(size_t size, size_t align, bool zero);
// Allocation in an explicit group index (mg_malloc_in). Slow path.
void* AllocInGroup(uint32_t group, size_t size, size_t align, bool zero);
// free() of a pointer the engine does not own. Allocates: never.
MG_NOINLINE void FreeForeign(void* p);
// realloc of any pointer.
void* ReallocImpl(void* p, size_t size);
// Usable size of any pointer (0 for foreign ones).
size_t UsableSizeImpl(const void* p);

// The fast paths miss: everything that is not a front-cache hit (other
// sizes, alignments, calloc, empty or full bins, other groups, stock misses,
// threads not set up yet). Allocates: never.
MG_NOINLINE void* AllocMiss(size_t size, size_t align, bool zero);
MG_NOINLINE void FreeMiss(void* p);

// malloc's fast path: pop a block of the request's class from the thread's
// front cache, charging its usable size to slot 0 of the stock. The cache's
// group is the thread's current group whenever the cache exists
// (BindCurrentThread moves both or neither), and ConsumePrimary checks that
// slot 0 holds that group's stock.
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
// and miss. Allocates: never.
MG_ALWAYS_INLINE void FreeImpl(void* p) {
  engine::FrontCache* fc = engine::t_front;
  if (MG_LIKELY(fc != nullptr)) {
    const uint32_t cls = owner_table::PageEntry(p) - fc->tag;
    if (MG_LIKELY(cls - 1 < engine::kFrontClasses - 1)) {
      engine::FrontBin& bin = fc->bins[cls];
      const uint32_t n = bin.count;
      ThreadStock* ts = t_thread.stock;
      if (MG_LIKELY(n < bin.cap && ts != nullptr &&
                    GlobalRegistry().stocks().RefillPrimary(ts, fc->group,
                                                            bin.size))) {
        engine::BinPush(bin, p);
        return;
      }
    }
  }
  FreeMiss(p);
}

}  // namespace memgroup::internal::preload

#endif  // MEMGROUP_SRC_API_ALLOC_PATH_H_
