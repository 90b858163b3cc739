// A group's free pages: the pages its jemalloc arena keeps for it after a
// large block or a slab went back (dirty extents, reused by the group's next
// large blocks and slabs without being faulted in again), charged to the
// group like the pages of its live blocks (the memcg rule: a group is
// charged for the pages its engine holds for it; free pages are what reclaim
// gives back). The engine keeps one count per group, in bytes:
//   - KeepFreePages: a large block freed to the arena, or a slab released to
//     it, keeps its charge as free pages instead of uncharging it;
//   - TakeFreePages: the group's next large block or slab takes its charge
//     from the count first (the arena is the group's own, so its free pages
//     serve that group only) and charges anew only the rest;
//   - ReturnFreePages: the arena was purged (reclaim, a refused charge, the
//     decay below): the whole count is uncharged;
//   - SyncFreePages: the arena's real dirty page count (jemalloc's
//     stats.arenas.<i>.pdirty, read at warm_large.h's checks) is below the
//     count (a realloc grew a block into pages the count stood for, or a
//     freed block sits in a jemalloc tcache): the difference is uncharged.
// Decay: a group whose count has neither grown nor been drawn on for
// kDecayMs has its free pages returned to the OS and uncharged (DecayDue
// names the groups; dispatch.cc's DecayFreePages purges them). The clock is
// CLOCK_MONOTONIC_COARSE, read on slow paths only. This decay is the only
// one of the engine's group arenas: jemalloc's own is off there
// (dirty_decay_ms -1, set by warm_large.h's InitWarmLarge), so an arena's
// dirty pages, and the count with them, go down only by memgroup's
// purges (this decay, reclaim, a refused charge, warm_large.h's bound,
// the group's destruction). Dirty pages the count does not cover (a block
// charged from the count that jemalloc put in fresh pages, a realloc's
// old extent) would then stay: NoteArenaDirtied marks the group so that
// the decay purges its arena when idle even with a count of 0.
//
// The mimalloc engine keeps the blocks of its released slabs (mi::KeepSlab,
// mimalloc_engine.h) and its freed large blocks above the front cache's
// classes (mi::KeepLarge) with their charge in this count; its other freed
// large blocks go back to mimalloc (KeepsFreePages is false): what the
// count stands for are the kept blocks' pages (mi::TrimKept gives back
// those it no longer covers).
//
// A fork child starts with every count at 0 (DropInheritedFreePages): the
// pages are its parent's charge; the child's copy of them stays in its
// arenas, charged to nobody, until the decay purges it. So do the pages of
// the large blocks it inherited live and frees (AddInheritedDirtyPages).
//
// Owns: the per-group counts, the inherited dirty pages, the decay stamps
// and scan deadline.
// Must never: be called on the fast path; be called with a lock of the
// engine held (ReturnFreePages and SyncFreePages uncharge, page_charge.h).
// Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_FREE_PAGES_H_
#define MEMGROUP_SRC_ENGINE_FREE_PAGES_H_

#include <atomic>
#include <cstdint>

#include "base/macros.h"
#include "engine/mimalloc_engine.h"

