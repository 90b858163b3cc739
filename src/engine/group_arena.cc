// The per-group extent hooks (group_arena.h). Owns the GroupArena records
// (the hooks struct jemalloc is given, the group's current chunk run and
// its chunk list), their pool and the group -> record table, and the
// chunk-link array the lists are threaded through.
//
// Must never: allocate; call back into the engine or jemalloc (the hooks run
// under jemalloc's mutexes); hand out memory of a chunk not tagged for the
// arena's group; let jemalloc unmap, decommit or merge across groups.
//
// SYNCHRONIZATION: GroupArena::lock guards run_cur/run_end and the chunk
// list, and is taken only inside HookAlloc, i.e. under jemalloc's grow/base
// mutexes, after the engine lock (engine_internal.h), and by
// ReleaseGroupArena, DetachGroupArena and AttachGroupArena (engine lock, no
// allocation in the arena: none left, or none possible yet). The hooks are
// written under the engine lock before arenas.create, read-only while the
// arena lives; `group` is written under the engine lock too, before
// arenas.create and while the arena is idle (no group maps to it, so
// jemalloc never allocates from it and Carve, its only reader, never runs).
// The free records and g_record_of are changed under the engine lock only.
#include "engine/group_arena.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "base/check.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/owner_table.h"

namespace memgroup::internal::engine {
namespace {

using owner_table::kChunkBytes;
using owner_table::kChunkShift;

inline size_t AlignUp(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

// Each chunk's successor in its group's chunk list (index + 1, 0 ends it),
// kNumChunks entries. Mapped by InitGroupArenas before any arena exists;
// an entry is written under its group's record lock when the chunk is
// claimed and read when the record is released.
constinit uint32_t* g_chunk_next = nullptr;

struct alignas(MG_CACHELINE) GroupArena {
  // Must stay the first member: the hooks receive &hooks and cast it back to
  // the GroupArena (container_of). Written under g_engine_lock before
  // arenas.create, read-only afterwards.
  extent_hooks_t hooks{};
  // The group whose chunks this arena carves (kNoGroup while the arena is
  // idle in the pool). Written under g_engine_lock while Carve cannot run
  // (see SYNCHRONIZATION).
  uint32_t group = 0;
  // Guards run_cur/run_end. Taken only inside HookAlloc.
  SpinLock lock;
  // The current run of claimed chunks: [run_cur, run_end) is still free.
  uintptr_t run_cur = 0;
  uintptr_t run_end = 0;
  // Bytes of chunks claimed for the group. Written under `lock`, read by
  // GroupStats without it (relaxed statistic).
  std::atomic<uint64_t> mapped_bytes{0};
  // The chunks claimed, a list threaded through g_chunk_next: the last
  // claimed chunk's index + 1 (0: none). Under `lock`.
  uint32_t chunks = 0;

  void* Carve(size_t size, size_t alignment);
};
static_assert(std::is_standard_layout_v<GroupArena>,
              "container_of from &hooks needs a standard-layout GroupArena");

GroupArena* FromHooks(extent_hooks_t* h) {
  return reinterpret_cast<GroupArena*>(h);
}

void* GroupArena::Carve(size_t size, size_t alignment) {
  if (alignment < kPageSize) alignment = kPageSize;
  if (size == 0 || size > owner_table::kVaBytes ||
      alignment > owner_table::kVaBytes) {
    return nullptr;
  }
  SpinLockHolder holder(&lock);
  uintptr_t p = AlignUp(run_cur, alignment);
  if (run_cur == 0 || p + size > run_end) {
    // Worst case from a fresh 2 MiB-aligned run.
    size_t need = size + (alignment > kChunkBytes ? alignment - kChunkBytes : 0);
    size_t nr_chunks = (need + kChunkBytes - 1) >> kChunkShift;
    void* c = owner_table::ClaimChunks(nr_chunks, group);
    if (c == nullptr) return nullptr;
    // Relaxed: statistic, written under `lock`.
    mapped_bytes.fetch_add(nr_chunks * kChunkBytes, std::memory_order_relaxed);
    uintptr_t start = reinterpret_cast<uintptr_t>(c);
    const size_t first = owner_table::ChunkIndexOf(c);
    for (size_t i = 0; i < nr_chunks; ++i) {
      g_chunk_next[first + i] = chunks;
      chunks = static_cast<uint32_t>(first + i + 1);
    }
    if (run_cur != 0 && start == run_end) {
      run_end += nr_chunks * kChunkBytes;  // Contiguous: extend the run.
    } else {
      run_cur = start;  // The old run's tail stays tagged but unused.
      run_end = start + nr_chunks * kChunkBytes;
    }
    p = AlignUp(run_cur, alignment);
    MG_CHECK(p + size <= run_end);
  }
  run_cur = p + size;
  return reinterpret_cast<void*>(p);
}

// Hooks run under jemalloc's locks: they take only the group spinlock, never
// allocate and never call back into the engine.
void* HookAlloc(extent_hooks_t* h, void* new_addr, size_t size,
                size_t alignment, bool* zero, bool* commit, unsigned) {
  if (new_addr != nullptr) return nullptr;  // No in-place growth: move.
  void* p = FromHooks(h)->Carve(size, alignment);
  if (p == nullptr) return nullptr;
  // Carved memory is never handed out twice and chunks start untouched, so
  // it is zero; it is RW (committed).
  *zero = true;
  *commit = true;
  return p;
}
// Opt out: memory is retained by jemalloc and VA never leaves the group.
bool HookDalloc(extent_hooks_t*, void*, size_t, bool, unsigned) { return true; }
void HookDestroy(extent_hooks_t*, void*, size_t, bool, unsigned) {}
// Everything we hand out is committed and decommit is refused.
bool HookCommit(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned) {
  return false;
}
bool HookDecommit(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned) {
  return true;
}
bool HookPurge(void* addr, size_t offset, size_t length, int advice) {
  int saved = errno;
  int rc = SysMadvise(static_cast<char*>(addr) + offset, length, advice);
  errno = saved;
  return rc != 0;
}
bool HookPurgeLazy(extent_hooks_t*, void* addr, size_t, size_t offset,
                   size_t length, unsigned) {
  return HookPurge(addr, offset, length, MADV_FREE);
}
bool HookPurgeForced(extent_hooks_t*, void* addr, size_t, size_t offset,
                     size_t length, unsigned) {
  return HookPurge(addr, offset, length, MADV_DONTNEED);
}
bool HookSplit(extent_hooks_t*, void*, size_t, size_t, size_t, bool,
               unsigned) {
  return false;
}
// Defensive: one arena never spans groups, but never merge across owners.
bool HookMerge(extent_hooks_t*, void* addr_a, size_t, void* addr_b, size_t,
               bool, unsigned) {
  return owner_table::OwnerOf(addr_a) != owner_table::OwnerOf(addr_b);
}

constexpr extent_hooks_t kHooksTemplate = {
    HookAlloc,     HookDalloc,      HookDestroy, HookCommit, HookDecommit,
    HookPurgeLazy, HookPurgeForced, HookSplit,   HookMerge,
};

// The records (zero-initialised: no page is touched before a record is
// used), the pool of free ones (a stack of indices) and how many were ever
// used; all under the engine lock.
MG_TABLE_HOT_JEMALLOC constinit GroupArena g_records[kMaxArenaRecords];
MG_TABLE constinit uint16_t g_free_records[kMaxArenaRecords];
constinit uint32_t g_nfree_records = 0;
constinit uint32_t g_records_used = 0;

// Each group's record while it has one. Written under the engine lock
// (relaxed: a statistic's pointer, the records are never unmapped), read by
// MappedBytes without it.
MG_TABLE_HOT_JEMALLOC constinit std::atomic<GroupArena*> g_record_of[kMaxGroups];

}  // namespace

bool InitGroupArenas() {
  if (g_chunk_next != nullptr) return true;
  g_chunk_next = static_cast<uint32_t*>(
      MetaMap(owner_table::kNumChunks * sizeof(uint32_t)));
  return g_chunk_next != nullptr;
}

extent_hooks_t* GroupHooks(uint32_t group) {
  GroupArena* ga = nullptr;
  if (g_nfree_records != 0) {
    ga = &g_records[g_free_records[--g_nfree_records]];
  } else if (g_records_used < kMaxArenaRecords) {
    ga = &g_records[g_records_used++];
  } else {
    return nullptr;
  }
  ga->hooks = kHooksTemplate;
  ga->group = group;
  // Relaxed: see g_record_of.
  g_record_of[group].store(ga, std::memory_order_relaxed);
  return &ga->hooks;
}

void ReleaseGroupArena(uint32_t group) {
  // Relaxed: under the engine lock, the only writer.
  GroupArena* ga = g_record_of[group].load(std::memory_order_relaxed);
  if (ga == nullptr) return;
  uint32_t chunks;
  {
    SpinLockHolder holder(&ga->lock);
    chunks = ga->chunks;
    ga->chunks = 0;
    ga->run_cur = ga->run_end = 0;
    // Relaxed: a statistic.
    ga->mapped_bytes.store(0, std::memory_order_relaxed);
  }
  while (chunks != 0) {
    const size_t index = chunks - 1;
    chunks = g_chunk_next[index];
    owner_table::ReleaseChunks(owner_table::ChunkAt(index), 1);
  }
  // Relaxed: see g_record_of.
  g_record_of[group].store(nullptr, std::memory_order_relaxed);
  g_free_records[g_nfree_records++] =
      static_cast<uint16_t>(ga - g_records);
}

namespace {

// Tags every chunk of `ga` for `group`. Under the engine lock, with no
// allocation possible in ga's arena (so `chunks` does not move).
void RetagAll(GroupArena* ga, uint32_t group) {
  SpinLockHolder holder(&ga->lock);
  for (uint32_t c = ga->chunks; c != 0; c = g_chunk_next[c - 1]) {
    owner_table::RetagChunk(c - 1, group);
  }
  ga->group = group;
}

}  // namespace

uint32_t DetachGroupArena(uint32_t group) {
  // Relaxed: under the engine lock, the only writer.
  GroupArena* ga = g_record_of[group].load(std::memory_order_relaxed);
  if (ga == nullptr) return kNoRecord;
  RetagAll(ga, kNoGroup);
  // Relaxed: see g_record_of.
  g_record_of[group].store(nullptr, std::memory_order_relaxed);
  return static_cast<uint32_t>(ga - g_records);
}

void AttachGroupArena(uint32_t record, uint32_t group) {
  MG_CHECK(record < g_records_used && group < kMaxGroups);
  GroupArena* ga = &g_records[record];
  MG_CHECK(ga->group == kNoGroup);
  RetagAll(ga, group);
  // Relaxed: see g_record_of.
  g_record_of[group].store(ga, std::memory_order_relaxed);
}

uint64_t MappedBytes(uint32_t group) {
  if (group >= kMaxGroups) return 0;
  // Relaxed: a statistic; records are never unmapped.
  GroupArena* ga = g_record_of[group].load(std::memory_order_relaxed);
  // Relaxed: statistic.
  return ga == nullptr ? 0 : ga->mapped_bytes.load(std::memory_order_relaxed);
}

}  // namespace memgroup::internal::engine
