// Resizing a block: realloc (in its owner group, charging the growth
// there), the allocate-copy-free move of jemalloc's aligned or zeroing
// rallocx, and xallocx's in-place resize. The charge of a resized block is
// settled on what the engine really holds (charge.h, SettleCharge).
// Must never: move a block to another group, allocate through the public
// malloc except for the caller's new block. Allocates: never otherwise.
#ifndef MEMGROUP_SRC_ALLOC_RESIZE_H_
#define MEMGROUP_SRC_ALLOC_RESIZE_H_

#include <cstddef>

namespace memgroup::internal::alloc {

// realloc of any pointer (glibc semantics: size 0 frees and returns
// nullptr; a foreign pointer of unknown size is refused with ENOMEM).
void* Realloc(void* p, size_t size);

// A new block of (size, align, zero) in the calling thread's group holding
// p's contents, then p freed (size > 0). nullptr (p kept) on failure.
void* ReallocMove(void* p, size_t size, size_t align, bool zero);

// xallocx: resizes p in place to at least `size` and at most size + extra,
// if its group's limit allows the growth. Returns the usable size.
size_t ResizeInPlace(void* p, size_t size, size_t extra, size_t align);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_RESIZE_H_
