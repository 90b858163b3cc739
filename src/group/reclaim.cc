// Implements reclaim.h. Registration tables are fixed arrays guarded by one
// lock each; a walk copies what it needs to the stack under the lock and
// calls out with no lock held. Allocates: never.
#include "group/reclaim.h"

#include <cmath>

#include "base/spinlock.h"
#include "base/sys.h"
#include "group/charger.h"

namespace memgroup::internal {
namespace {

struct Reclaimer {
  uint32_t group;  // slot index
  uint32_t generation;
  ReclaimFn fn;  // nullptr = free entry
  void* arg;
};

struct Threshold {
  uint32_t group;
  uint32_t generation;
  int64_t threshold;
  ThresholdFn fn;  // nullptr = free entry
  void* arg;
  int above;  // last reported side
};

struct PressureCb {
  uint32_t group;
  uint32_t generation;
  int level;
  PressureFn fn;
  void* arg;
  int last_level;
};

constinit SpinLock g_reclaim_lock;
constinit Reclaimer g_reclaimers[kMaxReclaimers] = {};
constinit SpinLock g_threshold_lock;
constinit Threshold g_thresholds[kMaxThresholds] = {};
// Registered thresholds; relaxed: a stale zero only delays one check.
constinit std::atomic<int> g_nthresholds{0};
constinit PressureCb g_pressure_cbs[kMaxThresholds] = {};
constinit std::atomic<int> g_npressure{0};

constexpr int kMaxReclaimRounds = 16;  // kernel MAX_RECLAIM_RETRIES
constexpr double kWindowsSec[3] = {10.0, 60.0, 300.0};

Registry& Reg() { return GlobalRegistry(); }

uint32_t GenerationOfSlot(uint32_t index) {
  return GenerationOf(Reg().IdOf(index));
}

bool StillLive(uint32_t index, uint32_t generation) {
  GroupId id = Reg().IdOf(index);
  return id != kInvalidGroupId && GenerationOf(id) == generation;
}

struct Depth {
  Depth() { ++t_thread.depth; }
  ~Depth() { --t_thread.depth; }
};

// vmpressure levels from one reclaim round: 1 - released/requested.
int PressureLevel(int64_t requested, int64_t released) {
  if (requested <= 0) return 0;
  double p = 1.0 - static_cast<double>(released) / requested;
  if (p >= 0.95) return 3;
  if (p >= 0.60) return 2;
  return 1;
}

void NotifyPressure(uint32_t target, int level) {
  if (g_npressure.load(std::memory_order_relaxed) == 0) return;
  struct Call {
    PressureFn fn;
    void* arg;
    GroupId id;
  } calls[16];
  int n = 0;
  {
    SpinLockHolder h(&g_threshold_lock);
    for (auto& cb : g_pressure_cbs) {
      if (cb.fn == nullptr || n == 16) continue;
      if (!Reg().tree().IsInSubtree(target, cb.group)) continue;
      if (!StillLive(cb.group, cb.generation)) continue;
      if (level >= cb.level) {
        calls[n++] = {cb.fn, cb.arg, MakeGroupId(cb.group, cb.generation)};
      }
      cb.last_level = level;
    }
  }
  for (int k = 0; k < n; ++k) calls[k].fn(calls[k].id, level, calls[k].arg);
}

// Registration tables: an entry with fn == nullptr is free; a handle is the
// entry's index + 1. `count` (optional) tracks the used entries so that hot
// paths can skip an empty table with one relaxed load.
template <typename Entry, size_t N>
Errc AddEntry(SpinLock* lock, Entry (&table)[N], std::atomic<int>* count,
              const Entry& entry, int* handle) {
  SpinLockHolder h(lock);
  for (size_t i = 0; i < N; ++i) {
    if (table[i].fn != nullptr) continue;
    table[i] = entry;
    *handle = static_cast<int>(i) + 1;
    // Relaxed: see g_nthresholds.
    if (count != nullptr) count->fetch_add(1, std::memory_order_relaxed);
    return Errc::kOk;
  }
  return Errc::kResourceExhausted;
}

template <typename Entry, size_t N>
Errc RemoveEntry(SpinLock* lock, Entry (&table)[N], std::atomic<int>* count,
                 int handle) {
  SpinLockHolder h(lock);
  if (handle < 1 || static_cast<size_t>(handle) > N ||
      table[handle - 1].fn == nullptr) {
    return Errc::kNotFound;
  }
  table[handle - 1].fn = nullptr;
  // Relaxed: see g_nthresholds.
  if (count != nullptr) count->fetch_sub(1, std::memory_order_relaxed);
  return Errc::kOk;
}

}  // namespace

Errc RegisterReclaimer(uint32_t group, ReclaimFn fn, void* arg, int* handle) {
  if (fn == nullptr || handle == nullptr) return Errc::kInvalidArgument;
  return AddEntry(&g_reclaim_lock, g_reclaimers, nullptr,
                  Reclaimer{group, GenerationOfSlot(group), fn, arg}, handle);
}

Errc UnregisterReclaimer(int handle) {
  return RemoveEntry(&g_reclaim_lock, g_reclaimers, nullptr, handle);
}

int64_t ReclaimSubtree(uint32_t target, int64_t bytes) {
  Registry& reg = Reg();
  CounterTree& t = reg.tree();
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
  if (n == 0) return -1;
  // Effective protection for this walk, parents before children.
  reg.ForEachInSubtree(target, [&](uint32_t i) {
    t.CalculateProtection(target, i, /*recursive=*/false);
  });
  Depth depth;
  int64_t released = 0;
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
      st.reclaim_calls.fetch_add(1, std::memory_order_relaxed);
      int64_t got = found[k].fn(MakeGroupId(g, found[k].generation),
                                bytes - released, found[k].arg);
      if (got > 0) {
        released += got;
        st.reclaimed_bytes.fetch_add(got, std::memory_order_relaxed);
      }
    }
  }
  NotifyPressure(target, PressureLevel(bytes, released));
  return released;
}

