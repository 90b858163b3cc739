// The engine's virtual-address reservation and the chunk -> group owner table.
// Owns: one PROT_NONE, MAP_NORESERVE reservation aligned to kChunkBytes: at
// most kVaBytes, less under an address-space limit (RLIMIT_AS, va_budget.h)
// or when the address space has no such hole (Init halves down to
// kMinVaBytes), carved into 2 MiB
// chunks that are claimed (made RW and tagged) for one group at a time; and
// the table `uint32_t owner[kVaBytes >> kChunkShift]` that answers OwnerOf(p)
// in O(1). A chunk changes group only when its group's engine state is
// retired (group_arena.h: no block, cached or live, of the group is left):
// through ReleaseChunks, which returns its pages to the OS and puts it on
// the free list that single-chunk claims take from first, or through
// RetagChunk, when its arena goes idle into the pool (tagged for nobody)
// and when a group takes that arena (arena_pool.h).
// Must never allocate through malloc, never return VA to the OS, and never
// retag a chunk that may still hold a block (free() of any pointer relies
// on it).
//
// The page map: `uint32_t entry[g_va_bytes >> kPageShift]`, one per 4 KiB page
// of the reservation, mapped (readable and writable) only where chunks were
// claimed, written by the engine for the first page of every block it hands
// out (PublishBlock) and read by free()'s fast path (PageEntry): the
// block's group and its front-cache size class in one load. An entry is only
// meaningful for the page holding the start of a live block: jemalloc gives a
// page to one slab (one size class) or one large extent at a time, and every
// block is published before any pointer to it exists, so the last write to
// that page is the one for the live block. A slab's entries go back to 0
// when the slab goes back to the engine (slab.cc, ReleaseSlab), so a page
// inside a large block never names a slab class: it reads 0 or a large
// class, and a pointer to it meets the start map's check.
//
// The side map: kSideSlotBytes per 64 KiB of the reservation, mapped like
// the page map, for the slab layer's headers (SideSlot); it
// runs downward from its end, which g_side_map holds, so that the slots of
// the first chunks lie next to their tags in the chunk table (owner_table.cc,
// TryReserve).
//
// The start map: `uint16_t start[g_va_bytes >> kPageShift]`, one per page,
// mapped like the page map: where the live large block that starts in the
// page starts (its offset in the page + 1), or that the block that started
// there was freed (kStartFreed set), or 0. Large blocks (16 KiB and more, on
// either engine) never share a start page, so one record per page is exact
// at any offset (the mimalloc engine's blocks start 16 bytes into
// mimalloc's). free, realloc and malloc_usable_size check a large pointer
// against it (engine.h: ReleaseLargeBlock, CheckBlock, CheckHeldBlock): a
// pointer that is not a live block's start is reported instead of being
// freed.
//
// Encoding: a table entry holds `group ^ kNoGroup`, so the zero-filled table
// (fresh anonymous memory, never touched for unclaimed chunks) reads as
// kNoGroup without initialising 2 MiB of it.
#ifndef MEMGROUP_SRC_ENGINE_OWNER_TABLE_H_
#define MEMGROUP_SRC_ENGINE_OWNER_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"