namespace memgroup::internal::engine {

// Free pages a group has neither added to nor reused for this long go back
// to the OS: 3 s, long enough that a program's phases of freeing and
// allocating again within a few seconds keep their pages warm.
inline constexpr int64_t kDecayMs = 3000;
// How often the groups are looked at (the decay acts kDecayMs to
// kDecayMs + kDecayTickMs after the last use, given a slow path or the
// control agent to drive it).
inline constexpr int64_t kDecayTickMs = 1000;

// Whether this engine keeps the pages of every freed large block (the
// jemalloc engine; the mimalloc engine keeps only those above the front
// cache's classes: engine.h, FreeKeepingCharge). Inline. Allocates:
// never.
MG_ALWAYS_INLINE bool KeepsFreePages() { return !UsesMimalloc(); }

// Keeps the charge of `bytes` of pages `group`'s arena just took back as
// the group's free pages. False (nothing kept: the caller uncharges) for a
// destroyed group (its charge must reach 0 with its last block).
// Allocates: never.
[[nodiscard]] bool KeepFreePages(uint32_t group, int64_t bytes);

// Takes up to `bytes` of `group`'s free pages' charge for a large block or
// slab being created; returns how much (already charged: the caller charges
// only the rest). A take marks the group as NoteArenaDirtied does (the
// block may not reuse the pages taken). Allocates: never.
int64_t TakeFreePages(uint32_t group, int64_t bytes);

// Whether this thread's last TakeFreePages since the previous call took
// something (the flag is cleared): the large block made next may not have
// found those pages in the arena (jemalloc cannot put a block in dirty
// extents too small for it), so warm_large.h's check follows it.
// Allocates: never.
bool TookFreePages();

// `group`'s arena may hold dirty pages no count covers: the decay purges
// it once the group was idle for kDecayMs (stamped now), even with a count
// of 0. Reads the coarse clock. Allocates: never.
void NoteArenaDirtied(uint32_t group);

// The group's arena was purged: uncharges its whole count and returns it;
// its inherited dirty pages (InheritedDirtyPages) are gone too.
// Allocates: never.
int64_t ReturnFreePages(uint32_t group);

// The arena holds `real` bytes of free pages: a count above it drops to it,
// uncharging the difference. Returns the count after. Allocates: never.
int64_t SyncFreePages(uint32_t group, int64_t real);

// In a fork child, from its handler once the child has its own member
// slots and stocks (alloc/fork.cc): the counts inherited stand for pages
// charged to the parent (its member slot holds that charge), so the child
// starts at 0 (its blocks placed in those pages are charged as fresh).
// Each count is uncharged (in a job the child's slots give back at most
// what the child charged, 0 so far: only its process-local counters drop),
// kept as the group's inherited dirty pages (InheritedDirtyPages) and the
// group marked (NoteArenaDirtied), so that the decay purges the child's
// copy of those pages when idle. Returns the bytes uncharged.
// Allocates: never.
int64_t DropInheritedFreePages();

// Of the `uncovered` bytes of free pages `group`'s arena (mimalloc: its
// kept slabs) holds beyond its count, those inherited at fork
// (DropInheritedFreePages, AddInheritedDirtyPages) and not yet purged or
// reused: the child was never charged for them (in memcg terms they are
// the parent's until the child writes them), so a check must neither
// charge them as free pages nor count them as pages nobody's charge
// covers. The figure goes up only by AddInheritedDirtyPages, and down to
// `uncovered` when below it (the child reused some), to 0 when the arena
// is purged (ReturnFreePages). Allocates: never.
int64_t InheritedDirtyPages(uint32_t group, int64_t uncovered);

// In a fork child: `bytes` of pages of a block or slab the child inherited
// live go back to `group`'s arena without a charge (fork_epoch.h): they
// join the group's inherited dirty pages, and the group is marked
// (NoteArenaDirtied) for the decay. Allocates: never.
void AddInheritedDirtyPages(uint32_t group, int64_t bytes);

// The group's free pages (charged), and the bytes returned and uncharged
// since the process started (purges, decay, resynchronisation). Statistics.
int64_t FreePagesOf(uint32_t group);
int64_t ReturnedPagesOf(uint32_t group);

// A destroyed group keeps no free pages (true) until its slot holds a new
// group (false). Allocates: never.
void SetFreePagesRetired(uint32_t group, bool retired);

// Whether some group may hold free pages (false: nothing to take, and the
// decay has nothing to do; set by every keep and NoteArenaDirtied, cleared
// by a scan that leaves no count and no mark). Inline: the slow paths of
// large blocks test it before any call. Allocates: never.
MG_HIDDEN extern constinit std::atomic<bool> g_free_pages_pending;
MG_ALWAYS_INLINE bool FreePagesPending() {
  // Relaxed: a hint (free_pages.cc, g_free_pages_pending).
  return g_free_pages_pending.load(std::memory_order_relaxed);
}

// The decay scan, at most once per kDecayTickMs (`now_ms`: the coarse
// clock): calls due(g) for every group whose free pages, or whose arena
// marked by NoteArenaDirtied, were idle for kDecayMs (the mark is cleared
// first). Returns true while some group holds free pages or a mark.
// Allocates: never.
bool DecayDue(int64_t now_ms, void (*due)(uint32_t group));

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_FREE_PAGES_H_
