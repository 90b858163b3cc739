// Implements slab.h's bins of each group: set up with the group's arena
// (InitGroup), pooled when it is retired (FiniGroup) for the next group,
// the spare-slab switch of a destroyed group (SetRetired), the shards in
// use (MarkShardUsed), the statistics, and every bin lock of the shards in
// use (and free-slab lock, slab_chunks.h) around fork.
// Allocates: never through malloc (bins come from MetaMap).
#include <atomic>
#include <new>

#include "base/check.h"
#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "base/spinlock.h"
#include "engine/front_cache.h"
#include "engine/group_arena.h"
#include "engine/slab.h"
#include "engine/slab_internal.h"

namespace memgroup::internal::engine::slab {

namespace {

// Every GroupBins ever mapped (they are pooled, never unmapped: one per
// group that has an arena, so at most kMaxArenaRecords), and the free ones.
// Under the engine's init lock; g_nall_bins is also read by the fork
// handlers, which run with that lock held.
MG_TABLE_HOT constinit GroupBins* g_all_bins[kMaxArenaRecords];
constinit uint32_t g_nall_bins = 0;
MG_TABLE constinit GroupBins* g_free_bins[kMaxArenaRecords];
constinit uint32_t g_nfree_bins = 0;
// Orders the marking of a shard in use (MarkShardUsed) with fork's prepare
// (a leaf: nothing is taken under it but, in PrepareFork, the bin locks).
constinit SpinLock g_shard_lock;

}  // namespace

bool InitGroup(uint32_t group, unsigned arena_ind) {
  if (group >= kMaxGroups) return false;
  // Relaxed: under the engine's init lock, the only writer.
  if (g_group_rows[group].bins.load(std::memory_order_relaxed) != nullptr)
    return true;
  GroupBins* gb = nullptr;
  if (g_nfree_bins != 0) {
    gb = g_free_bins[--g_nfree_bins];  // Empty, statistics reset (FiniGroup).
  } else {
    if (g_nall_bins == kMaxArenaRecords) return false;
    gb = static_cast<GroupBins*>(MetaMap(sizeof(GroupBins)));
    if (gb == nullptr) return false;
    new (gb) GroupBins();
    // Relaxed: published with the bins (the row's release store below).
    gb->shard_bins[0].store(gb->bins0, std::memory_order_relaxed);
    g_all_bins[g_nall_bins++] = gb;
  }
  gb->arena_ind = arena_ind;
  gb->group = group;
  // Pairs with Bins' acquire load.
  g_group_rows[group].bins.store(gb, std::memory_order_release);
  return true;
}

bool FiniGroup(uint32_t group) {
  GroupBins* gb = Bins(group);
  if (gb == nullptr) return true;
  const bool none_out = ForEachUsedBin(gb, [](SlabBin& bin, uint32_t) {
    SpinLockHolder holder(&bin.lock);
    return bin.out == 0;  // Else a region is held, or cached.
  });
  if (!none_out) return false;
  // No region is out, so every slab is fully free: all go back.
  ReleaseEmpty(group);
  (void)ForEachUsedBin(gb, [](SlabBin& bin, uint32_t) {
    SpinLockHolder holder(&bin.lock);
    MG_CHECK(bin.out == 0 && bin.nslabs == 0 && bin.partial == nullptr);
    bin.nempty = 0;
    bin.nmalloc = bin.ndalloc = bin.slab_allocs = bin.slab_frees = 0;
    return true;
  });
  // Every slab is on the free-slab lists now, purged: their chunks go back
  // to the arena (slab_chunks.h; none with the mimalloc engine).
  ReleaseAllChunks(gb->chunks);
  // Relaxed: statistics; nothing reaches these bins now.
  gb->chunks.chunk_allocs.store(0, std::memory_order_relaxed);
  gb->chunks.chunk_frees.store(0, std::memory_order_relaxed);
  // Relaxed: under the engine's init lock; nothing can reach the bins
  // through the group any more (no block of it is left).
  g_group_rows[group].bins.store(nullptr, std::memory_order_relaxed);
  // Pooled bins serve the next group as a live one (relaxed: see
  // GroupBins::retired; nothing reaches these bins now).
  gb->retired.store(false, std::memory_order_relaxed);
  // Relaxed: as retired (the next group marks the shards it uses again).
  gb->shards_used.store(0, std::memory_order_relaxed);
  g_free_bins[g_nfree_bins++] = gb;
  return true;
}

void SetRetired(uint32_t group, bool retired) {
  GroupBins* gb = Bins(group);
  if (gb == nullptr) return;
  // Relaxed: see GroupBins::retired.
  gb->retired.store(retired, std::memory_order_relaxed);
}

void Stats(uint32_t group, GroupSlabStats* out) {
  *out = GroupSlabStats{};
  GroupBins* gb = Bins(group);
  if (gb == nullptr) return;
  (void)ForEachUsedBin(gb, [out](SlabBin& bin, uint32_t cls) {
    SpinLockHolder holder(&bin.lock);
    out->slabs += bin.nslabs;
    out->allocated_bytes += bin.out * g_usable_of_class[cls];
    out->nmalloc += bin.nmalloc;
    out->ndalloc += bin.ndalloc;
    out->slab_allocs += bin.slab_allocs;
    out->slab_frees += bin.slab_frees;
    return true;
  });
  out->slab_bytes = out->slabs * kSlabBytes;
  // Relaxed: statistics (slab_chunks.h, SYNCHRONIZATION).
  const SlabChunks& c = gb->chunks;
  out->chunks = c.chunks.load(std::memory_order_relaxed);
  out->chunk_bytes = out->chunks * kSlabChunkBytes;
  out->chunk_allocs = c.chunk_allocs.load(std::memory_order_relaxed);
  out->chunk_frees = c.chunk_frees.load(std::memory_order_relaxed);
  out->free_slabs = c.free_slabs.load(std::memory_order_relaxed);
  const int64_t kept = c.free_bytes.load(std::memory_order_relaxed);
  out->free_slab_bytes = kept > 0 ? static_cast<uint64_t>(kept) : 0;
}

uint64_t RegionsOut(uint32_t group, uint32_t cls) {
  GroupBins* gb = Bins(group);
  if (gb == nullptr || cls == 0 || cls > kSmallClasses) return 0;
  uint64_t out = 0;
  (void)ForEachUsedShard(gb, [gb, cls, &out](uint32_t shard) {
    SlabBin& bin = BinOf(gb, shard, cls);
    SpinLockHolder holder(&bin.lock);
    out += bin.out;
    return true;
  });
  return out;
}

bool MarkShardUsed(GroupBins* gb, uint32_t shard) {
  SpinLockHolder holder(&g_shard_lock);
  // Relaxed: under g_shard_lock, the only writer.
  if (gb->shard_bins[shard].load(std::memory_order_relaxed) == nullptr) {
    // Zero-filled, as the bins' constructors leave them; mapped under the
    // lock (a first use per group and shard).
    constexpr size_t kBytes = sizeof(SlabBin) * (kSmallClasses + 1);
    auto* bins = static_cast<SlabBin*>(MetaMap(kBytes));
    if (bins == nullptr) return false;
    for (uint32_t cls = 0; cls <= kSmallClasses; ++cls) {
      new (&bins[cls]) SlabBin();
    }
    // Release: pairs with BinOf's acquire load.
    gb->shard_bins[shard].store(bins, std::memory_order_release);
  }
  // Relaxed: under g_shard_lock, which fork's prepare holds while it
  // reads the bits (ForEachBinLock); elsewhere a hint (ShardsUsed).
  gb->shards_used.fetch_or(1u << shard, std::memory_order_relaxed);
  return true;
}

namespace {

// Calls f(lock) for every bin lock, by GroupBins (in the order they were
// mapped), then class, then the free-slab lock of every GroupBins (a
// leaf: slab_chunks.h), the lock order of PrepareFork. Runs with the
// engine's init lock held (PrepareFork takes it first), so the set is
// stable.
template <typename F>
void ForEachBinLock(F f) {
  for (uint32_t i = 0; i < g_nall_bins; ++i) {
    (void)ForEachUsedBin(g_all_bins[i], [&f](SlabBin& bin, uint32_t) {
      f(bin.lock);
      return true;
    });
  }
  for (uint32_t i = 0; i < g_nall_bins; ++i) f(g_all_bins[i]->chunks.lock);
}

}  // namespace

// g_shard_lock first: the shards in use stay as ForEachBinLock reads them.
void PrepareFork() {
  if (!ForkHoldsLocks()) return;
  g_shard_lock.Lock();
  ForEachBinLock([](SpinLock& l) { l.Lock(); });
}
void ParentFork() {
  if (!ForkHoldsLocks()) return;
  ForEachBinLock([](SpinLock& l) { l.Unlock(); });
  g_shard_lock.Unlock();
}
void ChildFork() {
  if (!ForkHoldsLocks()) return;
  ForEachBinLock([](SpinLock& l) { l.ResetAfterFork(); });
  g_shard_lock.ResetAfterFork();
}

int64_t ChildDropInheritedSlabs() {
  int64_t bytes = 0;
  for (uint32_t i = 0; i < g_nall_bins; ++i) {
    GroupBins* gb = g_all_bins[i];
    // Pooled bins keep no warm slab (FiniGroup purged them).
    if (Bins(gb->group) != gb) continue;
    bytes += DropInheritedWarmSlabs(gb->group, gb->chunks);
  }
  return bytes;
}

}  // namespace memgroup::internal::engine::slab