namespace memgroup::internal::owner_table {

inline constexpr size_t kChunkShift = 21;
inline constexpr size_t kChunkBytes = size_t{1} << kChunkShift;  // 2 MiB
inline constexpr size_t kVaBytes = size_t{1} << 40;              // 1 TiB
inline constexpr size_t kNumChunks = kVaBytes >> kChunkShift;    // 524288
// The smallest reservation Init accepts: 8 chunks, room for the root
// group's arena and slabs (a program that allocates nothing beyond start-up
// claims 3 chunks) and a little heap. Kept small so that under a tight
// RLIMIT_AS the share rule (va_budget.h), not this floor, decides: a floor
// larger than the share leaves jemalloc's own metadata (mapped outside the
// reservation) no room, and jemalloc does not survive that. Reservations smaller than kVaBytes
// come from the address-space limit (va_budget.h) or from a missing hole:
// under ThreadSanitizer (x86_64, LLVM 14) application mappings may only live
// in [0x7e8000000000, 0x800000000000), 1.5 TiB that also holds the
// ASLR-placed libraries and thread stacks, so the free part below them is
// often under 1 TiB (measured: ~20% of runs could not reserve 1 TiB); and
// valgrind's address-space manager refuses a 64 GiB reservation.
inline constexpr size_t kMinVaBytes = size_t{1} << 24;           // 16 MiB

// Published once by Init (under the engine's init lock) and never changed.
// g_va_bytes is written last with release; readers load it with acquire
// first, so a non-zero size implies valid g_va_base and g_table. Before Init
// g_va_bytes is 0 and every pointer is foreign.
MG_HIDDEN extern constinit std::atomic<uintptr_t> g_va_base;
MG_HIDDEN extern constinit std::atomic<size_t> g_va_bytes;
MG_HIDDEN extern constinit std::atomic<std::atomic<uint32_t>*> g_table;
MG_HIDDEN extern constinit std::atomic<std::atomic<uint32_t>*> g_page_map;
MG_HIDDEN extern constinit std::atomic<char*> g_side_map;
// SideSlot's origin: the slot of p is g_side_origin - (p >> kSideSlotShift)
// * kSideSlotBytes, the end of the side map (g_side_map) shifted by the
// base's spans (the base is chunk-aligned), in one load.
MG_HIDDEN extern constinit std::atomic<uintptr_t> g_side_origin;
MG_HIDDEN extern constinit std::atomic<std::atomic<uint16_t>*> g_start_map;

inline constexpr size_t kPageShift = 12;
// Page-map entry: `group << kEntryGroupShift | cls`, cls in [0, 256). 0 (the
// zero-filled map) and any cls 0 mean "no front-cache class" (large or not
// yet published).
inline constexpr uint32_t kEntryGroupShift = 8;
static_assert(kMaxGroups - 1 <= (0xffffffffu >> kEntryGroupShift),
              "every group index must fit the page-map entry");
MG_ALWAYS_INLINE constexpr uint32_t MakeEntry(uint32_t group, uint32_t cls) {
  return group << kEntryGroupShift | cls;
}

// Side slots: kSideSlotBytes of zero-filled metadata per kSideSlotSpan of
// the reservation, for the layer above (the slab headers, slab_meta.h).
// Like the page map, 1/1024 of the reservation, reserved PROT_NONE and made
// writable with the chunks it covers.
inline constexpr size_t kSideSlotShift = 16;                  // 64 KiB
inline constexpr size_t kSideSlotBytes = 64;

// Reserves the VA range and maps the table. Called once, under the engine's
// init lock. Tries va_budget::TargetBytes (kVaBytes without RLIMIT_AS), then
// halves down to kMinVaBytes until the reservation and its page and side
// maps all fit; the size obtained is g_va_bytes. Returns false if RLIMIT_AS
// leaves too little (TargetBytes is 0), not even kMinVaBytes fits, or the
// table cannot be mapped. Allocates: never.
[[nodiscard]] bool Init();

// Claims `nr_chunks` contiguous chunks for `group`: makes them RW and tags
// them. Returns their start, or nullptr when fewer than nr_chunks chunks are
// left (the cursor does not move then: smaller claims may still succeed) or
// mprotect fails. The first time the reservation runs out, one line says so
// on stderr. A single chunk comes from the free list (ReleaseChunks) when it
// has one, under its leaf lock; runs come from the cursor (compare-and-swap
// bump). Callable from extent hooks, which run under jemalloc's locks.
// Allocates: never.
void* ClaimChunks(size_t nr_chunks, uint32_t group);

// ClaimChunks without the tags, from the cursor only: the chunks read
// kNoGroup (OwnerOf) until the caller tags each one (RetagChunk) before
// handing out a pointer into it. For a large claim of which a process may
// use little (a mimalloc arena, mimalloc_engine.h): tagging 256 GiB of
// chunks up front writes 512 KiB of the table. Never released
// (ReleaseChunks). Allocates: never.
void* ClaimUntaggedChunks(size_t nr_chunks);

// Gives back `nr_chunks` chunks from `start` (claimed, and holding no block
// any more): their pages go back to the OS (MADV_DONTNEED), their tag to
// kNoGroup, and each chunk to the free list. Their page-map, side-map and
// start-map slices stay writable (and stale: a block is published before
// it is handed out). Allocates: never.
void ReleaseChunks(void* start, size_t nr_chunks);

// Tags chunk `index` (claimed, and holding no live block) for `group`
// (kNoGroup: for nobody, while its arena is idle in the pool, arena_pool.h).
// Its pages and map slices are untouched. The caller publishes the new tag
// before any block of the chunk is handed out (engine lock, then the arena
// index's release store). Allocates: never.
void RetagChunk(size_t index, uint32_t group);

// Tags chunk `index` for `group` if it is untagged (reads kNoGroup), in one
// write access (a compare-and-swap), and returns the group it is tagged for
// afterwards. The first access to a page of the table then faults once: a
// read first would map the zero page, and the tag's store fault again.
// Same contract as RetagChunk. Allocates: never. Lock-free.
uint32_t TagIfUntagged(size_t index, uint32_t group);

// Chunks on the free list (a statistic). Allocates: never.
size_t FreeChunks();

// The index of the chunk holding p, a pointer into a claimed chunk.
MG_ALWAYS_INLINE size_t ChunkIndexOf(const void* p) {
  // Immutable after Init, which happened before any chunk was claimed.
  return (reinterpret_cast<uintptr_t>(p) -
          g_va_base.load(std::memory_order_relaxed)) >>
         kChunkShift;
}
// The start of chunk `index`.
MG_ALWAYS_INLINE void* ChunkAt(size_t index) {
  // Immutable after Init (as above).
  return reinterpret_cast<void*>(g_va_base.load(std::memory_order_relaxed) +
                                 (index << kChunkShift));
}

// Bytes of the reservation claimed so far (all groups). Allocates: never.
size_t ClaimedBytes();

// What Init found and chose, for reports: the reservation it tried first
// (va_budget::TargetBytes; 0: the limit leaves too little), and RLIMIT_AS
// and VmSize (va_budget::Read) at that point. Zeros before Init; callable
// only after Init returned, on a thread ordered after it (the initialising
// thread, or one that observed the engine ready). Allocates: never.
struct ReservationInfo {
  size_t target_bytes;
  uint64_t limit_bytes;  // va_budget::kNoLimit without RLIMIT_AS
  uint64_t used_bytes;
};
ReservationInfo Reservation();

// The group owning p, or kNoGroup for any pointer outside claimed chunks.
// One subtraction, one compare, one table load (plus the decode xor).
// Allocates: never. Lock-free.
MG_ALWAYS_INLINE uint32_t OwnerOf(const void* p) {
  // Pairs with Init's release store: a non-zero size makes base and table
  // visible.
  const size_t va_bytes = g_va_bytes.load(std::memory_order_acquire);
  // Immutable after publication (ordered by the acquire above).
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) -
                        g_va_base.load(std::memory_order_relaxed);
  if (MG_UNLIKELY(off >= va_bytes)) return kNoGroup;
  // Immutable after publication (ordered by the acquire above).
  std::atomic<uint32_t>* table = g_table.load(std::memory_order_relaxed);
  // Relaxed: an entry is written before any pointer into its chunk exists,
  // and the caller obtained p through a happens-before chain from the
  // allocation that published it. Unclaimed entries read 0 -> kNoGroup.
  return table[off >> kChunkShift].load(std::memory_order_relaxed) ^ kNoGroup;
}

