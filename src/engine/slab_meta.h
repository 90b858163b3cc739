// A slab's header and the arithmetic of its regions (slab.h's layout):
// the header in the slab's side slot, its free-region bitmap, a region's
// index and state, the bin's list of slabs with a free region, and the
// fork epoch of its charged pages.
// Shared by the slab layer's files: slab.cc (slabs made and given back,
// region checks) and slab_batch.cc (regions taken and given back in
// batches). Internal to src/engine. Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_SLAB_META_H_
#define MEMGROUP_SRC_ENGINE_SLAB_META_H_

#include <cstdint>

#include "base/macros.h"
#include "engine/fork_epoch.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#include "engine/slab.h"
#include "engine/slab_internal.h"

namespace memgroup::internal::engine::slab {

// In the slab's side slot (owner_table::SideSlot: 64 bytes per 64 KiB of
// the reservation, in a map of its own), so that the headers of a group's
// slabs lie next to each other: a flush of regions freed in another order
// than memory's (a hash table's entries) reads one header after another,
// and 64 of them share a page and stay in cache where one per slab, each
// at its slab's start, missed (cachegrind, docs/perf.md "Slab headers in
// the side map"). Guarded by the bin lock. Free regions are tracked in a
// bitmap (one bit per region, set = free), not in a list through the
// regions: taking and giving back regions then never touches their
// memory, which another thread may hold in its cache (a producer thread
// refilling from regions a consumer thread just freed would otherwise
// chase the list through the consumer's cache lines, one miss after
// another, under the lock: BM_CrossThreadFree measured 25-144 ns per pair
// that way, 13 ns with the bitmap).
//
// Every region lies at a multiple of its class size from its slab's start
// (slab.h): free's inline path checks that with one multiply on the low 16
// bits of the pointer (front_cache.h, OnRegionGrid), which finds any
// interior pointer of any class. Below 1 KiB the bitmap is at the slab's
// start, and region 0 after it at a multiple of the size past the slab's
// colour, in the bitmap's page: the bitmap shares its page with the first
// regions (the ones handed out first), and a slab touches no page for its
// bitmap alone. From 1 KiB on (at most 64 regions a slab) the bitmap is
// `own_bits` and region 0 is at the slab's start: rounding a bitmap up to a
// whole region would cost these classes a region in many slabs (one of 18
// for 3.5 KiB), and the page-multiple classes (4, 8 and 12 KiB) would lose
// a page to it.
struct alignas(64) SlabMeta {
  SlabMeta* prev;    // the bin's partial list (slabs with a free region)
  SlabMeta* next;
  char* base;        // the slab
  uint64_t own_bits; // the bitmap from 1 KiB on (kOwnBitsFrom)
  uint32_t nfree;    // set bits
  uint32_t nregs;
  uint32_t size;     // region size (the class's usable size)
  uint32_t first;    // offset of region 0 from the slab's start
  uint32_t magic;    // ceil(2^32 / size): region index = offset * magic >> 32
  uint32_t hint;     // no free region below word `hint`
  uint16_t nwords;   // bitmap words
  // Fork (fork_epoch.h): of the slab's charged pages, how many this process
  // did not charge (its ancestors did, before its last fork: `inherited`),
  // as of fork tag `epoch`; a slab whose tag is not the process's had all
  // of them charged before the fork (Adopt brings both up to date).
  uint16_t epoch;
  uint8_t inherited;
  // Charging (page_charge.h): the slab's pages from its start through the
  // end of the highest region it has ever handed out (and the first page,
  // for a bitmap at its start), and how many of those are not charged: the
  // bitmap's page of a new slab, and the pages of a take whose charge
  // was refused (GiveBackLocked). The next take from the slab charges them.
  // The slab's charge is hwm - unpaid pages (at most 16: bytes).
  uint8_t hwm;
  uint8_t unpaid;
  // The shard whose bins the slab is on (slab_internal.h): set when it is
  // made, before any region of it is handed out; never changed.
  uint8_t shard;
};
static_assert(sizeof(SlabMeta) == 64);
static_assert(kSlabShards <= UINT8_MAX);
static_assert((kSlabBytes >> owner_table::kPageShift) <= UINT8_MAX);
static_assert(sizeof(SlabMeta) <= owner_table::kSideSlotBytes);
static_assert(kSlabShift == owner_table::kSideSlotShift);
static_assert(kSmallClasses + 1 == kFrontFirstLarge);
static_assert(kSlabBytes == kRegionGridSpan,
              "OnRegionGrid reads a pointer's offset in its slab from its "
              "low 16 bits");

// Fully free slabs a bin keeps for reuse; more go back to the group's free
// slabs (slab_chunks.h), or the mimalloc engine's kept blocks.
inline constexpr uint32_t kKeepEmpty = 1;
// FreeBatch releases at most this many slabs per lock hold.
inline constexpr uint32_t kMaxRelease = 64;

// Classes from this size on keep their bitmap in SlabMeta::own_bits (at
// most 64 regions: one word); the smaller ones at their slab's start.
inline constexpr uint32_t kOwnBitsFrom = 1024;
static_assert(kSlabBytes / kOwnBitsFrom <= 64);

// Whether slabs of regions of `size` bytes keep their bitmap in own_bits.
MG_ALWAYS_INLINE bool OwnBits(uint32_t size) { return size >= kOwnBitsFrom; }
// The header of the slab holding p, a region held (its slab cannot go).
MG_ALWAYS_INLINE SlabMeta* MetaOf(const void* p) {
  return static_cast<SlabMeta*>(owner_table::SideSlot(p));
}
MG_ALWAYS_INLINE uint64_t* BitmapOf(SlabMeta* s) {
  return OwnBits(s->size) ? &s->own_bits
                          : reinterpret_cast<uint64_t*>(s->base);
}

inline void Link(SlabBin& bin, SlabMeta* s) {
  s->prev = nullptr;
  s->next = bin.partial;
  if (bin.partial != nullptr) bin.partial->prev = s;
  bin.partial = s;
}
inline void Unlink(SlabBin& bin, SlabMeta* s) {
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    bin.partial = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
}

// The index of the region of slab s that starts at p, a pointer into s, or
// s->nregs when p is not a region's start (before region 0, past the last,
// or inside one). One multiply gives both: the high half of off * magic is
// the quotient, and off is a multiple of the size exactly when the low half
// is below magic (the divisibility test of OnRegionGrid, front_cache.h:
// exact for every offset in a slab, under 2^16, with the size under 2^16).
// An offset below region 0 wraps to 2^32 - k (k < 64 KiB), whose quotient
// lies far past the slab's last region.
// RegionIndexAt takes the slab's fields (region 0's address, magic and
// region count) as a caller that holds them across many regions has them.
MG_ALWAYS_INLINE uint32_t RegionIndexAt(uintptr_t first, uint32_t magic,
                                        uint32_t nregs, const void* p) {
  const uint32_t off =
      static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) - first);
  const uint64_t product = uint64_t{off} * magic;
  const uint32_t idx = static_cast<uint32_t>(product >> 32);
  return idx < nregs && static_cast<uint32_t>(product) < magic ? idx : nregs;
}
inline uint32_t RegionIndex(const SlabMeta* s, const void* p) {
  return RegionIndexAt(reinterpret_cast<uintptr_t>(s->base) + s->first,
                       s->magic, s->nregs, p);
}

