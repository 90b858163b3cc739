// The mimalloc engine's large blocks and size queries (mimalloc_engine.h):
// AllocLarge, FreeLarge, ReallocLarge, ResizeLargeInPlace, GoodSize, Purge
// and GroupStats. Owns the large-block header and the per-group counters.
//
// Must never: allocate through malloc; hand out a block outside the group's
// arena; let a block's header disagree with the charge (the usable size the
// caller charged is what the header holds, and what free uncharges) or with
// the class of its page-map entry (ClassOfUsable of the header: the front
// cache's large class, which free trusts for the usable size, or 0 above
// kFrontMaxBytes).
//
// SYNCHRONIZATION: the per-group counters are relaxed atomics (statistics);
// a block's header is written before the pointer is handed out and read by
// whoever holds the pointer.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/limits.h"
#include "base/macros.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "engine/front_cache.h"
#include "engine/mimalloc_api.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab.h"

namespace memgroup::internal::engine::mi {
namespace {

static_assert(kTaggedMinBytes <= kMinLargeBytes,
              "every large block carries its fork tag (fork_epoch.h)");

// The largest usable size handed out: far beyond any arena, and small
// enough that header and alignment padding cannot overflow.
inline constexpr size_t kMaxLargeBytes = size_t{1} << 46;

struct alignas(MG_CACHELINE) LargeCounters {
  std::atomic<uint64_t> nmalloc;
  std::atomic<uint64_t> ndalloc;
  std::atomic<uint64_t> bytes;  // usable bytes of live large blocks
};
constinit LargeCounters g_large[kMiMaxGroups];

// The size class of a large block: sizes in (2^lg, 2^(lg+1)] round up to a
// multiple of 2^(lg-2), four classes per doubling (the jemalloc engine's
// large classes, which the shared class tables hold up to kFrontMaxBytes).
size_t LargeClass(size_t n) {
  if (n < kMinLargeBytes) n = kMinLargeBytes;
  if (n > kMaxLargeBytes) return 0;
  const unsigned lg = 63u - static_cast<unsigned>(__builtin_clzl(n - 1));
  const size_t delta = size_t{1} << (lg - 2);
  return (n + delta - 1) & ~(delta - 1);
}

uint64_t& HeaderOf(void* p) {
  return *reinterpret_cast<uint64_t*>(static_cast<char*>(p) - kLargeHeader);
}

// The page-map entry of a large block of `usable` bytes: its group and its
// front-cache class (0 above kFrontMaxBytes), as the jemalloc engine
// publishes its blocks, so that free finds its usable size by class and
// offers it to the thread's front cache (CacheLarge).
uint32_t EntryOf(uint32_t group, size_t usable) {
  return owner_table::MakeEntry(group, ClassOfUsable(usable));
}

// Adds `blocks` (+1 allocated, -1 freed, 0 resized) and `bytes` to the
// group's live large blocks.
void Count(uint32_t group, int blocks, int64_t bytes) {
  if (group >= kMiMaxGroups) return;
  LargeCounters& c = g_large[group];
  // Relaxed: statistics, no ordering with anything else.
  if (blocks > 0) c.nmalloc.fetch_add(1, std::memory_order_relaxed);
  // Relaxed: as above.
  if (blocks < 0) c.ndalloc.fetch_add(1, std::memory_order_relaxed);
  // Relaxed: as above (unsigned wrap-around adds a negative delta).
  c.bytes.fetch_add(static_cast<uint64_t>(bytes), std::memory_order_relaxed);
}

// A kept large block of `group` for a block of `total` bytes (mimalloc's
// size and header included), or nullptr. Its charge, in the group's free
// pages, covered its old usable size: the part of it the new block does
// not cover goes back to the OS and is uncharged; a larger new block took
// the rest of its charge from the free pages or charged it (the caller),
// and TrimKept restores what the others kept need.
void* TakeKeptLarge(uint32_t group, size_t total) {
  int64_t charged = 0;
  size_t bytes = 0;
  void* q = TakeKeptLargeBlock(group, total, &charged, &bytes);
  if (q == nullptr) return nullptr;
  const int64_t extra =
      charged - static_cast<int64_t>(total - kLargeHeader);
  if (extra > 0) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(q);
    const uintptr_t from = (base + total + kPageSize - 1) & ~(kPageSize - 1);
    const uintptr_t to = (base + kLargeHeader + static_cast<size_t>(charged) +
                          kPageSize - 1) &
                         ~(kPageSize - 1);
    ReturnPages(from, to);
    UnchargeFreePages(group, extra);
  }
  return q;
}

}  // namespace

