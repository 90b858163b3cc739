// Engine initialisation, arena creation and retirement: Init (the owner
// table, jemalloc's own init, arena 0 given the root group's hooks, the
// front cache's class tables; or, for the mimalloc engine, the library and
// the class tables), EnsureCtl (the MIBs, warm_large.h's too, on their
// first need), EnsureGroup (the root group's arena 0, or a manual jemalloc
// arena per group, made with group_arena.h's hooks on the group's first
// allocation; or a mimalloc arena, mimalloc_engine.h; an idle arena from
// the pool, arena_pool.h, when there is one) and ReleaseGroup/RetirePending
// (a destroyed group's slab bins given back and its arena parked in the
// pool, or destroyed with its chunks when the pool is full, once nothing of
// it is left). Owns the engine lock, the init state, the MIBs, the group ->
// arena index table (engine_internal.h) and the list of destroyed groups
// waiting to be retired. Slow paths only.
//
// Must never: allocate through the public malloc; publish an arena index
// before the arena, its chunks' tags and its slab bins are set up for the
// group; create an arena whose index
// MALLOCX_ARENA cannot encode; retire a group's arena while a block of the
// group may be live or cached anywhere (RetireGroup's checks).
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "engine/arena_pool.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/free_pages.h"
#include "engine/front_cache_internal.h"
#include "engine/group_arena.h"
#include "engine/mimalloc_engine.h"
#include "engine/other_cache.h"
#include "engine/owner_table.h"
#include "engine/slab.h"
#include "engine/tcache_slots.h"
#include "engine/transfer_cache.h"
#include "engine/va_budget.h"
#include "engine/warm_large.h"
#include "group/registry.h"

