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
//   compares real usage with max.
// - OOM waiters sleep on GroupState::wake_seq (futex) with a short timeout;
//   limit writers bump it (release) and wake. A waiter re-drains and retries
//   after every wake-up or timeout.
// - No lock is held while reclaim callbacks or OOM handlers run.
#include "group/charger.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "base/raw_log.h"
#include "base/sys.h"
#include "group/reclaim.h"

namespace memgroup::internal {

MG_TLS ThreadState t_thread = {};

namespace {

constinit std::atomic<BindHook> g_bind_hook{nullptr};
constinit std::atomic<ReportHook> g_report_hook{nullptr};
// Probability threshold in [0, 2^32): refuse a charge when rng < threshold.
constinit std::atomic<uint64_t> g_fault_threshold{0};
MG_TLS uint64_t t_rng = 0;
// Bytes charged above `high` by this thread since it last paid the penalty.
MG_TLS int64_t t_over_high = 0;

constexpr int kMaxReclaimRetries = 16;  // kernel MAX_RECLAIM_RETRIES
constexpr int64_t kMaxHighDelayNs = 2'000'000'000;  // 2 s
constexpr int64_t kMinHighDelayNs = 10'000'000;     // kernel HZ/100
constexpr int64_t kWaitPollNs = 10'000'000;         // 10 ms

Registry& Reg() { return GlobalRegistry(); }

bool FaultInjected() {
  // Relaxed: a configuration value read on the slow path.
  uint64_t threshold = g_fault_threshold.load(std::memory_order_relaxed);
  if (threshold == 0) return false;
  if (t_rng == 0) t_rng = static_cast<uint64_t>(SysGettid()) * 0x9E3779B97F4A7C15ull | 1;
  t_rng ^= t_rng << 13;
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  return (t_rng & 0xffffffffull) < threshold;
}

struct DepthGuard {
  DepthGuard() { ++t_thread.depth; }
  ~DepthGuard() { --t_thread.depth; }
};

// The kernel's high penalty: delay ~ (overage / high)^2 per 64 pages charged
// above high, capped at 2 s, nothing below 10 ms.
void MaybeThrottle(uint32_t group, int64_t bytes) {
  CounterTree& t = Reg().tree();
  double worst = 0;
  uint32_t worst_group = kNoParent;
  for (uint32_t n = group; n != kNoParent && n != kRootGroup; n = t.Parent(n)) {
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
  if (worst_group == kNoParent) {
    t_over_high = 0;
    return;
  }
  Reg().RaiseEvent(worst_group, kEventHigh);
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
  t_over_high += bytes;
  double pages = static_cast<double>(t_over_high) / 4096.0;
  double delay_s = worst * worst * pages / 64.0;
  int64_t delay_ns = static_cast<int64_t>(delay_s * 1e9);
  if (delay_ns > kMaxHighDelayNs) delay_ns = kMaxHighDelayNs;
  if (delay_ns < kMinHighDelayNs) return;  // keep accumulating
  t_over_high = 0;
  StallBegin(group);
  SleepNanos(delay_ns);
  StallEnd(group, StallKind::kThrottle, delay_ns);
}

ChargeResult TryChargeExact(uint32_t group, int64_t bytes, uint32_t* failed) {
  return Reg().tree().TryCharge(group, bytes, failed) ? ChargeResult::kOk
                                                      : ChargeResult::kOverLimit;
}

// A retry of a charge already refused (and counted in failcnt) once: a
// failure here is not counted again, so failcnt counts refused charges.
ChargeResult RetryCharge(uint32_t group, int64_t bytes, uint32_t* failed) {
  return Reg().tree().TryCharge(group, bytes, failed, CountFailure::kNo)
             ? ChargeResult::kOk
             : ChargeResult::kOverLimit;
}

ChargeResult WaitForRoom(uint32_t group, uint32_t refusing, int64_t bytes) {
  GroupState& st = Reg().state(refusing);
  int64_t timeout = st.oom_wait_ns.load(std::memory_order_relaxed);
  int64_t deadline = timeout < 0 ? -1 : MonotonicNanos() + timeout;
  // Relaxed counter of sleepers (statistics and wake decisions).
  st.waiters.fetch_add(1, std::memory_order_relaxed);
  int64_t start = MonotonicNanos();
  StallBegin(group);
  ChargeResult r = ChargeResult::kOverLimit;
  for (;;) {
    // Pairs with the release bump in NotifyLimitChanged: a wake-up after we
    // read seq is not lost (futex compares against it).
    uint32_t seq = st.wake_seq.load(std::memory_order_acquire);
    Reg().stocks().DrainSubtree(refusing);
    uint32_t failed;
    if (RetryCharge(group, bytes, &failed) == ChargeResult::kOk) {
      r = ChargeResult::kOk;
      break;
    }
    int64_t now = MonotonicNanos();
    if (deadline >= 0 && now >= deadline) break;
    int64_t sleep = kWaitPollNs;
    if (deadline >= 0 && deadline - now < sleep) sleep = deadline - now;
    SysFutexWait(reinterpret_cast<const uint32_t*>(&st.wake_seq), seq, sleep);
  }
  st.waiters.fetch_sub(1, std::memory_order_relaxed);
  StallEnd(group, StallKind::kOomWait, MonotonicNanos() - start);
  return r;
}

}  // namespace

void SetBindHook(BindHook hook) {
  // Release: pairs with the acquire load in BindCurrentThread.
  g_bind_hook.store(hook, std::memory_order_release);
}

void SetReportHook(ReportHook hook) {
  // Release: pairs with the acquire load in WriteOomReport.
  g_report_hook.store(hook, std::memory_order_release);
}

void SetFaultProbability(double p) {
  if (p < 0) p = 0;
  if (p > 1) p = 1;
  // Relaxed: configuration, read on slow paths.
  g_fault_threshold.store(static_cast<uint64_t>(p * 4294967296.0),
                          std::memory_order_relaxed);
}

void SetupThread() {
  ThreadState& t = t_thread;
  if (t.status != kThreadNew) return;
  t.status = kThreadReady;
  uint32_t group = kRootGroup;
  if (t.inherited_group_plus1 != 0) {
    group = Reg().LiveAncestor(t.inherited_group_plus1 - 1);
  }
  t.group = group;
  t.generation = GenerationOf(Reg().IdOf(group));
  MemberJoin(group);
  t.stock = Reg().stocks().Acquire();
  Reg().stocks().SetPrimary(t.stock, group);
  // Pairs with SetBindHook's release store.
  BindHook hook = g_bind_hook.load(std::memory_order_acquire);
  if (hook != nullptr) (void)hook(group);
}

void TeardownThread() {
  ThreadState& t = t_thread;
  ThreadStock* ts = t.stock;
  t.stock = nullptr;
  t.status = kThreadExited;
  MemberLeave(t.group);
  Reg().stocks().Release(ts);
}

bool BindCurrentThread(uint32_t group) {
  ThreadState& t = t_thread;
  if (t.status == kThreadNew) SetupThread();
  if (t.group == group) {
    // Same slot: (re)confirm the binding to the group living in it now.
    t.generation = GenerationOf(Reg().IdOf(group));
    return true;
  }
  // Pairs with SetBindHook's release store.
  BindHook hook = g_bind_hook.load(std::memory_order_acquire);
  if (hook != nullptr && !hook(group)) return false;
  Reg().stocks().DrainOwn(t.stock);
  Reg().stocks().SetPrimary(t.stock, group);
  MemberLeave(t.group);
  MemberJoin(group);
  t.group = group;
  t.generation = GenerationOf(Reg().IdOf(group));
  return true;
}

uint32_t CurrentGroupSlow() {
  ThreadState& t = t_thread;
  if (t.status == kThreadNew) SetupThread();
  GroupId now = Reg().IdOf(t.group);
  if (now == kInvalidGroupId) {
    // Destroyed: move to the nearest live ancestor (its charges reparented
    // the same way).
    (void)BindCurrentThread(Reg().LiveAncestor(t.group));
  } else if (GenerationOf(now) != t.generation) {
    // Destroyed, and the slot already reused by another group: the old
    // group's ancestry is gone; move to the root.
    (void)BindCurrentThread(kRootGroup);
  }
  return t.group;
}

ChargeResult ChargeSlow(uint32_t group, int64_t bytes, ChargeKind kind) {
  ThreadState& t = t_thread;
  Registry& reg = Reg();
  uint32_t failed = kNoParent;
  if (FaultInjected()) {
    reg.RaiseEvent(group, kEventOom);
    return ChargeResult::kOverLimit;
  }
  // Nested (reentrant) calls charge the counter directly or fail: they never
  // touch the stock or re-enter reclaim.
  if (t.depth > 0) {
    return TryChargeExact(group, bytes, &failed);
  }
  DepthGuard guard;
  ThreadStock* ts = kind == ChargeKind::kExplicit ? nullptr : t.stock;
  if (reg.stocks().TryCharge(ts, group, bytes, &failed)) {
    CheckThresholds(group);
    MaybeThrottle(group, bytes);
    return ChargeResult::kOk;
  }
  // Refused at `failed` (the group itself or an ancestor).
  reg.RaiseEvent(failed, kEventMax);
  // 1. Drain every stock of the refusing subtree, so that the decision is
  //    made on exact usage; 2. group-local reclaim for the shortfall, retried
  //    until a round makes no progress 16 times (kernel MAX_RECLAIM_RETRIES).
  int no_progress = 0;
  bool stalled = false;
  int64_t stall_start = 0;
  ChargeResult result = ChargeResult::kOverLimit;
  while (no_progress < kMaxReclaimRetries) {
    int64_t drained = reg.stocks().DrainSubtree(failed);
    uint32_t again = failed;
    if (RetryCharge(group, bytes, &again) == ChargeResult::kOk) {
      result = ChargeResult::kOk;
      break;
    }
    failed = again;
    int64_t shortfall =
        reg.tree().Usage(failed) + bytes - reg.tree().Max(failed);
    if (shortfall <= 0) shortfall = bytes;
    if (!stalled) {
      stalled = true;
      stall_start = MonotonicNanos();
      StallBegin(group);
    }
    int64_t reclaimed = ReclaimSubtree(failed, shortfall);
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
  if (result == ChargeResult::kOk) {
    CheckThresholds(group);
    MaybeThrottle(group, bytes);
    return result;
  }
  // 3. The OOM policy of the refusing group.
  reg.RaiseEvent(failed, kEventOom);
  GroupState& st = reg.state(failed);
  switch (static_cast<OomPolicy>(st.oom_policy.load(std::memory_order_relaxed))) {
    case OomPolicy::kAbort:
      WriteOomReport(failed, bytes, "abort");
      abort();
    case OomPolicy::kKill:
      reg.RaiseEvent(failed, kEventOomKill);
      WriteOomReport(failed, bytes, "kill");
      kill(SysGetpid(), SIGKILL);
      _exit(137);
    case OomPolicy::kWait:
      if (WaitForRoom(group, failed, bytes) == ChargeResult::kOk) {
        CheckThresholds(group);
        return ChargeResult::kOk;
      }
      return ChargeResult::kOverLimit;
    case OomPolicy::kHandler:
      for (int round = 0; round < kMaxReclaimRetries; ++round) {
        int verdict = RunOomHandler(failed, bytes);
        if (verdict == kOomForce) {
          // Charged over the limit on the program's decision.
          reg.RaiseEvent(failed, kEventMax);
          reg.tree().Charge(group, bytes);
          CheckThresholds(group);
          return ChargeResult::kOk;
        }
        if (verdict != kOomRetry) break;
        reg.stocks().DrainSubtree(failed);
        uint32_t again;
        if (RetryCharge(group, bytes, &again) == ChargeResult::kOk) {
          CheckThresholds(group);
          return ChargeResult::kOk;
        }
        failed = again;
      }
      return ChargeResult::kOverLimit;
    case OomPolicy::kEnomem:
      break;
  }
  return ChargeResult::kOverLimit;
}

void UnchargeSlow(uint32_t owner, int64_t bytes, int64_t extra) {
  ThreadState& t = t_thread;
  // A thread whose first call is a free is set up here: that registers its
  // thread-exit hook, which releases the per-thread engine caches its frees
  // just created (without it they were never flushed).
  if (MG_UNLIKELY(t.status == kThreadNew)) SetupThread();
  Reg().stocks().Refill(t.depth == 0 ? t.stock : nullptr, owner, bytes, extra);
  CheckThresholds(owner);
}

int64_t DrainSubtree(uint32_t group) {
  return Reg().stocks().DrainSubtree(group);
}

void NotifyLimitChanged(uint32_t group) {
  Registry& reg = Reg();
  for (uint32_t i = 0; i < kMaxGroups; ++i) {
    if (!reg.IsLive(i) || !reg.tree().IsInSubtree(i, group)) continue;
    GroupState& st = reg.state(i);
    // Release: pairs with the waiter's acquire load of wake_seq.
    st.wake_seq.fetch_add(1, std::memory_order_release);
    if (st.waiters.load(std::memory_order_relaxed) != 0) {
      SysFutexWake(reinterpret_cast<const uint32_t*>(&st.wake_seq), INT32_MAX);
    }
  }
}

void AfterForkChild() {
  Registry& reg = Reg();
  reg.ChildFork();
  reg.stocks().AfterForkChild(t_thread.stock);
}

namespace {

struct Percent {
  char buf[16];
};

// "12.34" without printf (raw_log has no %f).
Percent FormatPercent(double v) {
  Percent p;
  if (v < 0) v = 0;
  long long hundredths = static_cast<long long>(v * 100 + 0.5);
  RawFormat(p.buf, sizeof(p.buf), "%lld.%lld%lld", hundredths / 100,
            (hundredths / 10) % 10, hundredths % 10);
  return p;
}

void PrintLimit(int fd, const char* key, int64_t v) {
  if (v == kUnlimited) {
    RawPrint(fd, "%s max\n", key);
  } else {
    RawPrint(fd, "%s %lld\n", key, static_cast<long long>(v));
  }
}

void WriteGroupStats(int fd, uint32_t g) {
  Registry& reg = Reg();
  const CounterTree& t = reg.tree();
  char path[512];
  reg.Path(g, path, sizeof(path));
  GroupStat gs;
  ReadGroupStat(g, &gs);
  RawPrint(fd, "group %s\n", path);
  RawPrint(fd, "current %lld\n", static_cast<long long>(gs.current));
  RawPrint(fd, "peak %lld\n", static_cast<long long>(t.Watermark(g)));
  PrintLimit(fd, "max", t.Max(g));
  PrintLimit(fd, "high", t.High(g));
  RawPrint(fd, "low %lld\nmin %lld\n", static_cast<long long>(t.Low(g)),
           static_cast<long long>(t.Min(g)));
  RawPrint(fd, "failcnt %lld\n", static_cast<long long>(t.Failcnt(g)));
  const GroupState& st = reg.state(g);
  for (uint32_t e = 0; e < kNumEvents; ++e) {
    RawPrint(fd, "events.%s %llu\n", kEventNames[e],
             static_cast<unsigned long long>(
                 g == kRootGroup
                     ? st.events_local[e].load(std::memory_order_relaxed)
                     : st.events[e].load(std::memory_order_relaxed)));
  }
  RawPrint(fd,
           "stat.heap %lld\nstat.mmap %lld\nstat.explicit %lld\n"
           "stat.stock %lld\nstat.reclaim_calls %lld\nstat.reclaimed %lld\n"
           "stat.throttled_usec %lld\nstat.oom_wait_usec %lld\n",
           static_cast<long long>(gs.heap), static_cast<long long>(gs.mmap),
           static_cast<long long>(gs.explicit_bytes),
           static_cast<long long>(gs.stock),
           static_cast<long long>(gs.reclaim_calls),
           static_cast<long long>(gs.reclaimed),
           static_cast<long long>(gs.throttled_ns / 1000),
           static_cast<long long>(gs.oom_wait_ns / 1000));
  Pressure p;
  ReadPressure(g, &p);
  RawPrint(fd, "pressure.some avg10=%s avg60=%s avg300=%s total=%llu\n",
           FormatPercent(p.some_avg10).buf, FormatPercent(p.some_avg60).buf,
           FormatPercent(p.some_avg300).buf,
           static_cast<unsigned long long>(p.some_total_us));
  RawPrint(fd, "pressure.full avg10=%s avg60=%s avg300=%s total=%llu\n",
           FormatPercent(p.full_avg10).buf, FormatPercent(p.full_avg60).buf,
           FormatPercent(p.full_avg300).buf,
           static_cast<unsigned long long>(p.full_total_us));
  // Pairs with SetReportHook's release store.
  ReportHook hook = g_report_hook.load(std::memory_order_acquire);
  if (hook != nullptr) hook(fd, g);
}

}  // namespace

void ReadGroupStat(uint32_t group, GroupStat* out) {
  Registry& reg = Reg();
  *out = GroupStat{};
  out->current = reg.tree().Usage(group);
  reg.ForEachInSubtree(group, [&](uint32_t i) {
    const GroupState& st = reg.state(i);
    // Relaxed: statistics.
    out->mmap += st.mmap_bytes.load(std::memory_order_relaxed);
    out->explicit_bytes += st.explicit_bytes.load(std::memory_order_relaxed);
    out->reclaim_calls += static_cast<int64_t>(
        st.reclaim_calls.load(std::memory_order_relaxed));
    out->reclaimed += st.reclaimed_bytes.load(std::memory_order_relaxed);
    out->throttled_ns += st.throttled_ns.load(std::memory_order_relaxed);
    out->oom_wait_ns += st.oom_wait_ns_total.load(std::memory_order_relaxed);
  });
  // Outside the registry lock: the stock walk takes no lock.
  out->stock = reg.stocks().StockedBytesInSubtree(group);
  out->heap = out->current - out->mmap - out->explicit_bytes - out->stock;
  if (out->heap < 0) out->heap = 0;
}

void WriteStats(int fd) {
  Registry& reg = Reg();
  for (uint32_t g = 0; g < kMaxGroups; ++g) {
    if (!reg.IsLive(g)) continue;
    WriteGroupStats(fd, g);
    RawPrint(fd, "\n");
  }
}

void WriteOomReport(uint32_t group, int64_t bytes, const char* verdict) {
  Registry& reg = Reg();
  const CounterTree& t = reg.tree();
  char path[512];
  reg.Path(group, path, sizeof(path));
  RawPrint(2,
           "memgroup: out of memory in group %s: a charge of %lld bytes would "
           "exceed max %lld (current %lld); policy %s\n",
           path, static_cast<long long>(bytes),
           static_cast<long long>(t.Max(group)),
           static_cast<long long>(t.Usage(group)), verdict);
  // Top groups by usage (excluding the root).
  uint32_t top[5] = {kNoParent, kNoParent, kNoParent, kNoParent, kNoParent};
  for (uint32_t g = 1; g < kMaxGroups; ++g) {
    if (!reg.IsLive(g)) continue;
    int64_t u = t.Usage(g);
    for (int k = 0; k < 5; ++k) {
      if (top[k] == kNoParent || u > t.Usage(top[k])) {
        for (int m = 4; m > k; --m) top[m] = top[m - 1];
        top[k] = g;
        break;
      }
    }
  }
  RawPrint(2, "memgroup: top groups by usage:\n");
  RawPrint(2, "memgroup:   / %lld\n", static_cast<long long>(t.Usage(0)));
  for (int k = 0; k < 5 && top[k] != kNoParent; ++k) {
    reg.Path(top[k], path, sizeof(path));
    RawPrint(2, "memgroup:   %s %lld\n", path,
             static_cast<long long>(t.Usage(top[k])));
  }
  RawPrint(2, "memgroup: stats of the refusing group:\n");
  WriteGroupStats(2, group);
}

}  // namespace memgroup::internal