int64_t ProactiveReclaim(uint32_t target, int64_t bytes) {
  int64_t total = 0;
  int no_progress = 0;
  DrainSubtree(target);
  while (total < bytes && no_progress < kMaxReclaimRounds) {
    int64_t remaining = bytes - total;
    int64_t ask = remaining / 4;
    if (ask < 32 * 4096) ask = remaining < 32 * 4096 ? remaining : 32 * 4096;
    int64_t got = ReclaimSubtree(target, ask);
    if (got < 0) break;  // nobody to ask
    if (got == 0) {
      ++no_progress;
    } else {
      no_progress = 0;
      total += got;
    }
  }
  return total;
}

Errc SetOomHandler(uint32_t group, OomHandlerFn fn, void* arg) {
  GroupState& st = Reg().state(group);
  // Relaxed arg, then release fn: pairs with RunOomHandler's acquire of fn.
  st.oom_handler_arg.store(arg, std::memory_order_relaxed);
  st.oom_handler_fn.store(reinterpret_cast<void*>(fn),
                          std::memory_order_release);
  return Errc::kOk;
}

int RunOomHandler(uint32_t group, int64_t bytes) {
  GroupState& st = Reg().state(group);
  // Pairs with SetOomHandler's release store.
  auto fn = reinterpret_cast<OomHandlerFn>(
      st.oom_handler_fn.load(std::memory_order_acquire));
  if (fn == nullptr) return kOomFail;
  void* arg = st.oom_handler_arg.load(std::memory_order_relaxed);
  Depth depth;
  int verdict = fn(Reg().IdOf(group), bytes, arg);
  return (verdict == kOomRetry || verdict == kOomForce) ? verdict : kOomFail;
}

Errc RegisterThreshold(uint32_t group, int64_t threshold, ThresholdFn fn,
                       void* arg, int* handle) {
  if (fn == nullptr || handle == nullptr || threshold < 0)
    return Errc::kInvalidArgument;
  Threshold entry{group, GenerationOfSlot(group), threshold, fn, arg,
                  Reg().tree().Usage(group) >= threshold ? 1 : 0};
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
  CounterTree& t = Reg().tree();
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
    }
  }
  if (n == 0) return;
  Depth depth;
  for (int k = 0; k < n; ++k) {
    calls[k].fn(calls[k].id, calls[k].threshold, calls[k].above, calls[k].arg);
  }
}

Errc RegisterPressureCallback(uint32_t group, int level, PressureFn fn,
                              void* arg, int* handle) {
  if (fn == nullptr || handle == nullptr || level < 1 || level > 3)
    return Errc::kInvalidArgument;
  return AddEntry(&g_threshold_lock, g_pressure_cbs, &g_npressure,
                  PressureCb{group, GenerationOfSlot(group), level, fn, arg, 0},
                  handle);
}

Errc UnregisterPressureCallback(int handle) {
  return RemoveEntry(&g_threshold_lock, g_pressure_cbs, &g_npressure, handle);
}

void ReclaimPrepareFork() {
  g_reclaim_lock.Lock();
  g_threshold_lock.Lock();
}

void ReclaimParentFork() {
  g_threshold_lock.Unlock();
  g_reclaim_lock.Unlock();
}

void ReclaimChildFork() {
  g_threshold_lock.ResetAfterFork();
  g_reclaim_lock.ResetAfterFork();
}

// --- Pressure ---------------------------------------------------------------

namespace {

// Requires st.psi_lock. Adds the time since the last accrual.
void AccrueLocked(GroupState& st, int64_t now) {
  if (st.psi_last_ns != 0 && now > st.psi_last_ns) {
    int64_t dt = now - st.psi_last_ns;
    if (st.stalled > 0) st.some_ns += dt;
    if (st.stalled > 0 && st.stalled >= st.members) st.full_ns += dt;
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
    double decay = std::exp(-(dt / 1e9) / kWindowsSec[w]);
    st.some_avg[w] = st.some_avg[w] * decay + some_rate * (1 - decay);
    st.full_avg[w] = st.full_avg[w] * decay + full_rate * (1 - decay);
  }
  st.avg_last_ns = now;
  st.avg_some_base = st.some_ns;
  st.avg_full_base = st.full_ns;
}

}  // namespace

void StallBegin(uint32_t group) {
  GroupState& st = Reg().state(group);
  SpinLockHolder h(&st.psi_lock);
  int64_t now = MonotonicNanos();
  AccrueLocked(st, now);
  UpdateAveragesLocked(st, now);
  ++st.stalled;
}

void StallEnd(uint32_t group, StallKind kind, int64_t ns) {
  GroupState& st = Reg().state(group);
  {
    SpinLockHolder h(&st.psi_lock);
    int64_t now = MonotonicNanos();
    AccrueLocked(st, now);
    UpdateAveragesLocked(st, now);
    if (st.stalled > 0) --st.stalled;
  }
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

void MemberJoin(uint32_t group) {
  GroupState& st = Reg().state(group);
  SpinLockHolder h(&st.psi_lock);
  AccrueLocked(st, MonotonicNanos());
  ++st.members;
}

void MemberLeave(uint32_t group) {
  GroupState& st = Reg().state(group);
  SpinLockHolder h(&st.psi_lock);
  AccrueLocked(st, MonotonicNanos());
  if (st.members > 0) --st.members;
}

void ReadPressure(uint32_t group, Pressure* out) {
  GroupState& st = Reg().state(group);
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

}  // namespace memgroup::internal
