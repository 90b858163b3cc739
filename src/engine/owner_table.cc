// Implements owner_table.h: the VA reservation, the chunk bump, the free
// chunk list and the owner table. Owns the global chunk cursor and the free
// list. Must never allocate through malloc, take any lock but the free
// list's leaf lock (ClaimChunks runs inside jemalloc extent hooks, under
// jemalloc's locks; nothing is taken under the leaf lock), or unmap a
// claimed chunk.
#include "engine/owner_table.h"

#include <sys/mman.h>

#include <cerrno>

#include "base/meta_alloc.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/va_budget.h"

namespace memgroup::internal::owner_table {

constinit std::atomic<uintptr_t> g_va_base{0};
constinit std::atomic<size_t> g_va_bytes{0};
constinit std::atomic<std::atomic<uint32_t>*> g_table{nullptr};
constinit std::atomic<std::atomic<uint32_t>*> g_page_map{nullptr};
constinit std::atomic<char*> g_side_map{nullptr};
constinit std::atomic<uintptr_t> g_side_origin{0};
constinit std::atomic<std::atomic<uint16_t>*> g_start_map{nullptr};

namespace {

// Index of the next unclaimed chunk. Written by ClaimChunks (compare-and-swap
// from any thread inside an extent hook), read by ClaimedBytes (stats). Only
// the uniqueness of the claimed indices matters, so relaxed suffices.
constinit std::atomic<size_t> g_next_chunk{0};

// Set by the first ClaimChunks that finds too few chunks left, so that the
// exhaustion is reported once. Relaxed: only its own exchange reads it.
constinit std::atomic<bool> g_exhausted_reported{false};

// The free list: indices of released chunks (a stack of g_nfree entries in
// g_free, kNumChunks long, mapped by Init), guarded by g_free_lock, a leaf
// lock. Never held across fork: its holders run under jemalloc's grow
// mutex (ClaimChunks) or the engine lock (ReleaseChunks), both held across
// fork by their owners' prepare handlers.
constinit SpinLock g_free_lock;
constinit uint32_t* g_free = nullptr;
constinit size_t g_nfree = 0;

// Written once by Init under the engine's init lock; read by Reservation
// after Init returned (see its contract).
constinit ReservationInfo g_reservation{};

// Bytes of the page map, the side map and the start map per chunk.
constexpr size_t kMapBytesPerChunk = (kChunkBytes >> kPageShift) * sizeof(uint32_t);
constexpr size_t kSideBytesPerChunk =
    (kChunkBytes >> kSideSlotShift) * kSideSlotBytes;
constexpr size_t kStartBytesPerChunk =
    (kChunkBytes >> kPageShift) * sizeof(uint16_t);
// The maps per mille of the reservation, rounded up (3: 1/1024 each for the
// page and side maps, 1/2048 for the start map).
constexpr size_t kMapsPerMille =
    ((kMapBytesPerChunk + kSideBytesPerChunk + kStartBytesPerChunk) * 1000 +
     kChunkBytes - 1) /
    kChunkBytes;

// The chunk table: one entry per chunk of kVaBytes, whatever size the
// reservation ends up with.
constexpr size_t kTableBytes = kNumChunks * sizeof(uint32_t);  // 2 MiB
constexpr size_t kRegionBytes = size_t{2} << 20;  // What a page table maps.

struct Maps {
  void* base;
  void* table;
  void* page_map;
  char* side_end;
  void* start_map;
};

// Reserves a range of `va_bytes`, and in one more reservation its maps
// and the chunk table, all or nothing (under RLIMIT_AS the range may fit
// and the maps not). The maps' layout puts the entries a process touches
// first, those of the first chunks claimed, near each other: the side map
// is indexed downward from its end X (SideSlot), the chunk table (read and
// writable) starts at X, the page map right after the table, then the
// start map. X lies 1 MiB into a 2 MiB region, so the first chunks' side
// slots and tags share one region (one page-table page) and their
// page-map entries lie in the next, instead of three regions in three
// GiB-wide ranges (each a page-table page and a page-directory page).
bool TryReserve(size_t va_bytes, Maps* out) {
  const size_t map_bytes = (va_bytes >> kPageShift) * sizeof(uint32_t);
  const size_t side_bytes = (va_bytes >> kChunkShift) * kSideBytesPerChunk;
  const size_t start_bytes = (va_bytes >> kChunkShift) * kStartBytesPerChunk;
  // From the 2 MiB-aligned start of the maps' reservation to the side map.
  const size_t lead =
      (kRegionBytes / 2 + kRegionBytes - side_bytes % kRegionBytes) %
      kRegionBytes;
  const size_t maps_bytes =
      lead + side_bytes + kTableBytes + map_bytes + start_bytes;
  void* base = MetaReserve(va_bytes, kChunkBytes);
  if (base == nullptr) return false;
  // The maps are 2.5/1024 of the reservation (2.5 GiB for 1 TiB), reserved
  // PROT_NONE: ClaimChunks makes the part covering its chunks writable, so
  // the commit charge follows the chunks in use even under strict
  // overcommit (vm.overcommit_memory=2 ignores MAP_NORESERVE).
  char* maps = static_cast<char*>(MetaReserve(maps_bytes, kRegionBytes));
  char* const x = maps == nullptr ? nullptr : maps + lead + side_bytes;
  if (x == nullptr ||
      SysMprotect(x, kTableBytes, PROT_READ | PROT_WRITE) != 0) {
    MetaUnmap(maps, maps_bytes);  // No-op for nullptr.
    MetaUnmap(base, va_bytes);
    return false;
  }
  *out = Maps{base, x, x + kTableBytes, x, x + kTableBytes + map_bytes};
  return true;
}

// Makes writable the part of a per-chunk map (`bytes_per_chunk` per chunk,
// from `map`) covering chunks [first, first + n), rounded out to whole pages;
// a page shared with a neighbouring chunk is simply made writable again.
int CommitMapSlice(uintptr_t map, size_t bytes_per_chunk, size_t first,
                   size_t n) {
  const uintptr_t lo = (map + first * bytes_per_chunk) & ~(kPageSize - 1);
  const uintptr_t hi =
      (map + (first + n) * bytes_per_chunk + kPageSize - 1) & ~(kPageSize - 1);
  return SysMprotect(reinterpret_cast<void*>(lo), hi - lo,
                     PROT_READ | PROT_WRITE);
}

}  // namespace

bool Init() {
  if (g_va_bytes.load(std::memory_order_relaxed) != 0) return true;  // Under the init lock.
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
  static_assert(sizeof(std::atomic<uint16_t>) == sizeof(uint16_t));
  static_assert(kMaxGroups <= kNoGroup, "group ids must fit the 16-bit table");
  // The free list's stack, as sparse: pages are touched as chunks are
  // released.
  g_free = static_cast<uint32_t*>(MetaMap(kNumChunks * sizeof(uint32_t)));
  if (g_free == nullptr) return false;
  // Measured after the free list is mapped, so that VmSize includes it.
  const va_budget::AddressSpace as = va_budget::Read();
  size_t va_bytes = va_budget::TargetBytes(as, kVaBytes, kMinVaBytes,
                                           kChunkBytes, kMapsPerMille);
  g_reservation = ReservationInfo{va_bytes, as.limit_bytes, as.used_bytes};
  Maps maps{};
  while (va_bytes == 0 || !TryReserve(va_bytes, &maps)) {
    if (va_bytes <= kMinVaBytes) {
      MetaUnmap(g_free, kNumChunks * sizeof(uint32_t));
      g_free = nullptr;
      return false;
    }
    // No hole that large (see kMinVaBytes) or over RLIMIT_AS: try half.
    va_bytes = (va_bytes >> 1) & ~(kChunkBytes - 1);
    if (va_bytes < kMinVaBytes) va_bytes = kMinVaBytes;
  }
  // Relaxed: published by the release store of g_va_bytes below.
  g_start_map.store(static_cast<std::atomic<uint16_t>*>(maps.start_map),
                    std::memory_order_relaxed);
  // Relaxed: published by the release store of g_va_bytes below.
  g_side_map.store(maps.side_end, std::memory_order_relaxed);
  // Relaxed: published by the release store of g_va_bytes below. The slot
  // of the base's span is the last below side_end (SideSlot).
  static_assert(kChunkBytes % (size_t{1} << kSideSlotShift) == 0);
  g_side_origin.store(
      reinterpret_cast<uintptr_t>(maps.side_end) +
          ((reinterpret_cast<uintptr_t>(maps.base) >> kSideSlotShift) - 1) *
              kSideSlotBytes,
      std::memory_order_relaxed);
  // Relaxed: published by the release store of g_va_bytes below.
  g_page_map.store(static_cast<std::atomic<uint32_t>*>(maps.page_map),
                   std::memory_order_relaxed);
  // Relaxed: published by the release store of g_va_bytes below.
  g_table.store(static_cast<std::atomic<uint32_t>*>(maps.table),
                std::memory_order_relaxed);
  // Relaxed: published by the release store of g_va_bytes below.
  g_va_base.store(reinterpret_cast<uintptr_t>(maps.base),
                  std::memory_order_relaxed);
  // Pairs with OwnerOf's acquire load: publishes base and table.
  g_va_bytes.store(va_bytes, std::memory_order_release);
  return true;
}

namespace {

// Claims `nr_chunks` contiguous chunks from the cursor and makes them and
// their map slices writable, tagging nothing. Returns the first chunk's
// index, or kNumChunks (see ClaimChunks).
size_t ClaimRun(size_t nr_chunks) {
  // Immutable after Init (the engine is initialised before any hook runs).
  const size_t num_chunks =
      g_va_bytes.load(std::memory_order_relaxed) >> kChunkShift;
  if (nr_chunks == 0 || nr_chunks > num_chunks) return kNumChunks;
  // Relaxed: only index uniqueness is needed; the chunk's contents and tag
  // are published to other threads through jemalloc's own synchronization.
  size_t first = g_next_chunk.load(std::memory_order_relaxed);
  do {
    if (nr_chunks > num_chunks - first) {
      // Too few left. The cursor stays: a smaller claim may still fit.
      // Relaxed: a one-time flag, no data is published with it.
      if (!g_exhausted_reported.exchange(true, std::memory_order_relaxed)) {
        RawLog("engine: the address-space reservation of %zu MiB is used up"
               " (%zu MiB left, %zu MiB needed); allocations that do not fit"
               " fail with ENOMEM",
               (num_chunks * kChunkBytes) >> 20,
               ((num_chunks - first) * kChunkBytes) >> 20,
               (nr_chunks * kChunkBytes) >> 20);
      }
      return kNumChunks;
    }
    // Relaxed on both outcomes: uniqueness of the claimed range only (see
    // the load above); a failed exchange reloads `first`.
  } while (!g_next_chunk.compare_exchange_weak(first, first + nr_chunks,
                                               std::memory_order_relaxed,
                                               std::memory_order_relaxed));
  void* start = ChunkAt(first);
  int saved = errno;
  int rc = SysMprotect(start, nr_chunks * kChunkBytes, PROT_READ | PROT_WRITE);
  if (rc == 0) {
    // Their page-map entries and side slots.
    rc = CommitMapSlice(reinterpret_cast<uintptr_t>(
                            g_page_map.load(std::memory_order_relaxed)),
                        kMapBytesPerChunk, first, nr_chunks);
  }
  if (rc == 0) {
    // The side map runs downward from its end (SideSlot): chunks
    // [first, first + n) have the slots [end - (first + n), end - first).
    const uintptr_t side_end = reinterpret_cast<uintptr_t>(
        g_side_map.load(std::memory_order_relaxed));
    rc = CommitMapSlice(side_end - (first + nr_chunks) * kSideBytesPerChunk,
                        kSideBytesPerChunk, 0, nr_chunks);
  }
  if (rc == 0) {
    rc = CommitMapSlice(reinterpret_cast<uintptr_t>(
                            g_start_map.load(std::memory_order_relaxed)),
                        kStartBytesPerChunk, first, nr_chunks);
  }
  errno = saved;
  // On failure the chunks stay untagged and unused.
  return rc == 0 ? first : kNumChunks;
}

}  // namespace

void* ClaimChunks(size_t nr_chunks, uint32_t group) {
  if (nr_chunks == 1) {
    size_t index = kNumChunks;
    {
      SpinLockHolder holder(&g_free_lock);
      if (g_nfree != 0) index = g_free[--g_nfree];
    }
    if (index != kNumChunks) {
      // Still RW, its map slices committed; its pages were returned, so it
      // reads zero. Relaxed: see OwnerOf; the tag precedes every pointer
      // into the chunk (the caller publishes through jemalloc's locks).
      g_table.load(std::memory_order_relaxed)[index].store(
          group ^ kNoGroup, std::memory_order_relaxed);
      return ChunkAt(index);
    }
  }
  const size_t first = ClaimRun(nr_chunks);
  if (first == kNumChunks) return nullptr;
  std::atomic<uint32_t>* table = g_table.load(std::memory_order_relaxed);
  for (size_t i = 0; i < nr_chunks; ++i) {
    // Relaxed: see OwnerOf; the tag precedes every pointer into the chunk.
    table[first + i].store(group ^ kNoGroup,
                           std::memory_order_relaxed);
  }
  return ChunkAt(first);
}

void* ClaimUntaggedChunks(size_t nr_chunks) {
  const size_t first = ClaimRun(nr_chunks);
  return first == kNumChunks ? nullptr : ChunkAt(first);
}

void ReleaseChunks(void* start, size_t nr_chunks) {
  if (nr_chunks == 0) return;
  int saved = errno;
  // The pages go back now; the chunk reads zero when it is claimed again.
  (void)SysMadvise(start, nr_chunks * kChunkBytes, MADV_DONTNEED);
  errno = saved;
  const size_t first = ChunkIndexOf(start);
  std::atomic<uint32_t>* table = g_table.load(std::memory_order_relaxed);
  SpinLockHolder holder(&g_free_lock);
  for (size_t i = 0; i < nr_chunks; ++i) {
    // Relaxed: no block is left in the chunk (the caller's contract), so no
    // reader can hold a pointer into it; the next claim retags it first.
    table[first + i].store(0, std::memory_order_relaxed);
    g_free[g_nfree++] = static_cast<uint32_t>(first + i);
  }
}

void RetagChunk(size_t index, uint32_t group) {
  // Relaxed: no live block is in the chunk (the caller's contract), so no
  // reader holds a pointer into it; the new owner's first pointer into it
  // is published after this store (engine lock, then the release store of
  // the group's arena index).
  g_table.load(std::memory_order_relaxed)[index].store(
      group ^ kNoGroup, std::memory_order_relaxed);
}

uint32_t TagIfUntagged(size_t index, uint32_t group) {
  uint32_t tag = 0;
  // Relaxed on both outcomes: as RetagChunk (the first pointer into the
  // chunk is published after it); a failure reads the tag in place.
  g_table.load(std::memory_order_relaxed)[index].compare_exchange_strong(
      tag, group ^ kNoGroup, std::memory_order_relaxed,
      std::memory_order_relaxed);
  return tag == 0 ? group : tag ^ kNoGroup;
}

size_t FreeChunks() {
  SpinLockHolder holder(&g_free_lock);
  return g_nfree;
}

ReservationInfo Reservation() { return g_reservation; }

size_t ClaimedBytes() {
  // Racy by design: a statistic; may be ahead of the chunks tagged so far.
  size_t n = g_next_chunk.load(std::memory_order_relaxed);
  return n * kChunkBytes;
}

}  // namespace memgroup::internal::owner_table
