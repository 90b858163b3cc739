// The front cache: per-thread LIFO lists of free blocks of the thread's bound
// group, one list per size class, in front of the group's slabs (slab.h,
// small classes) and the engine's large blocks (jemalloc's, or the mimalloc
// engine's, mimalloc_engine.h: the same cache on both engines). A hit on
// malloc pops a block, a hit on free pushes one; neither takes a lock or
// calls into the engine's allocator. free()
// learns the block's group and class from the page map (owner_table.h) in one
// load, which is what makes the free side cheap: jemalloc's public API has no
// free that skips its own size lookup.
//
// The lists are linked through the first word of each free block (as glibc's
// tcache and mimalloc do), not kept in arrays (as jemalloc's tcache does):
// malloc then has one dependent load between the class and the block instead
// of two (count, then slot), which measured 7.5 -> 4.6 ns for a malloc+free
// pair cycling through random sizes (docs/perf.md). The price: a program
// that writes to a block after freeing it corrupts the list, as with glibc.
//
// Owns: each thread's FrontCache (metadata memory, recycled through a free
// list when the thread exits) and the size-class tables. The classes are
// jemalloc's own (its 36 small classes, then its large classes up to
// kFrontMaxBytes) plus kExtraClasses slab classes of memgroup's own between
// 4 and 8 KiB, numbered from 1 in size order; class 0 means "not cached" and
// is what an unpublished page-map entry reads.
//
// Must never: hold a block of a group other than FrontCache::group (for
// the thread's own cache its bound group, rebinding flushes it first; the
// engine's second cache, t_other, holds small blocks of one other group);
// hold a large block without its charge (it keeps the charge its
// allocation took: the group's cached_large; small blocks are regions on
// slab pages, charged when a refill first handed them out and while their
// slab is held: slab.h); be touched by any thread but its owner (the fork
// child leaves the caches of the threads it lost alone).
//
// Bound on the memory a cache holds: a small bin about 64 KiB (8 to 256
// blocks, 2.1 MiB for all small bins together if every one is full),
// the large bins kFrontLargeBudget together. A full small bin's older half
// goes to the group's transfer cache (transfer_cache.h), shared by the
// group's threads, or back to the slabs.
#ifndef MEMGROUP_SRC_ENGINE_FRONT_CACHE_H_
#define MEMGROUP_SRC_ENGINE_FRONT_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/group_row.h"
#include "engine/owner_table.h"

