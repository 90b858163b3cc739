// Uncharged memory for memgroup's own bookkeeping, straight from mmap (raw
// syscall). Never reaches malloc and is never charged to a group.
// Allocates: never (through malloc).
#ifndef MEMGROUP_SRC_BASE_META_ALLOC_H_
#define MEMGROUP_SRC_BASE_META_ALLOC_H_

#include <cstddef>

namespace memgroup::internal {

// Returns zeroed, page-aligned memory of at least `bytes`, or nullptr. The
// mapping is MAP_NORESERVE: large sparse tables cost only the pages touched.
void* MetaMap(size_t bytes);
// Returns memory obtained from MetaMap with the same `bytes`.
void MetaUnmap(void* p, size_t bytes);
// Reserves address space only (PROT_NONE, MAP_NORESERVE), aligned to `align`
// (a power of two). Returns nullptr on failure.
void* MetaReserve(size_t bytes, size_t align);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_META_ALLOC_H_
