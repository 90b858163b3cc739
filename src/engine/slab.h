// Slabs: the engine's own allocator for the small size classes (8 B to
// 14 KiB: jemalloc's, and four more between 4 and 8 KiB), one set of bins
// per group. A slab is 64 KiB, 64 KiB-aligned, of the group's memory: with
// the jemalloc engine one of the 16 slabs of a 1 MiB chunk the group took
// from its jemalloc arena, handed out and taken back by the group's free
// slabs (slab_chunks.h; one jemalloc block per slab stranded dirty pages:
// docs/perf.md, "python on the jemalloc engine"); with the mimalloc engine
// a block of its mimalloc arena (mimalloc_engine.h). A slab is cut into
// regions of one class; its header (SlabMeta) lives in the slab's side slot
// (owner_table::SideSlot), its free-region bitmap at its start, before
// region 0, below 1 KiB, and in the header from 1 KiB on, so that those
// regions (the page-multiple classes' page-aligned ones among them) fill
// the slab (slab_meta.h). Front caches refill from and flush to the slabs
// in batches under one lock per (group, class) bin, which replaces
// jemalloc's tcache fill and flush for small blocks: a block goes from the
// bin to the thread's front cache and back, without a second per-thread
// cache in between (docs/architecture.md, "Slabs").
//
// Charging (page_charge.h): a slab's pages are charged to its group as its
// regions are first handed out, as memcg charges a page when it is first
// touched. Each slab keeps a high-water mark: its pages from its start
// through the end of the highest region it has ever handed out (regions go
// out lowest free first, so every region below it has been out), with the
// page of a bitmap at its start. A take (AllocBatch) raises the marks of the
// slabs it takes from and charges the pages they crossed, once per batch,
// after the bin lock is released; a refused charge puts the regions back
// and leaves those pages unpaid in their slabs, for the next take to
// charge (until then, a region another thread took from those pages in
// the meantime is uncharged: at most a refused batch's pages per slab). A
// slab going back keeps its charged pages' charge as the group's free
// pages until they are reused, purged or decayed: with jemalloc on the
// group's free-slab list (slab_chunks.h), and a slab made from it starts
// with those pages charged (its mark begins there); with mimalloc in the
// kept blocks and free_pages.h's count. For a destroyed group they are
// uncharged. So a group's usage for small blocks is the sum of its slabs'
// marks (bound: docs/preload.md, "What a small process is charged") plus
// its free pages.
//
// Owns: every slab's regions and metadata, each group's bins (metadata
// memory, taken with the group's arena, pooled when it is retired). Every small block
// the engine hands out is a slab region; jemalloc serves only large sizes.
// The page map entry of every page of a slab holds (group, class) from the
// slab's creation on (0 while it is a free slab), so free() finds a
// region's class and group as it finds a large block's.
//
// Regions lie at multiples of the class size from the slab's start, so a
// region is aligned to the largest power of two dividing its class size,
// like a jemalloc small region: a request of `size` with `align` <= 4 KiB
// fits in class GoodSize(size, align) with its alignment.
//
// Must never: call jemalloc, charge or allocate while holding a bin lock
// (slabs are created and released, and pages charged, outside it); hand
// out a region twice; keep a region of one group in another group's bin;
// return from AllocBatch with a region whose take's charge was refused.
//
// SYNCHRONIZATION: each bin's SpinLock guards the bin and the metadata and
// free lists of its slabs. A region handed out belongs to its taker until it
// is given back. Lock order: engine init lock -> front cache lock -> bin
// locks (by group, then class, in PrepareFork) -> the free-slab locks
// (slab_chunks.h: leaves, never taken under a bin lock but in PrepareFork);
// jemalloc's locks are never taken under a bin lock.
#ifndef MEMGROUP_SRC_ENGINE_SLAB_H_
#define MEMGROUP_SRC_ENGINE_SLAB_H_

#include <cstddef>
#include <cstdint>

