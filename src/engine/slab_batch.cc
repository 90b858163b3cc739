// Implements slab.h's batches: regions taken from a group's bin, lowest
// free first, with the charge of the pages the take crosses first (and
// those pages mapped in at once), and regions given back to their slabs'
// bitmaps, runs of one slab's regions in one pass, slabs left fully free
// kept or released (slab.cc). Allocates: never.
#include "engine/slab.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "base/check.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab_internal.h"
#include "engine/slab_meta.h"

namespace memgroup::internal::engine::slab {
namespace {

// A take maps in the fresh pages it crossed when there are at least this
// many (Populate).
inline constexpr uint32_t kPopulateMin = 2;
// Whether the kernel takes that advice (cleared at its first EINVAL).
constinit std::atomic<bool> g_populate{true};

// Where FreeBatch's list stands after a run (PutBackRunLocked).
struct RunEnd {
  void* head;     // the first region not given back
  uint32_t done;  // regions of the list given back
  bool empty;     // the run's slab is fully free
};

// FreeBatch's run: the regions at the front of its list (`head`, the
// `done`th of n) that lie in slab s, which already has a free region (so it
// is on its bin's list), marked free with the slab's fields read once and
// its hint and count written once.
// Under the bin lock. Not inlined: FreeBatch's loop for regions one by one
// (a program that frees in another order than it allocated) keeps its
// registers.
MG_NOINLINE RunEnd PutBackRunLocked(SlabMeta* s, void* head, uint32_t done,
                                    uint32_t n) {
  uint64_t* const bits = BitmapOf(s);
  const uintptr_t slab = reinterpret_cast<uintptr_t>(s->base);
  const uintptr_t first = slab + s->first;
  const uint32_t magic = s->magic;
  const uint32_t nregs = s->nregs;
  uint32_t low = s->hint;
  uint32_t i = done;
  do {
    void* p = head;
    if (i + 1 < n) head = *static_cast<void**>(p);
    const uint32_t idx = RegionIndexAt(first, magic, nregs, p);
    if (MG_UNLIKELY(idx == nregs)) {
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
    // Still in s (the same 64 KiB span).
  } while (i < n &&
           ((reinterpret_cast<uintptr_t>(head) ^ slab) >> kSlabShift) == 0);
  s->hint = low;
  s->nfree += i - done;
  return RunEnd{head, i, s->nfree == nregs};
}

// The pages one take owes, per slab it took from that owed any: what a
// refused charge gives back (GiveBackLocked). A take stops at kMaxOwed such
// slabs (it takes fewer regions): the record lives on the stack of every
// refill, and one entry per region a take may have (2 KiB) made a thread's
// first refill write a page of its stack more than the rest of the path.
inline constexpr uint32_t kMaxOwed = 8;
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
  Owed owed[kMaxOwed];
};

// Takes up to n regions, lowest free first, into out[]; raises each
// slab's high-water mark past the regions taken and records in *r the
// pages that takes over (with the slab's unpaid pages), from at most
// kMaxOwed slabs that owe any. `in_page`: no more regions than lie whole
// in the page of the first one (at least that one). Under bin.lock.
void TakeLocked(SlabBin& bin, void** out, uint32_t n, TakeResult* r,
                bool in_page = false) {
  uint32_t got = 0;
  // Room for the next slab's entry in r->owed.
  while (got < n && bin.partial != nullptr && r->nowed < kMaxOwed) {
    SlabMeta* s = bin.partial;
    if (s->nfree == s->nregs) --bin.nempty;
    // Lowest free regions first (address order).
    char* const base = s->base + s->first;
    const uint32_t size = s->size;
    uint64_t* bits = BitmapOf(s);
    uint32_t w = s->hint;
    uint32_t nfree = s->nfree;
    uint32_t last = 0;  // the highest region taken from s
    while (got < n && nfree != 0) {
      while (bits[w] == 0) ++w;  // nfree != 0: a set bit lies ahead
      MG_DCHECK(w < s->nwords);
      uint64_t word = bits[w];
      while (got < n && word != 0) {
        // The run of free regions from the lowest one (consecutive set
        // bits), as much of it as is still wanted, handed out by stride:
        // a slab taken from its start, or given back in address order,
        // holds whole words of them.
        const uint32_t bit = static_cast<uint32_t>(__builtin_ctzll(word));
        const uint64_t above = ~(word >> bit);  // its lowest set bit ends the run
        uint32_t run = above == 0 ? 64
                                  : static_cast<uint32_t>(__builtin_ctzll(above));
        char* p = base + size_t{w * 64 + bit} * size;
        if (in_page && got == 0) {
          const uint32_t room = static_cast<uint32_t>(
              kPageSize - (reinterpret_cast<uintptr_t>(p) & (kPageSize - 1)));
          const uint32_t fit = room / size != 0 ? room / size : 1;
          if (n > fit) n = fit;
        }
        if (run > n - got) run = n - got;
        word &= run == 64 ? 0 : ~(((uint64_t{1} << run) - 1) << bit);
        for (void** o = out + got; o != out + got + run; ++o) {
          *o = p;
          p += size;
        }
        got += run;
        nfree -= run;
        last = w * 64 + bit + run - 1;
      }
      bits[w] = word;
    }
    s->nfree = nfree;
    s->hint = w;
    if (nfree == 0) Unlink(bin, s);
    // The pages through the end of the highest region taken.
    const size_t end = s->first + size_t{last + 1} * size;
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
void GiveBackLocked(SlabBin& bin, void* const* regions,
                    const TakeResult& r) {
  for (uint32_t i = 0; i < r.got; ++i) {
    SlabMeta* s = MetaOf(regions[i]);
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
// Whether a take stops at the end of its first region's page: while the
// group has taken less than a page of the class. Region 0 of a slab with
// its bitmap at its start lies anywhere in the first page (its colour), so
// a page's worth of regions from there ends in the second: a process that
// asks for a few blocks of a class (most classes of a short one) would
// have both pages written (the front cache links its regions through their
// first words) and charged. Under bin.lock.
bool FirstPageOnly(const SlabBin& bin, uint32_t size) {
  return bin.nmalloc * size < kPageSize;
}

// Maps in, in one system call, the pages of a take that no take crossed
// before, when there are at least kPopulateMin of them: the caller is about
// to write every one of them (the front cache links its regions through
// their first words), and a fault per page cost more than the call where
// it was measured (docs/perf.md, "Pages mapped in by a take"; on a
// paravirtualized guest the first write faults anyway: "What a start
// costs on this machine"). They are charged already,
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
  bool in_page;
  {
    SpinLockHolder holder(&bin.lock);
    n = BatchLimit(bin, size, n);
    in_page = FirstPageOnly(bin, size);
    TakeLocked(bin, out, n, &r, in_page);
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
    TakeLocked(bin, out, n, &r, in_page);  // From s at least (first on the list).
  }
  // The pages the take crossed, charged with no lock held: the charge may
  // reclaim (releasing this group's free slabs, under their bins' locks)
  // and run the group's OOM policy. Refused, the take is undone: the
  // caller gets no region, and the pages stay unpaid in their slabs.
  if (r.pages != 0 &&
      !ChargePages(group, int64_t{r.pages} << owner_table::kPageShift)) {
    {
      SpinLockHolder holder(&bin.lock);
      GiveBackLocked(bin, out, r);
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
  while (n != 0) {
    SlabMeta* release[kMaxRelease];
    uint32_t nrel = 0;
    // The regions go back to their slabs' shards: one lock hold per run of
    // regions of one shard (a thread's flush is mostly of its own). A
    // slab's shard is read without the lock: set before its first region
    // was handed out, never changed, and p is held.
    const uint32_t shard = MetaOf(head)->shard;
    if (MG_UNLIKELY(shard >= kSlabShards)) {
      BadPointer("free", "invalid pointer", head);
    }
    SlabBin& bin = BinOf(gb, shard, cls);
    {
      SpinLockHolder holder(&bin.lock);
      uint32_t done = 0;
      SlabMeta* s = MetaOf(head);
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
        SlabMeta* next = MetaOf(head);
        if (!empty && done < n && next == s) {
          // Its neighbours in the list, regions of the same slab (a
          // program that frees what it allocated together gives runs).
          const RunEnd end = PutBackRunLocked(s, head, done, n);
          head = end.head;
          done = end.done;
          empty = end.empty;
          next = MetaOf(head);
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

}  // namespace memgroup::internal::engine::slab
