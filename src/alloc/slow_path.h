// The slow paths of allocation and free: what the inline fast paths
// (alloc_path.h) miss, the allocation in an explicit group, the free of a
// pointer memgroup does not own and the usable size of any pointer. Each
// charges (group/charger.h) before asking the engine and returns the charge
// when the engine fails.
// Must never: allocate through the public malloc, hold a lock across the
// charge (reclaim callbacks and OOM handlers run inside it), set errno
// except to ENOMEM on failure. Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_SLOW_PATH_H_
#define MEMGROUP_SRC_ALLOC_SLOW_PATH_H_

#include <cstddef>
#include <cstdint>

#include "alloc/alloc_path.h"

namespace memgroup::internal::alloc {

// Allocation of `size` bytes in `group` (a live slot index) by the calling
// thread (mg_malloc_in, mg_transfer). nullptr with errno = ENOMEM on
// failure.
void* AllocIn(uint32_t group, size_t size);

// free() of a pointer the engine does not own. Allocates: never.
MG_NOINLINE void FreeForeign(void* p);
// How many FreeForeign calls were for pointers that are not bootstrap
// blocks either (another allocator's, stack, wild). Relaxed snapshot.
uint64_t ForeignFrees();

// Usable size of any pointer (0 for foreign ones); a pointer into the
// engine's memory that is not a slab region's or a live large block's
// start is reported and aborts (engine::CheckHeldBlock).
size_t UsableSize(const void* p);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_SLOW_PATH_H_
