// Implements warm_large.h: the per-group count of large bytes freed since the
// last check, and the check (jemalloc's dirty page count of the group's
// arena, the charged free pages resynchronised with it, and a purge above
// the bound). Owns the counters and the MIBs of the
// check. Must never: allocate; run the check under a lock of ours or inside
// an extent hook (it calls mallctl, which takes jemalloc's ctl and arena
// mutexes).
#include "engine/warm_large.h"

#include <atomic>

#include "base/limits.h"
#include "base/macros.h"
#include "base/sys.h"
#include "engine/engine_internal.h"
#include "engine/free_pages.h"
#include "engine/page_charge.h"

namespace memgroup::internal::engine {
namespace {

// Large bytes each group freed since its last check. Added to by any thread
// freeing a large block of the group (relaxed fetch_add), taken to 0 by the
// thread that crosses kWarmCheckBytes (relaxed exchange). Only the amount
// matters, no data is published with it: relaxed throughout.
MG_TABLE constinit std::atomic<uint64_t> g_freed[kMaxGroups];

// Bytes of large blocks each group made with a charge taken from its free
// pages since its last check (NoteLargeAlloc); relaxed, as g_freed.
MG_TABLE constinit std::atomic<uint64_t> g_taken[kMaxGroups];

// "epoch" and "stats.arenas.<i>.pdirty" (i at v[2]). Written by
// InitWarmLarge under the engine lock before Init's kReady release store,
// read-only afterwards (as g_mibs).
constinit Mib g_epoch{};
constinit Mib g_pdirty{};

MG_NOINLINE MG_COLD void Check(uint32_t group) {
  const uint32_t ind = ArenaOf(group);
  if (ind == 0 || !EnsureCtl()) return;
  // Refresh jemalloc's statistics snapshot, then read the arena's dirty
  // page count from it.
  uint64_t epoch = 1;
  if (mgje_mallctlbymib(g_epoch.v, g_epoch.len, nullptr, nullptr, &epoch,
                        sizeof(epoch)) != 0) {
    return;
  }
  Mib m = g_pdirty;
  m.v[2] = JeArena(ind);
  size_t pdirty = 0;
  size_t len = sizeof(pdirty);
  if (mgje_mallctlbymib(m.v, m.len, &pdirty, &len, nullptr, 0) != 0) return;
  // The charged free pages follow the arena's real dirty pages down
  // (a realloc grew a block into some; blocks in a tcache are not dirty).
  const size_t real = pdirty * kPageSize;
  const int64_t kept = SyncFreePages(group, static_cast<int64_t>(real));
  // A fork child's inherited dirty pages are its parent's charge: neither
  // charged here nor counted against the tolerance (free_pages.h).
  const int64_t covered =
      kept + InheritedDirtyPages(group, static_cast<int64_t>(real) - kept);
  if (real <= kWarmBytes) {
    if (real <= static_cast<size_t>(covered) + kUnchargedDirtyBytes) {
      // Tolerated, but not for ever: the decay purges them once idle.
      if (real > static_cast<size_t>(kept)) NoteArenaDirtied(group);
      return;
    }
    // Dirty pages nobody's charge covers (a block charged from the free
    // pages that jemalloc put in fresh ones, large blocks the front cache
    // evicted, the old extent of a moved realloc): charged while the
    // group's limits allow it, so that they stay warm.
    const int64_t extra = static_cast<int64_t>(real) - covered;
    if (TryChargePages(group, extra)) {
      if (!KeepFreePages(group, extra)) UnchargePages(group, extra);
      return;
    }
  }
  // Too many, or uncharged and over a limit: all go back.
  (void)ArenaCtl(g_mibs.arena_purge, ind, nullptr, 0);
  (void)ReturnFreePages(group);
}

}  // namespace

bool InitWarmLarge() {
  g_epoch.len = sizeof(g_epoch.v) / sizeof(g_epoch.v[0]);
  g_pdirty.len = sizeof(g_pdirty.v) / sizeof(g_pdirty.v[0]);
  // jemalloc's decay off for every arena created from now on (the groups'
  // arenas: arena 0 exists already and keeps jemalloc_glue.cc's
  // dirty_decay_ms): see warm_large.h.
  ssize_t off = kGroupArenaDirtyDecayMs;
  return mgje_mallctl("arenas.dirty_decay_ms", nullptr, nullptr, &off,
                      sizeof(off)) == 0 &&
         mgje_mallctlnametomib("epoch", g_epoch.v, &g_epoch.len) == 0 &&
         mgje_mallctlnametomib("stats.arenas.0.pdirty", g_pdirty.v,
                               &g_pdirty.len) == 0;
}

void NoteLargeFree(uint32_t group, size_t bytes) {
  if (group >= kMaxGroups) return;
  // Relaxed: see g_freed.
  const uint64_t freed =
      g_freed[group].fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (MG_LIKELY(freed < kWarmCheckBytes)) return;
  // Relaxed: see g_freed. Only the thread that takes the count past the
  // threshold checks; a concurrent one finds less than kWarmCheckBytes.
  if (g_freed[group].exchange(0, std::memory_order_relaxed) < kWarmCheckBytes) {
    return;
  }
  Check(group);
}

void NoteLargeAlloc(uint32_t group, size_t bytes) {
  if (!TookFreePages() || group >= kMaxGroups) return;
  // The block is in place now: if it is not in the pages taken, those stay
  // dirty with no count, and the decay must purge them (marked after the
  // placement, so that a decay clearing the mark purges after it).
  NoteArenaDirtied(group);
  // Relaxed: see g_taken.
  const uint64_t taken =
      g_taken[group].fetch_add(bytes, std::memory_order_relaxed) + bytes;
  if (taken < kUnchargedDirtyBytes) return;
  // Relaxed: see g_taken. As NoteLargeFree: one thread checks.
  if (g_taken[group].exchange(0, std::memory_order_relaxed) <
      kUnchargedDirtyBytes) {
    return;
  }
  Check(group);
}

void NoteLargeResize(uint32_t group, size_t dirtied) {
  if (group >= kMaxGroups || !KeepsFreePages()) return;
  NoteArenaDirtied(group);
  if (dirtied != 0) NoteLargeFree(group, dirtied);
}

}  // namespace memgroup::internal::engine
