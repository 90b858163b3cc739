// Implements thresholds.h. The table is a fixed array guarded by
// g_threshold_lock; a check copies the due calls to the stack under the
// lock, counts them in the group's crossings (group_state.h) and makes them
// with no lock held. Allocates: never.
#include "group/thresholds.h"

#include "base/fork_locks.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "group/callback_table.h"
#include "group/group_state.h"
#include "group/thread_binding.h"

namespace memgroup::internal {
namespace {

struct Threshold {
  uint32_t group;
  uint32_t generation;
  int64_t threshold;
  ThresholdFn fn;  // nullptr = free entry
  void* arg;
  int above;  // last reported side
};

constinit SpinLock g_threshold_lock;
MG_TABLE constinit Threshold g_thresholds[kMaxThresholds] = {};
// Registered thresholds; relaxed: a stale zero only delays one check.
constinit std::atomic<int> g_nthresholds{0};

// The published count of a call about to be made (group_state.h
// crossings), under g_threshold_lock: one per call, none lost.
void CountCrossing(uint32_t group, int64_t threshold, int above) {
  GroupState& st = GlobalRegistry().state(group);
  // Relaxed: statistics, read by the group table's publisher
  // (job_groups.cc), exact once quiesced. The two are independent values:
  // a publication racing this crossing may show one without the other; the
  // next publication shows both.
  st.threshold_last[above ? 0 : 1].store(threshold, std::memory_order_relaxed);
  st.crossings[above ? kCrossThresholdAbove : kCrossThresholdBelow].fetch_add(
      1, std::memory_order_relaxed);
}

}  // namespace

Errc RegisterThreshold(uint32_t group, int64_t threshold, ThresholdFn fn,
                       void* arg, int* handle) {
  if (fn == nullptr || handle == nullptr || threshold < 0)
    return Errc::kInvalidArgument;
  Threshold entry{group, GenerationOfSlot(group), threshold, fn, arg,
                  GlobalRegistry().tree().Usage(group) >= threshold ? 1 : 0};
  return AddEntry(&g_threshold_lock, g_thresholds, &g_nthresholds, entry,
                  handle);
}

Errc UnregisterThreshold(int handle) {
  return RemoveEntry(&g_threshold_lock, g_thresholds, &g_nthresholds, handle);
}

void CheckThresholds(uint32_t group) {
  // Relaxed: registration is rare; a stale zero delays one report.
  if (MG_LIKELY(g_nthresholds.load(std::memory_order_relaxed) == 0)) return;
  if (t_thread.depth > 1) return;  // inside a callback: no recursion
  struct Call {
    ThresholdFn fn;
    void* arg;
    GroupId id;
    int64_t threshold;
    int above;
  } calls[16];
  int n = 0;
  CounterTree& t = GlobalRegistry().tree();
  {
    SpinLockHolder h(&g_threshold_lock);
    for (Threshold& th : g_thresholds) {
      if (th.fn == nullptr || n == 16) continue;
      if (!t.IsInSubtree(group, th.group)) continue;
      int above = t.Usage(th.group) >= th.threshold ? 1 : 0;
      if (above == th.above) continue;
      th.above = above;
      if (!StillLive(th.group, th.generation)) continue;
      calls[n++] = {th.fn, th.arg, MakeGroupId(th.group, th.generation),
                    th.threshold, above};
      CountCrossing(th.group, th.threshold, above);
    }
  }
  if (n == 0) return;
  DepthGuard depth;
  for (int k = 0; k < n; ++k) {
    calls[k].fn(calls[k].id, calls[k].threshold, calls[k].above, calls[k].arg);
  }
}

void ThresholdsPrepareFork() { ForkLock(g_threshold_lock); }
void ThresholdsParentFork() { ForkUnlock(g_threshold_lock); }
void ThresholdsChildFork() { ForkReset(g_threshold_lock); }

}  // namespace memgroup::internal
