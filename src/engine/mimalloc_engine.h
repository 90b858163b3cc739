// The mimalloc engine (MEMGROUP_ENGINE=mimalloc): what the shared engine
// files (engine_init.cc, dispatch.cc, slab.cc, engine_stats.cc,
// thread_exit.cc) call when the process chose it. Only engine sources
// include it.
//
// Design: each group owns one *exclusive* mimalloc 2.0.9 arena laid on 2 MiB
// chunks of the engine's own reservation (the root group's is shared with
// mimalloc's own metadata, each thread's heaps: mimalloc_arena.cc), each
// chunk tagged for the group (owner_table.h) before the first block in it
// is handed out (AdoptBlock), so OwnerOf(p) of any block is the group it
// was allocated for, found by address as with the jemalloc engine.
// mimalloc heaps belong to a thread: each thread gets one heap per group it
// allocates in (mi_heap_new_in_arena), created lazily; any thread may free
// into it.
// Small blocks are memgroup's own slab regions and front caches, shared
// with the jemalloc engine (slab.h, front_cache.h): mimalloc only supplies
// the slabs' 64 KiB blocks and serves the large blocks (from 16 KiB, or any
// size with an alignment above a page). docs/architecture.md, "The mimalloc
// engine", gives the measurements behind that split.
//
// A large block carries a 16-byte header before the pointer handed out,
// holding its usable size (the charge): mimalloc's own usable size depends
// on the page kind and on the alignment offset, while a group's charge must
// equal GoodSize(size, align) exactly. Its page-map entry says "group,
// class", the front cache's large class of that usable size (0 above
// kFrontMaxBytes), as the jemalloc engine's large blocks do: free() finds
// the usable size by class and keeps a block of the bound group in the
// thread's front cache with its charge (front_cache.h, CacheLarge), shared
// with the jemalloc engine; what the cache does not keep, and what leaves
// it, comes here (FreeLarge).
//
// mimalloc is loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND) at Init, only
// in a process that chose it (mimalloc_api.h): its own malloc never
// interposes anything and its own mmap calls bind to libc's, so mimalloc's
// metadata (heaps, thread data) is never charged to a group through the
// interposed mmap.
//
// Limits: mimalloc 2.0.9 has at most 64 arenas (MI_MAX_ARENAS), so at most
// kMiMaxGroups group slots get an arena; EnsureGroup of a higher slot fails
// (mg_group_create: ENOSPC) and says so on stderr. An exclusive arena has a
// fixed size and never falls back to the OS.
#ifndef MEMGROUP_SRC_ENGINE_MIMALLOC_ENGINE_H_
#define MEMGROUP_SRC_ENGINE_MIMALLOC_ENGINE_H_

#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/engine.h"

struct mi_heap_s;  // mimalloc.h's mi_heap_t

