// Whether a block was made before this process's last fork(2): the
// process's fork epoch, and the epoch each large block and slab was made
// in. A fork child inherits its parent's live blocks and their charge in
// its in-process counters, but not in its job member slots (its slots start
// at 0, group/job_member.h): such a block is the parent's charge. When the
// child frees it, its counters drop as usual but its slots do not, and its
// pages do not become the child's charged free pages (free_pages.h): they
// count as the inherited dirty pages the decay purges, never reused with a
// charge the child was not charged for (alloc/slow_path.cc, FreeMiss;
// slab.cc, ReleaseSlab).
//
// The epoch is a tag, ForkTag(): 0x4000 | (fork generations since exec
// mod 2^14), advanced by the child's fork handler (fork.cc). A large block
// (16 KiB and more, so over at least four pages, on either engine) records
// the tag it was made in in the start map (owner_table.h) of the page after
// its start page, which no other block starts in while it lives (next to
// the block's own start record, on its cache line but for one block in
// 32). A tag never reads as a block's start record (those are 1 to 4096,
// or freed with 0x8000), so a pointer into that page is still reported as
// no block's start. Slabs keep theirs in their header (slab_meta.h,
// SlabMeta::epoch).
//
// Exactness: a block's tag equals the process's iff it was made, or
// handed out again, since the last fork, but for a block that lived
// through a multiple of 16,384 nested forks (a child of a child of ...),
// whose tag reads as the process's again; a process at such a depth counts
// as one that never forked.
//
// Cost: a store when a large block is handed out (beside its start
// record); when one is freed, a compare in a process that never forked,
// and a load and a compare in a fork child; nothing on the small blocks'
// paths (a slab's tag is read when the slab is taken from or released,
// under its bin lock).
//
// Owns: the process's tag. Must never: allocate; stamp a block that is not
// in a claimed chunk of the reservation.
// Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_FORK_EPOCH_H_
#define MEMGROUP_SRC_ENGINE_FORK_EPOCH_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/owner_table.h"

namespace memgroup::internal::engine {

// The first tag of an image (exec), until its first fork.
inline constexpr uint16_t kFirstForkTag = 0x4000;

// The process's tag: kFirstForkTag until the first fork. Plain:
// written only by a fork child's handler, while the child has one thread
// (every thread that reads it later was created after that write), read
// on slow paths.
MG_HIDDEN extern constinit uint16_t g_fork_tag;
MG_ALWAYS_INLINE uint16_t ForkTag() { return g_fork_tag; }

// In a fork child, from its handler (one thread): the next tag. Every
// block and slab made before it reads as inherited from now on.
// Allocates: never.
void AdvanceForkEpoch();

// The start-map record that holds the tag of the large block at p.
MG_ALWAYS_INLINE std::atomic<uint16_t>& LargeTagSlot(const void* p) {
  return owner_table::StartSlotOf(static_cast<const char*>(p) +
                                  (size_t{1} << owner_table::kPageShift));
}

// Records the process's tag for p, a large block being handed out (or
// resized, alloc/resize.cc) by this process. A pointer outside the
// reservation is ignored, as owner_table::StoreStartRecord does.
// Allocates: never. Lock-free.
MG_ALWAYS_INLINE void StampLarge(const void* p) {
  owner_table::StoreStartRecord(
      static_cast<const char*>(p) + (size_t{1} << owner_table::kPageShift),
      g_fork_tag);
}

// The smallest block that carries a tag: every large block, on either
// engine (a block of this size spans the whole page after its start).
inline constexpr size_t kTaggedMinBytes = size_t{16} << 10;

// Whether p, a live block of `usable` bytes in a claimed chunk, is a large
// block made before the last fork (its tag is not the process's). A
// process that never forked (its tag is the image's first) inherited
// nothing: one compare. A block under kTaggedMinBytes has no tag (without
// the class tables jemalloc serves every size, and the page after a small
// block may lie in no claimed chunk); a record of 0 (the start map is not
// kept then: engine_internal.h, LargeStartsKept) reads as this process's.
// Relaxed: the record was written before p was handed out, and the caller
// holds p through a happens-before chain from that (as for the block's
// start record, owner_table.h). Allocates: never. Lock-free.
MG_ALWAYS_INLINE bool LargeInherited(const void* p, size_t usable) {
  if (MG_LIKELY(g_fork_tag == kFirstForkTag) || usable < kTaggedMinBytes) {
    return false;
  }
  const uint16_t tag = LargeTagSlot(p).load(std::memory_order_relaxed);
  return MG_UNLIKELY(tag != g_fork_tag) && tag != 0;
}

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_FORK_EPOCH_H_
