// Implements counter_tree.h. Follows the kernel's mm/page_counter.c algorithm:
// add-then-check per level, rollback of the levels below a refusing level,
// lazy watermarks, protected-usage propagation. Allocates: never.
#include "counter/counter_tree.h"

#include "base/macros.h"
#include "base/raw_log.h"
#include "counter/job_block.h"
#include "counter/job_slots.h"

namespace memgroup::internal {

void CounterTree::InitNode(uint32_t i, uint32_t parent) const {
  PageCounter& c = nodes_[i];
  c.usage.store(0, std::memory_order_relaxed);
  c.failcnt.store(0, std::memory_order_relaxed);
  c.emin.store(0, std::memory_order_relaxed);
  c.min_usage.store(0, std::memory_order_relaxed);
  c.children_min_usage.store(0, std::memory_order_relaxed);
  c.elow.store(0, std::memory_order_relaxed);
  c.low_usage.store(0, std::memory_order_relaxed);
  c.children_low_usage.store(0, std::memory_order_relaxed);
  c.watermark.store(0, std::memory_order_relaxed);
  c.local_watermark.store(0, std::memory_order_relaxed);
  c.max.store(kUnlimited, std::memory_order_relaxed);
  c.high.store(kUnlimited, std::memory_order_relaxed);
  c.low.store(0, std::memory_order_relaxed);
  c.min.store(0, std::memory_order_relaxed);
  c.underflows.store(0, std::memory_order_relaxed);
  // Pairs with readers of parent that find this node through the registry
  // (published there with release); relaxed here is enough.
  c.parent.store(parent, std::memory_order_relaxed);
}

void CounterTree::PropagateProtectedUsage(uint32_t i, int64_t usage) const {
  PageCounter& c = nodes_[i];
  uint32_t parent = c.parent.load(std::memory_order_relaxed);
  if (parent == kNoParent) return;
  PageCounter& p = nodes_[parent];

  int64_t min = c.min.load(std::memory_order_relaxed);
  int64_t low = c.low.load(std::memory_order_relaxed);
  // No protection configured and none recorded: nothing to propagate (the
  // common case; keeps the counter walk short).
  if (min == 0 && low == 0 &&
      c.min_usage.load(std::memory_order_relaxed) == 0 &&
      c.low_usage.load(std::memory_order_relaxed) == 0) {
    return;
  }
  int64_t prot = usage < min ? usage : min;
  if (prot < 0) prot = 0;
  // Racy by design: a stale read only costs an extra exchange below.
  if (prot != c.min_usage.load(std::memory_order_relaxed)) {
    // The exchange makes concurrent propagations hand each delta to the
    // parent exactly once; no ordering with other memory is needed.
    int64_t old = c.min_usage.exchange(prot, std::memory_order_relaxed);
    if (prot != old) {
      p.children_min_usage.fetch_add(prot - old, std::memory_order_relaxed);
    }
  }
  prot = usage < low ? usage : low;
  if (prot < 0) prot = 0;
  // Racy by design: as above.
  if (prot != c.low_usage.load(std::memory_order_relaxed)) {
    // As above: exactly-once delta transfer.
    int64_t old = c.low_usage.exchange(prot, std::memory_order_relaxed);
    if (prot != old) {
      p.children_low_usage.fetch_add(prot - old, std::memory_order_relaxed);
    }
  }
}

void CounterTree::RaiseWatermark(PageCounter& c, int64_t usage) const {
  // Racy by design (kernel precedent): concurrent raisers may store a slightly
  // lower value last; the error is bounded by one concurrent charge.
  if (usage > c.local_watermark.load(std::memory_order_relaxed)) {
    c.local_watermark.store(usage, std::memory_order_relaxed);
    if (usage > c.watermark.load(std::memory_order_relaxed)) {
      c.watermark.store(usage, std::memory_order_relaxed);
    }
  }
}

void CounterTree::Cancel(uint32_t i, int64_t bytes) const {
  PageCounter& c = nodes_[i];
  // Relaxed: an uncharge never needs to be ordered against a limit check;
  // a late-seen uncharge only makes a racing charge fail conservatively.
  int64_t now = c.usage.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
  if (MG_UNLIKELY(now < 0)) {
    // Kernel: WARN_ONCE and clamp. Racy by design: a concurrent charge between
    // the sub and this add is preserved because we add back only our deficit.
    c.usage.fetch_add(-now, std::memory_order_relaxed);
    if (c.underflows.fetch_add(1, std::memory_order_relaxed) == 0) {
      RawLog("counter underflow at node %u: uncharge of %lld bytes below zero",
             i, static_cast<long long>(bytes));
    }
    now = 0;
  }
  PropagateProtectedUsage(i, now);
}

bool CounterTree::TryCharge(uint32_t i, int64_t bytes, uint32_t* failed,
                            CountFailure count) const {
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    PageCounter& c = nodes_[n];
    // seq_cst: the add must be globally ordered before the load of max below.
    // Pairs with ExchangeMax's exchange followed by the setter's load of
    // usage: either we see the new max, or the setter sees our usage (Dekker
    // store->load).
    int64_t now = c.usage.fetch_add(bytes, std::memory_order_seq_cst) + bytes;
    // seq_cst: second half of the Dekker pair above.
    int64_t max = c.max.load(std::memory_order_seq_cst);
    if (now > max) {
      // Relaxed: rollback of our own add; see Cancel.
      c.usage.fetch_sub(bytes, std::memory_order_relaxed);
      if (count == CountFailure::kYes) {
        c.failcnt.fetch_add(1, std::memory_order_relaxed);
      }
      if (failed != nullptr) *failed = n;
      for (uint32_t m = i; m != n;
           m = nodes_[m].parent.load(std::memory_order_relaxed)) {
        Cancel(m, bytes);
      }
      return false;
    }
    PropagateProtectedUsage(n, now);
    RaiseWatermark(c, now);
  }
  if (MG_UNLIKELY(Linked()) && !TryChargeJob(bytes, count, failed)) {
    for (uint32_t m = i; m != kNoParent;
         m = nodes_[m].parent.load(std::memory_order_relaxed)) {
      Cancel(m, bytes);
    }
    return false;
  }
  return true;
}

