// Implements slab.h's slabs: a slab made for a bin (its header, bitmap and
// colour) and given back with its charge, the bins' fully free slabs
// released, a thread's shard, and the region checks. The batches of
// regions taken from and given back to a bin are slab_batch.cc's, a slab's
// header and region arithmetic slab_meta.h's, and each group's bins are set
// up, pooled and counted in slab_bins.cc. Allocates: never through malloc
// (slabs come from the group's jemalloc arena, or its mimalloc arena with
// the mimalloc engine).
#include "engine/slab.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>

#include "base/check.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "engine/front_cache.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab_chunks.h"
#include "engine/slab_internal.h"
#include "engine/slab_meta.h"

namespace memgroup::internal::engine::slab {
namespace {

// Slab colouring: region 0 of successive slabs starts past successive
// multiples of 64 bytes after the bitmap (rounded up to a whole region), so
// that the first regions of the many 64 KiB-aligned slabs do not all fall
// into the same cache sets. Relaxed: any spread will do. The colour stays
// within the bitmap's page, region 0 included: a new slab's first take
// then writes one page, not the bitmap's and the next (a short-lived
// process makes a slab for each class it uses). Only the classes with
// their bitmap at the slab's start (under 1 KiB) are coloured, which costs
// at most a page of regions per slab (uncoloured, their slabs' first
// regions measured BM_MallocFreeSizes 8% slower); the larger ones fill
// their slabs from the start (a colour that is a whole number of regions
// would cost them a region or more).
constinit std::atomic<uint32_t> g_next_color{0};
// The calling thread's shard plus one (0: not given yet, ThreadShard), and
// the next shard to give (relaxed: only the spread matters).
MG_TLS uint8_t t_shard_plus_one = 0;
constinit std::atomic<uint32_t> g_next_shard{0};

// The colour of a new slab of `size`-byte regions after `meta` bytes of
// bitmap: a multiple of 64 that keeps region 0 in the first page (meta +
// colour rounded up to a region is below kPageSize).
uint32_t NextColor(uint32_t meta, uint32_t size) {
  // A bitmap at most 1,024 bytes (the 8-byte class), classes under 1 KiB.
  MG_DCHECK(meta + size <= kPageSize);
  const uint32_t span = static_cast<uint32_t>(kPageSize) - meta - size + 1;
  // Relaxed: only the spread matters.
  return g_next_color.fetch_add(64, std::memory_order_relaxed) % span & ~63u;
}

// Releases bin's fully free slabs (ReleaseEmpty).
void ReleaseEmptyOf(uint32_t group, GroupBins* gb, SlabBin& bin) {
  for (;;) {
    SlabMeta* release[kMaxRelease];
    uint32_t nrel = 0;
    {
      SpinLockHolder holder(&bin.lock);
      for (SlabMeta* s = bin.partial; s != nullptr && nrel < kMaxRelease;) {
        SlabMeta* next = s->next;
        if (s->nfree == s->nregs) {
          Unlink(bin, s);
          --bin.nempty;
          --bin.nslabs;
          ++bin.slab_frees;
          release[nrel++] = s;
        }
        s = next;
      }
    }
    for (uint32_t i = 0; i < nrel; ++i) ReleaseSlab(group, gb, release[i]);
    if (nrel < kMaxRelease) break;
  }
}

}  // namespace

SlabMeta* NewSlab(uint32_t group, GroupBins* gb, uint32_t cls,
                  uint32_t shard) {
  void* mem = nullptr;
  uint32_t charged = 0;
  if (UsesMimalloc()) {
    mem = mi::SlabAlloc(group);  // Checked to be in the group's chunks.
  } else {
    mem = TakeSlab(group, gb->arena_ind, gb->chunks, &charged);
  }
  if (mem == nullptr) return nullptr;
  const uint32_t entry = owner_table::MakeEntry(group, cls);
  for (size_t off = 0; off < kSlabBytes; off += kPageSize) {
    owner_table::PublishBlock(static_cast<char*>(mem) + off, entry);
  }
  const uint32_t size = g_usable_of_class[cls];
  SlabMeta* s = MetaOf(mem);
  s->prev = s->next = nullptr;
  s->base = static_cast<char*>(mem);
  s->size = size;
  // Bitmap, regions: size the bitmap for the regions that would fit
  // without it, then start region 0 at the first multiple of the size past
  // it and the colour (every region at a multiple of the size from the
  // slab's start: OnRegionGrid, front_cache.h). In own_bits: one word, and
  // region 0 at the start, uncoloured.
  const bool own_bits = OwnBits(size);
  s->nwords = own_bits ? 1
                       : static_cast<uint16_t>((kSlabBytes / size + 63) / 64);
  size_t meta = 0;
  if (!own_bits) {
    meta = s->nwords * sizeof(uint64_t);
    meta += NextColor(static_cast<uint32_t>(meta), size);
  }
  s->first = static_cast<uint32_t>((meta + size - 1) / size * size);
  s->nregs = static_cast<uint32_t>((kSlabBytes - s->first) / size);
  s->magic = static_cast<uint32_t>(((uint64_t{1} << 32) + size - 1) / size);
  s->nfree = s->nregs;
  s->hint = 0;
  s->epoch = ForkTag();
  s->inherited = 0;
  s->shard = static_cast<uint8_t>(shard);
  // A bitmap at the slab's start has its page written here; own_bits, no
  // page of the slab. Neither is charged yet (unless the slab brought it
  // charged): the first take charges it with its regions. The charged
  // pages a slab brings (from its start) count as taken regions' pages.
  if (charged != 0 || own_bits) {
    s->hwm = static_cast<uint8_t>(charged);
    s->unpaid = 0;
  } else {
    s->hwm = s->unpaid = 1;
  }
  uint64_t* bits = BitmapOf(s);
  for (uint32_t w = 0; w < s->nwords; ++w) {
    const uint32_t below = w * 64;  // regions of the words before this one
    const uint32_t n = s->nregs - below < 64 ? s->nregs - below : 64;
    bits[w] = n == 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
  }
  return s;
}

// ReleaseSlab's slab at `base` with `inherited` of its charged pages
// inherited at the last fork and `own` charged since: its pages go back to
// the OS (a cold free slab with jemalloc, mi::SlabFree with mimalloc), so
// that none stays resident charged to nobody, and no charge stays as free
// pages.
MG_NOINLINE MG_COLD void ReleaseInheritedSlab(uint32_t group, GroupBins* gb,
                                              char* base, uint32_t own,
                                              uint32_t inherited) {
  if (!UsesMimalloc()) {
    (void)SysMadvise(base, kSlabBytes, MADV_DONTNEED);
    PutSlab(group, gb->chunks, /*retired=*/false, base, 0);
  } else {
    mi::SlabFree(group, base);
  }
  if (own != 0) UnchargePages(group, int64_t{own} << owner_table::kPageShift);
  UnchargeInheritedPages(group, int64_t{inherited} << owner_table::kPageShift);
}

void ReleaseSlab(uint32_t group, GroupBins* gb, SlabMeta* s) {
  // Read before the slab goes: its side slot then serves the group's
  // free-slab list (slab_chunks.h). Off its bin, s is the caller's alone.
  const uint32_t pages = s->hwm - s->unpaid;
  const uint32_t inherited = s->epoch == ForkTag() ? s->inherited : pages;
  const int64_t charged = int64_t{pages} << owner_table::kPageShift;
  char* const base = s->base;
  // Its pages' entries go back to 0 (no class) before its memory is
  // reused: a large block carved from these pages (mimalloc), or a free
  // slab, publishes only its first page, and a slab class left on the
  // others would pass an interior pointer off as a region (owner_table.h,
  // "The page map").
  for (size_t off = 0; off < kSlabBytes; off += kPageSize) {
    owner_table::PublishBlock(base + off, 0);
  }
  if (MG_UNLIKELY(inherited != 0)) {
    ReleaseInheritedSlab(group, gb, base, pages - inherited, inherited);
    return;
  }
  if (!UsesMimalloc()) {
    // Racy by design: see GroupBins::retired.
    PutSlab(group, gb->chunks, gb->retired.load(std::memory_order_relaxed),
            base, pages);
    return;
  }
  if (mi::KeepSlab(group, base, charged)) {
    if (KeepFreePages(group, charged)) return;
    // A destroyed group keeps nothing: its kept blocks (this one among
    // them) go back to the OS now.
    mi::DropKeptSlabs(group);
  } else {
    mi::SlabFree(group, base);
  }
  if (charged != 0) UnchargePages(group, charged);
}

uint32_t ThreadShard() {
  const uint32_t s = t_shard_plus_one;
  if (MG_LIKELY(s != 0)) return s - 1;
  // Relaxed: only the spread matters.
  const uint32_t shard =
      g_next_shard.fetch_add(1, std::memory_order_relaxed) % kSlabShards;
  t_shard_plus_one = static_cast<uint8_t>(shard + 1);
  return shard;
}

uint32_t ShardOf(const void* p) {
  return MetaOf(p)->shard;
}

RegionState CheckRegion(const void* p, uint32_t group, uint32_t cls,
                        bool check_free) {
  GroupBins* gb = Bins(group);
  if (gb == nullptr || cls == 0 || cls > kSmallClasses) {
    return RegionState::kInterior;
  }
  SlabMeta* s = MetaOf(p);
  const uint32_t idx = RegionIndex(s, p);
  if (idx == s->nregs) return RegionState::kInterior;
  if (!check_free) return RegionState::kHeld;
  if (s->shard >= kSlabShards) return RegionState::kInterior;
  SlabBin& bin = BinOf(gb, s->shard, cls);
  SpinLockHolder holder(&bin.lock);
  return RegionFree(s, idx) ? RegionState::kFree : RegionState::kHeld;
}

void ReleaseEmpty(uint32_t group) {
  GroupBins* gb = Bins(group);
  if (gb == nullptr) return;
  (void)ForEachUsedBin(gb, [group, gb](SlabBin& bin, uint32_t) {
    ReleaseEmptyOf(group, gb, bin);
    return true;
  });
  // With them, every free slab's pages go back (slab_chunks.h).
  if (!UsesMimalloc()) (void)PurgeFreeSlabs(group, gb->chunks);
}


}  // namespace memgroup::internal::engine::slab
