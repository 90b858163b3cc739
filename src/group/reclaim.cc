// Implements reclaim.h. The reclaimer table is a fixed array guarded by one
// lock; a walk copies what it needs to the stack under the lock and calls
// out with no lock held. Allocates: never.
#include "group/reclaim.h"

#include <atomic>

#include "base/fork_locks.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "group/callback_table.h"
#include "group/charger.h"
#include "group/pressure.h"
#include "group/thread_binding.h"

namespace memgroup::internal {
namespace {

struct Reclaimer {
  uint32_t group;  // slot index
  uint32_t generation;
  ReclaimFn fn;  // nullptr = free entry
  void* arg;
};

constinit SpinLock g_reclaim_lock;
MG_TABLE constinit Reclaimer g_reclaimers[kMaxReclaimers] = {};

constexpr int kMaxReclaimRounds = 16;  // kernel MAX_RECLAIM_RETRIES

// Written once at init (release), read by every reclaim walk (acquire).
constinit std::atomic<PageReclaimFn> g_page_reclaim{nullptr};

}  // namespace

Errc RegisterReclaimer(uint32_t group, ReclaimFn fn, void* arg, int* handle) {
  if (fn == nullptr || handle == nullptr) return Errc::kInvalidArgument;
  return AddEntry(&g_reclaim_lock, g_reclaimers, nullptr,
                  Reclaimer{group, GenerationOfSlot(group), fn, arg}, handle);
}

Errc UnregisterReclaimer(int handle) {
  return RemoveEntry(&g_reclaim_lock, g_reclaimers, nullptr, handle);
}

void SetPageReclaimHook(PageReclaimFn fn) {
  // Pairs with the acquire load in ReclaimSubtree.
  g_page_reclaim.store(fn, std::memory_order_release);
}

int64_t ReturnFreePagesOf(uint32_t target) {
  // Pairs with SetPageReclaimHook's release store.
  PageReclaimFn hook = g_page_reclaim.load(std::memory_order_acquire);
  if (hook == nullptr) return 0;
  DepthGuard depth;
  const int64_t pages = hook(target);
  return pages > 0 ? pages : 0;
}

int64_t ReclaimSubtree(uint32_t target, int64_t bytes) {
  Registry& reg = GlobalRegistry();
  CounterTree& t = reg.tree();
  // Free engine pages first. Pairs with SetPageReclaimHook's release store.
  int64_t pages = 0;
  if (PageReclaimFn hook = g_page_reclaim.load(std::memory_order_acquire);
      hook != nullptr) {
    DepthGuard depth;
    pages = hook(target);
    if (pages < 0) pages = 0;
  }
  if (pages >= bytes) {
    NotifyReclaimPressure(target, bytes, pages);
    return pages;
  }
  // Snapshot the reclaimers of the subtree (no lock held while calling).
  Reclaimer found[64];
  int n = 0;
  {
    SpinLockHolder h(&g_reclaim_lock);
    for (const Reclaimer& r : g_reclaimers) {
      if (r.fn == nullptr || n == 64) continue;
      if (!t.IsInSubtree(r.group, target)) continue;
      if (!StillLive(r.group, r.generation)) continue;
      found[n++] = r;
    }
  }
  if (n == 0) return pages > 0 ? pages : -1;
  // Effective protection for this walk, parents before children.
  reg.ForEachInSubtree(target, [&](uint32_t i) {
    t.CalculateProtection(target, i, /*recursive=*/false);
  });
  DepthGuard depth;
  int64_t released = pages;
  bool skipped_low = false;
  for (int pass = 0; pass < 2 && released < bytes; ++pass) {
    if (pass == 1 && (!skipped_low || released > 0)) break;
    for (int k = 0; k < n && released < bytes; ++k) {
      uint32_t g = found[k].group;
      if (t.BelowMin(target, g)) continue;  // hard protection
      if (t.BelowLow(target, g)) {
        if (pass == 0) {
          skipped_low = true;
          continue;
        }
        reg.RaiseEvent(g, kEventLow);  // low protection overcommitted
      } else if (pass == 1) {
        continue;  // already asked in the first pass
      }
      GroupState& st = reg.state(g);
      // Relaxed: statistics.
      st.reclaim_calls.fetch_add(1, std::memory_order_relaxed);
      int64_t got = found[k].fn(MakeGroupId(g, found[k].generation),
                                bytes - released, found[k].arg);
      if (got > 0) {
        released += got;
        // Relaxed: statistics.
        st.reclaimed_bytes.fetch_add(got, std::memory_order_relaxed);
      }
    }
  }
  // What the callbacks freed of large blocks stayed charged as their
  // groups' free pages: returned now (not counted again: the callbacks
  // reported it).
  if (released > pages) (void)ReturnFreePagesOf(target);
  NotifyReclaimPressure(target, bytes, released);
  return released;
}

int64_t ProactiveReclaim(uint32_t target, int64_t bytes) {
  int64_t total = 0;
  int no_progress = 0;
  DrainSubtree(target);
  const CounterTree& t = GlobalRegistry().tree();
  while (total < bytes && no_progress < kMaxReclaimRounds) {
    int64_t remaining = bytes - total;
    int64_t ask = remaining / 4;
    if (ask < 32 * 4096) ask = remaining < 32 * 4096 ? remaining : 32 * 4096;
    const int64_t before = t.Usage(target);
    int64_t got = ReclaimSubtree(target, ask);
    if (got < 0) break;  // nobody to ask
    if (got > 0) total += got;
    // Progress is a lower usage, not pages given back: a callback that
    // allocates (a Python one, in the calling thread) has its pages
    // charged and given back in every round, and such a round would
    // otherwise count until `bytes` were "released".
    if (got == 0 || t.Usage(target) >= before) {
      ++no_progress;
    } else {
      no_progress = 0;
    }
  }
  return total;
}

void ReclaimPrepareFork() { ForkLock(g_reclaim_lock); }
void ReclaimParentFork() { ForkUnlock(g_reclaim_lock); }
void ReclaimChildFork() { ForkReset(g_reclaim_lock); }

}  // namespace memgroup::internal
