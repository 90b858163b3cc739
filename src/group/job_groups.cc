// Implements job_groups.h.
//
// SYNCHRONIZATION
// - g_lock (a SpinLock: acquire/release) guards g_pub, g_count, g_is_pub,
//   g_live, g_stopped, g_fresh and g_root_watched (and so the member
//   slot's root crossings, whose sequence lock has one writer): every reconciliation runs under it, so
//   one thread at a time writes this process's entries (the sequence lock
//   of job_group_table.h has one writer). Taken before the registry's lock
//   (ForEachInSubtree), never held while a request runs (SetLimit and the
//   reclaim callbacks may call back into the C ABI).
// - The shared entries follow counter/job_group_table.h.
#include "group/job_groups.h"

#include <cerrno>
#include <climits>
#include <cstring>

#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "counter/job_group_table.h"
#include "counter/job_slots.h"
#include "group/job_member.h"
#include "group/limits.h"
#include "group/oom_policy.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/registry.h"
#include "group/stats_report.h"

namespace memgroup::internal {
namespace {

struct Published {
  GroupId id;
  uint32_t index;  // the group's slot
  uint32_t entry;  // its entry in the table
};

constinit SpinLock g_lock;
constinit Published g_pub[kJobGroupsPerMember] = {};
constinit uint32_t g_count = 0;
// One bit per group slot that has an entry.
MG_TABLE constinit uint64_t g_is_pub[kMaxGroups / 64] = {};
// The live groups of one reconciliation (pre-order).
MG_TABLE constinit uint32_t g_live[kMaxGroups] = {};
constinit bool g_stopped = false;
// Whether the last reconciliation had something to keep fresh (the agent
// is then polling; otherwise it is woken once).
constinit bool g_fresh = false;
// A callback was registered on the root group (WatchRootCrossings): its
// crossings are published in the member slot from then on.
constinit bool g_root_watched = false;

// A percentage (0..100) in hundredths, clamped.
uint32_t Hundredths(double percent) {
  if (!(percent > 0)) return 0;  // negative or NaN
  if (percent >= 100) return 10000;
  return static_cast<uint32_t>(percent * 100 + 0.5);
}

bool IsPub(uint32_t g) { return (g_is_pub[g / 64] >> (g % 64)) & 1; }
void SetPub(uint32_t g, bool on) {
  const uint64_t bit = uint64_t{1} << (g % 64);
  if (on) {
    g_is_pub[g / 64] |= bit;
  } else {
    g_is_pub[g / 64] &= ~bit;
  }
}

JobGroupFigures Figures(uint32_t g, uint32_t unpublished) {
  const Registry& reg = GlobalRegistry();
  const CounterTree& t = reg.tree();
  const GroupState& st = reg.state(g);
  JobGroupFigures f;
  f.current = t.Usage(g);
  f.peak = t.Watermark(g);
  f.max = t.Max(g);
  f.high = t.High(g);
  f.low = t.Low(g);
  f.min = t.Min(g);
  static_assert(kJobGroupEvents == kNumEvents);
  for (uint32_t k = 0; k < kJobGroupEvents; ++k) {
    // Relaxed: statistics.
    f.events[k] = st.events[k].load(std::memory_order_relaxed);
    f.events_local[k] = st.events_local[k].load(std::memory_order_relaxed);
  }
  // Relaxed: advisory configuration (GroupState).
  f.oom_policy = st.oom_policy.load(std::memory_order_relaxed);
  f.oom_wait_ns = st.oom_wait_ns.load(std::memory_order_relaxed);
  f.unpublished = unpublished;
  f.failcnt = t.Failcnt(g);
  // The group's memory.stat (the engine's heap bytes through the hook) and
  // pressure, as the in-process stats block shows them (stats_report.cc).
  GroupStat gs;
  ReadGroupStat(g, &gs);
  f.stat[kGroupStatHeap] = gs.heap;
  f.stat[kGroupStatMmap] = gs.mmap;
  f.stat[kGroupStatExplicit] = gs.explicit_bytes;
  f.stat[kGroupStatStock] = gs.stock;
  f.stat[kGroupStatStockBound] = gs.stock_bound;
  f.stat[kGroupStatReclaimCalls] = gs.reclaim_calls;
  f.stat[kGroupStatReclaimed] = gs.reclaimed;
  f.stat[kGroupStatThrottledUs] = gs.throttled_ns / 1000;
  f.stat[kGroupStatOomWaitUs] = gs.oom_wait_ns / 1000;
  f.stat[kGroupStatFaultInjected] = gs.faults_injected;
  f.stat[kGroupStatEngineFree] = gs.engine_free;
  f.stat[kGroupStatEngineCached] = gs.engine_cached;
  f.stat[kGroupStatEngineSlack] = gs.engine_slack;
  Pressure p;
  ReadPressure(g, &p);
  const double avgs[kJobGroupPressureAvgs] = {p.some_avg10,  p.some_avg60,
                                              p.some_avg300, p.full_avg10,
                                              p.full_avg60,  p.full_avg300};
  for (uint32_t k = 0; k < kJobGroupPressureAvgs; ++k) {
    f.pressure_avg[k] = Hundredths(avgs[k]);
  }
  f.pressure_total_us[0] = p.some_total_us;
  f.pressure_total_us[1] = p.full_total_us;
  // The crossings of the callbacks registered on the group (thresholds.cc,
  // pressure.cc count them). Relaxed: statistics.
  static_assert(kJobGroupCrossings == kNumCrossings);
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    f.crossings[k] = st.crossings[k].load(std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < 2; ++k) {
    f.threshold_last[k] = st.threshold_last[k].load(std::memory_order_relaxed);
  }
  return f;
}

// The root group is the member itself: once watched, its crossings go to
// the member slot (job_slots.h), as a group's go to its entry. Requires
// g_lock (the slot's one writer).
void PublishRootLocked(const JobView& v, uint32_t slot) {
  if (!g_root_watched || slot >= v.slot_count) return;
  const GroupState& root = GlobalRegistry().state(kRootGroup);
  uint64_t c[kJobCrossings];
  int64_t last[2];
  static_assert(kJobCrossings == kNumCrossings);
  // Relaxed: statistics (as Figures).
  for (uint32_t k = 0; k < kJobCrossings; ++k) {
    c[k] = root.crossings[k].load(std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < 2; ++k) {
    last[k] = root.threshold_last[k].load(std::memory_order_relaxed);
  }
  JobPublishRootCrossings(v.member(slot), c, last);
}

// Records whether there is something to keep fresh, waking the agent when
// there newly is; returns `fresh`. Requires g_lock.
bool KeepFresh(const JobView& v, uint32_t slot, bool fresh) {
  if (fresh && !g_fresh && slot < v.slot_count) {
    // The agent sleeps without a timeout while there is nothing to keep
    // fresh: a wake without a change of its word makes it poll.
    SysFutexWakeShared(
        reinterpret_cast<const uint32_t*>(&v.member(slot)->request_seq),
        INT_MAX);
  }
  g_fresh = fresh;
  return fresh;
}

// Frees every entry of ours and forgets them. Requires g_lock.
void WithdrawLocked(const JobView* v, int32_t pid, uint64_t start) {
  for (uint32_t k = 0; k < g_count; ++k) {
    if (v != nullptr) JobGroupFree(*v, g_pub[k].entry, pid, start);
    SetPub(g_pub[k].index, false);
  }
  if (g_count != 0) g_count = 0;
}

}  // namespace

bool PublishGroups() {
  const JobView* v = nullptr;
  uint32_t slot = 0;
  int32_t pid = 0;
  uint64_t start = 0;
  if (!JobInnermost(&v, &slot, &pid, &start)) return false;
  Registry& reg = GlobalRegistry();
  if (!reg.initialised()) return false;
  SpinLockHolder h(&g_lock);
  if (g_stopped) return false;
  if (v->group_entries == 0) {
    // No table: the root's crossings alone.
    PublishRootLocked(*v, slot);
    return KeepFresh(*v, slot, g_root_watched);
  }
  // Destroyed groups (or slots reused by a new group) leave the table.
  for (uint32_t k = 0; k < g_count;) {
    if (reg.IdOf(g_pub[k].index) == g_pub[k].id) {
      ++k;
      continue;
    }
    JobGroupFree(*v, g_pub[k].entry, pid, start);
    SetPub(g_pub[k].index, false);
    g_pub[k] = g_pub[--g_count];
  }
  uint32_t n = 0;
  reg.ForEachInSubtree(kRootGroup, [&](uint32_t g) {
    if (g != kRootGroup && n < kMaxGroups) g_live[n++] = g;
  });
  uint32_t unpublished = 0;
  bool full = false;
  for (uint32_t k = 0; k < n; ++k) {
    const uint32_t g = g_live[k];
    if (IsPub(g)) continue;
    if (g_count >= kJobGroupsPerMember || full) {
      ++unpublished;
      continue;
    }
    char path[kJobGroupPathBytes + 1];
    const size_t len = reg.Path(g, path, sizeof(path));
    const GroupId id = reg.IdOf(g);
    if (len + 1 >= sizeof(path) || id == kInvalidGroupId) {
      // Too long for an entry (or destroyed meanwhile: not counted).
      if (id != kInvalidGroupId) ++unpublished;
      continue;
    }
    const uint32_t e =
        JobGroupClaim(*v, slot, pid, start, id, path, Figures(g, 0));
    if (e == kNoMember) {
      full = true;
      ++unpublished;
      continue;
    }
    g_pub[g_count++] = Published{id, g, e};
    SetPub(g, true);
  }
  if (full) JobGroupNoteFull(*v, pid, unpublished);
  for (uint32_t k = 0; k < g_count; ++k) {
    JobGroupUpdate(*v, g_pub[k].entry, Figures(g_pub[k].index, unpublished));
  }
  PublishRootLocked(*v, slot);
  return KeepFresh(*v, slot, g_count > 0 || unpublished > 0 || g_root_watched);
}

void WatchRootCrossings() {
  {
    SpinLockHolder h(&g_lock);
    if (g_root_watched) return;
    g_root_watched = true;
  }
  // Published now, and the agent woken to keep them fresh.
  PublishGroups();
}

void UnpublishGroups() {
  const JobView* v = nullptr;
  uint32_t slot = 0;
  int32_t pid = 0;
  uint64_t start = 0;
  const bool member = JobInnermost(&v, &slot, &pid, &start);
  SpinLockHolder h(&g_lock);
  g_stopped = true;
  WithdrawLocked(member ? v : nullptr, pid, start);
}

uint32_t ServeGroupRequests(int64_t (*purge)(uint32_t group)) {
  const JobView* v = nullptr;
  uint32_t slot = 0;
  int32_t pid = 0;
  uint64_t start = 0;
  if (!JobInnermost(&v, &slot, &pid, &start) || v->group_entries == 0) {
    return 0;
  }
  // The requests, copied under the lock; served without it.
  struct Work {
    Published pub;
    JobGroupRequest req;
    int32_t err;
    int64_t reclaimed;
    int64_t purged;
  };
  Work work[kJobGroupsPerMember];
  uint32_t n = 0;
  {
    SpinLockHolder h(&g_lock);
    if (g_stopped) return 0;
    for (uint32_t k = 0; k < g_count; ++k) {
      if (JobGroupPending(*v, g_pub[k].entry, &work[n].req)) {
        work[n++].pub = g_pub[k];
      }
    }
  }
  Registry& reg = GlobalRegistry();
  for (uint32_t k = 0; k < n; ++k) {
    const Published& p = work[k].pub;
    const JobGroupRequest& r = work[k].req;
    int32_t err = 0;
    int64_t reclaimed = 0;
    int64_t purged = 0;
    uint32_t index = 0;
    // The group may have been destroyed since (its slot reused): ESRCH.
    if (reg.Resolve(p.id, &index) != Errc::kOk || index != p.index) {
      err = ESRCH;
    } else {
      // The values are another process's: validated as the C ABI does.
      static constexpr struct {
        uint32_t bit;
        uint32_t value;
        LimitKind kind;
      } kLimits[] = {{kGroupSetMin, kGroupValueMin, LimitKind::kMin},
                     {kGroupSetLow, kGroupValueLow, LimitKind::kLow},
                     {kGroupSetHigh, kGroupValueHigh, LimitKind::kHigh},
                     {kGroupSetMax, kGroupValueMax, LimitKind::kMax}};
      const bool oom_ok = r.oom_policy <= static_cast<uint32_t>(
                                              OomPolicy::kHandler) &&
                          r.oom_wait_ns >= -1;
      if ((r.mask & kGroupSetOom) && !oom_ok) err = EINVAL;
      for (const auto& l : kLimits) {
        if (err == 0 && (r.mask & l.bit) && r.value[l.value] < 0) {
          err = EINVAL;
        }
      }
      if (err == 0 && (r.mask & kGroupSetOom)) {
        GroupState& st = reg.state(index);
        // Relaxed: advisory configuration (GroupState); the timeout first.
        st.oom_wait_ns.store(r.oom_wait_ns, std::memory_order_relaxed);
        st.oom_policy.store(r.oom_policy, std::memory_order_relaxed);
        // Waiters re-read the policy when woken.
        NotifyLimitChanged(index);
      }
      for (const auto& l : kLimits) {
        if (err != 0 || !(r.mask & l.bit)) continue;
        if (SetLimit(index, l.kind, r.value[l.value]) != Errc::kOk) {
          err = EINVAL;
        }
      }
      if (err == 0 && (r.mask & kGroupReclaim) &&
          r.value[kGroupValueReclaim] > 0) {
        reclaimed = ProactiveReclaim(index, r.value[kGroupValueReclaim]);
        if (purge != nullptr) {
          uint32_t groups[kJobGroupsPerMember];
          uint32_t m = 0;
          // The registry lock is held while visiting: only collect here.
          reg.ForEachChargedInSubtree(index, [&](uint32_t g) {
            if (m < kJobGroupsPerMember) groups[m++] = g;
          });
          for (uint32_t q = 0; q < m; ++q) purged += purge(groups[q]);
        }
      }
    }
    work[k].err = err;
    work[k].reclaimed = reclaimed;
    work[k].purged = purged;
  }
  // The figures first: a requester that reads the table after its answer
  // sees the new limits.
  if (n > 0) PublishGroups();
  for (uint32_t k = 0; k < n; ++k) {
    JobGroupAnswer(*v, work[k].pub.entry, work[k].req.seq, work[k].err,
                   work[k].reclaimed, work[k].purged);
  }
  return n;
}

void JobGroupsPrepareFork() { ForkLock(g_lock); }
void JobGroupsParentFork() { ForkUnlock(g_lock); }

void JobGroupsChildFork() {
  ForkReset(g_lock);
  // The entries name the parent; the parent keeps them.
  WithdrawLocked(nullptr, 0, 0);
  if (g_fresh) g_fresh = false;
}

}  // namespace memgroup::internal
