// The explicit tcaches of tcache_slots.h. Owns each thread's slots (t_tc,
// t_ntc and the recycling state) and bound tcache (t_bound_tc), the
// process's count of live explicit tcaches and, per group, the count of the
// slots used with it.
//
// Must never: hand out the automatic tcache for a non-bound group (the
// tcache trap: on a hit jemalloc ignores the arena flag); create
// a tcache after ThreadExit or beyond kTcacheBudget; allocate through malloc.
#include "engine/tcache_slots.h"

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "engine/engine_internal.h"
#include "engine/jemalloc_private.h"

namespace memgroup::internal::engine {

MG_TLS uint32_t t_ntc = 0;
MG_TLS TcacheSlot t_tc[kThreadTcaches];
MG_TLS int t_bound_tc = 0;

namespace {

MG_TLS uint32_t t_misses = 0;  // TCACHE_NONE fallbacks since last recycle
MG_TLS uint32_t t_victim = 0;  // next slot to recycle

// Explicit tcaches alive in the process. Written by CreateTcache and
// DestroyTcache from any thread; only the count matters (relaxed).
constinit std::atomic<int32_t> g_tcaches_live{0};

// Per group: slots naming it (TcacheUsers). Incremented by the owner thread
// when a slot takes the group, before any block of the group enters the
// tcache (relaxed: the block's free or allocation is followed by a charge
// operation, a seq_cst read-modify-write, which RetireGroup's acquire fence
// pairs with); decremented after the tcache was destroyed (release: the
// blocks it returned to the arena happen before a retirer reads 0).
MG_TABLE constinit std::atomic<uint32_t> g_users[kMaxGroups];

void TakeSlotFor(uint32_t group) {
  // Relaxed: see g_users.
  g_users[group].fetch_add(1, std::memory_order_relaxed);
}
void LeaveSlotOf(uint32_t group) {
  // Release: see g_users.
  g_users[group].fetch_sub(1, std::memory_order_release);
}

bool CreateTcache(unsigned* tc) {
  if (!EnsureCtl()) return false;
  // Relaxed: a budget count, no data is published through it.
  if (g_tcaches_live.fetch_add(1, std::memory_order_relaxed) >= kTcacheBudget) {
    g_tcaches_live.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: as above.
    return false;
  }
  size_t len = sizeof(*tc);
  if (mgje_mallctlbymib(g_mibs.tcache_create.v, g_mibs.tcache_create.len, tc,
                        &len, nullptr, 0) != 0) {
    g_tcaches_live.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: as above.
    return false;
  }
  return true;
}

// Flushes the tcache's blocks back to their own arenas and destroys it.
void DestroyTcache(unsigned tc) {
  mgje_mallctlbymib(g_mibs.tcache_destroy.v, g_mibs.tcache_destroy.len,
                    nullptr, nullptr, &tc, sizeof(tc));
  g_tcaches_live.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: budget count.
}

// Returns the tcache's blocks to their own arenas. jemalloc destroys a
// flushed explicit tcache and makes it again on its next use.
void FlushTcache(unsigned tc) {
  mgje_mallctlbymib(g_mibs.tcache_flush.v, g_mibs.tcache_flush.len, nullptr,
                    nullptr, &tc, sizeof(tc));
}

// The tcache index of a flag made by MALLOCX_TCACHE(tc), -1 for none.
int TcacheIndex(int flags) {
  return flags == 0 || flags == MALLOCX_TCACHE_NONE ? -1 : (flags >> 8) - 2;
}

}  // namespace

MG_NOINLINE int BoundTcacheSlow() {
  if (t_dead) return MALLOCX_TCACHE_NONE;  // Never re-create after ThreadExit.
  unsigned tc = 0;
  t_bound_tc = CreateTcache(&tc) ? MALLOCX_TCACHE(tc) : MALLOCX_TCACHE_NONE;
  return t_bound_tc;
}

void FlushBoundTcache() {
  const int tc = TcacheIndex(t_bound_tc);
  if (tc < 0) {
    // None, or none could be made: the next need tries again.
    if (!t_dead) t_bound_tc = 0;
    return;
  }
  FlushTcache(static_cast<unsigned>(tc));
}

void DestroyBoundTcache() {
  const int tc = TcacheIndex(t_bound_tc);
  t_bound_tc = 0;
  if (tc >= 0) DestroyTcache(static_cast<unsigned>(tc));
}

MG_NOINLINE int TcacheFlagsSlow(uint32_t group) {
  if (t_dead) return MALLOCX_TCACHE_NONE;  // Never re-create after ThreadExit.
  unsigned tc = 0;
  if (t_ntc < kThreadTcaches) {
    if (!CreateTcache(&tc)) return MALLOCX_TCACHE_NONE;
    TakeSlotFor(group);
    t_tc[t_ntc++] = TcacheSlot{group, tc};
    return MALLOCX_TCACHE(tc);
  }
  if (++t_misses < kEvictAfterMisses) return MALLOCX_TCACHE_NONE;
  t_misses = 0;
  uint32_t v = t_victim;
  t_victim = (v + 1) % kThreadTcaches;
  DestroyTcache(t_tc[v].tc);
  LeaveSlotOf(t_tc[v].group);
  if (!CreateTcache(&tc)) {
    t_tc[v] = t_tc[--t_ntc];
    return MALLOCX_TCACHE_NONE;
  }
  TakeSlotFor(group);
  t_tc[v] = TcacheSlot{group, tc};
  return MALLOCX_TCACHE(tc);
}

void FlushThreadTcacheOf(uint32_t group) {
  for (uint32_t i = 0; i < t_ntc; ++i) {
    if (t_tc[i].group == group) FlushTcache(t_tc[i].tc);
  }
}

void DropThreadTcacheOf(uint32_t group) {
  for (uint32_t i = 0; i < t_ntc; ++i) {
    if (t_tc[i].group != group) continue;
    DestroyTcache(t_tc[i].tc);
    LeaveSlotOf(group);
    t_tc[i] = t_tc[--t_ntc];
    return;
  }
}

uint32_t TcacheUsers(uint32_t group) {
  // Acquire: see g_users.
  return group < kMaxGroups ? g_users[group].load(std::memory_order_acquire)
                            : 0;
}

void DestroyThreadTcaches() {
  for (uint32_t i = 0; i < t_ntc; ++i) {
    DestroyTcache(t_tc[i].tc);
    LeaveSlotOf(t_tc[i].group);
  }
  t_ntc = 0;
}

}  // namespace memgroup::internal::engine
