// Implements limits.h.
//
// SYNCHRONIZATION
// - g_limits_lock serialises every writer of max/high/low/min (the counter's
//   own Dekker pair orders ExchangeMax against concurrent TryCharge); it is
//   a leaf lock, released before draining, reclaiming or waking.
#include "group/limits.h"

#include "base/fork_locks.h"
#include "base/spinlock.h"
#include "group/charger.h"
#include "group/oom_policy.h"
#include "group/reclaim.h"
#include "group/registry.h"

namespace memgroup::internal {
namespace {

constinit SpinLock g_limits_lock;

}  // namespace

Errc SetLimit(uint32_t group, LimitKind kind, int64_t bytes) {
  if (bytes < 0) return Errc::kInvalidArgument;
  CounterTree& t = GlobalRegistry().tree();
  switch (kind) {
    case LimitKind::kMax: {
      int64_t old;
      {
        SpinLockHolder h(&g_limits_lock);
        old = t.ExchangeMax(group, bytes);
      }
      // v2 memory.max: make usage exact against the new limit at once and
      // reclaim down to it; later charges fail until usage falls.
      if (bytes < old) {
        DrainSubtree(group);
        int64_t over = t.Usage(group) - bytes;
        if (over > 0) (void)ProactiveReclaim(group, over);
      }
      if (bytes > old) NotifyLimitChanged(group);
      return Errc::kOk;
    }
    case LimitKind::kHigh: {
      int64_t old;
      {
        SpinLockHolder h(&g_limits_lock);
        old = t.High(group);
        t.SetHigh(group, bytes);
      }
      if (bytes < old) DrainSubtree(group);
      return Errc::kOk;
    }
    case LimitKind::kLow: {
      SpinLockHolder h(&g_limits_lock);
      t.SetLow(group, bytes);
      return Errc::kOk;
    }
    case LimitKind::kMin: {
      SpinLockHolder h(&g_limits_lock);
      t.SetMin(group, bytes);
      return Errc::kOk;
    }
  }
  return Errc::kInvalidArgument;
}

void LimitsPrepareFork() { ForkLock(g_limits_lock); }
void LimitsParentFork() { ForkUnlock(g_limits_lock); }
void LimitsChildFork() { ForkReset(g_limits_lock); }

}  // namespace memgroup::internal
