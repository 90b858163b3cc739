// Engine initialisation and arena creation: Init (the owner table, jemalloc's
// own init, the MIBs (warm_large.h's too), the front cache's class tables;
// or, for the mimalloc engine, the library and the class tables) and
// EnsureGroup (a manual jemalloc arena per group, made with group_arena.h's
// hooks; or a mimalloc arena, mimalloc_engine.h). Owns the engine
// lock, the init state, the MIBs and the group -> arena index table
// (engine_internal.h). Slow paths only.
//
// Must never: allocate through the public malloc; publish an arena index
// before the arena and its slab bins are set up; create an arena whose index
// MALLOCX_ARENA cannot encode.
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/front_cache_internal.h"
#include "engine/group_arena.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine/slab.h"
#include "engine/va_budget.h"
#include "engine/warm_large.h"

namespace memgroup::internal::engine {

constinit Mibs g_mibs{};
constinit std::atomic<uint32_t> g_arena_ind[kMaxGroups];
constinit SpinLock g_engine_lock;

namespace {

// The largest arena index MALLOCX_ARENA can encode (12-bit field); jemalloc
// refuses to create more.
inline constexpr unsigned kMaxArenaIndex = 4094;

enum InitState : uint32_t { kUninit = 0, kReady = 1, kFailed = 2 };
// Written under g_engine_lock (release), read by Init's fast check (acquire).
constinit std::atomic<uint32_t> g_init_state{kUninit};

bool ResolveMib(const char* name, Mib* mib) {
  mib->len = sizeof(mib->v) / sizeof(mib->v[0]);
  return mgje_mallctlnametomib(name, mib->v, &mib->len) == 0;
}

// Why owner_table::Init failed, in one line.
void ReportNoReservation() {
  const owner_table::ReservationInfo r = owner_table::Reservation();
  if (r.limit_bytes != va_budget::kNoLimit) {
    RawLog("engine: cannot reserve address space: RLIMIT_AS is %llu MiB with"
           " %llu MiB in use; the engine needs %zu MiB and as much again left"
           " to the program",
           static_cast<unsigned long long>(r.limit_bytes >> 20),
           static_cast<unsigned long long>(r.used_bytes >> 20),
           owner_table::kMinVaBytes >> 20);
  } else {
    RawLog("engine: cannot reserve %zu MiB of address space",
           owner_table::kMinVaBytes >> 20);
  }
}

// The mimalloc engine's part of InitSlow: the library and the class tables
// (computed: jemalloc is never initialised in such a process).
bool InitMimalloc() {
  if (!mi::Load()) return false;
  // Without the class tables the engine cannot tell slab classes from large
  // blocks: unlike the jemalloc engine it has no fallback.
  return front::InitClasses();
}

MG_NOINLINE MG_COLD bool InitSlow() {
  SpinLockHolder holder(&g_engine_lock);
  // Relaxed: under g_engine_lock, which orders it with the writer.
  uint32_t state = g_init_state.load(std::memory_order_relaxed);
  if (state != kUninit) return state == kReady;
  bool ok = owner_table::Init();
  if (!ok) ReportNoReservation();
  if (UsesMimalloc()) {
    ok = ok && InitMimalloc();
    if (!ok) RawLog("engine: mimalloc initialisation failed");
    // Pairs with Init's acquire load: publishes the reservation and tables.
    g_init_state.store(ok ? kReady : kFailed, std::memory_order_release);
    return ok;
  }
  // The first mallctl forces jemalloc's initialisation (if its constructor
  // has not run yet); then check that our forced options won.
  bool retain = false;
  size_t len = sizeof(retain);
  if (ok && (mgje_mallctl("opt.retain", &retain, &len, nullptr, 0) != 0 ||
             !retain)) {
    RawLog("engine: private jemalloc is not configured with retain:true");
    ok = false;
  }
  ok = ok && ResolveMib("thread.arena", &g_mibs.thread_arena) &&
       ResolveMib("thread.tcache.flush", &g_mibs.thread_tcache_flush) &&
       ResolveMib("tcache.create", &g_mibs.tcache_create) &&
       ResolveMib("tcache.flush", &g_mibs.tcache_flush) &&
       ResolveMib("tcache.destroy", &g_mibs.tcache_destroy) &&
       ResolveMib("arenas.create", &g_mibs.arenas_create) &&
       ResolveMib("arena.0.retain_grow_limit",
                  &g_mibs.arena_retain_grow_limit) &&
       ResolveMib("arena.0.purge", &g_mibs.arena_purge) &&
       ResolveMib("background_thread", &g_mibs.background_thread) &&
       ResolveMib("max_background_threads", &g_mibs.max_background_threads) &&
       InitWarmLarge();
  if (!ok) RawLog("engine: initialisation failed");
  // Without the expected size classes the engine runs without front caches.
  if (ok) (void)front::InitClasses();
  // Pairs with Init's acquire load: publishes the owner table and the MIBs.
  g_init_state.store(ok ? kReady : kFailed, std::memory_order_release);
  return ok;
}

}  // namespace

int ArenaCtl(const Mib& mib, unsigned ind, void* newp, size_t newlen) {
  Mib m = mib;
  m.v[1] = ind;
  return mgje_mallctlbymib(m.v, m.len, nullptr, nullptr, newp, newlen);
}

MG_NOINLINE MG_COLD bool CreateArenaSlow(uint32_t group) {
  if (!Init()) return false;
  SpinLockHolder holder(&g_engine_lock);
  // Relaxed: under g_engine_lock, the only writer.
  if (g_arena_ind[group].load(std::memory_order_relaxed) != 0) return true;
  if (UsesMimalloc()) {
    // The group's mimalloc arena id (>= 1) stands in for the arena index.
    const int id = mi::CreateArena(group);
    if (id <= 0 || !slab::InitGroup(group, 0)) return false;
    // Pairs with ArenaOf's acquire load.
    g_arena_ind[group].store(static_cast<uint32_t>(id),
                             std::memory_order_release);
    return true;
  }
  extent_hooks_t* hooks = GroupHooks(group);
  unsigned ind = 0;
  size_t len = sizeof(ind);
  // The alloc hook already runs inside this call (the arena's base block).
  if (mgje_mallctlbymib(g_mibs.arenas_create.v, g_mibs.arenas_create.len, &ind,
                        &len, &hooks, sizeof(hooks)) != 0) {
    return false;  // Arena limit or out of VA.
  }
  if (ind == 0 || ind > kMaxArenaIndex) return false;  // Cannot be addressed.
  if (!slab::InitGroup(group, ind)) return false;
  // Every growth then asks the hook for exactly what it needs (one chunk
  // for small loads) instead of jemalloc's geometric steps.
  size_t limit = owner_table::kChunkBytes;
  if (ArenaCtl(g_mibs.arena_retain_grow_limit, ind, &limit, sizeof(limit)) !=
      0) {
    RawLog("engine: cannot set retain_grow_limit of arena %u", ind);
  }
  // Pairs with ArenaOf's acquire load.
  g_arena_ind[group].store(ind, std::memory_order_release);
  return true;
}

bool Init() {
  // Pairs with InitSlow's release store.
  uint32_t state = g_init_state.load(std::memory_order_acquire);
  if (MG_LIKELY(state == kReady)) return true;
  if (state == kFailed) return false;
  return InitSlow();
}

bool EnsureGroup(uint32_t group) {
  if (group >= kMaxGroups) return false;
  if (MG_LIKELY(ArenaOf(group) != 0)) return true;
  return CreateArenaSlow(group);
}

}  // namespace memgroup::internal::engine