size_t GoodSize(size_t size, size_t align) {
  if (align > 1 && align <= kPageSize && size <= kFrontSmallMax &&
      g_usable_of_class[1] != 0) {
    // The first slab class that fits and whose regions are aligned: a
    // region lies at a multiple of its class size from a page boundary.
    const size_t want = size < align ? align : size;
    for (uint32_t c = g_class_of_size8[(want + 7) >> 3]; c < kFrontFirstLarge;
         ++c) {
      const uint32_t usable = g_usable_of_class[c];
      if ((usable & (align - 1)) == 0) return usable;
    }
  }
  if (align > 1 && size < align) size = align;
  return LargeClass(size);
}

void* AllocLarge(uint32_t group, size_t size, size_t align, bool zero,
                 size_t usable) {
  if (usable < kMinLargeBytes || usable > kMaxLargeBytes) return nullptr;
  mi_heap_t* h = HeapOf(group);
  if (MG_UNLIKELY(h == nullptr)) return nullptr;
  const size_t total = usable + kLargeHeader;
  // A parked block of its class first (mimalloc_engine.h, ParkLarge):
  // adopted already, its pages returned, so reading zero. Parked and taken
  // under the park's lock: ordered for ThreadSanitizer.
  void* q = align <= kLargeHeader ? TakeParked(group, usable) : nullptr;
  // Whether q's bytes may be other than zero: a zeroed request clears the
  // `size` bytes it asked for itself. mimalloc's zalloc would clear the
  // whole mimalloc block, which the header makes larger than `usable` (a
  // 1 MiB block is 1 MiB + 16 bytes, in a span rounded up to 512 KiB: a
  // 1 MiB calloc cleared, and faulted in, 1.5 MiB), and it knows no more
  // than memgroup about fresh pages: it clears those too.
  bool dirty = false;
  // A kept one that fits (KeepLarge) for a block above the front cache's
  // classes: resident, its charge in the group's free pages.
  if (q == nullptr && usable > kFrontMaxBytes && align <= kLargeHeader) {
    q = TakeKeptLarge(group, total);
    dirty = q != nullptr;
  }
  if (q == nullptr) {
    // The block after the header aligned: mimalloc aligns q + offset.
    q = align <= kLargeHeader
            ? g_api.heap_malloc(h, total)
            : g_api.heap_malloc_aligned_at(h, total, align, kLargeHeader);
    if (MG_UNLIKELY(q == nullptr)) {
      ReportArenaFull(group);
      return nullptr;
    }
    // Its chunks tagged for the group (a block outside the arena: never).
    if (MG_UNLIKELY(!AdoptBlock(q, total, group))) {
      g_api.free(q);
      return nullptr;
    }
    dirty = true;
  }
  void* p = static_cast<char*>(q) + kLargeHeader;
  // The page-map entry of p's page: the group and the block's class (it
  // may still name a slab class from a slab that held this memory before).
  if (MG_UNLIKELY(
          !owner_table::PublishOwned(p, group, EntryOf(group, usable)))) {
    // Never: a heap made for an arena takes blocks from it alone (shared
    // or not). Refuse rather than leak.
    g_api.free(q);
    return nullptr;
  }
  HeaderOf(p) = usable;
  if (zero && dirty) memset(p, 0, size);
  owner_table::MarkLargeLive(p);  // Handed out: live in the start map,
  StampLarge(p);                  // made in this fork epoch.
  Count(group, 1, static_cast<int64_t>(usable));
  // Its charge may have come from the group's free pages, which kept slabs
  // stand for: those no charge covers any more go back (two loads when
  // nothing is kept).
  TrimKept(group);
  return p;
}

void ReturnLargeBlock(void* block, size_t bytes) {
  if (bytes >= kReturnLargeFrom) ReturnBlockPages(block, bytes);
  g_api.free(block);
}

bool KeepFreedLarge(void* p, uint32_t owner) {
  const size_t usable = LargeUsable(p);
  if (usable <= kFrontMaxBytes) return false;
  char* const block = static_cast<char*>(p) - kLargeHeader;
  if (!KeepLarge(owner, block, g_api.usable_size(block),
                 static_cast<int64_t>(usable))) {
    return false;
  }
  Count(owner, -1, -static_cast<int64_t>(usable));
  return true;
}