// The page-map entry of the page holding p: 0 for pointers outside the
// reservation (nullptr included) and for pages never published. A pointer
// inside the reservation but in no claimed chunk is no block at all, and
// faults (the map is not mapped there), like any wild free. Same ordering
// argument as OwnerOf. Allocates: never. Lock-free.
MG_ALWAYS_INLINE uint32_t PageEntry(const void* p) {
  // Pairs with Init's release store (see OwnerOf).
  const size_t va_bytes = g_va_bytes.load(std::memory_order_acquire);
  // Immutable after publication (ordered by the acquire above).
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) -
                        g_va_base.load(std::memory_order_relaxed);
  if (MG_UNLIKELY(off >= va_bytes)) return 0;
  // Immutable after publication (ordered by the acquire above).
  std::atomic<uint32_t>* map = g_page_map.load(std::memory_order_relaxed);
  // Relaxed: the block was published (PublishBlock) before p was handed
  // out, and the caller holds p through a happens-before chain from that.
  return map[off >> kPageShift].load(std::memory_order_relaxed);
}

// PageEntry in two steps, for a caller that goes on to the start map: the
// index of p's page in the reservation (kNoPage outside it), then that
// page's entry (0 for kNoPage). Same ordering argument as OwnerOf.
// Allocates: never. Lock-free.
inline constexpr size_t kNoPage = ~size_t{0};
MG_ALWAYS_INLINE size_t PageIndexOf(const void* p) {
  // Pairs with Init's release store (see OwnerOf).
  const size_t va_bytes = g_va_bytes.load(std::memory_order_acquire);
  // Immutable after publication (ordered by the acquire above).
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) -
                        g_va_base.load(std::memory_order_relaxed);
  return MG_LIKELY(off < va_bytes) ? off >> kPageShift : kNoPage;
}
MG_ALWAYS_INLINE uint32_t PageEntryAt(size_t page) {
  if (MG_UNLIKELY(page == kNoPage)) return 0;
  // Immutable after publication (ordered by PageIndexOf's acquire).
  std::atomic<uint32_t>* map = g_page_map.load(std::memory_order_relaxed);
  // Relaxed: as in PageEntry.
  return map[page].load(std::memory_order_relaxed);
}

