// Implements the slow side of front_cache.h: the class tables, the caches'
// life cycle (metadata memory, recycled), refill from and flush to the
// group's transfer cache and slabs (small classes) and the engine's large
// blocks (jemalloc, or mimalloc_engine.h's). Owns g_front_lock
// (the list of all caches and the free list). Must never allocate through
// malloc or return a block to a group other than the cache's (refill and
// flush run on the owner thread, bound to cache->group; large blocks go
// through the thread's bound tcache to that group's jemalloc arena,
// tcache_slots.h, or to the group's mimalloc arena).
#include "engine/front_cache_internal.h"

#include <cstring>

#include "base/check.h"
#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/meta_alloc.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "engine/jemalloc_private.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab.h"
#include "engine/tcache_slots.h"
#include "engine/transfer_cache.h"
#include "engine/warm_large.h"
#include "group/fault_injection.h"

namespace memgroup::internal::engine {

// Every bin empty with capacity 0, no group: see front_cache.h.
constinit FrontCache g_no_front = {.group = kNoGroup};
MG_TLS FrontCache* t_front = &g_no_front;
constinit uint8_t g_class_of_size8[(kFrontSmallMax >> 3) + 1] = {};
constinit uint32_t g_usable_of_class[kFrontClasses] = {};
constinit uint32_t g_region_magic_of_class[kFrontClasses] = {};

namespace front {
namespace {

// Inline capacity of a small class: about 64 KiB of blocks, 8 to 256 of
// them (a batch of a thousand mixed 16 B-1 KiB blocks then stays in the
// cache: 8 KiB bins measured 20.0 us per batch, 64 KiB bins 9.5 us). A full
// bin gives back half its blocks in one batch (Push): 128 for the classes
// up to 256 bytes, so that a program freeing many small blocks (perl
// freeing a hash) sends them to the slabs in fewer, larger batches.
inline constexpr uint32_t kMaxSmallCap = 256;
uint16_t SmallCap(uint32_t size) {
  uint32_t cap = 65536 / size;
  if (cap < 8) cap = 8;
  if (cap > kMaxSmallCap) cap = kMaxSmallCap;
  return static_cast<uint16_t>(cap);
}
// Regions a refill takes from the slabs for a bin of `size` with capacity
// `cap`: 32, or a page's worth for the classes under 128 bytes (up to 128
// regions), never more than half the bin. A refill writes the first word of
// each region it takes, so every page its batch crosses is faulted in and
// charged: batches of more than 32 regions from 128 bytes up would map in
// pages a short program never asks for (the short-lived shape's child
// measured 14 more faults with batches of half the bin), while for the
// smallest classes a batch of 32 is a fraction of a page, and its refills
// the larger share of their cost (docs/perf.md, "Front cache bins of up
// to 256 blocks").
uint32_t RefillCount(uint32_t size, uint16_t cap) {
  const uint32_t half = (cap + 1u) / 2;
  uint32_t n = static_cast<uint32_t>(kPageSize) / size;
  if (n < 32) n = 32;
  return n < half ? n : half;
}
// A large class holds up to 512 KiB of blocks, 1 to 8 of them (and the
// large bins kFrontLargeBudget bytes together), pushed and popped by the
// engine's slow paths. More than one: a program that frees a few blocks of
// one class and then asks for as many again (zlib's deflateEnd and
// deflateInit: four 64 KiB blocks per stream) keeps them all, where a
// single block per class sent the others back to the engine (a madvise
// each on the mimalloc engine). A multiply, not a division: CacheLarge
// runs on every large free.
inline constexpr uint32_t kLargeBinBytes = 512u << 10;
inline constexpr uint16_t kLargeBinMax = 8;
MG_ALWAYS_INLINE bool LargeBinFull(const FrontBin& b) {
  return b.count != 0 && (b.count >= kLargeBinMax ||
                          (b.count + 1u) * uint64_t{b.size} > kLargeBinBytes);
}

// Set once by InitClasses (under the engine's init lock, before any cache
// exists; published by the engine's init release store).
constinit bool g_enabled = false;

// The caches of exited threads, for reuse (linked through next_free). Taken
// on thread bind and exit, and held across fork.
constinit SpinLock g_front_lock;
constinit FrontCache* g_free = nullptr;

// Returns the n blocks of the list at `head` (class `cls` of the group the
// caller is bound to) to their owner: the group's slabs for small classes,
// jemalloc through the thread's bound tcache or the group's mimalloc arena
// (whose free returns the block's pages, mimalloc_engine.h) for large ones.
void Release(uint32_t group, uint32_t cls, void* head, uint32_t n) {
  if (n == 0) return;
  if (cls < kFrontFirstLarge) {
    slab::FreeBatch(group, cls, head, n);
    return;
  }
  const uint32_t size = g_usable_of_class[cls];
  for (uint32_t i = 0; i < n; ++i) {
    void* p = head;
    head = *static_cast<void**>(p);
    if (UsesMimalloc()) {
      mi::FreeLarge(p, group);
      continue;
    }
    // Sized, so that jemalloc skips its size lookup, except for page-aligned
    // blocks: Debian's jemalloc (built with profiling support) sends those
    // to its slow path when given a size.
    if ((reinterpret_cast<uintptr_t>(p) & (kPageSize - 1)) != 0) {
      mgje_sdallocx(p, size, BoundTcacheFlags(size));
    } else {
      mgje_dallocx(p, BoundTcacheFlags(size));
    }
  }
}

// Large blocks of `group` that left a front cache (evicted or flushed),
// with their charge. jemalloc engine: their pages stay dirty in the group's
// arena, so the charge stays as its free pages (uncharged for a destroyed
// group), and they count towards the arena's next dirty-page check
// (warm_large.h). mimalloc engine: their pages went back to the OS
// (mi::FreeLarge, as for any freed large block), so the charge goes too.
void ReturnedLarge(uint32_t group, uint64_t bytes) {
  if (bytes == 0) return;
  const int64_t n = static_cast<int64_t>(bytes);
  // Relaxed: see the cached large bytes (front_cache.h).
  g_group_rows[group].cached_large.fetch_sub(n, std::memory_order_relaxed);
  if (!KeepsFreePages()) {
    UnchargePages(group, n);
    return;
  }
  if (!KeepFreePages(group, n)) UnchargePages(group, n);
  NoteLargeFree(group, bytes);
}

// Returns every block of bin `cls` of `fc`; the bytes it held.
uint64_t EmptyBin(FrontCache* fc, uint32_t cls) {
  FrontBin& b = fc->bins[cls];
  Release(fc->group, cls, b.head, b.count);
  const uint64_t bytes = uint64_t{b.count} * b.size;
  b.head = nullptr;
  b.count = 0;
  if (cls >= kFrontFirstLarge) ReturnedLarge(fc->group, bytes);
  return bytes;
}

// Empties every bin, and the group's transfer cache with them: a thread's
// exit, a rebind or a purge leaves no region of the group out of its slabs
// beyond the other threads' caches and the program's blocks.
void FlushAll(FrontCache* fc) {
  if (MG_UNLIKELY(fc->large_set_aside)) front::FreeSetAside(fc);
  for (uint32_t cls = 1; cls < kFrontClasses; ++cls) (void)EmptyBin(fc, cls);
  fc->large_bytes = 0;
  transfer::Drain(fc->group);
}

}  // namespace

// jemalloc's class `j` (0-based, small bins then large extents) as
// computed for its Debian build (16-byte quantum, 4 KiB pages): 8, 16, then
// multiples of 16 up to 64, then four classes per doubling. Both engines'
// classes; tests/engine checks every one against jemalloc's.
size_t ComputedClassSize(unsigned j) {
  if (j < 2) return size_t{8} << j;
  if (j < 5) return size_t{16} * j;
  const unsigned group = (j - 5) / 4;
  const unsigned k = (j - 5) % 4 + 1;
  return (size_t{64} << group) + k * (size_t{16} << group);
}

void FillRegionMagic() {
  for (uint32_t c = 1; c < kFrontFirstLarge; ++c) {
    const uint32_t size = g_usable_of_class[c];
    g_region_magic_of_class[c] =
        CheckMode() || size == 0 ? 0 : RegionMagic(size);
  }
}

namespace {

bool FillClasses() {
  // The classes are computed (ComputedClassSize). With the jemalloc engine,
  // two of jemalloc's own figures confirm that they are its classes: the
  // last bin's size is a class, and the smallest block aligned to two pages
  // is the class after it, which holds only with 4 KiB pages and that many
  // bins (jemalloc serves alignments up to a page from its bins); tests/engine
  // compares every class. Through nallocx: reading every class through
  // mallctl cost about 90,000 instructions of each process's start-up, and
  // mallctl's first use builds jemalloc's control interface (EnsureCtl).
  unsigned nbins = kFrontFirstLarge - 1 - kExtraClasses;
  size_t page = kPageSize;
  if (!UsesMimalloc()) {
    const size_t last = ComputedClassSize(nbins - 1);
    if (mgje_nallocx(last, 0) != last ||
        mgje_nallocx(1, MALLOCX_ALIGN(2 * kPageSize)) !=
            ComputedClassSize(nbins)) {
      nbins = 0;
    }
  }
  if (nbins + 1 + kExtraClasses != kFrontFirstLarge ||
      page != (size_t{1} << owner_table::kPageShift)) {
    RawLog("engine: unexpected jemalloc size classes; front cache disabled");
    return false;
  }
  // jemalloc's classes in order, each of (kExtraFrom, 2 * kExtraFrom]
  // preceded by the midpoint between it and the class before.
  uint32_t cls = 1;
  for (unsigned j = 0; cls < kFrontClasses; ++j) {
    const size_t size = ComputedClassSize(j);
    if (size == 0 || size > UINT32_MAX) return false;
    if (size > kExtraFrom && size <= 2 * kExtraFrom) {
      g_usable_of_class[cls] =
          (g_usable_of_class[cls - 1] + static_cast<uint32_t>(size)) / 2;
      if (++cls == kFrontClasses) return false;
    }
    g_usable_of_class[cls++] = static_cast<uint32_t>(size);
  }
  if (g_usable_of_class[kFrontClasses - 1] != kFrontMaxBytes) {
    RawLog("engine: unexpected jemalloc size classes; front cache disabled");
    return false;
  }
  // Request -> class for small sizes: the first class that fits.
  cls = 1;
  for (size_t i = 0; i <= (kFrontSmallMax >> 3); ++i) {
    size_t request = i == 0 ? 1 : i << 3;
    while (g_usable_of_class[cls] < request) ++cls;
    g_class_of_size8[i] = static_cast<uint8_t>(cls);
  }
  FillRegionMagic();
  // ClassOfUsable's arithmetic must agree with jemalloc for every class.
  for (uint32_t c = 1; c < kFrontClasses; ++c) {
    if (ClassOfUsable(g_usable_of_class[c]) != c) {
      RawLog("engine: size class %u (%u bytes) breaks the class formula; "
             "front cache disabled", c, g_usable_of_class[c]);
      return false;
    }
  }
  return true;
}

}  // namespace

bool InitClasses() {
  if (!FillClasses()) {
    // Disabled: the tables read 0 everywhere, so nothing trusts them.
    memset(g_class_of_size8, 0, sizeof(g_class_of_size8));
    memset(g_usable_of_class, 0, sizeof(g_usable_of_class));
    memset(g_region_magic_of_class, 0, sizeof(g_region_magic_of_class));
    return false;
  }
  g_enabled = true;
  return true;
}

FrontCache* Acquire(uint32_t group) {
  // Under fault injection no thread has a cache: malloc's fast path, which
  // tests only the cache, then misses at every call, and the miss draws.
  if (!g_enabled || FaultInjectionEnabled()) return nullptr;
  FrontCache* fc = nullptr;
  {
    SpinLockHolder holder(&g_front_lock);
    fc = g_free;
    if (fc != nullptr) g_free = fc->next_free;
  }
  if (fc == nullptr) {
    // Zero-filled: empty bins, no group.
    fc = static_cast<FrontCache*>(MetaMap(sizeof(FrontCache)));
    if (fc == nullptr) return nullptr;
    for (uint32_t c = 1; c < kFrontClasses; ++c) {
      FrontBin& b = fc->bins[c];
      b.size = g_usable_of_class[c];
      b.cap = c >= kFrontFirstLarge ? 0 : SmallCap(b.size);
    }
  }
  // free's fast path sends class 0 to bins[0] and relies on it to miss.
  MG_DCHECK(fc->bins[0].cap == 0 && fc->bins[0].count == 0);
  memcpy(fc->region_magic, g_region_magic_of_class, sizeof(fc->region_magic));
  SetGroup(fc, group);
  return fc;
}

void SetGroup(FrontCache* fc, uint32_t group) {
  fc->group = group;
  fc->tag = owner_table::MakeEntry(group, 0);
}

void Retire(FrontCache* fc) {
  FlushAll(fc);
  SetGroup(fc, kNoGroup);
  SpinLockHolder holder(&g_front_lock);
  fc->next_free = g_free;
  g_free = fc;
}

void Flush(FrontCache* fc) { FlushAll(fc); }

int64_t SetAsideLarge(FrontCache* fc) {
  MG_DCHECK(UsesMimalloc());
  uint64_t bytes = 0;
  for (uint32_t cls = kFrontFirstLarge; cls < kFrontClasses; ++cls) {
    bytes += uint64_t{fc->bins[cls].count} * fc->bins[cls].size;
  }
  if (bytes == 0) return 0;
  fc->large_set_aside = true;
  // Relaxed: see the cached large bytes (front_cache.h).
  g_group_rows[fc->group].cached_large.fetch_sub(
      static_cast<int64_t>(bytes), std::memory_order_relaxed);
  return static_cast<int64_t>(bytes);
}

void FreeSetAside(FrontCache* fc) {
  for (uint32_t cls = kFrontFirstLarge; cls < kFrontClasses; ++cls) {
    FrontBin& b = fc->bins[cls];
    if (b.count == 0) continue;
    Release(fc->group, cls, b.head, b.count);
    b.head = nullptr;
    b.count = 0;
  }
  fc->large_bytes = 0;
  fc->large_set_aside = false;
}

int64_t ReturnLarge(FrontCache* fc) {
  // Empty bins left unwritten: a fork child (its one caller) that writes
  // no word of a page does not copy it.
  uint64_t bytes = 0;
  for (uint32_t cls = kFrontFirstLarge; cls < kFrontClasses; ++cls) {
    if (fc->bins[cls].count != 0) bytes += EmptyBin(fc, cls);
  }
  if (fc->large_bytes != 0) fc->large_bytes = 0;
  return static_cast<int64_t>(bytes);
}

void* Refill(FrontCache* fc, uint32_t cls) {
  MG_DCHECK(cls < kFrontFirstLarge);
  FrontBin& b = fc->bins[cls];
  // A batch another bin of the group flushed (transfer_cache.h) of regions
  // of this thread's shard, when the bin is empty (its list is replaced,
  // not extended): got whole.
  uint32_t n_batch = 0;
  void* batch = b.count == 0 ? transfer::Take(fc->group, cls,
                                              slab::ThreadShard(), &n_batch)
                             : nullptr;
  if (batch != nullptr) {
    b.head = *static_cast<void**>(batch);  // Stale if n_batch == 1.
    b.count = static_cast<uint16_t>(n_batch - 1);
    return batch;
  }
  // Else RefillCount regions from the group's slabs (already published),
  // in region order: got[0] is returned, got[1] pops next.
  static_assert(kMaxSmallCap / 2 <= slab::kMaxBatch);
  void* got[kMaxSmallCap / 2];  // RefillCount's most: half a bin.
  const uint32_t n =
      slab::AllocBatch(fc->group, cls, got, RefillCount(b.size, b.cap));
  if (n == 0) return nullptr;
  void* head = b.head;
  for (uint32_t i = n - 1; i >= 1; --i) {
    *static_cast<void**>(got[i]) = head;
    head = got[i];
  }
  b.head = head;
  b.count = static_cast<uint16_t>(b.count + n - 1);
  return got[0];
}

void* RefillLarge(FrontCache* fc, uint32_t cls, bool zero) {
  // The jemalloc engine's: the mimalloc engine makes its large blocks with
  // mi::AllocLarge (dispatch.cc). jemalloc serves its own reentrant threads
  // (its background threads) from arena 0 whatever thread.arena says, so
  // the block is checked to be in the group's chunks. A zeroed block is
  // jemalloc's to clear: it skips the pages it knows read zero (fresh
  // chunks, purged extents), which a memset would fault in.
  MG_DCHECK(!UsesMimalloc() && cls >= kFrontFirstLarge);
  const FrontBin& b = fc->bins[cls];
  void* p = mgje_mallocx(b.size,
                         BoundTcacheFlags(b.size) | (zero ? MALLOCX_ZERO : 0));
  if (MG_UNLIKELY(!owner_table::PublishOwned(p, fc->group, fc->tag + cls))) {
    if (p != nullptr) mgje_dallocx(p, MALLOCX_TCACHE_NONE);
    return nullptr;
  }
  owner_table::MarkLargeLive(p);  // Handed out: live in the start map,
  StampLarge(p);                  // made in this fork epoch.
  return p;
}

bool Push(FrontCache* fc, void* p, uint32_t cls) {
  MG_DCHECK(cls < kFrontFirstLarge);
  FrontBin& b = fc->bins[cls];
  if (b.count >= b.cap) {
    // Full: the older half (the list's tail) goes to the group's transfer
    // cache, for the next refill of the class in any of its threads, or
    // back to the slabs when that is full; the recently freed stay.
    uint32_t keep = b.count - b.count / 2;
    void* last = b.head;
    for (uint32_t i = 1; i < keep; ++i) last = *static_cast<void**>(last);
    void* older = *static_cast<void**>(last);
    const uint32_t n_older = b.count - keep;
    if (!transfer::Put(fc->group, cls, older, n_older)) {
      Release(fc->group, cls, older, n_older);
    }
    *static_cast<void**>(last) = nullptr;
    b.count = static_cast<uint16_t>(keep);
  }
  BinPush(b, p);
  return true;
}

void PrepareFork() { ForkLock(g_front_lock); }
void ParentFork() { ForkUnlock(g_front_lock); }

void ChildFork() {
  // The caches of the threads that do not exist in the child are left
  // alone (leaked, like jemalloc's own tcaches of those threads): fork may
  // have caught their owners in the middle of a push, a pop or a flush,
  // so their lists cannot be trusted. What they hold stays charged in the
  // child as it was in the parent (their slabs' pages, their large blocks),
  // like the other threads' live blocks the child inherits and never frees;
  // the memory is at most one cache's worth per thread.
  ForkReset(g_front_lock);
}

}  // namespace front

namespace front {
namespace {

// Empties fc's large bins, largest class first, until `bytes` more fit in
// the budget; false if they cannot. Out of line: CacheLarge's common case
// (room already) then keeps no engine call in its body.
MG_NOINLINE bool MakeLargeRoom(FrontCache* fc, uint32_t bytes) {
  for (uint32_t c = kFrontClasses - 1;
       c >= kFrontFirstLarge && fc->large_bytes + bytes > kFrontLargeBudget;
       --c) {
    fc->large_bytes -= EmptyBin(fc, c);
  }
  return fc->large_bytes + bytes <= kFrontLargeBudget;
}

}  // namespace
}  // namespace front

bool CacheLarge(FrontCache* fc, void* p, uint32_t cls) {
  MG_DCHECK(cls >= kFrontFirstLarge && cls < kFrontClasses);
  if (MG_UNLIKELY(fc->large_set_aside)) front::FreeSetAside(fc);
  FrontBin& b = fc->bins[cls];
  if (front::LargeBinFull(b)) return false;
  if (MG_UNLIKELY(fc->large_bytes + b.size > kFrontLargeBudget) &&
      !front::MakeLargeRoom(fc, b.size)) {
    return false;
  }
  fc->large_bytes += b.size;
  // Relaxed: see the cached large bytes (front_cache.h).
  g_group_rows[fc->group].cached_large.fetch_add(static_cast<int64_t>(b.size),
                                                 std::memory_order_relaxed);
  BinPush(b, p);
  return true;
}

int64_t CachedLargeOf(uint32_t group) {
  // Relaxed: a statistic.
  return group < kMaxGroups
             ? g_group_rows[group].cached_large.load(std::memory_order_relaxed)
             : 0;
}

}  // namespace memgroup::internal::engine