void FreeLarge(void* p, uint32_t owner) {
  const size_t usable = LargeUsable(p);
  Count(owner, -1, -static_cast<int64_t>(usable));
  // Its pages go back to the OS with its charge (mimalloc_engine.h): a
  // block that leaves the program's hands (not kept by its thread's front
  // cache) or the cache.
  char* const block = static_cast<char*>(p) - kLargeHeader;
  // mimalloc's size of the block: a block that shares a mimalloc page with
  // others is parked, with every page returned, rather than left to
  // mimalloc, whose free would keep its first page resident
  // (mimalloc_engine.h, ParkLarge).
  const size_t bytes = g_api.usable_size(block);
  if (ParkLarge(owner, block, usable, bytes)) return;
  // Through the end of mimalloc's block, not of the bytes asked for: the
  // header pushes them a little into a page of mimalloc's next class size
  // (20 KiB + 16 B in a 24 KiB block), a page no other block shares and
  // that would otherwise stay resident, charged to nobody.
  ReturnLargeBlock(block, usable >= kReturnLargeFrom ? bytes : 0);
}

void* ReallocLarge(void* p, size_t size, size_t align, uint32_t owner,
                   size_t usable) {
  const size_t old = LargeUsable(p);
  if (usable >= kMinLargeBytes && usable <= kMaxLargeBytes) {
    // In place when mimalloc's block holds it and at least half of it stays
    // used (a shrink to a quarter moves, so that the rest is reusable).
    const size_t room =
        g_api.usable_size(static_cast<char*>(p) - kLargeHeader) - kLargeHeader;
    const bool aligned =
        align <= 1 || (reinterpret_cast<uintptr_t>(p) & (align - 1)) == 0;
    if (aligned && usable <= room && usable >= room / 4) {
      HeaderOf(p) = usable;
      owner_table::PublishBlock(p, EntryOf(owner, usable));  // Its new class.
      Count(owner, 0, static_cast<int64_t>(usable) - static_cast<int64_t>(old));
      return p;
    }
  }
  void* q = AllocLarge(owner, size, align, false, usable);
  if (q == nullptr) return nullptr;
  memcpy(q, p, old < size ? old : size);
  // Freed here, not through ReleaseLargeBlock: p's start record (checked
  // live by the caller) goes to freed before mimalloc may reuse it.
  owner_table::MarkLargeFreed(p);
  FreeLarge(p, owner);
  return q;
}

size_t ResizeLargeInPlace(void* p, size_t size, size_t extra, size_t align,
                          uint32_t owner) {
  const size_t old = LargeUsable(p);
  const size_t room =
      g_api.usable_size(static_cast<char*>(p) - kLargeHeader) - kLargeHeader;
  const size_t most = size + extra < size ? size : size + extra;
  size_t want = GoodSize(most, align);
  if (want == 0 || want > room) want = GoodSize(size, align);
  if (want == 0 || want > room || want < kMinLargeBytes) return old;
  HeaderOf(p) = want;
  owner_table::PublishBlock(p, EntryOf(owner, want));  // Its new class.
  Count(owner, 0, static_cast<int64_t>(want) - static_cast<int64_t>(old));
  return want;
}

void Purge(uint32_t group) {
  // The group's kept slabs, with the charge of its free pages.
  ReturnKeptPages(group);
  // Only this thread's heap can be collected from here; none, nothing.
  mi_heap_t* h = ExistingHeap(group);
  if (h != nullptr) g_api.heap_collect(h, true);
}

bool GroupStats(uint32_t group, EngineGroupStats* out) {
  if (group >= kMiMaxGroups || ArenaOf(group) == 0) return false;
  slab::GroupSlabStats ss{};
  slab::Stats(group, &ss);
  const LargeCounters& c = g_large[group];
  // Relaxed: a statistics snapshot.
  const uint64_t large_n = c.nmalloc.load(std::memory_order_relaxed);
  const uint64_t large_d = c.ndalloc.load(std::memory_order_relaxed);
  const uint64_t large_bytes = c.bytes.load(std::memory_order_relaxed);
  out->nmalloc = ss.nmalloc + large_n;
  out->ndalloc = ss.ndalloc + large_d;
  out->mapped_bytes = ArenaBytes(group);
  // mimalloc 2.0.9 counts pages per process, not per arena: the engine
  // reports what it holds out of the arena (slabs and large blocks) as
  // active, and those with the charged pages of its kept blocks as
  // resident; mimalloc's free pages are not counted.
  out->active_bytes = ss.slab_bytes + large_bytes;
  const int64_t kept = KeptBytes(group);
  out->resident_bytes =
      out->active_bytes + (kept > 0 ? static_cast<uint64_t>(kept) : 0);
  out->retained_bytes = 0;
  out->metadata_bytes = 0;
  out->allocated_bytes = ss.allocated_bytes + large_bytes;
  return true;
}

}  // namespace memgroup::internal::engine::mi
