// Implements slab.h's slabs and regions: a slab's layout and creation, its
// release, the batches taken from and given back to a bin, with the charge
// of the pages they cross, and the region checks (each group's bins are set
// up, pooled and counted in slab_bins.cc). Allocates: never through malloc
// (slabs come from the group's jemalloc arena, or its mimalloc arena with
// the mimalloc engine).
#include "engine/slab.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>

#include "base/check.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "engine/front_cache.h"
#include "engine/group_arena.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab_chunks.h"
#include "engine/slab_internal.h"

namespace memgroup::internal::engine::slab {

// In the first 64 bytes of its slab, followed by the slab's free-region
// bitmap (one bit per region, set = free); region 0 starts after them, at a
// multiple of the class size past the slab's colour, so the header shares
// its page with the first regions (the ones handed out first) and a slab
// touches no page for its header alone. Guarded by the bin lock. Free
// regions are tracked in the bitmap, not in a list through the regions:
// taking and giving back regions then never touches their memory, which
// another thread may hold in its cache (a producer thread refilling from
// regions a consumer thread just freed would otherwise chase the list
// through the consumer's cache lines, one miss after another, under the
// lock: BM_CrossThreadFree measured 25-144 ns per pair that way, 13 ns with
// the bitmap).
//
// Every region lies at a multiple of its class size from its slab's start
// (slab.h): free's inline path checks that with one multiply on the low 16
// bits of the pointer (front_cache.h, OnRegionGrid), which finds any
// interior pointer of any class. So region 0 is at a multiple of the size
// too: the in-line header and the colour round up to one. From 1 KiB on
// (at most 64 regions a slab) the header lives out of line instead, in the
// slab's side slot (owner_table::SideSlot), with the bitmap in `own_bits`,
// and region 0 is at the slab's start: rounding an in-line header up to a
// whole region would cost these classes a region in many slabs (one of 18
// for 3.5 KiB), and the page-multiple classes (4, 8 and 12 KiB) would lose
// a page to it.
struct alignas(64) SlabMeta {
  SlabMeta* prev;    // the bin's partial list (slabs with a free region)
  SlabMeta* next;
  char* base;        // the slab
  uint64_t own_bits; // the bitmap of an out-of-line header
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
  // end of the highest region it has ever handed out (and the header's
  // page, for an in-line header), and how many of those are not charged:
  // the header's page of a new slab, and the pages of a take whose charge
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

namespace {

// Fully free slabs a bin keeps for reuse; more go back to the group's free
// slabs (slab_chunks.h), or the mimalloc engine's kept blocks.
inline constexpr uint32_t kKeepEmpty = 1;
// FreeBatch releases at most this many slabs per lock hold.
inline constexpr uint32_t kMaxRelease = 64;
// The most regions one AllocBatch takes (slab.h).
inline constexpr uint32_t kMaxBatch = 64;
// A take maps in the fresh pages it crossed when there are at least this
// many (Populate).
inline constexpr uint32_t kPopulateMin = 2;
// Whether the kernel takes that advice (cleared at its first EINVAL).
constinit std::atomic<bool> g_populate{true};

// Slab colouring: region 0 of successive slabs starts past successive
// multiples of 64 bytes below 4 KiB (rounded up to a whole region), so that
// the first regions of the many 64 KiB-aligned slabs do not all fall into
// the same cache sets. Relaxed: any spread will do. Only the classes with
// an in-line header (under 1 KiB) are coloured, which costs at most
// kColorSpan bytes of regions per slab (uncoloured, their slabs' first
// regions measured BM_MallocFreeSizes 8% slower); the larger ones fill
// their slabs from the start (a colour that is a whole number of regions
// would cost them a region or more).
constinit std::atomic<uint32_t> g_next_color{0};
// The calling thread's shard plus one (0: not given yet, ThreadShard), and
// the next shard to give (relaxed: only the spread matters).
MG_TLS uint8_t t_shard_plus_one = 0;
constinit std::atomic<uint32_t> g_next_shard{0};
inline constexpr uint32_t kColorSpan = 4096;
// Classes from this size on keep their header out of line (at most 64
// regions: the one word of SlabMeta::own_bits).
inline constexpr uint32_t kOutOfLineFrom = 1024;
static_assert(kSlabBytes / kOutOfLineFrom <= 64);

// The colour of a new slab: a multiple of 64 below kColorSpan.
uint32_t NextColor() {
  // Relaxed: only the spread matters.
  return g_next_color.fetch_add(64, std::memory_order_relaxed) % kColorSpan;
}

MG_ALWAYS_INLINE char* SlabBase(const void* p) {
  return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(p) &
                                 ~(kSlabBytes - 1));
}
// Whether slabs of regions of `size` bytes keep their header out of line.
MG_ALWAYS_INLINE bool OutOfLine(uint32_t size) {
  return size >= kOutOfLineFrom;
}
// The header of the slab holding p, a region of `size` bytes.
MG_ALWAYS_INLINE SlabMeta* MetaOf(const void* p, uint32_t size) {
  return static_cast<SlabMeta*>(OutOfLine(size) ? owner_table::SideSlot(p)
                                                : SlabBase(p));
}
MG_ALWAYS_INLINE uint64_t* BitmapOf(SlabMeta* s) {
  return reinterpret_cast<char*>(s) != s->base
             ? &s->own_bits                          // out of line
             : reinterpret_cast<uint64_t*>(s + 1);   // after the header
}

void Link(SlabBin& bin, SlabMeta* s) {
  s->prev = nullptr;
  s->next = bin.partial;
  if (bin.partial != nullptr) bin.partial->prev = s;
  bin.partial = s;
}
void Unlink(SlabBin& bin, SlabMeta* s) {
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    bin.partial = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
}

// The index of the region of slab s that starts at p, or s->nregs when p is
// not a region's start (before region 0, past the last, or inside one).
uint32_t RegionIndex(const SlabMeta* s, const void* p) {
  const char* first = s->base + s->first;
  const char* q = static_cast<const char*>(p);
  if (q < first) return s->nregs;
  const uint32_t off = static_cast<uint32_t>(q - first);
  const uint32_t idx = static_cast<uint32_t>((uint64_t{off} * s->magic) >> 32);
  return idx < s->nregs && size_t{idx} * s->size == off ? idx : s->nregs;
}

// Whether region idx of s is free (its bit set). Under the bin lock.
bool RegionFree(SlabMeta* s, uint32_t idx) {
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
bool PutBackLocked(SlabBin& bin, SlabMeta* s, uint32_t idx) {
  const uint32_t w = idx / 64;
  BitmapOf(s)[w] |= uint64_t{1} << (idx % 64);
  if (w < s->hint) s->hint = w;
  if (s->nfree++ == 0) Link(bin, s);
  return s->nfree == s->nregs;
}

// Where FreeBatch's list stands after a run (PutBackRunLocked).
struct RunEnd {
  void* head;     // the first region not given back
  uint32_t done;  // regions of the list given back
  bool empty;     // the run's slab is fully free
};

// FreeBatch's run: the regions at the front of its list (`head`, the
// `done`th of n) that lie in slab s of class `cls`, which already has a
// free region (so it is on its bin's list), marked free with the slab's
// fields read once and its count written once. Under the bin lock. Not
// inlined: FreeBatch's loop for regions one by one (a program that frees
// in another order than it allocated) keeps its registers.
MG_NOINLINE RunEnd PutBackRunLocked(SlabMeta* s, uint32_t cls, void* head,
                                    uint32_t done, uint32_t n) {
  const uint32_t size = g_usable_of_class[cls];
  uint64_t* const bits = BitmapOf(s);
  // RegionIndex with the fields held: an offset below region 0 wraps and
  // fails the bound.
  const uintptr_t first = reinterpret_cast<uintptr_t>(s->base) + s->first;
  const uint32_t nregs = s->nregs;
  const uint32_t magic = s->magic;
  uint32_t low = s->hint;
  uint32_t i = done;
  do {
    void* p = head;
    if (i + 1 < n) head = *static_cast<void**>(p);
    const uint32_t off =
        static_cast<uint32_t>(reinterpret_cast<uintptr_t>(p) - first);
    const uint32_t idx = static_cast<uint32_t>((uint64_t{off} * magic) >> 32);
    if (MG_UNLIKELY(idx >= nregs || idx * size != off)) {
      BadPointer("free", "invalid pointer", p);
    }
    const uint32_t w = idx / 64;
    const uint64_t bit = uint64_t{1} << (idx % 64);
    if (MG_UNLIKELY((bits[w] & bit) != 0)) {
      BadPointer("free", "double free", p);
    }
    bits[w] |= bit;
    if (w < low) low = w;
    ++i;
  } while (i < n && MetaOf(head, size) == s);
  s->hint = low;
  s->nfree += i - done;
  return RunEnd{head, i, s->nfree == nregs};
}

// A new slab of class `cls` for `group`, its pages published; nullptr when
// jemalloc has no memory (or serves this thread from another arena).
// With jemalloc, the slab comes from the group's free slabs or a new chunk
// (slab_chunks.h) and may bring charged pages from its start.
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
  SlabMeta* s = MetaOf(mem, size);
  s->prev = s->next = nullptr;
  s->base = static_cast<char*>(mem);
  s->size = size;
  // Header, bitmap, regions: size the bitmap for the regions that would fit
  // without it, then start region 0 at the first multiple of the size past
  // them and the colour (every region at a multiple of the size from the
  // slab's start: OnRegionGrid, front_cache.h). Out of line: one word, and
  // region 0 at the start, uncoloured.
  const bool out_of_line = OutOfLine(size);
  s->nwords = out_of_line ? 1
                          : static_cast<uint16_t>(
                                ((kSlabBytes - sizeof(SlabMeta)) / size + 63) / 64);
  const size_t meta =
      out_of_line ? 0
                  : sizeof(SlabMeta) + s->nwords * sizeof(uint64_t) + NextColor();
  s->first = static_cast<uint32_t>((meta + size - 1) / size * size);
  s->nregs = static_cast<uint32_t>((kSlabBytes - s->first) / size);
  s->magic = static_cast<uint32_t>(((uint64_t{1} << 32) + size - 1) / size);
  s->nfree = s->nregs;
  s->hint = 0;
  s->epoch = ForkTag();
  s->inherited = 0;
  s->shard = static_cast<uint8_t>(shard);
  // An in-line header's page is written here; out of line, no page is.
  // Neither is charged yet (unless the slab brought it charged): the first
  // take charges it with its regions. The charged pages a slab brings
  // (from its start) count as taken regions' pages.
  if (charged != 0 || out_of_line) {
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
void ReleaseSlab(uint32_t group, GroupBins* gb, SlabMeta* s) {
  // Read before the slab goes: an in-line header is in it. Off its bin, s
  // is the caller's alone.
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

// The pages one take owes, per slab it took from (at most one slab per
// region taken): what a refused charge gives back (GiveBackLocked).
struct Owed {
  SlabMeta* slab;
  uint32_t pages;
  // Of those, the pages past the slab's old high-water mark, which no take
  // crossed before (not resident: Populate).
  uint16_t fresh_from;
  uint16_t fresh;
};
struct TakeResult {
  uint32_t got = 0;     // regions in out[]
  uint32_t pages = 0;   // pages to charge: the sum of owed[].pages
  uint32_t nowed = 0;
  Owed owed[kMaxBatch];
};

// Takes up to n regions, lowest free first, into out[]; raises each
// slab's high-water mark past the regions taken and records in *r the
// pages that takes over (with the slab's unpaid pages). Under bin.lock.
void TakeLocked(SlabBin& bin, void** out, uint32_t n, TakeResult* r) {
  uint32_t got = 0;
  while (got < n && bin.partial != nullptr) {
    SlabMeta* s = bin.partial;
    if (s->nfree == s->nregs) --bin.nempty;
    // Lowest free regions first (address order).
    char* base = s->base + s->first;
    uint64_t* bits = BitmapOf(s);
    uint32_t w = s->hint;
    uint32_t last = 0;  // the highest region taken from s
    while (got < n && s->nfree != 0) {
      while (bits[w] == 0) ++w;  // nfree != 0: a set bit lies ahead
      MG_DCHECK(w < s->nwords);
      uint64_t word = bits[w];
      while (got < n && word != 0) {
        const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(word));
        word &= word - 1;
        last = w * 64 + bit;
        out[got++] = base + size_t{last} * s->size;
        --s->nfree;
      }
      bits[w] = word;
    }
    s->hint = w;
    if (s->nfree == 0) Unlink(bin, s);
    // The pages through the end of the highest region taken.
    const size_t end = s->first + size_t{last + 1} * s->size;
    const uint32_t hwm =
        static_cast<uint32_t>((end + kPageSize - 1) >> owner_table::kPageShift);
    Adopt(s);
    uint32_t pages = s->unpaid;
    s->unpaid = 0;
    const uint32_t fresh_from = s->hwm;
    uint32_t fresh = 0;
    if (hwm > s->hwm) {
      fresh = hwm - s->hwm;
      pages += fresh;
      s->hwm = static_cast<uint8_t>(hwm);
    }
    if (pages != 0) {
      r->owed[r->nowed++] =
          Owed{s, pages, static_cast<uint16_t>(fresh_from),
               static_cast<uint16_t>(fresh)};
      r->pages += pages;
    }
  }
  bin.out += got;
  bin.nmalloc += got;
  r->got += got;
}

// Undoes a take whose charge was refused: its regions go back free (their
// memory untouched) and the pages it owed stay in their slabs' high-water
// marks as unpaid, for the next take to charge. A slab left fully free
// stays on the list (a later reclaim or free returns it). Under bin.lock.
void GiveBackLocked(SlabBin& bin, uint32_t size, void* const* regions,
                    const TakeResult& r) {
  for (uint32_t i = 0; i < r.got; ++i) {
    SlabMeta* s = MetaOf(regions[i], size);
    if (PutBackLocked(bin, s, RegionIndex(s, regions[i]))) ++bin.nempty;
  }
  for (uint32_t i = 0; i < r.nowed; ++i) {
    r.owed[i].slab->unpaid =
        static_cast<uint8_t>(r.owed[i].slab->unpaid + r.owed[i].pages);
  }
  bin.out -= r.got;
  bin.nmalloc -= r.got;
}

// How many regions of `size` bytes a take of up to n may have: a class's
// batches grow with what the group has taken of it, from a page's worth
// up (each batch at most the bytes taken before it), so that a process that
// uses a class a little is charged a page or two for it, not the half of
// a front cache's bin (up to 32 KiB) a refill asks for. Under bin.lock.
uint32_t BatchLimit(const SlabBin& bin, uint32_t size, uint32_t n) {
  const uint64_t taken = bin.nmalloc * size;
  const uint64_t bytes = taken > kPageSize ? taken : kPageSize;
  const uint64_t regions = bytes / size != 0 ? bytes / size : 1;
  return regions < n ? static_cast<uint32_t>(regions) : n;
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

// Maps in, in one system call, the pages of a take that no take crossed
// before, when there are at least kPopulateMin of them: the caller is about
// to write every one of them (the front cache links its regions through
// their first words), and a fault per page costs more than the call
// (docs/perf.md, "Pages mapped in by a take"). They are charged already,
// so the resident pages stay within the charge. Kernels before 5.14 do not
// know MADV_POPULATE_WRITE: the first refusal turns it off.
void Populate(const TakeResult& r) {
  // Relaxed: a hint; a racing thread makes at most one more refused call.
  if (!g_populate.load(std::memory_order_relaxed)) return;
  for (uint32_t i = 0; i < r.nowed; ++i) {
    const Owed& o = r.owed[i];
    if (o.fresh < kPopulateMin) continue;
    const int saved_errno = errno;
    if (SysMadvise(o.slab->base +
                       (size_t{o.fresh_from} << owner_table::kPageShift),
                   size_t{o.fresh} << owner_table::kPageShift,
                   MADV_POPULATE_WRITE) != 0 &&
        errno == EINVAL) {
      g_populate.store(false, std::memory_order_relaxed);
    }
    errno = saved_errno;
  }
}

}  // namespace

uint32_t ThreadShard() {
  const uint32_t s = t_shard_plus_one;
  if (MG_LIKELY(s != 0)) return s - 1;
  // Relaxed: only the spread matters.
  const uint32_t shard =
      g_next_shard.fetch_add(1, std::memory_order_relaxed) % kSlabShards;
  t_shard_plus_one = static_cast<uint8_t>(shard + 1);
  return shard;
}

uint32_t ShardOf(const void* p, uint32_t cls) {
  return MetaOf(p, g_usable_of_class[cls])->shard;
}

uint32_t AllocBatch(uint32_t group, uint32_t cls, void** out, uint32_t n) {
  GroupBins* gb = Bins(group);
  if (MG_UNLIKELY(gb == nullptr || cls == 0 || cls > kSmallClasses ||
                  n == 0 || n > kMaxBatch)) {
    return 0;
  }
  uint32_t shard = ThreadShard();
  if (MG_UNLIKELY((ShardsUsed(gb) & (1u << shard)) == 0) &&
      !MarkShardUsed(gb, shard)) {
    shard = 0;  // No memory for its bins: shard 0's serve the thread.
  }
  SlabBin& bin = BinOf(gb, shard, cls);
  const uint32_t size = g_usable_of_class[cls];
  TakeResult r;
  {
    SpinLockHolder holder(&bin.lock);
    n = BatchLimit(bin, size, n);
    TakeLocked(bin, out, n, &r);
  }
  if (r.got == 0) {
    // No free region: a new slab, charged as its regions are taken.
    SlabMeta* s = NewSlab(group, gb, cls, shard);
    if (s == nullptr) return 0;
    SpinLockHolder holder(&bin.lock);
    ++bin.nslabs;
    ++bin.slab_allocs;
    Link(bin, s);
    ++bin.nempty;
    TakeLocked(bin, out, n, &r);  // Takes from s at least (first on the list).
  }
  // The pages the take crossed, charged with no lock held: the charge may
  // reclaim (releasing this group's free slabs, under their bins' locks)
  // and run the group's OOM policy. Refused, the take is undone: the
  // caller gets no region, and the pages stay unpaid in their slabs.
  if (r.pages != 0 &&
      !ChargePages(group, int64_t{r.pages} << owner_table::kPageShift)) {
    {
      SpinLockHolder holder(&bin.lock);
      GiveBackLocked(bin, size, out, r);
    }
    // Callers that read out[0] whatever the count (dispatch.cc's single
    // region) must not see a region given back.
    for (uint32_t i = 0; i < r.got; ++i) out[i] = nullptr;
    return 0;
  }
  Populate(r);
  return r.got;
}

void FreeBatch(uint32_t group, uint32_t cls, void* head, uint32_t n) {
  GroupBins* gb = Bins(group);
  MG_CHECK(gb != nullptr && cls != 0 && cls <= kSmallClasses);
  const uint32_t size = g_usable_of_class[cls];
  while (n != 0) {
    SlabMeta* release[kMaxRelease];
    uint32_t nrel = 0;
    // The regions go back to their slabs' shards: one lock hold per run of
    // regions of one shard (a thread's flush is mostly of its own). A
    // slab's shard is read without the lock: set before its first region
    // was handed out, never changed, and p is held.
    const uint32_t shard = MetaOf(head, size)->shard;
    if (MG_UNLIKELY(shard >= kSlabShards)) {
      BadPointer("free", "invalid pointer", head);
    }
    SlabBin& bin = BinOf(gb, shard, cls);
    {
      SpinLockHolder holder(&bin.lock);
      uint32_t done = 0;
      SlabMeta* s = MetaOf(head, size);
      while (done < n && nrel < kMaxRelease) {
        if (s->shard != shard) break;  // The next run's, under its lock.
        void* p = head;
        if (done + 1 < n) head = *static_cast<void**>(p);
        const uint32_t idx = RegionIndex(s, p);
        if (MG_UNLIKELY(idx == s->nregs)) {
          BadPointer("free", "invalid pointer", p);
        }
        if (MG_UNLIKELY(RegionFree(s, idx))) {
          BadPointer("free", "double free", p);
        }
        bool empty = PutBackLocked(bin, s, idx);
        ++done;
        // The next region's slab (not read when the list is done).
        SlabMeta* next = MetaOf(head, size);
        if (!empty && done < n && next == s) {
          // Its neighbours in the list, regions of the same slab (a
          // program that frees what it allocated together gives runs).
          const RunEnd end = PutBackRunLocked(s, cls, head, done, n);
          head = end.head;
          done = end.done;
          empty = end.empty;
          next = MetaOf(head, size);
        }
        if (empty) {
          if (bin.nempty >= kKeepEmpty ||
              // Racy by design: see GroupBins::retired.
              gb->retired.load(std::memory_order_relaxed)) {
            Unlink(bin, s);
            --bin.nslabs;
            ++bin.slab_frees;
            release[nrel++] = s;
          } else {
            ++bin.nempty;
          }
        }
        s = next;
      }
      bin.out -= done;
      bin.ndalloc += done;
      n -= done;
    }
    for (uint32_t i = 0; i < nrel; ++i) ReleaseSlab(group, gb, release[i]);
  }
}

RegionState CheckRegion(const void* p, uint32_t group, uint32_t cls,
                        bool check_free) {
  GroupBins* gb = Bins(group);
  if (gb == nullptr || cls == 0 || cls > kSmallClasses) {
    return RegionState::kInterior;
  }
  SlabMeta* s = MetaOf(p, g_usable_of_class[cls]);
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
