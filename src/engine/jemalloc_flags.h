// jemalloc's public mallocx flag encoding (documented in jemalloc(3)),
// restated so that code outside the engine can decode the flags a program
// passes to mallocx/rallocx without including <jemalloc/jemalloc.h>.
#ifndef MEMGROUP_SRC_ENGINE_JEMALLOC_FLAGS_H_
#define MEMGROUP_SRC_ENGINE_JEMALLOC_FLAGS_H_

#include <cstddef>

#define MG_MALLOCX_LG_ALIGN_MASK 0x3f
#define MG_MALLOCX_ZERO 0x40

// The alignment requested by `flags` (0 for none). Allocates: never.
inline size_t MgMallocxAlign(int flags) {
  int lg = flags & MG_MALLOCX_LG_ALIGN_MASK;
  return lg == 0 ? 0 : (size_t{1} << lg);
}

#endif  // MEMGROUP_SRC_ENGINE_JEMALLOC_FLAGS_H_