namespace memgroup::internal::engine::slab {

inline constexpr size_t kSlabShift = 16;
inline constexpr size_t kSlabBytes = size_t{1} << kSlabShift;  // 64 KiB
// Classes 1..kSmallClasses are slab classes (jemalloc's 36 bins and
// front_cache.h's kExtraClasses).
inline constexpr uint32_t kSmallClasses = 40;

// Sets up the bins of `group`, whose slabs come from jemalloc arena
// `arena_ind`. Called once per group, under the engine's init lock, before
// any other call for the group. False when metadata memory is exhausted.
[[nodiscard]] bool InitGroup(uint32_t group, unsigned arena_ind);

// The most regions one AllocBatch takes.
inline constexpr uint32_t kMaxBatch = 128;

// Takes up to `n` (1 <= n <= kMaxBatch) regions of class `cls` of `group` into
// out[], lowest free first, and charges the pages they newly cross (with
// no lock held: the charge may reclaim and run the group's OOM policy);
// returns how many. 0: no slab could be created, or the charge was refused
// (then no region was taken, nothing charged, and the out[] entries the
// take had filled are nullptr again). A class's first takes in
// a group are sized by bytes (a page's worth, then as many bytes as the
// group has taken of the class), so they may return fewer than `n`.
// Allocates: never (through malloc); may create a slab through jemalloc.
uint32_t AllocBatch(uint32_t group, uint32_t cls, void** out, uint32_t n);

// The calling thread's shard of its groups' slabs (slab_internal.h): given
// round-robin at the thread's first take, the main thread's first. A
// take uses the thread's shard; the transfer cache hands a refill the
// batches of its shard. Allocates: never.
uint32_t ThreadShard();
// The shard of the slab holding region p (held by the caller, so its slab
// lives). Allocates: never.
uint32_t ShardOf(const void* p);

// Gives back `n` regions of class `cls` of `group`, linked through their
// first words from `head` (the last link is not read). Fully free slabs
// beyond one per bin (none for a retired group) go back to the group's free
// slabs (jemalloc) or its kept blocks (mimalloc). A pointer that is not a region's
// start, or a region already free (a double free), is reported and aborts
// (BadPointer, base/check.h).
void FreeBatch(uint32_t group, uint32_t cls, void* head, uint32_t n);
inline void FreeOne(uint32_t group, uint32_t cls, void* p) {
  FreeBatch(group, cls, p, 1);
}

// Whether p, whose page-map entry names (group, cls), is a region handed
// out by the slab: kInterior if it is not at a region's start (first +
// k * size), kFree if its bit says free (only with `check_free`, which
// takes the bin lock). Reads the slab header without the lock (immutable
// while a region of the slab is out). Allocates: never.
enum class RegionState { kHeld, kInterior, kFree };
RegionState CheckRegion(const void* p, uint32_t group, uint32_t cls,
                        bool check_free);

// Retires `group`'s bins when no region of it is out (held or in any
// cache): every slab goes back, every chunk to jemalloc (or every slab to
// mimalloc), and the bins to a pool that InitGroup takes from. False, and nothing changed, while a
// region is out. Called under the engine's init lock. Allocates: never.
[[nodiscard]] bool FiniGroup(uint32_t group);

// Releases every fully free slab of `group`, and, with jemalloc, returns
// the pages of all its free slabs to the OS with their charge
// (slab_chunks.h, PurgeFreeSlabs): reclaim, purge, decay, destruction.
void ReleaseEmpty(uint32_t group);

// In a fork child, after ChildFork: every group's free slabs kept with
// their charge (slab_chunks.h) were charged to the parent; their charge
// leaves the child's counters and the slabs count as uncharged. Returns
// the bytes uncharged. Allocates: never.
int64_t ChildDropInheritedSlabs();

// A destroyed group's bins keep no spare slab (true) until its slot holds a
// new group (false). Allocates: never.
void SetRetired(uint32_t group, bool retired);

struct GroupSlabStats {
  uint64_t slab_bytes;      // slabs in the bins (in use or kept empty)
  uint64_t slabs;           // how many
  uint64_t allocated_bytes; // regions out of the slabs, by class size
  uint64_t nmalloc;         // regions taken since the group's creation
  uint64_t ndalloc;         // regions given back
  uint64_t slab_allocs;     // slabs made (from the free slabs or mimalloc)
  uint64_t slab_frees;      // slabs given back
  // The jemalloc engine's chunks (slab_chunks.h; 0 with mimalloc): held
  // (counted by jemalloc as large blocks), their bytes, taken from and
  // given back to jemalloc; the free slabs and their charged bytes (the
  // group's free pages beside free_pages.h's count).
  uint64_t chunks;
  uint64_t chunk_bytes;
  uint64_t chunk_allocs;
  uint64_t chunk_frees;
  uint64_t free_slabs;
  uint64_t free_slab_bytes;
};
void Stats(uint32_t group, GroupSlabStats* out);
// Regions of class `cls` out of the slabs of `group`.
uint64_t RegionsOut(uint32_t group, uint32_t cls);

// fork(2): every bin lock across fork.
void PrepareFork();
void ParentFork();
void ChildFork();

}  // namespace memgroup::internal::engine::slab

#endif  // MEMGROUP_SRC_ENGINE_SLAB_H_
