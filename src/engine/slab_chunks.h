// Where the jemalloc engine's slabs come from and go back to (slab.h): each
// group cuts its slabs out of chunks of kChunkSlabs slabs (1 MiB, 64 KiB-
// aligned), one jemalloc large block each of the group's arena (so the
// owner table names the group for every slab page, as for any block of
// the arena), and keeps its released slabs itself, on a free-slab list,
// for the next slab of any of its classes. The chunks go back to the arena
// only when the group's bins are retired (FiniGroup: no slab is in use).
//
// Why not one jemalloc block per slab: Debian's jemalloc 5.3.0 pads every
// large extent with a page (its cache-oblivious build), so a 64 KiB,
// 64 KiB-aligned block is a 68 KiB extent followed by a 60 KiB retained
// gap; freed, such slabs are dirty extents that never coalesce, and new
// ones cut up the dirty extents of freed large blocks, stranding 60 KiB
// pieces no large block fits in (docs/perf.md, "python on the jemalloc
// engine"). Out of a chunk, a slab costs jemalloc nothing when it is made
// or released, and a freed slab's pages never mix with large blocks'.
//
// Charging (page_charge.h, free_pages.h): a released slab keeps the charge
// of its charged pages (SlabMeta::hwm - unpaid, always pages from its
// start) as the group's free pages: "warm" slabs, listed most recently
// released first, the charge counted in SlabChunks::free_bytes (not in
// free_pages.h's per-arena count: these pages are not the arena's dirty
// pages, which warm_large.h's check compares that count with). A slab
// taken again carries its charged pages into its new class (slab.cc,
// NewSlab). PurgeFreeSlabs (reclaim, refusal-time purge, the decay, the
// group's destruction: all through slab::ReleaseEmpty) returns the warm
// slabs' pages to the OS (MADV_DONTNEED) and uncharges them; they become
// "cold" slabs, as are a new chunk's, which are taken after the warm ones.
// A release marks the group for free_pages.h's decay (NoteArenaDirtied),
// so that its free slabs go back once the group was idle for kDecayMs. A
// destroyed group's released slabs are purged and uncharged at once.
//
// Owns: each group's free-slab lists (their nodes in the free slabs' side
// slots, owner_table::SideSlot, unused while a slab is free), its chunk
// records (pages of MetaMap memory) and their counts.
// Must never: allocate through malloc; call jemalloc, madvise or the
// charger with a list's lock held; hold a slab in two places.
//
// SYNCHRONIZATION: SlabChunks::lock guards the lists and chunk records of
// its group; a leaf lock (never taken with a bin lock held, and nothing is
// taken under it), held across fork by slab::PrepareFork after the bin
// locks. The counts are written under the lock and read without it as
// statistics (relaxed).
#ifndef MEMGROUP_SRC_ENGINE_SLAB_CHUNKS_H_
#define MEMGROUP_SRC_ENGINE_SLAB_CHUNKS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/spinlock.h"
#include "engine/slab.h"

namespace memgroup::internal::engine::slab {

// Slabs per chunk: a chunk's extent (1 MiB and jemalloc's pad page) leaves
// a 60 KiB retained gap before the next 64 KiB-aligned one, 6% of the
// address space instead of 94% with one slab per extent.
inline constexpr uint32_t kChunkSlabs = 16;
inline constexpr size_t kSlabChunkBytes = size_t{kChunkSlabs} * kSlabBytes;

struct FreeSlabNode;  // slab_chunks.cc: in a free slab's side slot
struct ChunkPage;     // slab_chunks.cc: records of a group's chunks

struct SlabChunks {
  SpinLock lock;
  FreeSlabNode* warm = nullptr;  // with charged pages; last released first
  FreeSlabNode* cold = nullptr;  // no charge: new, or purged
  ChunkPage* pages = nullptr;    // every chunk the group holds
  // Statistics (relaxed; written under lock).
  std::atomic<uint64_t> chunks{0};        // held
  std::atomic<uint64_t> chunk_allocs{0};  // taken from jemalloc
  std::atomic<uint64_t> chunk_frees{0};   // given back to it
  std::atomic<uint64_t> free_slabs{0};    // on either list
  std::atomic<int64_t> free_bytes{0};     // the warm slabs' charge
};

// A free slab of the group: the most recently released warm one, else a
// cold one, else the first of a new chunk taken from arena `arena_ind`
// (its other slabs go on the cold list). Its page-map entries read 0.
// *charged_pages: how many of its pages, from its start, it brings
// charged. nullptr when jemalloc has no memory (or served the chunk from
// another arena). Allocates: never (through malloc; a new chunk may map a
// page of chunk records).
char* TakeSlab(uint32_t group, unsigned arena_ind, SlabChunks& c,
               uint32_t* charged_pages);

// Puts back a slab of the group (its page-map entries already 0) with
// `charged_pages` pages from its start charged: kept warm, marked for the
// decay; for a destroyed group (`retired`), purged and uncharged instead.
// Not under a bin lock.
void PutSlab(uint32_t group, SlabChunks& c, bool retired, char* base,
             uint32_t charged_pages);

// Returns every warm slab's pages to the OS and uncharges them; returns the
// bytes uncharged. Not under a lock of the engine.
int64_t PurgeFreeSlabs(uint32_t group, SlabChunks& c);

// In a fork child (one thread, after the fork handlers reset the locks):
// the warm slabs' charge is its parent's, not the child's. They become
// cold, their pages left as they are (the parent's, shared copy-on-write;
// no purge visits cold slabs), so the child's next slabs charge the pages
// they hand out; the warm
// slabs' charge is uncharged from the child's own counters. Returns the
// bytes uncharged.
int64_t DropInheritedWarmSlabs(uint32_t group, SlabChunks& c);

// Gives every chunk back to the arena and forgets the free slabs: every
// slab of the group must be on the lists, none warm (after
// PurgeFreeSlabs). Called by FiniGroup under the engine's init lock.
void ReleaseAllChunks(SlabChunks& c);

}  // namespace memgroup::internal::engine::slab

#endif  // MEMGROUP_SRC_ENGINE_SLAB_CHUNKS_H_