// The side slot of the kSideSlotSpan-aligned span holding p, which must lie
// in a claimed chunk (in one the caller holds memory of). Allocates: never.
MG_ALWAYS_INLINE void* SideSlot(const void* p) {
  // Immutable after Init, which happened before any block existed. The map
  // runs downward from its end (owner_table.cc, TryReserve).
  return reinterpret_cast<void*>(
      g_side_origin.load(std::memory_order_relaxed) -
      (reinterpret_cast<uintptr_t>(p) >> kSideSlotShift) * kSideSlotBytes);
}

// Records `entry` for the page holding p, a block the engine is about to hand
// out. A pointer outside the reservation is ignored (it reads entry 0).
// Allocates: never. Lock-free.
MG_ALWAYS_INLINE void PublishBlock(const void* p, uint32_t entry) {
  // Immutable after Init, which happened before any block existed.
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) -
                        g_va_base.load(std::memory_order_relaxed);
  if (MG_UNLIKELY(off >= g_va_bytes.load(std::memory_order_relaxed))) return;
  std::atomic<uint32_t>* map = g_page_map.load(std::memory_order_relaxed);
  // Relaxed: concurrent writers of one page store the same value (blocks of
  // one slab); a writer for a new slab on that page comes after every block
  // of the old one was freed, through jemalloc's own synchronization.
  map[off >> kPageShift].store(entry, std::memory_order_relaxed);
}

// PublishBlock for a block the engine expects in `group`'s chunks: false
// (nothing written) for nullptr, a pointer outside the reservation or one in
// another group's chunk. Allocates: never. Lock-free.
MG_ALWAYS_INLINE bool PublishOwned(const void* p, uint32_t group,
                                   uint32_t entry) {
  // Immutable after Init, which happened before any block existed.
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) -
                        g_va_base.load(std::memory_order_relaxed);
  if (MG_UNLIKELY(off >= g_va_bytes.load(std::memory_order_relaxed))) {
    return false;
  }
  // Immutable after Init (as above).
  std::atomic<uint32_t>* table = g_table.load(std::memory_order_relaxed);
  // Relaxed: see OwnerOf.
  if (MG_UNLIKELY((table[off >> kChunkShift].load(std::memory_order_relaxed) ^
                   kNoGroup) != group)) {
    return false;
  }
  // Immutable after Init (as above).
  std::atomic<uint32_t>* map = g_page_map.load(std::memory_order_relaxed);
  // Relaxed: as in PublishBlock.
  map[off >> kPageShift].store(entry, std::memory_order_relaxed);
  return true;
}

// Large-block start records (the start map). A record is written for a
// large block before any pointer to it is handed out, as its page-map entry
// is, and taken (live -> freed) by its free: by default with a load, a
// compare and a plain store (TakeLargeStartPlain), so that a free ordered
// after the first finds the freed record; in check mode by one
// compare-and-swap (TakeLargeStart), so that of concurrent frees of one
// pointer exactly one succeeds whatever the order. The memory of a freed
// block goes back to the engine only after its record was taken, and the
// engine's own synchronization orders that before any reuse that writes the
// record again. No data is published through a record: relaxed throughout.
inline constexpr uint16_t kStartFreed = 0x8000;
// The record a live block starting at p reads (offset in its page + 1).
MG_ALWAYS_INLINE constexpr uint16_t StartRecordOf(uintptr_t p) {
  return static_cast<uint16_t>((p & ((uintptr_t{1} << kPageShift) - 1)) + 1);
}
// The record of the page holding p, a pointer into a claimed chunk.
MG_ALWAYS_INLINE std::atomic<uint16_t>& StartSlotOf(const void* p) {
  // Immutable after Init, which happened before any block existed.
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) -
                        g_va_base.load(std::memory_order_relaxed);
  // Immutable after Init (as above).
  return g_start_map.load(std::memory_order_relaxed)[off >> kPageShift];
}

// The record of page `page` (PageIndexOf, not kNoPage) of a claimed chunk.
MG_ALWAYS_INLINE std::atomic<uint16_t>& StartSlotAt(size_t page) {
  // Immutable after Init, which happened before any block existed.
  return g_start_map.load(std::memory_order_relaxed)[page];
}

