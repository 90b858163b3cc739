// The mimalloc engine's arenas and heaps (mimalloc_engine.h): one exclusive
// mimalloc arena per group on chunks of the reservation tagged for it
// (CreateArena), the tags of its chunks (AdoptBlock), the per-thread heaps
// in those arenas (HeapOf), the slabs' 64 KiB blocks (SlabAlloc, SlabFree:
// taken from mimalloc four at a time, never given back to it; a released
// slab's block is first kept, mimalloc_kept.cc, then parked),
// and the return of a freed block's pages to the OS (ReturnBlockPages).
// Owns the thread's heap table, the arenas' ranges and each group's
// untouched slabs.
//
// Must never: allocate through malloc; hand out memory outside the group's
// chunks; use a heap after mimalloc deleted it (see t_heap); delete a heap
// (mi_heap_delete hands a group's pages to the thread's default heap, and
// mimalloc deletes every heap of a thread at its exit anyway).
//
// SYNCHRONIZATION: CreateArena runs under the engine lock (engine_internal.h);
// the arena id is published by CreateArenaSlow's release store of the
// group's arena entry (arena_ind, group_row.h). The heap table is initial-exec
// TLS, touched only by its thread.
#include <pthread.h>
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/limits.h"
#include "base/macros.h"
#include "base/raw_log.h"
#include "base/sys.h"
#include "engine/engine_internal.h"
#include "engine/mimalloc_api.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine/slab.h"

