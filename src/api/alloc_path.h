// The allocation paths shared by the malloc, operator new and C ABI entry
// points: the inline fast path (one TLS load, one compare, one subtract,
// then the engine) and the declarations of the one slow path. Only preload/
// and src/api include it. Allocates: never (through the public malloc).
//
// Fast path shape (style.md §6.1): t_thread.stock is nullptr for a thread
// that has not run its first slow path (and after thread exit), which fails
// the same compare as an empty stock. The stock always belongs to the
// thread's bound group, because rebinding drains it.
#ifndef MEMGROUP_SRC_API_ALLOC_PATH_H_
#define MEMGROUP_SRC_API_ALLOC_PATH_H_

#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/engine.h"
#include "engine/engine_fast.h"
#include "engine/owner_table.h"
#include "group/charger.h"
#include "group/registry.h"

namespace memgroup::internal::preload {

// Requests up to this size use the size-class table instead of nallocx.
inline constexpr size_t kSmallMax = 8192;
// usable size of malloc(n) for n <= kSmallMax, indexed by (n + 7) >> 3.
// Filled by Init before any thread gets a stock. Read-only afterwards.
extern constinit uint16_t g_small_usable[(kSmallMax >> 3) + 1];

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

MG_ALWAYS_INLINE void* AllocImpl(size_t size, size_t align, bool zero) {
  ThreadState& t = t_thread;
  ThreadStock* ts = t.stock;
  if (MG_LIKELY(ts != nullptr && align == 0 && !zero && size <= kSmallMax)) {
    // The fast path: table size class, slot 0 of the stock, the engine's
    // bound arena.
    int64_t usable = g_small_usable[(size + 7) >> 3];
    if (MG_LIKELY(GlobalRegistry().stocks().ConsumePrimary(ts, t.group,
                                                           usable))) {
      void* p = engine::AllocFast(t.group, size);
      if (MG_LIKELY(p != nullptr)) return p;
      UnchargeSlow(t.group, usable);
      errno = ENOMEM;
      return nullptr;
    }
  } else if (ts != nullptr) {
    size_t usable = engine::GoodSize(size, align);
    if (usable != 0 && usable <= static_cast<size_t>(INT64_MAX) &&
        GlobalRegistry().stocks().ConsumePrimary(
            ts, t.group, static_cast<int64_t>(usable))) {
      void* p = engine::Alloc(t.group, size, align, zero);
      if (MG_LIKELY(p != nullptr)) return p;
      UnchargeSlow(t.group, static_cast<int64_t>(usable));
      errno = ENOMEM;
      return nullptr;
    }
  }
  return AllocSlow(size, align, zero);
}

// Frees p whose usable size is `usable` (known to sized delete, otherwise
// looked up). Allocates: never.
MG_ALWAYS_INLINE void FreeWithUsable(void* p, uint32_t owner, size_t usable) {
  engine::FreeFast(p, owner, usable);
  ThreadState& t = t_thread;
  ThreadStock* ts = t.stock;
  if (MG_LIKELY(ts != nullptr &&
                GlobalRegistry().stocks().RefillPrimary(
                    ts, owner, static_cast<int64_t>(usable)))) {
    return;
  }
  UnchargeSlow(owner, static_cast<int64_t>(usable));
}

MG_ALWAYS_INLINE void FreeImpl(void* p) {
  if (MG_UNLIKELY(p == nullptr)) return;
  uint32_t owner = owner_table::OwnerOf(p);
  if (MG_UNLIKELY(owner == kNoGroup)) {
    FreeForeign(p);
    return;
  }
  FreeWithUsable(p, owner, engine::UsableSizeFast(p));
}

// Sized delete of an unaligned block: the C++ rules make `size` the
// requested size, so its size class is the usable size that was charged and
// the engine's size lookup is skipped for small blocks.
MG_ALWAYS_INLINE void FreeSizedImpl(void* p, size_t size) {
  if (MG_UNLIKELY(p == nullptr)) return;
  uint32_t owner = owner_table::OwnerOf(p);
  if (MG_UNLIKELY(owner == kNoGroup)) {
    FreeForeign(p);
    return;
  }
  size_t usable = size <= kSmallMax ? g_small_usable[(size + 7) >> 3]
                                    : engine::UsableSizeFast(p);
  FreeWithUsable(p, owner, usable);
}

}  // namespace memgroup::internal::preload

#endif  // MEMGROUP_SRC_API_ALLOC_PATH_H_
