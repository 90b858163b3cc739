// Implements pressure.h.
//
// SYNCHRONIZATION
// - Each group's stall state is guarded by its GroupState::psi_lock (slow
//   paths only). Stalls and membership are hierarchical: they update every
//   level from the group to the root, taking one level's lock at a time.
//   The totals they feed (throttled_ns, oom_wait_ns_total) are
//   relaxed statistics. The root level's 0 -> 1 and 1 -> 0 changes of its
//   stalled count tell the process's jobs (JobNoteStall), and so do the
//   changes of its `full` condition (JobNoteFullStall), under the root's
//   lock: one process's changes reach the job in order.
// - The callback table is guarded by g_pressure_lock; NotifyReclaimPressure
//   copies the calls to the stack and makes them with no lock held.
#include "group/pressure.h"

#include "base/float_math.h"
#include "base/fork_locks.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "group/callback_table.h"
#include "group/group_state.h"
#include "group/job_member.h"
#include "group/thread_binding.h"

namespace memgroup::internal {
namespace {

struct PressureCb {
  uint32_t group;
  uint32_t generation;
  int level;
  PressureFn fn;  // nullptr = free entry
  void* arg;
  int last_level;
};

inline constexpr int kMaxPressureCallbacks = 256;
constinit SpinLock g_pressure_lock;
MG_TABLE constinit PressureCb g_pressure_cbs[kMaxPressureCallbacks] = {};
// Registered callbacks; relaxed: a stale zero only skips one notification.
constinit std::atomic<int> g_npressure{0};

constexpr double kWindowsSec[3] = {10.0, 60.0, 300.0};

// vmpressure levels from one reclaim round: 1 - released/requested.
int PressureLevel(int64_t requested, int64_t released) {
  if (requested <= 0) return 0;
  double p = 1.0 - static_cast<double>(released) / requested;
  if (p >= 0.95) return 3;
  if (p >= 0.60) return 2;
  return 1;
}

// Requires st.psi_lock. Whether every thread bound to the group's subtree
// is stalled (PSI `full`, as AccrueLocked counts it).
bool FullLocked(const GroupState& st) {
  return st.stalled > 0 && st.stalled >= st.members;
}

// Requires the root's psi_lock: tells the process's jobs when a change of
// the root level (`was`: its `full` before) changed its `full`.
void NoteRootFull(const GroupState& st, bool was, int64_t now) {
  const bool is = FullLocked(st);
  if (is != was) JobNoteFullStall(is, now);
}

// Requires st.psi_lock. Adds the time since the last accrual.
void AccrueLocked(GroupState& st, int64_t now) {
  if (st.psi_last_ns != 0 && now > st.psi_last_ns) {
    int64_t dt = now - st.psi_last_ns;
    if (st.stalled > 0) st.some_ns += dt;
    if (FullLocked(st)) st.full_ns += dt;
  }
  st.psi_last_ns = now;
}

// Requires st.psi_lock. Folds the stall time since the last update into the
// exponentially decaying averages (kernel PSI: 10 s, 60 s, 300 s).
void UpdateAveragesLocked(GroupState& st, int64_t now) {
  if (st.avg_last_ns == 0) {
    st.avg_last_ns = now;
    st.avg_some_base = st.some_ns;
    st.avg_full_base = st.full_ns;
    return;
  }
  int64_t dt = now - st.avg_last_ns;
  if (dt < 1000000) return;  // fold at most every millisecond
  double some_rate = static_cast<double>(st.some_ns - st.avg_some_base) / dt;
  double full_rate = static_cast<double>(st.full_ns - st.avg_full_base) / dt;
  for (int w = 0; w < 3; ++w) {
    double decay = Exp(-(dt / 1e9) / kWindowsSec[w]);
    st.some_avg[w] = st.some_avg[w] * decay + some_rate * (1 - decay);
    st.full_avg[w] = st.full_avg[w] * decay + full_rate * (1 - decay);
  }
  st.avg_last_ns = now;
  st.avg_some_base = st.some_ns;
  st.avg_full_base = st.full_ns;
}

}  // namespace

Errc RegisterPressureCallback(uint32_t group, int level, PressureFn fn,
                              void* arg, int* handle) {
  if (fn == nullptr || handle == nullptr || level < 1 || level > 3)
    return Errc::kInvalidArgument;
  return AddEntry(&g_pressure_lock, g_pressure_cbs, &g_npressure,
                  PressureCb{group, GenerationOfSlot(group), level, fn, arg, 0},
                  handle);
}

Errc UnregisterPressureCallback(int handle) {
  return RemoveEntry(&g_pressure_lock, g_pressure_cbs, &g_npressure, handle);
}

void NotifyReclaimPressure(uint32_t target, int64_t requested,
                           int64_t released) {
  // Relaxed: see g_npressure.
  if (g_npressure.load(std::memory_order_relaxed) == 0) return;
  const int level = PressureLevel(requested, released);
  struct Call {
    PressureFn fn;
    void* arg;
    GroupId id;
  } calls[16];
  int n = 0;
  {
    SpinLockHolder h(&g_pressure_lock);
    for (auto& cb : g_pressure_cbs) {
      if (cb.fn == nullptr || n == 16) continue;
      if (!GlobalRegistry().tree().IsInSubtree(target, cb.group)) continue;
      if (!StillLive(cb.group, cb.generation)) continue;
      if (level >= cb.level) {
        calls[n++] = {cb.fn, cb.arg, MakeGroupId(cb.group, cb.generation)};
        // The published count of this call (group_state.h crossings), under
        // the lock: one per call, none lost. Relaxed: statistics, read by
        // the group table's publisher (job_groups.cc). level is 1..3 here
        // (>= cb.level >= 1).
        GlobalRegistry().state(cb.group).crossings[kCrossPressureLow + level - 1]
            .fetch_add(1, std::memory_order_relaxed);
      }
      cb.last_level = level;
    }
  }
  for (int k = 0; k < n; ++k) calls[k].fn(calls[k].id, level, calls[k].arg);
}

// Every level from `group` to the root, as the kernel's hierarchical PSI: a
// thread stalled in /a/b stalls /a/b, /a and /. Each level under its own
// lock, one at a time (never nested).
template <typename F>
void ForEachLevel(uint32_t group, F&& f) {
  Registry& reg = GlobalRegistry();
  const CounterTree& t = reg.tree();
  for (uint32_t n = group; n != kNoParent; n = t.Parent(n)) {
    GroupState& st = reg.state(n);
    SpinLockHolder h(&st.psi_lock);
    f(st);
  }
}

// The library's own threads (the control agent) are not counted: they are
// no group's PSI members (thread_binding.h), and their stalls are not the
// program's.
void StallBegin(uint32_t group) {
  if (IsLibraryThread()) return;
  const int64_t now = MonotonicNanos();
  const GroupState* root = &GlobalRegistry().state(kRootGroup);
  ForEachLevel(group, [now, root](GroupState& st) {
    AccrueLocked(st, now);
    UpdateAveragesLocked(st, now);
    // The process's first stalled thread: this member stalls in its jobs
    // (the job's `some`, counter/job_pressure.h), under the root's lock so
    // that its begins and ends alternate.
    if (&st == root && st.stalled == 0) JobNoteStall(/*begin=*/true, now);
    const bool was_full = FullLocked(st);
    ++st.stalled;
    if (&st == root) NoteRootFull(st, was_full, now);
  });
}

void StallEnd(uint32_t group, StallKind kind, int64_t ns) {
  if (IsLibraryThread()) return;
  const int64_t now = MonotonicNanos();
  const GroupState* root = &GlobalRegistry().state(kRootGroup);
  ForEachLevel(group, [now, root](GroupState& st) {
    AccrueLocked(st, now);
    UpdateAveragesLocked(st, now);
    if (st.stalled > 0) {
      const bool was_full = FullLocked(st);
      --st.stalled;
      // Its last stalled thread: as in StallBegin.
      if (&st == root && st.stalled == 0) JobNoteStall(/*begin=*/false, now);
      if (&st == root) NoteRootFull(st, was_full, now);
    }
  });
  // Relaxed: statistics. Local to the group; ReadGroupStat sums subtrees.
  GroupState& st = GlobalRegistry().state(group);
  switch (kind) {
    case StallKind::kThrottle:
      st.throttled_ns.fetch_add(ns, std::memory_order_relaxed);
      break;
    case StallKind::kOomWait:
      st.oom_wait_ns_total.fetch_add(ns, std::memory_order_relaxed);
      break;
    case StallKind::kReclaim:
      break;
  }
}

// Membership is hierarchical too: `full` at a level means every thread of
// its subtree is stalled.
// A thread joining or leaving the root level can change its `full`: the
// process's jobs are told (NoteRootFull).
void MemberJoin(uint32_t group) {
  const int64_t now = MonotonicNanos();
  const GroupState* root = &GlobalRegistry().state(kRootGroup);
  ForEachLevel(group, [now, root](GroupState& st) {
    AccrueLocked(st, now);
    const bool was_full = FullLocked(st);
    ++st.members;
    if (&st == root) NoteRootFull(st, was_full, now);
  });
}

void MemberLeave(uint32_t group) {
  const int64_t now = MonotonicNanos();
  const GroupState* root = &GlobalRegistry().state(kRootGroup);
  ForEachLevel(group, [now, root](GroupState& st) {
    AccrueLocked(st, now);
    const bool was_full = FullLocked(st);
    if (st.members > 0) --st.members;
    if (&st == root) NoteRootFull(st, was_full, now);
  });
}

void ReadPressure(uint32_t group, Pressure* out) {
  GroupState& st = GlobalRegistry().state(group);
  SpinLockHolder h(&st.psi_lock);
  int64_t now = MonotonicNanos();
  AccrueLocked(st, now);
  UpdateAveragesLocked(st, now);
  out->some_avg10 = st.some_avg[0] * 100;
  out->some_avg60 = st.some_avg[1] * 100;
  out->some_avg300 = st.some_avg[2] * 100;
  out->full_avg10 = st.full_avg[0] * 100;
  out->full_avg60 = st.full_avg[1] * 100;
  out->full_avg300 = st.full_avg[2] * 100;
  out->some_total_us = static_cast<uint64_t>(st.some_ns / 1000);
  out->full_total_us = static_cast<uint64_t>(st.full_ns / 1000);
}

void PressurePrepareFork() { ForkLock(g_pressure_lock); }
void PressureParentFork() { ForkUnlock(g_pressure_lock); }
void PressureChildFork() { ForkReset(g_pressure_lock); }

}  // namespace memgroup::internal
