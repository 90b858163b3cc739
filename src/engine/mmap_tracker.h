// The mappings a program made through the interposed mmap, mprotect, mremap
// and munmap, page by page: which are charged anonymous memory, which are
// uncharged anonymous reservations, which are file-backed or shared, and the
// group of each. Owns a sorted array of disjoint [start, end) ranges in
// MetaMap'ed memory under one lock (every caller is a slow path: a system
// call), and the per-group byte counts of file-backed and shared mappings.
// Ranges split wherever a partial munmap, mprotect or mremap cuts them, and
// adjacent ranges of the same kind and group merge again.
// Must never: allocate through malloc, charge or uncharge (the callbacks do,
// outside the lock). Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_MMAP_TRACKER_H_
#define MEMGROUP_SRC_ENGINE_MMAP_TRACKER_H_

#include <cstddef>
#include <cstdint>

#include "base/limits.h"  // kNoGroup

namespace memgroup::internal::mmap_tracker {

enum class MapKind : uint8_t {
  kCharged,   // private anonymous, committed: charged to its group
  kReserved,  // private anonymous, not committed (not writable, or made
              // PROT_NONE): charged when it is made writable
  kFile,      // file-backed, private or shared: reported as file_mapped
  kShmem,     // shared anonymous: reported as shmem
};

// A run of pages handed to a callback: its group, kind and length.
struct Piece {
  uint32_t group;
  MapKind kind;
  size_t bytes;
};
// Called outside the lock, once per piece, in address order, in batches.
using PieceFn = void (*)(const Piece& piece, void* ctx);

enum class InsertResult : uint8_t {
  kInserted,
  kOverlaps,  // a tracked page is in the range: nothing recorded
  kNoMemory,  // metadata memory exhausted: nothing recorded
};

// Records [addr, addr+len) as `kind` of `group` if it holds no tracked page
// (a new mapping's range, unless a mapping was unmapped behind the
// interposed calls' back or a racing thread remapped it: callers Remove it
// and try again). Allocates: never.
[[nodiscard]] InsertResult Insert(uintptr_t addr, size_t len, uint32_t group,
                                  MapKind kind);

// Forgets every tracked page in [addr, addr+len), splitting ranges, and
// calls fn for each removed piece. Allocates: never.
void Remove(uintptr_t addr, size_t len, PieceFn fn, void* ctx);

// kReserved pages in [addr, addr+len) become kCharged to `group`; fn gets
// each converted piece (its bytes must now be charged). Allocates: never.
void Commit(uintptr_t addr, size_t len, uint32_t group, PieceFn fn, void* ctx);

// kCharged pages in [addr, addr+len) become kReserved; fn gets each
// converted piece with the group it was charged to. Allocates: never.
void Decommit(uintptr_t addr, size_t len, PieceFn fn, void* ctx);

// Bytes of `kind` in [addr, addr+len); of `group` only unless group is
// kNoGroup. A snapshot: the caller pre-charges from it and settles the
// difference after the system call. Allocates: never.
size_t BytesIn(uintptr_t addr, size_t len, MapKind kind, uint32_t group);

// The piece holding the page at addr (bytes: from addr to the piece's end),
// or false if that page is untracked. Allocates: never.
bool Lookup(uintptr_t addr, Piece* out);

// mremap's move: the pieces of [old_addr, old_addr+len) now start at
// new_addr, which must hold no tracked page (callers Remove it first). With
// keep_old (MREMAP_DONTUNMAP) the old pieces stay and the moved copies of
// kCharged pieces are charged to `copy_group`. False if metadata memory is
// exhausted (nothing moved). Allocates: never.
[[nodiscard]] bool Move(uintptr_t old_addr, size_t len, uintptr_t new_addr,
                        bool keep_old, uint32_t copy_group);

// Bytes of file-backed and of shared anonymous mappings made by exactly
// `group` (not descendants). Allocates: never.
void MappedBytes(uint32_t group, int64_t* file_mapped, int64_t* shmem);

// Pages tracked in total, of every kind and group (tests). Allocates: never.
size_t TrackedBytes();

// fork(2): the lock is held across fork by the caller's atfork handlers.
void PrepareFork();
void ParentFork();
void ChildFork();

}  // namespace memgroup::internal::mmap_tracker

#endif  // MEMGROUP_SRC_ENGINE_MMAP_TRACKER_H_
