// What the files of the jemalloc engine (the implementation of engine.h)
// share: the engine-wide state they read (arena indices, mallctl MIBs, the
// engine lock, the thread's binding) and the hot inline helpers of the
// Alloc/Free paths, kept inline so that those paths compile to one function
// each. Only engine sources include it.
//
// The engine: one manual jemalloc arena per group, whose extent hooks carve
// memory only from 2 MiB chunks tagged for that group (group_arena.cc,
// owner_table.h), so OwnerOf(p) of every block the engine returns is the
// group it was allocated for. Small classes are the engine's own slab
// regions (slab.h, cut from 64 KiB blocks of the group's arena); jemalloc
// serves the large sizes. The files, by concern:
//   jemalloc_glue.cc  symbols the renamed jemalloc links against
//   thread_exit.cc    deferring jemalloc's thread cleanup; ThreadExit
//   engine_init.cc    Init, arena creation (EnsureGroup)
//   group_arena.cc    the per-group extent hooks
//   tcache_slots.cc   explicit tcaches for the groups a thread is not bound to
//   other_cache.cc    the thread's front cache for one other group
//   dispatch.cc       BindThread, Alloc/Free/Realloc and the size queries
//   engine_stats.cc   GroupStats, GroupHistogram, mallctl forwarding
//   fork.cc           the fork(2) handlers
//   warm_large.cc     the bound on the freed large memory an arena keeps
//
// Must never (all of them): allocate through the public malloc; throw; call
// jemalloc with MALLOCX_ARENA and the automatic tcache together
// (on a tcache hit jemalloc ignores the arena flag); let
// jemalloc's automatic arenas serve a block (a thread that is not bound
// never calls mgje_malloc/free); map an arena index back to a group
// (indices are recycled; hooks find their group through container_of); take
// a lock on the Alloc/Free fast path; ask jemalloc for a small size while
// the class tables are in use, or hand a slab region to jemalloc's free or
// rallocx (SmallClassOf tells them apart through the page map).
//
// SYNCHRONIZATION
//  - g_engine_lock (SpinLock): engine init and arena creation (slow paths);
//    held across fork by PrepareFork. Lock order: g_engine_lock -> jemalloc's
//    internal mutexes (ctl, arenas, grow, base) -> the group arena's lock
//    (group_arena.cc).
//  - The group arena's lock: the group's current chunk run; taken only
//    inside the alloc hook, which jemalloc calls under its grow/base mutexes.
//  - A group's arena entry (arena_ind, group_row.h): 0 until the group's
//    arena is fully set up, then its entry (JeArena) until the arena is
//    retired (release stores under g_engine_lock, acquire loads); retiring
//    requires that nothing of the group is left (engine_init.cc,
//    RetireGroup), so no reader can still use it.
//  - Thread state is initial-exec TLS, touched only by its thread.
#ifndef MEMGROUP_SRC_ENGINE_ENGINE_INTERNAL_H_
#define MEMGROUP_SRC_ENGINE_ENGINE_INTERNAL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "engine/fork_epoch.h"
#include "engine/front_cache_internal.h"
#include "engine/group_row.h"
#include "engine/jemalloc_private.h"
#include "engine/owner_table.h"

