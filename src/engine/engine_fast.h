// The engine's inline fast path for the calling thread's bound group: a
// direct (hidden, no PLT) call into the private jemalloc's own malloc/free
// fast paths. Everything else goes through engine.h. Allocates: never
// (through the public malloc).
#ifndef MEMGROUP_SRC_ENGINE_ENGINE_FAST_H_
#define MEMGROUP_SRC_ENGINE_ENGINE_FAST_H_

#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/engine.h"

extern "C" {
#pragma GCC visibility push(hidden)
void* mgje_malloc(size_t size) noexcept;
void mgje_free(void* p) noexcept;
size_t mgje_sallocx(const void* p, int flags) noexcept;
#pragma GCC visibility pop
}

namespace memgroup::internal::engine {

// Owner-only: the group whose arena thread.arena points at (see BindThread).
extern MG_TLS uint32_t t_bound;

// Alloc(group, size, 0, false) with the bound-group case inlined.
MG_ALWAYS_INLINE void* AllocFast(uint32_t group, size_t size) {
  if (MG_LIKELY(group == t_bound)) return mgje_malloc(size);
  return Alloc(group, size, 0, false);
}

// Free(p, owner) with the bound-group case inlined; `usable` is the block's
// usable size. The bound group uses plain free: jemalloc 5.3's sized free
// measured slower here (mixed sizes 12.2 vs 10.1 ns per pair), and Debian's
// profiling-enabled build sends page-aligned pointers with a size hint to
// its slow path.
MG_ALWAYS_INLINE void FreeFast(void* p, uint32_t owner, size_t usable) {
  if (MG_LIKELY(owner == t_bound)) {
    mgje_free(p);
    return;
  }
  FreeSized(p, usable, owner);
}

// UsableSize(p) inlined.
MG_ALWAYS_INLINE size_t UsableSizeFast(const void* p) {
  return mgje_sallocx(p, 0);
}

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_ENGINE_FAST_H_
