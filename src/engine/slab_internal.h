// The bins of the slab allocator (slab.h), shared by its files: slab.cc
// and slab_batch.cc (slabs, and the batches of regions taken and given
// back) and slab_bins.cc (each group's bins: set up, pooled, counted, and
// their locks around fork). Internal to src/engine.
// Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_SLAB_INTERNAL_H_
#define MEMGROUP_SRC_ENGINE_SLAB_INTERNAL_H_

#include <atomic>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "engine/group_row.h"
#include "engine/slab.h"
#include "engine/slab_chunks.h"

namespace memgroup::internal::engine::slab {

struct SlabMeta;  // slab_meta.h: a slab's header

struct alignas(MG_CACHELINE) SlabBin {
  SpinLock lock;
  SlabMeta* partial = nullptr;  // most recently freed into first
  uint32_t nempty = 0;          // fully free slabs on the list
  uint64_t nslabs = 0;
  uint64_t out = 0;             // regions handed out and not given back
  uint64_t nmalloc = 0;
  uint64_t ndalloc = 0;
  uint64_t slab_allocs = 0;
  uint64_t slab_frees = 0;
};

// Each group's bins come in kSlabShards sets, a thread taking its regions
// from one of them (ThreadShard, slab.h): two threads of a group then take
// and give back regions of different slabs, and do not write the same
// lines (their free regions' links), as a group's one set of slabs had
// them do. A slab belongs to the shard that made it (SlabMeta::shard); a
// region freed anywhere goes back to its slab's shard.
inline constexpr uint32_t kSlabShards = 4;

struct GroupBins {
  // The arena slabs come from. Written under the engine's init lock before
  // the bins are published (the row's bins, release), read after (acquire).
  unsigned arena_ind;
  // The group slot the bins serve (or served, while pooled). Written with
  // arena_ind.
  uint32_t group = 0;
  // Set while the group is destroyed (SetRetired): its bins keep no spare
  // slab, so a destroyed group's charge goes to 0 with its last block.
  // Relaxed: racy by design, at worst one spare slab kept or given back.
  std::atomic<bool> retired{false};
  // The shards in use (bit k: shard k's bins), so that fork, statistics
  // and releases touch only those: set by MarkShardUsed under g_shard_lock
  // (slab_bins.cc), which fork's prepare holds while it reads the bits.
  std::atomic<uint32_t> shards_used{0};
  // Each shard's bins ([0] unused): shard 0's in line (bins0), the others
  // mapped at their first use (MarkShardUsed, release store; BinOf's
  // acquire load) and kept while the bins are pooled, so that a group
  // only one thread allocates in costs one set.
  std::atomic<SlabBin*> shard_bins[kSlabShards] = {};
  SlabBin bins0[kSmallClasses + 1];
  // Where the jemalloc engine's slabs come from and go back to.
  SlabChunks chunks;
};

// A group's bins are its GroupRow's `bins` (group_row.h): written once by
// InitGroup (release, under the engine's init lock), cleared by FiniGroup,
// read anywhere (acquire).

// Records that shard `shard` of gb is used (once per group and shard),
// mapping its bins; false (nothing changed) when they cannot be mapped.
bool MarkShardUsed(GroupBins* gb, uint32_t shard);
// The bin of class `cls` of shard `shard`, a shard in use.
MG_ALWAYS_INLINE SlabBin& BinOf(GroupBins* gb, uint32_t shard, uint32_t cls) {
  // Acquire: pairs with MarkShardUsed's release store (the mapped bins).
  return gb->shard_bins[shard].load(std::memory_order_acquire)[cls];
}
// The shards of gb in use (relaxed: a shard marked concurrently is not yet
// anyone's to release, count or lock).
MG_ALWAYS_INLINE uint32_t ShardsUsed(const GroupBins* gb) {
  return gb->shards_used.load(std::memory_order_relaxed);
}

// Calls f(shard) for each of gb's shards in use; stops and returns false
// at the first call that returns false.
template <typename F>
bool ForEachUsedShard(const GroupBins* gb, F f) {
  const uint32_t used = ShardsUsed(gb);
  for (uint32_t shard = 0; shard < kSlabShards; ++shard) {
    if ((used & (1u << shard)) != 0 && !f(shard)) return false;
  }
  return true;
}
// Calls f(bin, cls) for each class bin of gb's shards in use, shard by
// shard; stops and returns false at the first call that returns false.
template <typename F>
bool ForEachUsedBin(GroupBins* gb, F f) {
  return ForEachUsedShard(gb, [gb, &f](uint32_t shard) {
    for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
      if (!f(BinOf(gb, shard, cls), cls)) return false;
    }
    return true;
  });
}

MG_ALWAYS_INLINE GroupBins* Bins(uint32_t group) {
  // Pairs with InitGroup's release store.
  return group < kMaxGroups
             ? g_group_rows[group].bins.load(std::memory_order_acquire)
             : nullptr;
}

}  // namespace memgroup::internal::engine::slab

#endif  // MEMGROUP_SRC_ENGINE_SLAB_INTERNAL_H_