bool CounterTree::Linked() const {
  return link_ != nullptr && link_->node != nullptr;
}

namespace {

// Returns `bytes` to one job level: at most what the member's `charged`
// there holds (blocks inherited at fork stay charged to the member that
// allocated them; docs/preload.md, "Jobs").
void UnchargeJobLevel(const JobLink* l, int64_t bytes) {
  std::atomic<int64_t>* mine = l->charged;
  // Relaxed: a byte count; the CAS makes concurrent uncharges of this
  // member's threads take disjoint amounts.
  int64_t cur = mine->load(std::memory_order_relaxed);
  int64_t take;
  do {
    take = cur < bytes ? cur : bytes;
    if (take <= 0) return;
  } while (!mine->compare_exchange_weak(cur, cur - take,
                                        std::memory_order_relaxed,
                                        std::memory_order_relaxed));
  PageCounter& c = l->node->counter;
  // Relaxed: as Cancel.
  int64_t now = c.usage.fetch_sub(take, std::memory_order_relaxed) - take;
  if (MG_UNLIKELY(now < 0)) {
    // Racy by design: add back only our deficit (a released member's bytes
    // raced with ours).
    c.usage.fetch_add(-now, std::memory_order_relaxed);
  }
  JobWakeWaiters(l->node);
}

// Takes back a charge one level made (a level above refused it).
void RollBackJobLevel(const JobLink* l, int64_t bytes) {
  // Relaxed: rollback of our own adds (see Cancel).
  l->node->counter.usage.fetch_sub(bytes, std::memory_order_relaxed);
  l->charged->fetch_sub(bytes, std::memory_order_relaxed);
}

}  // namespace