namespace memgroup::internal::engine {

// A thread's explicit tcache slots (tcache_slots.h) and its other-group
// cache (other_cache.h) fall back to uncached operation when they hold
// other groups; after this many such operations they move (round robin for
// the slots), so a thread that moved on to new groups gets a cache again
// without thrashing.
inline constexpr uint32_t kEvictAfterMisses = 64;

// mallctl MIBs, resolved on first need (EnsureCtl) and read-only
// afterwards.
struct Mib {
  size_t v[6];
  size_t len;
};
struct Mibs {
  Mib thread_arena;
  Mib tcache_create;
  Mib tcache_flush;
  Mib tcache_destroy;
  Mib arenas_create;
  Mib arena_retain_grow_limit;  // arena.<i>.retain_grow_limit, i at v[1]
  Mib arena_purge;              // arena.<i>.purge, i at v[1]
  Mib arena_destroy;            // arena.<i>.destroy, i at v[1]
  // Written by programs only to be refused (MallctlByMib).
  Mib background_thread;
  Mib max_background_threads;
};
MG_HIDDEN extern constinit Mibs g_mibs;
// Whether g_mibs (and warm_large.h's MIBs) are resolved: written once under
// g_engine_lock (release), read by EnsureCtl (acquire).
MG_HIDDEN extern constinit std::atomic<bool> g_ctl_ready;

MG_NOINLINE MG_COLD bool EnsureCtlSlow();
// Resolves the MIBs on their first need: jemalloc's control interface,
// which its first use builds (ctl_init: statistics blocks of arena 0 and of
// its "all" and "destroyed" sums; with the MIBs' lookups 35 page faults and
// 162,604 instructions of a short process, docs/perf.md "Start-up"), so that a process of one group that needs no explicit
// tcache, purge or statistics never builds it. Call it before any use of
// g_mibs that can come first: arena creation, rebinding, a tcache, a purge,
// warm_large.h's check. Takes g_engine_lock the first time: never under it.
// False when the engine is not initialised or the names do not resolve,
// and with the mimalloc engine.
MG_ALWAYS_INLINE bool EnsureCtl() {
  // Acquire: pairs with the release store that publishes the MIBs.
  if (MG_LIKELY(g_ctl_ready.load(std::memory_order_acquire))) return true;
  return EnsureCtlSlow();
}

// A group's arena entry is its GroupRow's arena_ind (group_row.h), 0 while
// it has none: the jemalloc arena's index, or kArenaZero for jemalloc's
// arena 0 (the root group's, set up with the group's hooks:
// engine_init.cc); with the mimalloc engine, the group's mimalloc arena id.
// Written under g_engine_lock (release, CreateArenaSlow and RetireGroup),
// read anywhere (acquire, ArenaOf). kArenaZero, the entry of arena 0, lies
// above every index MALLOCX_ARENA can encode (4094), below 2^13.
inline constexpr uint32_t kArenaZero = 0x1000;
// The jemalloc arena index of an arena entry.
MG_ALWAYS_INLINE unsigned JeArena(uint32_t entry) { return entry & 0xfff; }

// Engine init and arena creation; held across fork (fork.cc).
MG_HIDDEN extern constinit SpinLock g_engine_lock;

// Per group: how many calls are working on the group's arena and slab bins
// from outside (Purge and GroupStats run for any group, destroyed ones
// included: another group's refused charge reclaims its subtree's free
// pages, the control agent purges every group), plus kGroupRetiring while
// RetireGroup tears them down. The two exclude each other: a user that
// finds the group retiring backs off, and RetireGroup leaves a group in use
// on the pending list. One atomic word per group, so the read-modify-writes
// of both sides are totally ordered; no lock, no fence.
MG_HIDDEN extern constinit std::atomic<uint32_t> g_group_users[kMaxGroups];
inline constexpr uint32_t kGroupRetiring = 0x80000000u;

// Starts a use of `group`'s arena and bins: false (nothing to do) while it
// is being retired. Then ArenaOf and the bins stay the group's until
// EndGroupUse. Allocates: never.
MG_ALWAYS_INLINE bool BeginGroupUse(uint32_t group) {
  // Acquire: pairs with RetireGroup's release of kGroupRetiring (a retired
  // group's ArenaOf reads 0 here).
  const uint32_t old =
      g_group_users[group].fetch_add(1, std::memory_order_acquire);
  if (MG_LIKELY((old & kGroupRetiring) == 0)) return true;
  // Relaxed: the use never started; RetireGroup only waits for 0 users.
  g_group_users[group].fetch_sub(1, std::memory_order_relaxed);
  return false;
}
MG_ALWAYS_INLINE void EndGroupUse(uint32_t group) {
  // Release: pairs with RetireGroup's acquire claim (the use's work on the
  // arena and bins happens before they are torn down).
  g_group_users[group].fetch_sub(1, std::memory_order_release);
}

// The calling thread's bound group: kNoGroup until BindThread, and after
// ThreadExit. Owner-only (dispatch.cc, thread_exit.cc).
MG_HIDDEN extern MG_TLS uint32_t t_bound;
// Set by ThreadExit (the thread-exit hook): no tcache or cache is created
// for the thread after it. Owner-only.
MG_HIDDEN extern MG_TLS bool t_dead;

// Creates `group`'s arena (engine_init.cc). Slow path; false when the
// engine is not initialised, out of arenas (after retiring what destroyed
// groups left, RetirePending) or out of VA.
MG_NOINLINE MG_COLD bool CreateArenaSlow(uint32_t group);

// Runs `mib` (an arena.<i>.* MIB, i at v[1]) for the arena of entry `ind`
// (an index, or kArenaZero), writing `newp`. Returns mallctl's result. Slow
// path.
int ArenaCtl(const Mib& mib, unsigned ind, void* newp, size_t newlen);

// The group's arena entry (arena_ind), 0 while it has none.
MG_ALWAYS_INLINE uint32_t ArenaOf(uint32_t group) {
  // Pairs with CreateArenaSlow's release store: the arena is fully set up.
  return g_group_rows[group].arena_ind.load(std::memory_order_acquire);
}

MG_ALWAYS_INLINE int AlignFlags(size_t align) {
  // MALLOCX_LG_ALIGN(0) == 0: align 0 or 1 means no constraint.
  return align <= 1 ? 0 : MALLOCX_LG_ALIGN(__builtin_ctzl(align));
}

// Whether the start map records large blocks (owner_table.h): whenever the
// class tables are in use, which is what keeps every block under 16 KiB a
// slab region. Without them (front::InitClasses failed: an unexpected
// jemalloc) jemalloc serves every size and several blocks may start in one
// page, so large blocks are not recorded or checked.
MG_ALWAYS_INLINE bool LargeStartsKept() { return g_usable_of_class[1] != 0; }

// Records a large block about to be handed out in the page map and, as live
// and made in this process's fork epoch (fork_epoch.h), in the start map
// (owner_table.h): every large block the jemalloc engine returns goes
// through here, FrontPop or front::Refill.
MG_ALWAYS_INLINE void* Published(void* p, uint32_t group, uint32_t cls) {
  if (MG_LIKELY(p != nullptr)) {
    owner_table::PublishBlock(p, owner_table::MakeEntry(group, cls));
    if (MG_LIKELY(LargeStartsKept())) {
      owner_table::MarkLargeLive(p);
      StampLarge(p);
    }
  }
  return p;
}

// The front-cache class of an engine block, from the page map: 1 to
// kFrontFirstLarge - 1 for a slab region (slab.h), above for a large block
// the front cache may hold, 0 for any other jemalloc block.
MG_ALWAYS_INLINE uint32_t ClassOf(const void* p) {
  return owner_table::PageEntry(p) & ((1u << owner_table::kEntryGroupShift) - 1);
}
MG_ALWAYS_INLINE bool IsSlabClass(uint32_t cls) {
  return cls - 1 < kFrontFirstLarge - 1;
}
// The slab class of an engine block, or 0 for a jemalloc block.
MG_ALWAYS_INLINE uint32_t SmallClassOf(const void* p) {
  const uint32_t cls = ClassOf(p);
  return IsSlabClass(cls) ? cls : 0;
}

// A block of class `cls` from `fc`, refilling its bin when empty.
MG_ALWAYS_INLINE void* CachePop(FrontCache* fc, uint32_t cls) {
  void* p = FrontPop(fc, cls);
  return p != nullptr ? p : front::Refill(fc, cls);
}

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_ENGINE_INTERNAL_H_