namespace memgroup::internal::engine::mi {

namespace {

// mimalloc 2.0.9's segment and arena block: an arena's start and size must
// be multiples of it.
inline constexpr size_t kMiSegmentBytes = size_t{32} << 20;

// The thread's heap per group. mimalloc's thread-exit cleanup (its pthread
// key's destructor) deletes every heap of the thread, after which these
// would dangle: HeapsKeyDtor clears the table just before, in every
// destructor round in which the thread has heaps. Its key is created right
// before mimalloc is loaded (PrepareHeapsKey), so it has the index just
// below mimalloc's own key and runs just before it in each round. A
// thread that allocates after the cleanup (a later destructor) gets new
// heaps, and mimalloc's state of the thread is made again.
MG_TLS mi_heap_t* t_heap[kMiMaxGroups];
constinit pthread_key_t g_heaps_key = 0;
constinit bool g_heaps_key_ok = false;

// Set once, before any heap exists (mimalloc_api.cc runs it before dlopen);
// the engine's init release store publishes it.
void HeapsKeyDtor(void*) { memset(t_heap, 0, sizeof(t_heap)); }

// Once per process each: the slot limit is the same for every slot, and an
// arena that is full says so once.
constinit std::atomic<bool> g_cap_reported{false};
constinit std::atomic<bool> g_full_reported{false};

// Bytes of each group's arena: written once under the engine lock, read by
// statistics (relaxed: the arena's id is published separately).
constinit std::atomic<uint64_t> g_arena_bytes[kMiMaxGroups];
// The start of each group's arena: written once under the engine lock
// before the arena id's release store (CreateArenaSlow), read by AdoptBlock
// on a thread that loaded the id with acquire (HeapSlow), so relaxed.
constinit std::atomic<uintptr_t> g_arena_start[kMiMaxGroups];

// The arena size a group asks for: the root group a quarter of the
// reservation, every other slot an equal share of the rest (1 TiB: 256 GiB
// and 12 GiB), in whole segments, at least one segment.
size_t ArenaShare(uint32_t group) {
  // Acquire: pairs with owner_table::Init's release store (Init ran first).
  const size_t va = owner_table::g_va_bytes.load(std::memory_order_acquire);
  size_t share = group == kRootGroup ? va / 4 : va / 4 * 3 / (kMiMaxGroups - 1);
  share &= ~(kMiSegmentBytes - 1);
  return share < kMiSegmentBytes ? kMiSegmentBytes : share;
}

MG_NOINLINE mi_heap_t* HeapSlow(uint32_t group) {
  // Acquire: pairs with CreateArenaSlow's release store (the arena is set up).
  int id = static_cast<int>(ArenaOf(group));
  if (id == 0) {
    // The group's first block: its arena is made here, as the jemalloc
    // engine makes one on first use.
    if (!CreateArenaSlow(group)) return nullptr;
    id = static_cast<int>(ArenaOf(group));
  }
  // Initialises mimalloc's state of the thread when needed (again after its
  // thread-exit cleanup).
  mi_heap_t* h = g_api.heap_new_in_arena(id);
  if (h == nullptr) return nullptr;
  t_heap[group] = h;
  // Arms the clearing for the coming destructor round (no allocation for
  // the low key indices).
  if (g_heaps_key_ok && pthread_getspecific(g_heaps_key) == nullptr) {
    (void)pthread_setspecific(g_heaps_key, t_heap);
  }
  return h;
}

}  // namespace

mi_heap_t* HeapOf(uint32_t group) {
  if (MG_UNLIKELY(group >= kMiMaxGroups)) return nullptr;
  mi_heap_t* h = t_heap[group];
  if (MG_LIKELY(h != nullptr)) return h;
  return HeapSlow(group);
}

void ReportArenaFull(uint32_t group) {
  // Relaxed: a once-only flag, no data published with it.
  if (g_full_reported.exchange(true, std::memory_order_relaxed)) return;
  RawLog("engine: mimalloc: the address-space reservation of group slot %u's"
         " arena (%llu MiB) is used up; allocations that do not fit fail with"
         " ENOMEM",
         group, static_cast<unsigned long long>(ArenaBytes(group) >> 20));
}

mi_heap_s* ExistingHeap(uint32_t group) {
  return group < kMiMaxGroups ? t_heap[group] : nullptr;
}

bool PrepareHeapsKey() {
  if (!g_heaps_key_ok) {
    g_heaps_key_ok = pthread_key_create(&g_heaps_key, HeapsKeyDtor) == 0;
  }
  return g_heaps_key_ok;
}

int CreateArena(uint32_t group) {
  if (group >= kMiMaxGroups) {
    // Relaxed: a once-only flag, no data published with it.
    if (g_cap_reported.exchange(true, std::memory_order_relaxed)) return 0;
    RawLog("engine: mimalloc: no arena for group slot %u: mimalloc 2.0.9 has"
           " 64 arenas, so the mimalloc engine holds at most %u groups (the"
           " jemalloc engine holds %u)",
           group, kMiMaxGroups, kMaxGroups);
    return 0;
  }
  // Halve the share until the reservation has room (a small reservation
  // under RLIMIT_AS); the extra chunks align the arena to a segment.
  for (size_t bytes = ArenaShare(group); bytes >= kMiSegmentBytes;
       bytes = (bytes / 2) & ~(kMiSegmentBytes - 1)) {
    const size_t claim = bytes + kMiSegmentBytes - owner_table::kChunkBytes;
    // Untagged: AdoptBlock tags the chunks of each block mimalloc hands out
    // (a process that uses a few MiB of its 256 GiB arena tags a few
    // chunks, instead of writing 512 KiB of the table at start-up).
    void* start = owner_table::ClaimUntaggedChunks(
        claim >> owner_table::kChunkShift);
    if (start == nullptr) continue;
    const uintptr_t aligned =
        (reinterpret_cast<uintptr_t>(start) + kMiSegmentBytes - 1) &
        ~(kMiSegmentBytes - 1);
    mi_arena_id_t id = 0;
    // Not committed, although ClaimUntaggedChunks made it readable and
    // writable: mimalloc then commits (mprotect to read-write, which changes
    // nothing here) what it uses and decommits (MADV_DONTNEED) the spans
    // and segments it frees, as it does for its own memory; committed, it
    // would keep every page it ever touched. Zero (fresh anonymous memory).
    // Exclusive but for the root group's: only heaps made for a group's
    // arena take blocks from it, and a heap made for an arena never falls
    // back to the OS. The root group's is shared with mimalloc's own
    // metadata, the heaps a thread makes for its groups, which mimalloc
    // allocates from the thread's backing heap (arena "none"): they then
    // share the thread's first segment with the root group's blocks,
    // instead of a segment mapped from the OS in mimalloc's hinted range
    // from 2 TiB up, whose first pages need a segment header, a page
    // table, a page directory and a page-directory-pointer page of their
    // own (docs/perf.md, "What a start costs on this machine"). No block
    // the program gets comes from the backing heap: mimalloc's malloc
    // family is never bound (RTLD_LOCAL).
    if (!g_api.manage_os_memory_ex(reinterpret_cast<void*>(aligned), bytes,
                                   /*is_committed=*/false, /*is_large=*/false,
                                   /*is_zero=*/true, /*numa_node=*/-1,
                                   /*exclusive=*/group != kRootGroup, &id) ||
        id <= 0) {
      RawLog("engine: mimalloc: mimalloc refused an arena for group slot %u"
             " (it has at most 64)", group);
      return 0;
    }
    // Relaxed: a statistic (see g_arena_bytes).
    g_arena_bytes[group].store(bytes, std::memory_order_relaxed);
    // Relaxed: published with the arena id (see g_arena_start).
    g_arena_start[group].store(aligned, std::memory_order_relaxed);
    return id;
  }
  RawLog("engine: mimalloc: the address-space reservation has no room for"
         " an arena of group slot %u", group);
  return 0;
}

uint64_t ArenaBytes(uint32_t group) {
  // Relaxed: a statistic (see g_arena_bytes).
  return group < kMiMaxGroups
             ? g_arena_bytes[group].load(std::memory_order_relaxed)
             : 0;
}

namespace {

// Slabs come from mimalloc kSlabRun at a time, in one block of a mimalloc
// page of its own (256 KiB is above mimalloc 2.0.9's medium sizes), of which
// mimalloc writes only the first word: the first slab is handed out at once,
// the others wait here, untouched (reading zero, not resident, charged to
// nobody), for the group's next slabs. A 64 KiB block from mimalloc would
// come from a medium page of 8, into whose next blocks mimalloc links its
// free list by their first words, 4 blocks at a time: pages written that
// no slab may ever use.
inline constexpr size_t kSlabRun = 4;
inline constexpr size_t kRunBytes = kSlabRun * slab::kSlabBytes;

// Each group slot's untouched slabs, packed as the next one's address (64
// KiB-aligned) | how many are left (below kSlabRun); 0 when none is. The
// word is the whole state, so a compare-and-swap that finds the value it
// read takes the slab that value names, whatever happened in between.
constinit std::atomic<uintptr_t> g_fresh[kMiMaxGroups];
static_assert(kSlabRun < slab::kSlabBytes);

void* TakeFresh(uint32_t group) {
  std::atomic<uintptr_t>& run = g_fresh[group];
  // Acquire: pairs with KeepFresh's release (the slabs' chunks are tagged).
  uintptr_t v = run.load(std::memory_order_acquire);
  while (v != 0) {
    const uintptr_t slab = v & ~(slab::kSlabBytes - 1);
    const uintptr_t left = v & (slab::kSlabBytes - 1);
    const uintptr_t next = left > 1 ? (slab + slab::kSlabBytes) | (left - 1) : 0;
    // Acquire on both outcomes: as the load above (a failure reloads v).
    if (run.compare_exchange_weak(v, next, std::memory_order_acquire,
                                  std::memory_order_acquire)) {
      return reinterpret_cast<void*>(slab);
    }
  }
  return nullptr;
}

// Keeps the `n` untouched slabs from `first` as the group's run; when
// another thread kept a run meanwhile, they are parked instead (ParkSlab:
// nothing written into them), or, without a page of records, left unused.
void KeepFresh(uint32_t group, uintptr_t first, size_t n) {
  uintptr_t none = 0;
  // Release: publishes the chunks' tags (AdoptBlock) to TakeFresh's
  // acquire. Relaxed on failure: nothing is read from the run then.
  if (g_fresh[group].compare_exchange_strong(none, first | n,
                                             std::memory_order_release,
                                             std::memory_order_relaxed)) {
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    (void)ParkSlab(group, reinterpret_cast<void*>(first + i * slab::kSlabBytes));
  }
}

// A block of `bytes` of `group`'s arena, 64 KiB-aligned, its chunks
// adopted, or nullptr.
void* NewSlabBlock(uint32_t group, mi_heap_t* h, size_t bytes) {
  // A page's block is 64 KiB-aligned unless it is at a segment's start
  // (after its header); only then pay for the aligned allocation, which
  // takes more of the arena.
  void* p = g_api.heap_malloc(h, bytes);
  if (p != nullptr &&
      (reinterpret_cast<uintptr_t>(p) & (slab::kSlabBytes - 1)) != 0) {
    g_api.free(p);
    p = g_api.heap_malloc_aligned_at(h, bytes, slab::kSlabBytes, 0);
  }
  if (p != nullptr && MG_UNLIKELY(!AdoptBlock(p, bytes, group))) {
    // Never: a heap made for an arena takes blocks from it alone (shared
    // or not). Refuse rather than leak.
    g_api.free(p);
    return nullptr;
  }
  return p;
}

}  // namespace

void* SlabAlloc(uint32_t group) {
  // A kept block first: resident, charged as free pages, already adopted
  // (its chunks tagged for the group).
  void* kept = TakeKeptSlab(group);
  if (kept != nullptr) return kept;
  // Then a parked one: adopted already, its pages returned.
  // Parked and taken under the park's lock: ordered for ThreadSanitizer.
  void* parked = TakeParkedSlab(group);
  if (parked != nullptr) return parked;
  // Then one of the group's untouched slabs.
  void* fresh = TakeFresh(group);
  if (fresh != nullptr) return fresh;
  mi_heap_t* h = HeapOf(group);
  if (h == nullptr) return nullptr;
  void* p = NewSlabBlock(group, h, kRunBytes);
  if (p != nullptr) {
    KeepFresh(group, reinterpret_cast<uintptr_t>(p) + slab::kSlabBytes,
              kSlabRun - 1);
    return p;
  }
  // A nearly full arena may still hold a single slab.
  p = NewSlabBlock(group, h, slab::kSlabBytes);
  if (p == nullptr) ReportArenaFull(group);
  return p;
}

bool AdoptBlock(const void* block, size_t bytes, uint32_t group) {
  const uintptr_t lo = reinterpret_cast<uintptr_t>(block);
  // Relaxed: see g_arena_start and g_arena_bytes (published with the id).
  const uintptr_t start = g_arena_start[group].load(std::memory_order_relaxed);
  const uintptr_t end =
      start + g_arena_bytes[group].load(std::memory_order_relaxed);
  if (MG_UNLIKELY(bytes == 0 || lo < start || lo >= end || bytes > end - lo)) {
    return false;
  }
  const size_t first = owner_table::ChunkIndexOf(block);
  const size_t last =
      owner_table::ChunkIndexOf(reinterpret_cast<const void*>(lo + bytes - 1));
  for (size_t c = first; c <= last; ++c) {
    // Untagged chunks of the group's arena are tagged here, before any
    // pointer into them exists (owner_table.h, RetagChunk); concurrent
    // tags of one chunk store the same group.
    if (MG_UNLIKELY(owner_table::TagIfUntagged(c, group) != group)) {
      owner_table::RetagChunk(c, group);
    }
  }
  return true;
}

void ReturnBlockPages(void* block, size_t bytes) {
  // mimalloc links a free block through its first word: the page holding
  // it stays, so that the free does not fault it back in.
  const uintptr_t start =
      (reinterpret_cast<uintptr_t>(block) + sizeof(void*) + kPageSize - 1) &
      ~(uintptr_t{kPageSize} - 1);
  const uintptr_t end =
      (reinterpret_cast<uintptr_t>(block) + bytes) & ~(uintptr_t{kPageSize} - 1);
  ReturnPages(start, end);
}

void ReturnPages(uintptr_t from, uintptr_t to) {
  // The raw syscall: memgroup's interposed madvise would treat the range
  // as a program mapping.
  if (to > from) {
    (void)SysMadvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
  }
}

void SlabFree(uint32_t group, void* mem) {
  // A slab is a part of a mimalloc block (SlabAlloc), never given back to
  // mimalloc: parked for the group's next slab. Without a page of records
  // for the park, its pages still go back and its address range stays
  // unused.
  if (ParkSlab(group, mem)) return;
  (void)SysMadvise(mem, slab::kSlabBytes, MADV_DONTNEED);
}

}  // namespace memgroup::internal::engine::mi