namespace memgroup::internal::engine {

// Set by SelectEngine before Init and never changed afterwards (plain bool:
// written by the initialising thread before any other thread allocates;
// published with the init state, like the check mode).
MG_HIDDEN extern constinit bool g_use_mimalloc;
MG_ALWAYS_INLINE bool UsesMimalloc() { return g_use_mimalloc; }

namespace mi {

// Group slots that can have an arena: one of mimalloc's 64 arena ids is
// kept free (an arena that MIMALLOC_RESERVE_OS_MEMORY or another user of the
// library may create).
inline constexpr uint32_t kMiMaxGroups = 63;
// The smallest large block (usable size): everything below is a slab region.
inline constexpr size_t kMinLargeBytes = 16384;
// The header of a large block.
inline constexpr size_t kLargeHeader = 16;

// Creates the key whose destructor forgets a thread's heaps just before
// mimalloc deletes them (mimalloc_arena.cc); Load calls it before loading
// the library. False if no key is left.
[[nodiscard]] bool PrepareHeapsKey();

// The lock that serializes the calls into mimalloc in a ThreadSanitizer
// build (mimalloc_api.cc) across fork (fork.cc): taken after every other
// engine lock, released, or reset in the child. No-ops in other builds.
void PrepareApiFork();
void ParentApiFork();
void ChildApiFork();

// Loads libmimalloc and checks its version. Under the engine lock, once.
// False (with a line on stderr) if it cannot be loaded.
[[nodiscard]] bool Load();

// Creates `group`'s exclusive arena. Under the engine lock. Returns its
// mimalloc arena id (>= 1), or 0 (with a line on stderr: slot over the
// arena limit, out of reservation, mimalloc refused).
int CreateArena(uint32_t group);

// The calling thread's heap in `group`'s arena, created on first use (and
// again after mimalloc's own thread-exit cleanup deleted the thread's
// heaps), with the arena itself if the group has none yet; nullptr if the
// group cannot have an arena or mimalloc fails. Allocates:
// never (through malloc).
mi_heap_s* HeapOf(uint32_t group);
// The calling thread's heap in `group`'s arena if it has one, else nullptr.
mi_heap_s* ExistingHeap(uint32_t group);

// Bytes of `group`'s arena (0 without one): a statistic.
uint64_t ArenaBytes(uint32_t group);

// Tags for `group` the chunks of `block` (`bytes` long, just returned by
// mimalloc from the group's arena) that are not yet: an arena's chunks are
// claimed untagged (CreateArena), so that only the chunks mimalloc hands
// out blocks from are written in the owner table. False if the block is not
// inside the group's arena (never: the arena is exclusive). Allocates:
// never.
bool AdoptBlock(const void* block, size_t bytes, uint32_t group);

// A 64 KiB, 64 KiB-aligned block of `group`'s arena for a slab, or nullptr:
// one of the group's kept slabs if it has one (TakeKeptSlab), else a parked
// one (TakeParkedSlab), else one of its untouched slabs, else the first of
// four taken from mimalloc in one block (the other three wait untouched).
// Allocates: never (through malloc).
void* SlabAlloc(uint32_t group);
// Says once per process, on stderr, that `group`'s arena is full (mimalloc
// returned nothing): an exclusive arena never grows.
void ReportArenaFull(uint32_t group);
// Gives a slab's block of `group` back (from any thread), its pages
// returned to the OS: parked (ParkSlab), never freed to mimalloc (it is a
// part of a mimalloc block); its charge goes back with it.
void SlabFree(uint32_t group, void* mem);

// Kept slabs (mimalloc_kept.cc). A released slab's block is not given back
// at once: the group keeps it, its pages resident, and their charge stays
// as the group's free pages (free_pages.h, as the jemalloc engine's dirty
// pages do), so that the group's next slab reuses the block without
// faulting it in again (a MADV_DONTNEED per released slab, with the TLB
// shootdown it sends to every other CPU, then 16 faults, was most of the
// cost of a program that frees and allocates again in rounds). The kept
// blocks go back to the OS with the group's free pages: on the decay
// (dispatch.cc, DecayFreePages), on Purge (reclaim, before an OOM decision,
// `memgroup reclaim`, the group's destroy), and when the free pages were
// drawn on by other blocks and the limits refuse to charge them again
// (TrimKept). Freed large blocks above the front cache's classes are kept
// the same way (KeepLarge); those of its classes are kept by a thread's
// front cache, one per class (front_cache.h), and the others, and those
// leaving the cache, are parked (ParkLarge) or go back to mimalloc
// (mimalloc_large.cc). How many blocks a group keeps is bounded by its
// charge (its limits; a refused charge purges) and the decay, as the
// jemalloc engine's free pages are, and its large blocks also by
// kKeptLargeMaxBytes.
//
// Keeps `mem`, the block of a slab of `group` just released with `charged`
// bytes of its pages charged (0 < charged <= 64 KiB: the pages from its
// start up to its high-water mark, the resident ones), from any thread.
// False (nothing kept: the caller gives the block back) when nothing is
// charged. The caller then keeps the charge as free pages (KeepFreePages).
// Allocates: never.
[[nodiscard]] bool KeepSlab(uint32_t group, void* mem, int64_t charged);
// One of `group`'s kept blocks (after TrimKept), or nullptr. Allocates:
// never.
void* TakeKeptSlab(uint32_t group);
// When the group's kept blocks hold more charged bytes than its free pages
// count (a large block or a slab in a new block took that charge), charges
// the difference again as free pages if the group's limits allow it
// (TryChargePages), else gives kept blocks back to the OS until the count
// covers them. Never under a lock of the engine. Allocates: never.
void TrimKept(uint32_t group);
// Gives every kept slab block of `group` back to the OS, without
// uncharging. Allocates: never.
void DropKeptSlabs(uint32_t group);
// Gives every kept block of `group` (slabs and large blocks) back to the
// OS and uncharges the group's free pages (ReturnFreePages). Never under a
// lock of the engine. Allocates: never.
void ReturnKeptPages(uint32_t group);
// Charged bytes of `group`'s kept blocks: a statistic.
int64_t KeptBytes(uint32_t group);

// Kept large blocks: a freed large block above kFrontMaxBytes keeps its
// pages and its charge as the group's free pages, for the group's next
// large block that fits (AllocLarge), instead of faulting every page of
// that one in again (a program that frees and makes buffers of a few MiB
// in turn). Bytes of large blocks a group keeps at most (as the jemalloc
// engine's kWarmBytes, warm_large.h): a keep beyond it gives the last kept
// blocks back first.
inline constexpr size_t kKeptLargeMaxBytes = size_t{128} << 20;
// A kept block serves a block of `total` bytes when mimalloc's size of it
// is at least `total` and at most kKeptLargeFit times it (its pages beyond
// the new block go back to the OS with their charge: address space only).
inline constexpr size_t kKeptLargeFit = 2;
// Keeps `block` (mimalloc's, `bytes` its mimalloc size) of a large block of
// `group` just freed with `charged` bytes (its usable size) charged, and
// keeps that charge as the group's free pages (KeepFreePages). False
// (nothing kept nor done with the charge: the caller frees the block and
// uncharges) for a destroyed group or a block outside the range. From any
// thread; never under a lock of the engine (it may give kept blocks back,
// uncharging them). Allocates: never.
[[nodiscard]] bool KeepLarge(uint32_t group, void* block, size_t bytes,
                             int64_t charged);
// The kept large block of `group` that best fits `total` bytes (see
// kKeptLargeFit), unlinked, with the bytes its charge covered (`charged`,
// its pages from its start up to its old usable size and header are
// resident) and its mimalloc size; nullptr if none. Its charge stays in the
// group's free pages for the caller to take. Allocates: never.
void* TakeKeptLargeBlock(uint32_t group, size_t total, int64_t* charged,
                         size_t* bytes);
// A freed large block of `owner` (the program's free, recorded as freed):
// kept (KeepLarge) with its charge as the group's free pages when above
// kFrontMaxBytes; false (nothing done) otherwise. Allocates: never.
[[nodiscard]] bool KeepFreedLarge(void* p, uint32_t owner);
// Gives `block` (mimalloc's, `bytes` its mimalloc size) back to mimalloc,
// its pages first to the OS (ReturnBlockPages). Allocates: never.
void ReturnLargeBlock(void* block, size_t bytes);
// The kept lists' locks across fork (fork.cc): taken after every other
// engine lock, released, or reset in the child.
void PrepareKeptFork();
void ParentKeptFork();
void ChildKeptFork();

// Freed large blocks of at least this size (every large block) give their
// whole pages back to the OS at once (FreeLarge): mimalloc 2.0.9 keeps a
// freed block below 1 MiB in a mimalloc page with its neighbours,
// resident and charged to nobody, so that blocks of one size freed and
// then blocks of another size could pass the limit
// (preload.cli_large_churn_shift). A block the thread's front cache keeps
// (one per class from 16 KiB to 4 MiB, 4 MiB in all, charged) pays nothing;
// one that the cache does not take, or that leaves it, pays the madvise
// (2-3 us for a 256 KiB block, docs/perf.md).
inline constexpr size_t kReturnLargeFrom = kMinLargeBytes;
// Returns the whole pages of `block` (`bytes` long, about to be freed to
// mimalloc) to the OS (MADV_DONTNEED), but the one holding its first word,
// which mimalloc's free writes. mimalloc 2.0.9 decommits only whole free
// spans of a segment (a page of 64 KiB blocks once all its blocks are
// free), and those after a delay (its decommit_delay, 25 ms): without this,
// a freed slab or large block's pages would stay resident until then, or
// as long as a neighbour in its mimalloc page lives, charged to nobody.
// Allocates: never.
void ReturnBlockPages(void* block, size_t bytes);

// Returns the pages of [from, to), both page-aligned, to the OS
// (MADV_DONTNEED); nothing when the range is empty. Allocates: never.
void ReturnPages(uintptr_t from, uintptr_t to);

// Parked blocks (mimalloc_parked.cc). mimalloc 2.0.9 keeps blocks of up to
// kMiMediumMaxBytes several to a mimalloc page, and its free writes its
// free-list link into a freed block's first page, which then stays
// resident, charged to nobody, as long as a neighbour in its mimalloc page
// lives (ReturnBlockPages returns the rest): a program that keeps one block
// in 16 would pass the limit by a page per freed block. Freed large blocks
// of those sizes are therefore not given back to mimalloc: the engine
// parks them, every page returned to the OS and nothing written into them,
// on a list per group slot and class, and hands them out again for that
// class (AllocLarge) before asking mimalloc. A parked block costs address
// space of its group's arena only (at most what the group's blocks of its
// class ever held at once), and 8 bytes of metadata; it goes back to
// mimalloc never: a destroyed group's slot keeps them for its next group,
// as its arena.
//
// mimalloc's largest block size that shares a mimalloc page (its medium
// pages, 512 KiB, hold blocks of up to a quarter of that).
inline constexpr size_t kMiMediumMaxBytes = size_t{128} << 10;
// The largest large class parked: with its header, a block of 112 KiB is
// mimalloc's 128 KiB block (the next class, 128 KiB, has a mimalloc page
// of its own).
inline constexpr size_t kParkMaxBytes = size_t{112} << 10;
// Parks `block` (mimalloc's, `bytes` = its mimalloc usable size, freed with
// its charge) of `group`, a large block of class `usable`: returns its
// pages to the OS and keeps it. False (nothing done) when it is not one to
// park (its class or mimalloc size too large, not page-aligned) or no
// metadata page is left: the caller gives it back to mimalloc. Allocates:
// never (through malloc). Never under a lock of the engine.
[[nodiscard]] bool ParkLarge(uint32_t group, void* block, size_t usable,
                             size_t bytes);
// A parked block of `group` for a large block of class `usable` (at least
// usable + kLargeHeader bytes, page-aligned, reading zero), or nullptr.
// Allocates: never (through malloc).
void* TakeParked(uint32_t group, size_t usable);
// The same for the slabs' blocks (64 KiB, a quarter of a mimalloc block,
// SlabAlloc): parks `mem`, a slab's block of `group` nothing is charged
// for any more (SlabFree), or one never touched; false as ParkLarge. Allocates: never (through
// malloc). Never under a lock of the engine.
[[nodiscard]] bool ParkSlab(uint32_t group, void* mem);
// A parked slab block of `group` (reading zero), or nullptr. Allocates:
// never (through malloc).
void* TakeParkedSlab(uint32_t group);
// The parked lists' locks across fork (fork.cc): taken after every other
// engine lock, released, or reset in the child.
void PrepareParkedFork();
void ParentParkedFork();
void ChildParkedFork();

// The usable size GoodSize(size, align) gives in this engine when the
// shared class tables do not answer (an alignment above 1, or more than
// kFrontMaxBytes); 0 if too large.
size_t GoodSize(size_t size, size_t align);

// Large blocks: `usable` is GoodSize(size, align) (>= kMinLargeBytes).
void* AllocLarge(uint32_t group, size_t size, size_t align, bool zero,
                 size_t usable);
void FreeLarge(void* p, uint32_t owner);
// Resizes a large block to `usable` (GoodSize(size, align)), in place when
// mimalloc's block has room, else by moving it within the owner's arena.
void* ReallocLarge(void* p, size_t size, size_t align, uint32_t owner,
                   size_t usable);
size_t ResizeLargeInPlace(void* p, size_t size, size_t extra, size_t align,
                          uint32_t owner);
MG_ALWAYS_INLINE size_t LargeUsable(const void* p) {
  return *reinterpret_cast<const uint64_t*>(static_cast<const char*>(p) -
                                            kLargeHeader);
}

// Returns the group's kept slabs and the calling thread's free pages of
// `group` in mimalloc to the OS, and uncharges the group's free pages.
void Purge(uint32_t group);

// Statistics of `group` (engine.h, GroupStats), from the engine's own
// counters and the slabs. False if the group has no arena.
bool GroupStats(uint32_t group, EngineGroupStats* out);

}  // namespace mi
}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_MIMALLOC_ENGINE_H_
