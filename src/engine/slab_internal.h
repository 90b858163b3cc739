// The bins of the slab allocator (slab.h), shared by its two files:
// slab.cc (slabs and regions) and slab_bins.cc (each group's bins: set up,
// pooled, counted, and their locks around fork). Internal to src/engine.
// Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_SLAB_INTERNAL_H_
#define MEMGROUP_SRC_ENGINE_SLAB_INTERNAL_H_

#include <atomic>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "engine/slab.h"
#include "engine/slab_chunks.h"

namespace memgroup::internal::engine::slab {

struct SlabMeta;  // slab.cc: a slab's header

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

struct GroupBins {
  // The arena slabs come from. Written under the engine's init lock before
  // the bins are published (g_bins, release), read after (acquire).
  unsigned arena_ind;
  // The group slot the bins serve (or served, while pooled). Written with
  // arena_ind.
  uint32_t group = 0;
  // Set while the group is destroyed (SetRetired): its bins keep no spare
  // slab, so a destroyed group's charge goes to 0 with its last block.
  // Relaxed: racy by design, at worst one spare slab kept or given back.
  std::atomic<bool> retired{false};
  SlabBin bins[kSmallClasses + 1];  // [0] unused
  // Where the jemalloc engine's slabs come from and go back to.
  SlabChunks chunks;
};

// A group's bins, by group slot: written once by InitGroup (release, under
// the engine's init lock), cleared by FiniGroup, read anywhere (acquire).
extern std::atomic<GroupBins*> g_bins[kMaxGroups];

MG_ALWAYS_INLINE GroupBins* Bins(uint32_t group) {
  // Pairs with InitGroup's release store.
  return group < kMaxGroups ? g_bins[group].load(std::memory_order_acquire)
                            : nullptr;
}

}  // namespace memgroup::internal::engine::slab

#endif  // MEMGROUP_SRC_ENGINE_SLAB_INTERNAL_H_
