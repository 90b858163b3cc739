// Implements charger.h.
//
// SYNCHRONIZATION
// - t_thread is owner-only (initial-exec TLS); nothing else reads it.
// - Stocks follow the busy/frozen protocol of charge_stock.h; this file only
//   calls ChargeStocks.
// - Counter limits and usage follow counter_tree.h (seq_cst Dekker pair on
//   try-charge vs limit change).
// - The refusing level's decision is exact: DrainSubtree(refusing level)
//   returns every stocked byte of its subtree before the retry, so the retry
//   compares real usage with max; at a job level JobRevokeOtherStocks also
//   takes the other members' stocked bytes off the job
//   (counter/job_stock_area.h, "Stock revocation"), and JobAskOthersForFreePages
//   has their agents return their free engine pages (a bounded wait, with
//   no lock held).
// - OOM waiters sleep on GroupState::wake_seq (oom_policy.cc).
// - No lock is held while reclaim callbacks or OOM handlers run.
#include "group/charger.h"

#include "base/sys.h"
#include "group/fault_injection.h"
#include "group/job_member.h"
#include "group/oom_policy.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/thresholds.h"
#include "group/throttle.h"

namespace memgroup::internal {
namespace {

constexpr int kMaxReclaimRetries = 16;  // kernel MAX_RECLAIM_RETRIES

// The subtree of this process that a refusal at `failed` drains and
// reclaims: the whole process for a job node (this process's share of the
// job; other members act on their own refusals).
uint32_t LocalLevel(uint32_t failed) {
  return IsJobLevel(failed) ? kRootGroup : failed;
}

// usage + bytes - max at the refusing level.
int64_t Shortfall(uint32_t failed, int64_t bytes) {
  if (IsJobLevel(failed)) {
    JobNode* node = JobNodeAt(failed);
    if (node == nullptr) return bytes;
    // Relaxed: a reclaim target.
    return node->counter.usage.load(std::memory_order_relaxed) + bytes -
           node->counter.max.load(std::memory_order_relaxed);
  }
  const CounterTree& t = GlobalRegistry().tree();
  return t.Usage(failed) + bytes - t.Max(failed);
}

// After a successful charge: threshold notifications and the high penalty.
ChargeResult Charged(uint32_t group, int64_t bytes) {
  CheckThresholds(group);
  MaybeThrottle(group, bytes);
  return ChargeResult::kOk;
}

// Steps 1-2 of a refused charge: drain every stock of the refusing subtree,
// so that the decision is made on exact usage (at a job level, the other
// members' stocks and, once, their free engine pages too); group-local
// reclaim for the
// shortfall, retried until a round makes no progress 16 times (kernel
// MAX_RECLAIM_RETRIES). *failed: the refusing level, updated by retries.
ChargeResult DrainAndReclaim(uint32_t group, int64_t bytes, uint32_t* failed) {
  Registry& reg = GlobalRegistry();
  int no_progress = 0;
  bool stalled = false;
  int64_t stall_start = 0;
  ChargeResult result = ChargeResult::kOverLimit;
  bool asked = false;
  while (no_progress < kMaxReclaimRetries) {
    // A job refusal: members that died hold charge nobody will return, and
    // the other members' stocks are taken back, so that the retry compares
    // what every member really uses with max.
    int64_t revoked = 0;
    if (IsJobLevel(*failed)) {
      JobReleaseDeadMembers();
      revoked = JobRevokeOtherStocks(*failed);
    }
    int64_t drained =
        reg.stocks().DrainSubtree(LocalLevel(*failed)) + revoked;
    uint32_t again = *failed;
    if (RetryCharge(group, bytes, &again) == ChargeResult::kOk) {
      result = ChargeResult::kOk;
      break;
    }
    *failed = again;
    // From here the thread waits for memory to be given back: a stall (memcg
    // counts reclaim, its own and the wait for other tasks', as a memory
    // stall), the wait for the other members' answers below included.
    if (!stalled) {
      stalled = true;
      stall_start = MonotonicNanos();
      StallBegin(group);
    }
    // A job refusal, once per charge: the other members return their free
    // engine pages (memcg reclaims every process of the cgroup), then the
    // loop revokes, drains and retries again.
    if (IsJobLevel(*failed) && !asked) {
      asked = true;
      (void)JobAskOthersForFreePages(*failed, /*throttled=*/false);
      continue;
    }
    int64_t shortfall = Shortfall(*failed, bytes);
    if (shortfall <= 0) shortfall = bytes;
    int64_t reclaimed = ReclaimSubtree(LocalLevel(*failed), shortfall);
    if (reclaimed < 0 && drained == 0) break;  // nothing can give
    if (reclaimed > 0 || drained > 0) {
      no_progress = 0;
      if (reclaimed <= 0) ++no_progress;  // draining alone is one round
    } else {
      ++no_progress;
    }
  }
  if (stalled) {
    StallEnd(group, StallKind::kReclaim, MonotonicNanos() - stall_start);
  }
  return result;
}

}  // namespace

bool FaultInjectedFor(uint32_t group) {
  if (MG_LIKELY(!FaultInjected())) return false;
  // Relaxed: statistics.
  GlobalRegistry().state(group).faults_injected.fetch_add(
      1, std::memory_order_relaxed);
  return true;
}

ChargeResult RetryCharge(uint32_t group, int64_t bytes, uint32_t* failed) {
  return GlobalRegistry().tree().TryCharge(group, bytes, failed,
                                           CountFailure::kNo)
             ? ChargeResult::kOk
             : ChargeResult::kOverLimit;
}

ChargeResult ChargeSlow(uint32_t group, int64_t bytes, ChargeKind kind) {
  ThreadState& t = t_thread;
  Registry& reg = GlobalRegistry();
  uint32_t failed = kNoParent;
  // Fault injection fails allocation calls (one charge each: threads have
  // no stock while it is on), not explicit charges. A fault is not an OOM:
  // no event, no policy, only its statistic.
  if (MG_UNLIKELY((kind == ChargeKind::kHeap || kind == ChargeKind::kMmap) &&
                  FaultInjectedFor(group))) {
    return ChargeResult::kOverLimit;
  }
  // Nested (reentrant) calls charge the counter directly or fail: they never
  // touch the stock or re-enter reclaim.
  if (t.depth > 0) {
    return reg.tree().TryCharge(group, bytes, &failed)
               ? ChargeResult::kOk
               : ChargeResult::kOverLimit;
  }
  DepthGuard guard;
  ThreadStock* ts = kind == ChargeKind::kExplicit ? nullptr : t.stock;
  if (reg.stocks().TryCharge(ts, group, bytes, &failed)) {
    return Charged(group, bytes);
  }
  // Refused at `failed` (the group itself or an ancestor).
  reg.RaiseEvent(failed, kEventMax);
  if (DrainAndReclaim(group, bytes, &failed) == ChargeResult::kOk) {
    return Charged(group, bytes);
  }
  // 3. The OOM policy of the refusing group.
  return RunOomPolicy(group, failed, bytes);
}

void UnchargeSlow(uint32_t owner, int64_t bytes) {
  ThreadState& t = t_thread;
  // A thread whose first call is a free gets its stock here.
  if (MG_UNLIKELY(t.status == kThreadNew)) SetupThread();
  GlobalRegistry().stocks().Refill(t.depth == 0 ? t.stock : nullptr, owner,
                                   bytes);
  CheckThresholds(owner);
}

void UnchargeInherited(uint32_t owner, int64_t bytes) {
  if (bytes <= 0) return;
  GlobalRegistry().tree().UnchargeLocal(owner, bytes);
  CheckThresholds(owner);
}

int64_t DrainSubtree(uint32_t group) {
  return GlobalRegistry().stocks().DrainSubtree(group);
}

}  // namespace memgroup::internal