namespace memgroup::internal::engine {

// Requests up to this size find their class in g_class_of_size8.
inline constexpr size_t kFrontSmallMax = 8192;
// The largest class the front cache holds (jemalloc class 68, 4 MiB).
inline constexpr size_t kFrontMaxBytes = size_t{4} << 20;
// Small classes of memgroup's own: the midpoints of jemalloc's classes in
// (4 KiB, 8 KiB], 4608, 5632, 6656 and 7680 bytes, so that this range has
// eight classes per doubling instead of four. A page plus a header is a
// common request (sqlite's page cache asks for 4,368 bytes): jemalloc's
// 5 KiB class wastes 15% of it, 4608 bytes 5%.
inline constexpr uint32_t kExtraClasses = 4;
inline constexpr size_t kExtraFrom = 4096;  // extras lie in (kExtraFrom, 2x]
// Classes 1..kFrontClasses-1 (jemalloc's classes 0..68 and the extras); 0
// is "none".
inline constexpr uint32_t kFrontClasses = 70 + kExtraClasses;
// First large class (jemalloc's 16 KiB class, index 36) + 1 + extras.
inline constexpr uint32_t kFrontFirstLarge = 37 + kExtraClasses;
// Bytes the large bins of one thread may hold together.
inline constexpr uint64_t kFrontLargeBudget = uint64_t{4} << 20;

struct FrontBin {
  // Blocks in the list.
  uint16_t count;
  // Capacity for the inline paths; 0 for large classes, whose pushes go
  // through the engine (budget check).
  uint16_t cap;
  // The class's usable size: what a pop charges and a push uncharges.
  uint32_t size;
  // The most recently freed block; each free block's first word points to
  // the next (older) one, and the last one's to nullptr: head is nullptr
  // exactly when count is 0, which malloc's fast path tests (BinTryPop).
  void* head;
};

// The list operations. Owner only. Allocates: never.
MG_ALWAYS_INLINE void BinPush(FrontBin& b, void* p) {
  *static_cast<void**>(p) = b.head;
  b.head = p;
  b.count = static_cast<uint16_t>(b.count + 1);
}
// b.count != 0.
MG_ALWAYS_INLINE void* BinPop(FrontBin& b) {
  void* p = b.head;
  b.head = *static_cast<void**>(p);
  b.count = static_cast<uint16_t>(b.count - 1);
  return p;
}
// The first block, or nullptr when the bin is empty: one test of the head
// (the list ends in nullptr) rather than of the count.
MG_ALWAYS_INLINE void* BinTryPop(FrontBin& b) {
  return b.head == nullptr ? nullptr : BinPop(b);
}

struct FrontCache {
  // The bound group whose blocks the bins hold (kNoGroup: none yet).
  uint32_t group;
  // owner_table::MakeEntry(group, 0): page-map entry minus tag = class.
  uint32_t tag;
  // Bytes held in the large bins (<= kFrontLargeBudget).
  uint64_t large_bytes;
  // The large bins hold a fork parent's blocks, uncharged in this child
  // and set aside (front::SetAsideLarge): they go back to the engine, not
  // out, at the bins' next use (front::FreeSetAside).
  bool large_set_aside;
  // bins[0] stays empty with capacity 0: free's fast path reaches it for
  // class 0 and must miss there.
  FrontBin bins[kFrontClasses];
  // The free list of caches of exited threads (front_cache.cc). Under the
  // front cache lock.
  FrontCache* next_free;
  // g_region_magic_of_class, copied when the cache is acquired: free's
  // fast path tests a pointer against it (OnRegionGrid) with fc in a
  // register, where the global table's address is not.
  uint32_t region_magic[kFrontClasses];
};

// The cache of a thread that has none: every bin empty with capacity 0 and
// no group, so that malloc's fast path finds its bin empty and free's finds
// it full. Never written.
MG_HIDDEN extern constinit FrontCache g_no_front;

// The calling thread's front cache as the inline fast paths (alloc_path.h)
// read it, with no test of the pointer: never nullptr, &g_no_front before
// the thread's first bind, after its exit, under fault injection and when
// the front cache is disabled. Everything else reads and sets it through
// ThreadFront and SetThreadFront. Owner-only.
MG_HIDDEN extern MG_TLS FrontCache* t_front;

// The calling thread's front cache, or nullptr when it has none.
MG_ALWAYS_INLINE FrontCache* ThreadFront() {
  FrontCache* fc = t_front;
  return fc == &g_no_front ? nullptr : fc;
}
// Sets the calling thread's front cache (nullptr: none).
MG_ALWAYS_INLINE void SetThreadFront(FrontCache* fc) {
  t_front = fc != nullptr ? fc : &g_no_front;
}

// Class of a request of `size` <= kFrontSmallMax bytes (natural alignment),
// indexed by the size in 8-byte units rounded up, (size + 7) >> 3. Filled by
// Init before any cache exists.
MG_HIDDEN extern constinit uint8_t g_class_of_size8[(kFrontSmallMax >> 3) + 1];
// Usable size of each class: what GoodSize returns for it, what a pop
// charges (0 for class 0).
MG_HIDDEN extern constinit uint32_t g_usable_of_class[kFrontClasses];

// Slab regions lie at multiples of their class size from the start of a
// kRegionGridSpan-aligned slab (slab.h). Whether p does, for a class of
// `size` bytes whose magic is ceil(2^32 / size) (RegionMagic): the offset
// n of p in its slab (its low 16 bits) is a multiple of the size exactly
// when n * magic mod 2^32 < magic (Lemire, Kaser and Kurz, "Faster
// remainder by direct computation", 2019: exact for every n < 2^16 when
// the size is under 2^16, 32 >= 16 + log2(size)). One movzwl, one multiply
// and one compare: free's fast path sends a pointer that fails it (a
// pointer inside a block of any small class, at any offset) to its miss,
// which reports it. A magic of 0 fails every pointer. Allocates: never.
inline constexpr size_t kRegionGridSpan = size_t{1} << 16;
MG_ALWAYS_INLINE constexpr uint32_t RegionMagic(uint32_t size) {
  return static_cast<uint32_t>(((uint64_t{1} << 32) + size - 1) / size);
}
MG_ALWAYS_INLINE bool OnRegionGrid(const void* p, uint32_t magic) {
  const uint32_t n = static_cast<uint16_t>(reinterpret_cast<uintptr_t>(p));
  return n * magic < magic;
}

// Per class, free's region test (OnRegionGrid): RegionMagic of the class
// size for the small (slab) classes, 0 for class 0 and the large classes
// (their bins' capacity of 0 sends them to the miss first), and 0 for every
// class in MEMGROUP_CHECK mode, so that every small free takes the miss and
// its checks. Filled by Init (and SetCheckMode) before any cache exists.
MG_HIDDEN extern constinit uint32_t g_region_magic_of_class[kFrontClasses];

// Bytes of each group's large blocks held in threads' front caches. A cached
// large block stays charged to its group (its pages are resident, as the
// memcg rule wants every page the engine holds for a group charged): its
// free keeps the charge, its next pop takes none, and the charge leaves the
// cache with it (CacheLarge). Added and subtracted by the
// owning threads (relaxed: a statistic, stat.engine_cached; no data is
// published with it). Kept in the group's GroupRow (cached_large,
// group_row.h).

// The class of a block of usable size `usable` (a class size), or 0 if the
// front cache does not hold that size. Allocates: never.
MG_ALWAYS_INLINE uint32_t ClassOfUsable(size_t usable) {
  if (usable == 0) return 0;  // GoodSize's "too large"
  if (usable <= kFrontSmallMax) return g_class_of_size8[(usable + 7) >> 3];
  if (usable > kFrontMaxBytes) return 0;
  // Above 64 bytes jemalloc has four classes per doubling: (2^lg, 2^(lg+1)]
  // holds 2^lg + k * 2^(lg-2), k = 1..4; the extras all lie below. Init
  // checks this against mallctl.
  const unsigned lg = 63u - static_cast<unsigned>(__builtin_clzl(usable - 1));
  const size_t k = (usable - (size_t{1} << lg)) >> (lg - 2);
  return static_cast<uint32_t>(5 + kExtraClasses + (lg - 6) * 4 + k);
}

namespace front {
// Frees a fork child's set-aside large blocks (FrontCache::large_set_aside,
// front_cache_internal.h) to the engine, whose charge left at the fork:
// the large bins' first use after it. Owner only. Allocates: never.
MG_NOINLINE void FreeSetAside(FrontCache* fc);
}  // namespace front

// Pops a block of class `cls` (1 <= cls < kFrontClasses) from the calling
// thread's cache `fc`, or nullptr if the bin is empty; a large block is
// recorded as live in the start map (owner_table.h) and comes charged
// (the group's cached_large): the caller charges nothing for it. Owner only.
// Allocates: never.
MG_ALWAYS_INLINE void* FrontPop(FrontCache* fc, uint32_t cls) {
  FrontBin& b = fc->bins[cls];
  if (b.count == 0) return nullptr;
  if (cls >= kFrontFirstLarge) {
    if (MG_UNLIKELY(fc->large_set_aside)) {
      front::FreeSetAside(fc);
      return nullptr;
    }
    // A large block goes back out: live again in the start map.
    fc->large_bytes -= b.size;
    // Relaxed: see the cached large bytes (above).
    g_group_rows[fc->group].cached_large.fetch_sub(static_cast<int64_t>(b.size),
                                                   std::memory_order_relaxed);
    void* p = BinPop(b);
    owner_table::MarkLargeLiveOwned(p);  // A cached block: in a chunk.
    return p;
  }
  return BinPop(b);
}

// Caches a freed large block (cls >= kFrontFirstLarge) of fc->group, making
// room by returning the bin's other large blocks to the engine, largest
// first (the newest free is the likeliest to be reused); false when its
// class already holds one (the caller frees it to the engine). A cached
// block keeps its charge (the group's cached_large); an evicted one leaves with
// it: to the arena as the group's free pages (free_pages.h) on the jemalloc
// engine, uncharged with its pages returned (mi::FreeLarge) on the
// mimalloc engine. Owner only. Allocates: never.
bool CacheLarge(FrontCache* fc, void* p, uint32_t cls);

// The cached_large bytes of `group` (stat.engine_cached). Allocates: never.
int64_t CachedLargeOf(uint32_t group);

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_FRONT_CACHE_H_