bool CounterTree::TryChargeJob(int64_t bytes, CountFailure count,
                               uint32_t* failed) const {
  uint32_t level = 0;
  for (const JobLink* l = link_; l != nullptr && l->node != nullptr;
       l = l->up, ++level) {
    PageCounter& c = l->node->counter;
    // seq_cst: the Dekker pair of TryCharge (add, then load max), with a
    // limit raise in another process.
    int64_t now = c.usage.fetch_add(bytes, std::memory_order_seq_cst) + bytes;
    // seq_cst: second half of the pair.
    if (now > c.max.load(std::memory_order_seq_cst)) {
      // Relaxed: rollback of our own add.
      c.usage.fetch_sub(bytes, std::memory_order_relaxed);
      if (count == CountFailure::kYes) {
        c.failcnt.fetch_add(1, std::memory_order_relaxed);
      }
      for (const JobLink* b = link_; b != l; b = b->up) {
        RollBackJobLevel(b, bytes);
      }
      if (failed != nullptr) *failed = kJobNode - level;
      return false;
    }
    RaiseWatermark(c, now);
    // Relaxed: a byte count owned by this member; see job_block.h.
    int64_t mine = l->charged->fetch_add(bytes, std::memory_order_relaxed) +
                   bytes;
    // Racy by design: a statistic of this member only.
    if (mine > l->peak->load(std::memory_order_relaxed)) {
      l->peak->store(mine, std::memory_order_relaxed);
    }
  }
  return true;
}

void CounterTree::ChargeJob(int64_t bytes) const {
  for (const JobLink* l = link_; l != nullptr && l->node != nullptr;
       l = l->up) {
    PageCounter& c = l->node->counter;
    // Relaxed: a forced charge checks no limit.
    int64_t now = c.usage.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    RaiseWatermark(c, now);
    // Relaxed: as TryChargeJob.
    l->charged->fetch_add(bytes, std::memory_order_relaxed);
  }
}

void CounterTree::UnchargeJob(int64_t bytes) const {
  for (const JobLink* l = link_; l != nullptr && l->node != nullptr;
       l = l->up) {
    UnchargeJobLevel(l, bytes);
  }
}

void CounterTree::Charge(uint32_t i, int64_t bytes) const {
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    PageCounter& c = nodes_[n];
    // Relaxed: a forced charge checks no limit, so nothing to order against.
    int64_t now = c.usage.fetch_add(bytes, std::memory_order_relaxed) + bytes;
    PropagateProtectedUsage(n, now);
    RaiseWatermark(c, now);
  }
  if (MG_UNLIKELY(Linked())) ChargeJob(bytes);
}

void CounterTree::Uncharge(uint32_t i, int64_t bytes) const {
  UnchargeLocal(i, bytes);
  if (MG_UNLIKELY(Linked())) UnchargeJob(bytes);
}

void CounterTree::UnchargeLocal(uint32_t i, int64_t bytes) const {
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    Cancel(n, bytes);
  }
}

void CounterTree::UnchargeRevoked(uint32_t i, int64_t bytes,
                                  int32_t cut) const {
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    Cancel(n, bytes);
  }
  if (!Linked()) return;
  for (const JobLink* l = link_; l != nullptr && l->node != nullptr;
       l = l->up) {
    if (static_cast<int32_t>(l->depth) > cut) UnchargeJobLevel(l, bytes);
  }
}

int64_t CounterTree::ExchangeMax(uint32_t i, int64_t bytes) const {
  // seq_cst: pairs with TryCharge's seq_cst add and load of max (Dekker);
  // after this returns, every charge that has not yet read max sees the new
  // value.
  return nodes_[i].max.exchange(bytes, std::memory_order_seq_cst);
}

void CounterTree::SetHigh(uint32_t i, int64_t bytes) const {
  // Relaxed: high is advisory (checked after a charge); kernel uses WRITE_ONCE.
  nodes_[i].high.store(bytes, std::memory_order_relaxed);
}

void CounterTree::SetMin(uint32_t i, int64_t bytes) const {
  // Relaxed: protection is recomputed by reclaim walks; kernel WRITE_ONCE.
  nodes_[i].min.store(bytes, std::memory_order_relaxed);
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    PropagateProtectedUsage(n, Usage(n));
  }
}