// Whether region idx of s is free (its bit set). Under the bin lock.
inline bool RegionFree(SlabMeta* s, uint32_t idx) {
  return (BitmapOf(s)[idx / 64] >> (idx % 64) & 1) != 0;
}

// Brings s's inherited pages up to date with the process's fork epoch
// (SlabMeta::epoch): every page charged before the last fork was charged
// by an ancestor. Before a change of its charged pages, under bin.lock.
MG_ALWAYS_INLINE void Adopt(SlabMeta* s) {
  if (MG_UNLIKELY(s->epoch != ForkTag())) {
    s->inherited = static_cast<uint8_t>(s->hwm - s->unpaid);
    s->epoch = ForkTag();
  }
}

// Marks region idx of s free, linking s back on the bin's partial list if
// it was full; true when s is now fully free (the caller counts it as
// empty or releases it). Under bin.lock.
inline bool PutBackLocked(SlabBin& bin, SlabMeta* s, uint32_t idx) {
  const uint32_t w = idx / 64;
  BitmapOf(s)[w] |= uint64_t{1} << (idx % 64);
  if (w < s->hint) s->hint = w;
  if (s->nfree++ == 0) Link(bin, s);
  return s->nfree == s->nregs;
}

// A new slab of class `cls` for `group`, its pages published; nullptr when
// jemalloc has no memory (or serves this thread from another arena).
// With jemalloc, the slab comes from the group's free slabs or a new chunk
// (slab_chunks.h) and may bring charged pages from its start.
SlabMeta* NewSlab(uint32_t group, GroupBins* gb, uint32_t cls,
                  uint32_t shard);

// Gives a slab of `group` back: with jemalloc to the group's free slabs
// (slab_chunks.h), keeping its charged pages (SlabMeta::hwm - unpaid, from
// its start) charged as the group's free pages; with mimalloc the group
// keeps the block (mi::KeepSlab) with its charge in free_pages.h's count,
// or, for a block mimalloc's engine does not keep (its pages go back to
// the OS, mi::SlabFree), the charge goes back. A destroyed group keeps no
// charge. A slab with pages this process inherited charged at its last
// fork (SlabMeta::inherited) is not kept: its pages go back to the OS, its
// own charge with them and the inherited one from the process's own
// counters only (fork_epoch.h). Never under a bin lock (the uncharge may
// refill a stock and check thresholds).
void ReleaseSlab(uint32_t group, GroupBins* gb, SlabMeta* s);

}  // namespace memgroup::internal::engine::slab

#endif  // MEMGROUP_SRC_ENGINE_SLAB_META_H_
