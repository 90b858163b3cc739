// Implements stats_report.h.
//
// SYNCHRONIZATION
// - g_oom_report_hook: stored once at init (release), loaded by
//   WriteOomReport (acquire).
// - Every figure read here is a relaxed statistic or a racy counter read:
//   the reports are snapshots.
#include "group/stats_report.h"

#include <atomic>

#include "base/parse_size.h"
#include "base/raw_log.h"
#include "group/pressure.h"
#include "base/sys.h"
#include "group/job_member.h"
#include "group/registry.h"

namespace memgroup::internal {
namespace {

constinit std::atomic<OomReportHook> g_oom_report_hook{nullptr};

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

// Written once at init (release), read by ReadGroupStat (acquire).
constinit std::atomic<HeapBytesHook> g_heap_bytes_hook{nullptr};
// The groups of a subtree whose engine figures stat.heap and the
// stat.engine_* figures add.
constexpr int kMaxHeapGroups = 256;

void PrintLimit(int fd, const char* key, int64_t v) {
  if (v == kUnlimited) {
    RawPrint(fd, "%s max\n", key);
  } else {
    RawPrint(fd, "%s %lld\n", key, static_cast<long long>(v));
  }
}

}  // namespace

void SetHeapBytesHook(HeapBytesHook hook) {
  // Pairs with the acquire load in ReadGroupStat.
  g_heap_bytes_hook.store(hook, std::memory_order_release);
}

void ReadGroupStat(uint32_t group, GroupStat* out) {
  Registry& reg = GlobalRegistry();
  *out = GroupStat{};
  out->current = reg.tree().Usage(group);
  int64_t groups = 0;
  // The engine is asked outside the registry lock, for the subtree's first
  // kMaxHeapGroups groups.
  uint32_t members[kMaxHeapGroups];
  int nmembers = 0;
  // Destroyed descendants too: their remaining charges are in `current`.
  reg.ForEachChargedInSubtree(group, [&](uint32_t i) {
    ++groups;
    if (nmembers < kMaxHeapGroups) members[nmembers++] = i;
    const GroupState& st = reg.state(i);
    // Relaxed: statistics.
    out->mmap += st.mmap_bytes.load(std::memory_order_relaxed);
    out->explicit_bytes += st.explicit_bytes.load(std::memory_order_relaxed);
    out->reclaim_calls += static_cast<int64_t>(
        st.reclaim_calls.load(std::memory_order_relaxed));
    out->reclaimed += st.reclaimed_bytes.load(std::memory_order_relaxed);
    out->throttled_ns += st.throttled_ns.load(std::memory_order_relaxed);
    out->oom_wait_ns += st.oom_wait_ns_total.load(std::memory_order_relaxed);
    out->faults_injected += static_cast<int64_t>(
        st.faults_injected.load(std::memory_order_relaxed));
  });
  // Outside the registry lock: the stock walk takes no lock.
  out->stock = reg.stocks().StockedBytesInSubtree(group);
  out->stock_bound = reg.stocks().StockBound(group, groups);
  // What the heap's charge is: slab pages, large blocks, free pages.
  const int64_t heap_charge =
      out->current - out->mmap - out->explicit_bytes - out->stock;
  // Pairs with SetHeapBytesHook's release store.
  if (HeapBytesHook hook = g_heap_bytes_hook.load(std::memory_order_acquire);
      hook != nullptr) {
    for (int k = 0; k < nmembers; ++k) {
      HeapBytes hb{};
      hook(members[k], &hb);
      out->heap += hb.live;
      out->engine_free += hb.free;
      out->engine_cached += hb.cached;
    }
    const int64_t slack =
        heap_charge - out->heap - out->engine_free - out->engine_cached;
    out->engine_slack = slack > 0 ? slack : 0;
  } else {
    out->heap = heap_charge;
  }
  if (out->heap < 0) out->heap = 0;
}

void WriteGroupStats(int fd, uint32_t g) {
  Registry& reg = GlobalRegistry();
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
    // Relaxed: statistics.
    RawPrint(fd, "events.%s %llu\n", kEventNames[e],
             static_cast<unsigned long long>(
                 st.events[e].load(std::memory_order_relaxed)));
  }
  RawPrint(fd,
           "stat.heap %lld\nstat.mmap %lld\nstat.explicit %lld\n"
           "stat.stock %lld\nstat.stock_bound %lld\nstat.reclaim_calls %lld\nstat.reclaimed %lld\n"
           "stat.throttled_usec %lld\nstat.oom_wait_usec %lld\n"
           "stat.fault_injected %lld\nstat.engine_free %lld\n"
           "stat.engine_cached %lld\nstat.engine_slack %lld\n",
           static_cast<long long>(gs.heap), static_cast<long long>(gs.mmap),
           static_cast<long long>(gs.explicit_bytes),
           static_cast<long long>(gs.stock),
           static_cast<long long>(gs.stock_bound),
           static_cast<long long>(gs.reclaim_calls),
           static_cast<long long>(gs.reclaimed),
           static_cast<long long>(gs.throttled_ns / 1000),
           static_cast<long long>(gs.oom_wait_ns / 1000),
           static_cast<long long>(gs.faults_injected),
           static_cast<long long>(gs.engine_free),
           static_cast<long long>(gs.engine_cached),
           static_cast<long long>(gs.engine_slack));
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
}

void SetOomReportHook(OomReportHook hook) {
  // Release: pairs with the acquire load in WriteOomReport.
  g_oom_report_hook.store(hook, std::memory_order_release);
}

void WriteOomReport(uint32_t group, int64_t bytes, const char* verdict) {
  Registry& reg = GlobalRegistry();
  const CounterTree& t = reg.tree();
  char path[512];
  char max[32];
  const bool job = IsJobLevel(group);
  if (job) {
    JobNode* node = JobNodeAt(group);
    if (node != nullptr) {
      // Relaxed: a report's snapshot.
      FormatSize(node->counter.max.load(std::memory_order_relaxed), max,
                 sizeof(max));
      RawPrint(2,
               "memgroup: out of memory in the %s (pid %d): a charge of %lld "
               "bytes would exceed max %s (current %lld); policy %s\n",
               JobLevelIndex(group) == 0 ? "job" : "enclosing job",
               static_cast<int>(SysGetpid()), static_cast<long long>(bytes),
               max,
               static_cast<long long>(
                   node->counter.usage.load(std::memory_order_relaxed)),
               verdict);
    }
    group = kRootGroup;  // this process's own figures follow
  } else {
    reg.Path(group, path, sizeof(path));
    FormatSize(t.Max(group), max, sizeof(max));
    RawPrint(2,
             "memgroup: out of memory in group %s: a charge of %lld bytes "
             "would exceed max %s (current %lld); policy %s\n",
             path, static_cast<long long>(bytes), max,
             static_cast<long long>(t.Usage(group)), verdict);
  }
  // Top groups by usage (excluding the root).
  uint32_t top[5] = {kNoParent, kNoParent, kNoParent, kNoParent, kNoParent};
  for (uint32_t g = 1, end = reg.SlotLimit(); g < end; ++g) {
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
  RawPrint(2, "memgroup: stats of the %s:\n",
           job ? "refusing process's group /" : "refusing group");
  WriteGroupStats(2, group);
  // Pairs with SetOomReportHook's release store.
  OomReportHook hook = g_oom_report_hook.load(std::memory_order_acquire);
  if (hook != nullptr) hook(2, group);
}

}  // namespace memgroup::internal