// Writes `record` for the page holding p, a block in a claimed chunk; a
// pointer outside the reservation is ignored (as PublishBlock does).
MG_ALWAYS_INLINE void StoreStartRecord(const void* p, uint16_t record) {
  // Immutable after Init, which happened before any block existed.
  const uintptr_t off = reinterpret_cast<uintptr_t>(p) -
                        g_va_base.load(std::memory_order_relaxed);
  // Immutable after Init (as above).
  if (MG_UNLIKELY(off >= g_va_bytes.load(std::memory_order_relaxed))) return;
  // Relaxed: see "Large-block start records"; a live record precedes every
  // pointer to the block, as the page-map entry does, and a freed one the
  // block's return to the engine.
  g_start_map.load(std::memory_order_relaxed)[off >> kPageShift].store(
      record, std::memory_order_relaxed);
}

// Records p, a large block about to be handed out, as live. Allocates:
// never. Lock-free.
MG_ALWAYS_INLINE void MarkLargeLive(const void* p) {
  StoreStartRecord(p, StartRecordOf(reinterpret_cast<uintptr_t>(p)));
}

// MarkLargeLive for p, a block known to lie in a claimed chunk (one a
// thread's cache held): no bounds test. Allocates: never. Lock-free.
MG_ALWAYS_INLINE void MarkLargeLiveOwned(const void* p) {
  // Relaxed: as in StoreStartRecord.
  StartSlotOf(p).store(StartRecordOf(reinterpret_cast<uintptr_t>(p)),
                       std::memory_order_relaxed);
}

// Records p, a live large block that the engine is about to free itself
// (a realloc that moves it), as freed. Allocates: never. Lock-free.
MG_ALWAYS_INLINE void MarkLargeFreed(const void* p) {
  StoreStartRecord(
      p, static_cast<uint16_t>(StartRecordOf(reinterpret_cast<uintptr_t>(p)) |
                               kStartFreed));
}

// Takes p's record, in `slot` (StartSlotOf(p)), from live to freed: true if
// p was the start of a live large block (now freed), else false with the
// record found in *found (kStartFreed | StartRecordOf(p): p was freed
// already; anything else: p is no block's start). Allocates: never.
// Lock-free (one compare-and-swap).
MG_ALWAYS_INLINE bool TakeLargeStart(std::atomic<uint16_t>& slot,
                                     const void* p, uint16_t* found) {
  uint16_t want = StartRecordOf(reinterpret_cast<uintptr_t>(p));
  // Relaxed on both outcomes: see "Large-block start records"; the
  // read-modify-write alone decides which of two frees of p wins.
  if (slot.compare_exchange_strong(want,
                                   static_cast<uint16_t>(want | kStartFreed),
                                   std::memory_order_relaxed,
                                   std::memory_order_relaxed)) {
    return true;
  }
  *found = want;
  return false;
}
MG_ALWAYS_INLINE bool TakeLargeStart(const void* p, uint16_t* found) {
  return TakeLargeStart(StartSlotOf(p), p, found);
}

// TakeLargeStart without a read-modify-write: a load, a compare and a plain
// store, at the cost of a compare-and-swap's exclusion: a free of p that
// comes after another one (in any thread) finds the freed record, but two
// frees of p at the same instant may both read it live and both go on.
// Allocates: never. Lock-free.
MG_ALWAYS_INLINE bool TakeLargeStartPlain(std::atomic<uint16_t>& slot,
                                          const void* p, uint16_t* found) {
  const uint16_t want = StartRecordOf(reinterpret_cast<uintptr_t>(p));
  // Relaxed: see "Large-block start records"; the caller holds p through a
  // happens-before chain from the allocation that wrote it live.
  const uint16_t seen = slot.load(std::memory_order_relaxed);
  if (MG_UNLIKELY(seen != want)) {
    *found = seen;
    return false;
  }
  // Relaxed: as the load. Racy by design against a simultaneous free of
  // the same pointer: both may pass (TakeLargeStart excludes that).
  slot.store(static_cast<uint16_t>(want | kStartFreed),
             std::memory_order_relaxed);
  return true;
}

// The record of p's page, for checks that do not free (realloc,
// malloc_usable_size). Allocates: never. Lock-free.
MG_ALWAYS_INLINE uint16_t LargeStartRecord(const void* p) {
  // Relaxed: see "Large-block start records"; the caller holds p through a
  // happens-before chain from the allocation that wrote it.
  return StartSlotOf(p).load(std::memory_order_relaxed);
}

}  // namespace memgroup::internal::owner_table

#endif  // MEMGROUP_SRC_ENGINE_OWNER_TABLE_H_
