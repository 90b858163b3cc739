// The pool of idle jemalloc arenas (arena_pool.h): the stack of parked
// arenas, parking (purge, detach) and taking (attach).
//
// What parking keeps and frees, in jemalloc 5.3 with our options
// (jemalloc_glue.cc: retain:true, muzzy_decay_ms:0):
//  - arena.<i>.purge decays the arena fully: every dirty extent is purged
//    through our purge_forced hook (MADV_DONTNEED) and recorded as retained
//    and zeroed, so the pages go back to the OS and the address space stays
//    with the arena, in chunks that are tagged for nobody while it is idle.
//  - arena.<i>.reset is not called: it frees every large extent and bin
//    slab still allocated, and by the retirement checks there is none; had
//    one survived, freeing it would let the next group be served a block
//    the destroyed group still uses, while leaving it allocated serves it to
//    nobody.
//  - Kept: the arena's base (arena_t, its bins, extent heaps and extent
//    records, about 90 KiB resident), its retained address space, its
//    retain_grow_limit, and jemalloc's cumulative counters: the engine's
//    nmalloc and ndalloc of a group (mg_group_stat's allocs and frees)
//    include the large blocks earlier groups allocated in its arena
//    (jemalloc has no per-arena reset of them, and reading them takes an
//    "epoch", which merges every arena's statistics: 35 us per arena
//    measured, too slow to take at each park).
//  - jemalloc's count of threads attached to the arena (thread.arena) is
//    not checked, unlike arena.<i>.destroy: the only threads that can still
//    be attached to a retired group's arena are exiting ones past
//    engine::ThreadExit (a live thread stays bound to the group in the
//    registry, which keeps it from being retired), whose bound tcache is
//    destroyed and never made again, and whose jemalloc clean-up only
//    detaches them.
//
// Must never: park an arena with a block of it allocated; let a group take
// an arena before every chunk of it is tagged for that group; hold more
// than kArenaPoolMax arenas.
//
// SYNCHRONIZATION: the stack is changed under g_engine_lock only;
// g_nidle is also read without it (relaxed statistic).
#include "engine/arena_pool.h"

#include <atomic>
#include <cstdint>

#include "base/check.h"
#include "engine/engine_internal.h"
#include "engine/group_arena.h"

namespace memgroup::internal::engine {
namespace {

struct IdleArena {
  unsigned ind = 0;     // jemalloc's arena index
  uint32_t record = 0;  // its GroupArena record (group_arena.h)
};

// The idle arenas: a stack of g_nidle entries, under g_engine_lock.
constinit IdleArena g_idle[kArenaPoolMax];
// Written under g_engine_lock (relaxed: read without it as a statistic).
constinit std::atomic<uint32_t> g_nidle{0};

void PushLocked(unsigned ind, uint32_t record) {
  // Relaxed: under g_engine_lock, the only writer.
  const uint32_t n = g_nidle.load(std::memory_order_relaxed);
  MG_CHECK(n < kArenaPoolMax);
  g_idle[n] = IdleArena{ind, record};
  // Relaxed: a statistic for readers outside the lock.
  g_nidle.store(n + 1, std::memory_order_relaxed);
}

}  // namespace

bool ParkArenaLocked(uint32_t group, unsigned ind) {
  // Relaxed: under g_engine_lock, the only writer.
  if (g_nidle.load(std::memory_order_relaxed) == kArenaPoolMax) return false;
  // Every free page back to the OS (the group's last frees may have come
  // after its destroy purged it).
  if (ArenaCtl(g_mibs.arena_purge, ind, nullptr, 0) != 0) return false;
  const uint32_t record = DetachGroupArena(group);
  if (record == kNoRecord) return false;
  PushLocked(ind, record);
  return true;
}

unsigned TakeArenaLocked(uint32_t group) {
  // Relaxed: under g_engine_lock, the only writer.
  const uint32_t n = g_nidle.load(std::memory_order_relaxed);
  if (n == 0) return 0;
  const IdleArena a = g_idle[n - 1];
  // Relaxed: a statistic for readers outside the lock.
  g_nidle.store(n - 1, std::memory_order_relaxed);
  AttachGroupArena(a.record, group);
  return a.ind;
}

void UntakeArenaLocked(uint32_t group, unsigned ind) {
  const uint32_t record = DetachGroupArena(group);
  MG_CHECK(record != kNoRecord);
  PushLocked(ind, record);
}

uint32_t IdleArenas() {
  // Racy by design: a statistic, behind by at most the park or take in
  // progress.
  return g_nidle.load(std::memory_order_relaxed);
}

}  // namespace memgroup::internal::engine
