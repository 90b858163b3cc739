// The per-group extent hooks (group_arena.h). Owns each group's GroupArena:
// the hooks struct jemalloc is given, and the group's current chunk run,
// guarded by the GroupArena's spinlock.
//
// Must never: allocate; call back into the engine or jemalloc (the hooks run
// under jemalloc's mutexes); hand out memory of a chunk not tagged for the
// arena's group; let jemalloc unmap, decommit or merge across groups.
//
// SYNCHRONIZATION: GroupArena::lock guards run_cur/run_end and is taken only
// inside HookAlloc, i.e. under jemalloc's grow/base mutexes, after the engine
// lock (engine_internal.h). The hooks and group are written under the engine
// lock before arenas.create, read-only afterwards.
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
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/owner_table.h"

namespace memgroup::internal::engine {
namespace {

using owner_table::kChunkBytes;
using owner_table::kChunkShift;

inline size_t AlignUp(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

struct alignas(MG_CACHELINE) GroupArena {
  // Must stay the first member: the hooks receive &hooks and cast it back to
  // the GroupArena (container_of). Written under g_engine_lock before
  // arenas.create, read-only afterwards.
  extent_hooks_t hooks{};
  // The group whose chunks this arena carves. Same protocol as `hooks`.
  uint32_t group = kNoGroup;
  // Guards run_cur/run_end. Taken only inside HookAlloc.
  SpinLock lock;
  // The current run of claimed chunks: [run_cur, run_end) is still free.
  uintptr_t run_cur = 0;
  uintptr_t run_end = 0;
  // Bytes of chunks claimed for the group. Written under `lock`, read by
  // GroupStats without it (relaxed statistic).
  std::atomic<uint64_t> mapped_bytes{0};

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

constinit GroupArena g_groups[kMaxGroups];

}  // namespace

extent_hooks_t* GroupHooks(uint32_t group) {
  GroupArena* ga = &g_groups[group];
  ga->hooks = kHooksTemplate;
  ga->group = group;
  return &ga->hooks;
}

uint64_t MappedBytes(uint32_t group) {
  // Relaxed: statistic.
  return g_groups[group].mapped_bytes.load(std::memory_order_relaxed);
}

}  // namespace memgroup::internal::engine