namespace memgroup::internal::engine {

constinit Mibs g_mibs{};
constinit std::atomic<bool> g_ctl_ready{false};
constinit SpinLock g_engine_lock;
MG_TABLE constinit std::atomic<uint32_t> g_group_users[kMaxGroups];

namespace {

// The largest arena index MALLOCX_ARENA can encode (12-bit field); jemalloc
// refuses to create more.
inline constexpr unsigned kMaxArenaIndex = 4094;

enum InitState : uint32_t { kUninit = 0, kReady = 1, kFailed = 2 };
// Written under g_engine_lock (release), read by Init's fast check (acquire).
constinit std::atomic<uint32_t> g_init_state{kUninit};

// Destroyed groups whose arena could not be retired yet: a ring of
// g_npending slot indices from g_pending_head in g_pending (kMaxGroups
// entries, mapped by InitSlow), under g_engine_lock.
constinit uint32_t* g_pending = nullptr;
constinit uint32_t g_pending_head = 0;
constinit uint32_t g_npending = 0;

// Set once the first arena creation failed for want of arenas (reported
// once). Relaxed: a one-time flag, nothing is published with it.
constinit std::atomic<bool> g_no_arena_reported{false};

// Whether jemalloc's arena 0 carries the root group's hooks (TakeArenaZero),
// for the root group's arena. Written by InitSlow, then by the root group's
// arena creation, under g_engine_lock.
constinit bool g_arena_zero_ready = false;

// Under g_engine_lock.
void PushPendingLocked(uint32_t group) {
  if (g_pending == nullptr || g_npending == kMaxGroups) return;
  g_pending[(g_pending_head + g_npending) % kMaxGroups] = group;
  ++g_npending;
}

bool ResolveMib(const char* name, Mib* mib) {
  mib->len = sizeof(mib->v) / sizeof(mib->v[0]);
  return mgje_mallctlnametomib(name, mib->v, &mib->len) == 0;
}

// Resolves the MIBs (g_mibs and warm_large.h's), which builds jemalloc's
// control interface. Under g_engine_lock. False on failure (tried again
// next time).
bool ResolveCtlLocked() {
  // Relaxed: under g_engine_lock, which orders it with the writer.
  if (g_ctl_ready.load(std::memory_order_relaxed)) return true;
  const bool ok =
      ResolveMib("thread.arena", &g_mibs.thread_arena) &&
      ResolveMib("tcache.create", &g_mibs.tcache_create) &&
      ResolveMib("tcache.flush", &g_mibs.tcache_flush) &&
      ResolveMib("tcache.destroy", &g_mibs.tcache_destroy) &&
      ResolveMib("arenas.create", &g_mibs.arenas_create) &&
      ResolveMib("arena.0.retain_grow_limit",
                 &g_mibs.arena_retain_grow_limit) &&
      ResolveMib("arena.0.purge", &g_mibs.arena_purge) &&
      ResolveMib("arena.0.destroy", &g_mibs.arena_destroy) &&
      ResolveMib("background_thread", &g_mibs.background_thread) &&
      ResolveMib("max_background_threads", &g_mibs.max_background_threads) &&
      InitWarmLarge();
  if (!ok) {
    RawLog("engine: cannot resolve jemalloc's control names");
    return false;
  }
  // Pairs with EnsureCtl's acquire load: publishes the MIBs.
  g_ctl_ready.store(true, std::memory_order_release);
  return true;
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

// Gives jemalloc's arena 0 the root group's hooks, so that the root group's
// arena is arena 0 rather than a second one (whose metadata costs every
// process about 25 page faults). Nothing has been allocated from arena 0
// yet: with tcache:false (jemalloc_glue.cc) jemalloc's initialisation makes
// no tcache, and the explicit tcaches that it serves from arena 0 are made
// after this. Its metadata (base blocks) keeps jemalloc's own mapping; what
// jemalloc allocates for itself from arena 0 afterwards (explicit tcaches)
// comes from the root group's chunks, charged to no group. Its decay is off
// as every group's (jemalloc_glue.cc's dirty_decay_ms). Through jemalloc's
// internals (jemalloc_private.h) rather than arena.0.extent_hooks and
// arena.0.retain_grow_limit: a process of one group then never builds the
// control interface (EnsureCtl). Under g_engine_lock, in InitSlow. False,
// with nothing changed, when arena 0 does not exist.
bool TakeArenaZero() {
  // Acquire: pairs with jemalloc's release store of the arena it made (in
  // its initialisation, which happened before on this thread anyway).
  void* arena0 = __atomic_load_n(&je_arenas[0], __ATOMIC_ACQUIRE);
  if (arena0 == nullptr) return false;
  extent_hooks_t* hooks = GroupHooks(kRootGroup);
  if (hooks == nullptr) return false;
  (void)je_arena_set_extent_hooks(nullptr, arena0, hooks);
  // As every group's arena: growth by one chunk (CreateJemallocArenaLocked).
  size_t limit = owner_table::kChunkBytes;
  if (je_arena_retain_grow_limit_get_set(nullptr, arena0, nullptr, &limit)) {
    RawLog("engine: cannot set retain_grow_limit of arena 0");
  }
  return true;
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
  // jemalloc's first call initialises it (the private copy has no library
  // constructor, cmake/RenameJemalloc.cmake): nallocx, which unlike mallctl
  // leaves the control interface unbuilt (EnsureCtl). Then check that our
  // forced options won.
  if (ok && (mgje_nallocx(1, 0) == 0 || !je_opt_retain)) {
    RawLog("engine: private jemalloc is not configured with retain:true");
    ok = false;
  }
  // The list of groups waiting to be retired (sparse, as every MetaMap).
  if (ok) {
    g_pending = static_cast<uint32_t*>(MetaMap(kMaxGroups * sizeof(uint32_t)));
    ok = g_pending != nullptr && InitGroupArenas();
  }
  g_arena_zero_ready = ok && TakeArenaZero();
  // Else the root group's arena is made under g_engine_lock, which needs
  // the MIBs first.
  if (ok && !g_arena_zero_ready) ok = ResolveCtlLocked();
  if (!ok) RawLog("engine: initialisation failed");
  // Without the expected size classes the engine runs without front caches.
  if (ok) (void)front::InitClasses();
  // Pairs with Init's acquire load: publishes the owner table and arena 0.
  g_init_state.store(ok ? kReady : kFailed, std::memory_order_release);
  return ok;
}

}  // namespace

MG_NOINLINE MG_COLD bool EnsureCtlSlow() {
  // The mimalloc engine never initialises jemalloc.
  if (UsesMimalloc() || !Init()) return false;
  SpinLockHolder holder(&g_engine_lock);
  return ResolveCtlLocked();
}

int ArenaCtl(const Mib& mib, unsigned ind, void* newp, size_t newlen) {
  Mib m = mib;
  m.v[1] = JeArena(ind);
  return mgje_mallctlbymib(m.v, m.len, nullptr, nullptr, newp, newlen);
}

namespace {

// One line, the first time no arena is left for a group.
void ReportNoArena(uint32_t group) {
  // Relaxed: a one-time flag.
  if (g_no_arena_reported.exchange(true, std::memory_order_relaxed)) return;
  RawLog("engine: no jemalloc arena left for group slot %u (jemalloc has at"
         " most 4095, and every one is held by a group that allocated and"
         " was not destroyed, or whose blocks are still live): allocations"
         " in groups without an arena fail with ENOMEM, and binding a thread"
         " to one with ENOSPC, until such a group is destroyed and its"
         " blocks freed",
         group);
}

// Destroys arena `ind`, whose hooks are `group`'s, and gives back the
// group's chunks and record. Under g_engine_lock. False (nothing changed)
// if jemalloc refuses (a thread is still attached to the arena).
bool DestroyArenaLocked(uint32_t group, unsigned ind) {
  if (ArenaCtl(g_mibs.arena_destroy, ind, nullptr, 0) != 0) return false;
  ReleaseGroupArena(group);
  return true;
}

enum class Created { kOk, kNoArena, kFailed };

// Publishes arena `ind`, set up for `group` (its chunks and slab bins).
// Under g_engine_lock.
Created PublishArenaLocked(uint32_t group, unsigned ind) {
  // A new group may not take the slot until the arena is retired.
  GlobalRegistry().SetEngineHeld(group, true);
  // Pairs with ArenaOf's acquire load.
  g_group_rows[group].arena_ind.store(ind, std::memory_order_release);
  // Made for a group destroyed meanwhile (an allocation that resolved it
  // just before): it must be retired like the others.
  if (!GlobalRegistry().IsLive(group)) PushPendingLocked(group);
  return Created::kOk;
}

// Gives `group` its jemalloc arena: an idle one from the pool, or a new one.
// Under g_engine_lock.
Created CreateJemallocArenaLocked(uint32_t group) {
  if (group == kRootGroup && g_arena_zero_ready) {
    // Arena 0, with the group's hooks since InitSlow (TakeArenaZero).
    if (!slab::InitGroup(group, 0)) return Created::kFailed;
    g_arena_zero_ready = false;
    return PublishArenaLocked(group, kArenaZero);
  }
  unsigned ind = TakeArenaLocked(group);
  if (ind != 0) {
    // Its chunks are the group's already; its retain_grow_limit is set.
    if (!slab::InitGroup(group, ind)) {
      UntakeArenaLocked(group, ind);
      return Created::kFailed;
    }
    return PublishArenaLocked(group, ind);
  }
  extent_hooks_t* hooks = GroupHooks(group);
  if (hooks == nullptr) return Created::kNoArena;
  size_t len = sizeof(ind);
  // The alloc hook already runs inside this call (the arena's base block).
  if (mgje_mallctlbymib(g_mibs.arenas_create.v, g_mibs.arenas_create.len, &ind,
                        &len, &hooks, sizeof(hooks)) != 0) {
    ReleaseGroupArena(group);  // What the base block may have claimed.
    return Created::kNoArena;  // Arena limit or out of VA.
  }
  if (ind == 0 || ind > kMaxArenaIndex || !slab::InitGroup(group, ind)) {
    // Cannot be addressed, or no metadata for its bins. (Index 0 is never
    // a new arena; jemalloc would refuse to destroy it.)
    if (ind == 0 || !DestroyArenaLocked(group, ind)) ReleaseGroupArena(group);
    return ind > kMaxArenaIndex ? Created::kNoArena : Created::kFailed;
  }
  // Every growth then asks the hook for exactly what it needs (one chunk
  // for small loads) instead of jemalloc's geometric steps.
  size_t limit = owner_table::kChunkBytes;
  if (ArenaCtl(g_mibs.arena_retain_grow_limit, ind, &limit, sizeof(limit)) !=
      0) {
    RawLog("engine: cannot set retain_grow_limit of arena %u", ind);
  }
  return PublishArenaLocked(group, ind);
}

Created TryCreateArena(uint32_t group) {
  SpinLockHolder holder(&g_engine_lock);
  // Relaxed: under g_engine_lock, the only writer.
  if (g_group_rows[group].arena_ind.load(std::memory_order_relaxed) != 0) {
    return Created::kOk;
  }
  if (UsesMimalloc()) {
    // The group's mimalloc arena id (>= 1) stands in for the arena index.
    const int id = mi::CreateArena(group);
    if (id <= 0 || !slab::InitGroup(group, 0)) return Created::kFailed;
    // Pairs with ArenaOf's acquire load.
    g_group_rows[group].arena_ind.store(static_cast<uint32_t>(id),
                                        std::memory_order_release);
    return Created::kOk;
  }
  return CreateJemallocArenaLocked(group);
}

// RetireGroup's teardown of arena `ind` of `group`, claimed (kGroupRetiring)
// under g_engine_lock. True when the group has no arena any more.
bool RetireClaimedLocked(uint32_t group, unsigned ind) {
  // Other threads' explicit tcaches that may cache its large blocks, then
  // its slab regions out anywhere (other threads' other-group caches).
  if (TcacheUsers(group) != 0 || !slab::FiniGroup(group)) return false;
  // Idle in the pool for the next group (arena_pool.h); when the pool is
  // full, destroyed with its chunks.
  const bool parked = ParkArenaLocked(group, ind);
  if (!parked && ArenaCtl(g_mibs.arena_destroy, ind, nullptr, 0) != 0) {
    // A thread is still attached in jemalloc (an exited thread whose
    // jemalloc cleanup is deferred, thread_exit.cc): bins again, later.
    // The group stays destroyed: its bins keep no spare slab.
    if (slab::InitGroup(group, ind)) slab::SetRetired(group, true);
    return false;
  }
  // Pairs with ArenaOf's acquire load; nothing of the group is left to
  // look it up.
  g_group_rows[group].arena_ind.store(0, std::memory_order_release);
  if (!parked) ReleaseGroupArena(group);
  GlobalRegistry().SetEngineHeld(group, false);
  return true;
}

// Retires `group`'s arena if nothing of the group is left; true when it has
// none any more. Takes the registry lock, then g_engine_lock.
bool RetireGroup(uint32_t group) {
  if (group == kRootGroup || group >= kMaxGroups || UsesMimalloc()) return true;
  if (ArenaOf(group) == 0) return true;
  // What the calling thread still caches of it (a free after the destroy
  // puts a small block back in its other-group cache).
  FlushOtherCacheOf(group);
  DropThreadTcacheOf(group);
  // Empty slabs its bins kept (a free that raced with the destroy's
  // SetGroupRetired): their charge would keep it from reading 0.
  // So are free pages a free that raced with the destroy kept: the arena's
  // dirty pages go back with their charge.
  if (BeginGroupUse(group)) {
    // With the regions of its transfer cache (slab::FiniGroup fails while
    // any is out).
    transfer::Drain(group);
    slab::ReleaseEmpty(group);
    if (FreePagesOf(group) != 0) {
      const uint32_t ind = ArenaOf(group);
      if (ind != 0) (void)ArenaCtl(g_mibs.arena_purge, ind, nullptr, 0);
      (void)ReturnFreePages(group);
    }
    EndGroupUse(group);
  }
  // A zombie with nothing charged and no thread bound to it or below it:
  // no program block of it is live, no thread's front cache or automatic
  // tcache holds its blocks, and none can bind to it again.
  if (!GlobalRegistry().EngineReleasable(group)) return false;
  // Pairs with the release of the last uncharge (a seq_cst read-modify-
  // write, after the engine free it follows) and of the explicit tcache
  // counts' decrements: what they freed is visible below.
  std::atomic_thread_fence(std::memory_order_acquire);
  SpinLockHolder holder(&g_engine_lock);
  // Relaxed: under g_engine_lock, the only writer.
  const uint32_t ind =
      g_group_rows[group].arena_ind.load(std::memory_order_relaxed);
  if (ind == 0) return true;
  // No Purge or GroupStats of another thread is working on its arena or
  // bins, and none starts until they are gone (g_group_users).
  uint32_t idle = 0;
  // Acquire: pairs with EndGroupUse's release (their work is done).
  if (!g_group_users[group].compare_exchange_strong(
          idle, kGroupRetiring, std::memory_order_acquire,
          std::memory_order_relaxed)) {
    return false;
  }
  const bool retired = RetireClaimedLocked(group, ind);
  // Release: pairs with BeginGroupUse's acquire (a later use reads the
  // arena index this retirement cleared). fetch_and keeps the transient
  // counts of uses that backed off meanwhile.
  g_group_users[group].fetch_and(~kGroupRetiring, std::memory_order_release);
  return retired;
}

}  // namespace

void ReleaseGroup(uint32_t group) {
  if (group == kRootGroup || group >= kMaxGroups || !Init()) return;
  // The calling thread's caches of the group, its empty slabs and its
  // arena's free pages.
  Purge(group);
  if (!UsesMimalloc()) DropThreadTcacheOf(group);
  if (RetireGroup(group)) {
    // Nothing of it is left: the slot's next group keeps free pages. The
    // mimalloc engine retires nothing (its arena stays with the slot, whose
    // bins stay retired too): a late free of the group's blocks must not
    // keep their pages' charge.
    if (!UsesMimalloc()) SetFreePagesRetired(group, false);
    return;
  }
  SpinLockHolder holder(&g_engine_lock);
  PushPendingLocked(group);
}

uint32_t RetirePending(uint32_t budget) {
  if (UsesMimalloc() || budget == 0) return 0;
  uint32_t retired = 0;
  while (budget != 0) {
    uint32_t batch[64];
    uint32_t n = 0;
    {
      SpinLockHolder holder(&g_engine_lock);
      while (n < 64 && n < budget && g_npending != 0) {
        batch[n++] = g_pending[g_pending_head];
        g_pending_head = (g_pending_head + 1) % kMaxGroups;
        --g_npending;
      }
    }
    if (n == 0) break;
    budget -= n;
    for (uint32_t i = 0; i < n; ++i) {
      if (RetireGroup(batch[i])) {
        SetFreePagesRetired(batch[i], false);  // As in ReleaseGroup.
        ++retired;
        continue;
      }
      SpinLockHolder holder(&g_engine_lock);
      PushPendingLocked(batch[i]);
    }
  }
  return retired;
}

MG_NOINLINE MG_COLD bool CreateArenaSlow(uint32_t group) {
  if (!Init()) return false;
  // Every arena but arena 0 (the root group's, InitSlow) is made through
  // the control interface.
  if (group != kRootGroup && !UsesMimalloc() && !EnsureCtl()) return false;
  Created c = TryCreateArena(group);
  if (c == Created::kNoArena) {
    // Arenas that destroyed groups left, then once more.
    if (RetirePending(kMaxGroups) != 0) c = TryCreateArena(group);
    if (c == Created::kNoArena) ReportNoArena(group);
  }
  return c == Created::kOk;
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
