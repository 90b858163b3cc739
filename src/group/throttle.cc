// Implements throttle.h. Per-thread state only (t_over_high); the group
// statistics it feeds are relaxed counters (pressure.cc).
#include "group/throttle.h"

#include "base/macros.h"
#include "base/sys.h"
#include "group/job_member.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/registry.h"

namespace memgroup::internal {
namespace {

constexpr int64_t kMaxHighDelayNs = 2'000'000'000;  // 2 s
constexpr int64_t kMinHighDelayNs = 10'000'000;     // kernel HZ/100

// Bytes charged above `high` by this thread since it last paid the penalty.
MG_TLS int64_t t_over_high = 0;

// The kernel's curve: adds `bytes` to this thread's overage and, once the
// delay (ratio^2 per 64 pages over high) reaches 10 ms, sleeps it (at most
// 2 s) as throttling stall of `group`. Returns the nanoseconds slept (0
// while still accumulating).
int64_t Penalize(uint32_t group, double ratio, int64_t bytes) {
  t_over_high += bytes;
  double pages = static_cast<double>(t_over_high) / 4096.0;
  int64_t delay_ns = static_cast<int64_t>(ratio * ratio * pages / 64.0 * 1e9);
  if (delay_ns > kMaxHighDelayNs) delay_ns = kMaxHighDelayNs;
  if (delay_ns < kMinHighDelayNs) return 0;  // keep accumulating
  t_over_high = 0;
  StallBegin(group);
  SleepNanos(delay_ns);
  StallEnd(group, StallKind::kThrottle, delay_ns);
  return delay_ns;
}

}  // namespace

namespace {

// The penalty of MaybeThrottle for the job node: this process reclaims its
// own share, then sleeps on the same curve; the sleep is counted in the job.
void ThrottleJob(uint32_t group, uint32_t level, JobNode* job, double ratio,
                 int64_t bytes) {
  GlobalRegistry().RaiseEvent(level, kEventHigh);
  // Relaxed: a reclaim target.
  int64_t excess = job->counter.usage.load(std::memory_order_relaxed) -
                   job->counter.high.load(std::memory_order_relaxed);
  if (excess > 0) {
    StallBegin(group);
    int64_t start = MonotonicNanos();
    int64_t got = ReclaimSubtree(kRootGroup, excess);
    StallEnd(group, StallKind::kReclaim, MonotonicNanos() - start);
    if (got >= excess) {
      t_over_high = 0;
      return;
    }
  }
  // Relaxed: a statistic.
  job->throttled_ns.fetch_add(Penalize(group, ratio, bytes),
                              std::memory_order_relaxed);
}

}  // namespace

// The kernel's high penalty: delay ~ (overage / high)^2 per 64 pages charged
// above high, capped at 2 s, nothing below 10 ms. Every level counts, the
// root included: an unmodified program runs in the root, and `memgroup run
// --high` (MEMGROUP_HIGH) sets the root's high.
void MaybeThrottle(uint32_t group, int64_t bytes) {
  Registry& reg = GlobalRegistry();
  CounterTree& t = reg.tree();
  double worst = 0;
  uint32_t worst_group = kNoParent;
  for (uint32_t n = group; n != kNoParent; n = t.Parent(n)) {
    int64_t high = t.High(n);
    if (high == kUnlimited) continue;
    int64_t usage = t.Usage(n);
    if (usage <= high) continue;
    double ratio = high > 0 ? static_cast<double>(usage - high) / high : 1.0;
    if (ratio > worst || worst_group == kNoParent) {
      worst = ratio;
      worst_group = n;
    }
  }
  // The job nodes are the levels above the root (job_member.h): the
  // process's job, then the jobs enclosing it.
  JobNode* worst_job = nullptr;
  for (uint32_t k = 0, levels = JobLevels(); k < levels; ++k) {
    JobNode* job = JobNodeAt(kJobNode - k);
    if (job == nullptr) break;
    // Relaxed: advisory, as high itself.
    int64_t high = job->counter.high.load(std::memory_order_relaxed);
    int64_t usage = job->counter.usage.load(std::memory_order_relaxed);
    if (high != kUnlimited && usage > high) {
      double ratio = high > 0 ? static_cast<double>(usage - high) / high : 1.0;
      if (ratio > worst || worst_group == kNoParent) {
        worst = ratio;
        worst_group = kJobNode - k;
        worst_job = job;
      }
    }
  }
  if (worst_group == kNoParent) {
    t_over_high = 0;
    return;
  }
  if (worst_job != nullptr) {
    ThrottleJob(group, worst_group, worst_job, worst, bytes);
    return;
  }
  reg.RaiseEvent(worst_group, kEventHigh);
  // Reclaim the excess of the group over high first (kernel reclaim_high).
  {
    int64_t excess = t.Usage(worst_group) - t.High(worst_group);
    if (excess > 0) {
      StallBegin(group);
      int64_t start = MonotonicNanos();
      int64_t got = ReclaimSubtree(worst_group, excess);
      StallEnd(group, StallKind::kReclaim, MonotonicNanos() - start);
      if (got > 0 && t.Usage(worst_group) <= t.High(worst_group)) {
        t_over_high = 0;
        return;
      }
    }
  }
  (void)Penalize(group, worst, bytes);
}

}  // namespace memgroup::internal