void CounterTree::SetLow(uint32_t i, int64_t bytes) const {
  // Relaxed: as SetMin.
  nodes_[i].low.store(bytes, std::memory_order_relaxed);
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    PropagateProtectedUsage(n, Usage(n));
  }
}

void CounterTree::ResetPeak(uint32_t i) const {
  // Relaxed: a statistic; a racing raise may win, which only reports a peak
  // that really happened.
  nodes_[i].local_watermark.store(Usage(i), std::memory_order_relaxed);
}

int64_t CounterTree::Margin(uint32_t i) const {
  int64_t margin = kUnlimited;
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    int64_t max = Max(n);
    if (max == kUnlimited) continue;
    int64_t m = max - Usage(n);
    if (m < margin) margin = m;
  }
  for (const JobLink* l = link_; l != nullptr && l->node != nullptr;
       l = l->up) {
    const PageCounter& c = l->node->counter;
    // Relaxed: a snapshot that sizes a batch.
    int64_t max = c.max.load(std::memory_order_relaxed);
    if (max != kUnlimited) {
      int64_t m = max - c.usage.load(std::memory_order_relaxed);
      if (m < margin) margin = m;
    }
  }
  return margin < 0 ? 0 : margin;
}

bool CounterTree::IsInSubtree(uint32_t i, uint32_t root) const {
  for (uint32_t n = i; n != kNoParent;
       n = nodes_[n].parent.load(std::memory_order_relaxed)) {
    if (n == root) return true;
  }
  return false;
}

namespace {

// The kernel's effective_protection(): a child's share of its parent's
// effective protection.
int64_t EffectiveProtection(int64_t usage, int64_t parent_usage,
                            int64_t setting, int64_t parent_effective,
                            int64_t siblings_protected, bool recursive) {
  int64_t prot = usage < setting ? usage : setting;
  // Overcommitted siblings: distribute the parent's effective protection in
  // proportion to each child's protected usage (work-conserving).
  if (siblings_protected > parent_effective) {
    return static_cast<int64_t>(static_cast<__int128>(prot) * parent_effective /
                                siblings_protected);
  }
  int64_t ep = prot;
  // memory_recursiveprot: hand out unclaimed parental protection in
  // proportion to the child's unprotected usage.
  if (recursive && parent_effective > siblings_protected &&
      parent_usage > siblings_protected) {
    __int128 unclaimed = parent_effective - siblings_protected;
    unclaimed *= usage - prot;
    unclaimed /= parent_usage - siblings_protected;
    ep += static_cast<int64_t>(unclaimed);
  }
  return ep;
}

}  // namespace

void CounterTree::CalculateProtection(uint32_t root, uint32_t i,
                                      bool recursive) const {
  // Effective values of the walk's root are ignored, so they may be stale.
  if (i == root) return;
  int64_t usage = Usage(i);
  if (usage == 0) return;
  PageCounter& c = nodes_[i];
  uint32_t parent = c.parent.load(std::memory_order_relaxed);
  if (parent == root) {
    // Relaxed: emin/elow are scratch values of a reclaim walk.
    c.emin.store(Min(i), std::memory_order_relaxed);
    c.elow.store(Low(i), std::memory_order_relaxed);
    return;
  }
  PageCounter& p = nodes_[parent];
  int64_t parent_usage = Usage(parent);
  c.emin.store(
      EffectiveProtection(usage, parent_usage, Min(i),
                          p.emin.load(std::memory_order_relaxed),
                          p.children_min_usage.load(std::memory_order_relaxed),
                          recursive),
      std::memory_order_relaxed);
  c.elow.store(
      EffectiveProtection(usage, parent_usage, Low(i),
                          p.elow.load(std::memory_order_relaxed),
                          p.children_low_usage.load(std::memory_order_relaxed),
                          recursive),
      std::memory_order_relaxed);
}

bool CounterTree::BelowMin(uint32_t root, uint32_t i) const {
  if (i == root) return false;
  return Usage(i) <= EffectiveMin(i);
}

bool CounterTree::BelowLow(uint32_t root, uint32_t i) const {
  if (i == root) return false;
  return Usage(i) <= EffectiveLow(i);
}

}  // namespace memgroup::internal
