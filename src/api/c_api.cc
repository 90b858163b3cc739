// Implements include/memgroup/memgroup.h over the group registry, the
// charger and the engine. Errors map from Errc to positive errno values; no
// exceptions, no allocation through malloc (except mg_malloc_in and
// mg_transfer, which allocate the caller's block).
#include "memgroup/memgroup.h"

#include <errno.h>

#include <cstring>

#include "api/alloc_path.h"
#include "base/parse_size.h"
#include "group/reclaim.h"

using namespace memgroup::internal;
using namespace memgroup::internal::preload;

namespace {

int ToErrno(Errc e) {
  switch (e) {
    case Errc::kOk: return 0;
    case Errc::kInvalidArgument: return EINVAL;
    case Errc::kNotFound: return ENOENT;
    case Errc::kAlreadyExists: return EEXIST;
    case Errc::kFailedPrecondition: return EBUSY;
    case Errc::kResourceExhausted: return ENOSPC;
  }
  return EINVAL;
}

// Initialises the library if needed and resolves `group` to a slot index.
int Resolve(mg_group_t group, uint32_t* index) {
  if (!EnsureInit()) return EAGAIN;
  return ToErrno(GlobalRegistry().Resolve(group, index));
}

}  // namespace

extern "C" {

MG_EXPORT mg_group_t mg_root(void) {
  (void)EnsureInit();
  return GlobalRegistry().root();
}

MG_EXPORT int mg_group_create(mg_group_t parent, const char* name,
                              mg_group_t* out) {
  if (out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  GroupId id;
  Errc e = GlobalRegistry().Create(parent, name, &id);
  if (e != Errc::kOk) return ToErrno(e);
  uint32_t index = IndexOf(id);
  if (!engine::EnsureGroup(index)) {
    (void)GlobalRegistry().Destroy(id);
    return ENOSPC;
  }
  *out = id;
  return 0;
}

MG_EXPORT int mg_group_lookup(const char* path, mg_group_t* out) {
  if (out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  return ToErrno(GlobalRegistry().Lookup(path, out));
}

MG_EXPORT int mg_group_destroy(mg_group_t group) {
  if (!EnsureInit()) return EAGAIN;
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  err = ToErrno(GlobalRegistry().Destroy(group));
  if (err == 0 && t_thread.group == index) {
    (void)BindCurrentThread(GlobalRegistry().LiveAncestor(index));
  }
  return err;
}

MG_EXPORT int mg_group_path(mg_group_t group, char* buf, size_t cap) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (buf == nullptr || cap == 0) return EINVAL;
  GlobalRegistry().Path(index, buf, cap);
  return 0;
}

MG_EXPORT int mg_group_set_limit(mg_group_t group, mg_limit_t which,
                                 int64_t bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes < 0) return EINVAL;
  CounterTree& t = GlobalRegistry().tree();
  switch (which) {
    case MG_LIMIT_MAX: {
      int64_t old = t.ExchangeMax(index, bytes);
      // v2 memory.max: make usage exact against the new limit at once and
      // reclaim down to it; later charges fail until usage falls.
      if (bytes < old) {
        DrainSubtree(index);
        int64_t over = t.Usage(index) - bytes;
        if (over > 0) (void)ProactiveReclaim(index, over);
      }
      if (bytes > old) NotifyLimitChanged(index);
      return 0;
    }
    case MG_LIMIT_HIGH: {
      int64_t old = t.High(index);
      t.SetHigh(index, bytes);
      if (bytes < old) DrainSubtree(index);
      return 0;
    }
    case MG_LIMIT_LOW:
      t.SetLow(index, bytes);
      return 0;
    case MG_LIMIT_MIN:
      t.SetMin(index, bytes);
      return 0;
  }
  return EINVAL;
}

MG_EXPORT int mg_group_get_limit(mg_group_t group, mg_limit_t which,
                                 int64_t* bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes == nullptr) return EINVAL;
  const CounterTree& t = GlobalRegistry().tree();
  switch (which) {
    case MG_LIMIT_MAX: *bytes = t.Max(index); return 0;
    case MG_LIMIT_HIGH: *bytes = t.High(index); return 0;
    case MG_LIMIT_LOW: *bytes = t.Low(index); return 0;
    case MG_LIMIT_MIN: *bytes = t.Min(index); return 0;
  }
  return EINVAL;
}

MG_EXPORT int mg_group_set_oom_policy(mg_group_t group, mg_oom_policy_t policy,
                                      int64_t timeout_ms) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (policy < MG_OOM_ENOMEM || policy > MG_OOM_HANDLER || timeout_ms < -1) {
    return EINVAL;
  }
  GroupState& st = GlobalRegistry().state(index);
  // Relaxed: see GroupState.
  st.oom_wait_ns.store(timeout_ms < 0 ? -1 : timeout_ms * 1000000,
                       std::memory_order_relaxed);
  st.oom_policy.store(static_cast<uint32_t>(policy), std::memory_order_relaxed);
  return 0;
}

MG_EXPORT int mg_thread_set_group(mg_group_t group) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (t_thread.status == kThreadExited) return EINVAL;
  return BindCurrentThread(index) ? 0 : ENOSPC;
}

MG_EXPORT int mg_thread_get_group(mg_group_t* out) {
  if (out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  uint32_t index = t_thread.status == kThreadExited ? t_thread.group
                                                    : CurrentGroupSlow();
  *out = GlobalRegistry().IdOf(GlobalRegistry().LiveAncestor(index));
  return 0;
}

MG_EXPORT int mg_charge(mg_group_t group, int64_t bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes < 0) return EINVAL;
  if (bytes == 0) return 0;
  if (ChargeSlow(index, bytes, ChargeKind::kExplicit) != ChargeResult::kOk) {
    return ENOMEM;
  }
  // Relaxed: statistics.
  GlobalRegistry().state(index).explicit_bytes.fetch_add(
      bytes, std::memory_order_relaxed);
  return 0;
}

MG_EXPORT int mg_uncharge(mg_group_t group, int64_t bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  GroupState& st = GlobalRegistry().state(index);
  // Relaxed: statistics; refuse to uncharge more than was charged.
  if (bytes < 0 || bytes > st.explicit_bytes.load(std::memory_order_relaxed)) {
    return EINVAL;
  }
  st.explicit_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  GlobalRegistry().tree().Uncharge(index, bytes);
  NotifyLimitChanged(index);
  return 0;
}

MG_EXPORT void* mg_malloc_in(mg_group_t group, size_t size) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) {
    errno = err;
    return nullptr;
  }
  if (t_thread.status == kThreadNew) SetupThread();
  return AllocInGroup(index, size, 0, false);
}

MG_EXPORT int mg_transfer(void** block, mg_group_t to) {
  if (block == nullptr || *block == nullptr) return EINVAL;
  uint32_t index;
  int err = Resolve(to, &index);
  if (err != 0) return err;
  uint32_t owner = owner_table::OwnerOf(*block);
  if (owner == kNoGroup) return EINVAL;
  if (owner == index) return 0;
  size_t size = engine::UsableSize(*block);
  if (t_thread.status == kThreadNew) SetupThread();
  int saved = errno;
  void* q = AllocInGroup(index, size, 0, false);
  if (q == nullptr) {
    errno = saved;
    return ENOMEM;
  }
  memcpy(q, *block, size);
  FreeImpl(*block);
  *block = q;
  return 0;
}

MG_EXPORT int mg_block_group(const void* block, mg_group_t* out) {
  if (block == nullptr || out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  uint32_t owner = owner_table::OwnerOf(block);
  if (owner == kNoGroup) return ENOENT;
  *out = GlobalRegistry().IdOf(GlobalRegistry().LiveAncestor(owner));
  return 0;
}

MG_EXPORT int mg_group_current(mg_group_t group, int exact, int64_t* bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes == nullptr) return EINVAL;
  if (exact) DrainSubtree(index);
  *bytes = GlobalRegistry().tree().Usage(index);
  return 0;
}

MG_EXPORT int mg_group_peak(mg_group_t group, int64_t* bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes == nullptr) return EINVAL;
  *bytes = GlobalRegistry().tree().LocalWatermark(index);
  return 0;
}

MG_EXPORT int mg_group_reset_peak(mg_group_t group) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  GlobalRegistry().tree().ResetPeak(index);
  return 0;
}

MG_EXPORT int mg_group_failcnt(mg_group_t group, int64_t* count) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (count == nullptr) return EINVAL;
  *count = GlobalRegistry().tree().Failcnt(index);
  return 0;
}

MG_EXPORT int mg_group_events(mg_group_t group, int local, mg_events_t* out) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (out == nullptr) return EINVAL;
  const GroupState& st = GlobalRegistry().state(index);
  const std::atomic<uint64_t>* ev =
      (local || index == kRootGroup) ? st.events_local : st.events;
  // Relaxed: statistics.
  out->low = ev[kEventLow].load(std::memory_order_relaxed);
  out->high = ev[kEventHigh].load(std::memory_order_relaxed);
  out->max = ev[kEventMax].load(std::memory_order_relaxed);
  out->oom = ev[kEventOom].load(std::memory_order_relaxed);
  out->oom_kill = ev[kEventOomKill].load(std::memory_order_relaxed);
  out->oom_group_kill = ev[kEventOomGroupKill].load(std::memory_order_relaxed);
  return 0;
}

MG_EXPORT int mg_group_set_oom_handler(mg_group_t group, mg_oom_handler_fn fn,
                                       void* arg) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  return ToErrno(SetOomHandler(index, reinterpret_cast<OomHandlerFn>(fn), arg));
}

MG_EXPORT int mg_reclaim_register(mg_group_t group, mg_reclaim_fn fn,
                                  void* arg, int* handle) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  return ToErrno(RegisterReclaimer(index, reinterpret_cast<ReclaimFn>(fn), arg,
                                   handle));
}

MG_EXPORT int mg_reclaim_unregister(int handle) {
  return ToErrno(UnregisterReclaimer(handle));
}

MG_EXPORT int mg_group_reclaim(mg_group_t group, int64_t bytes,
                               int64_t* released) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes < 0 || released == nullptr) return EINVAL;
  *released = ProactiveReclaim(index, bytes);
  return 0;
}

MG_EXPORT int mg_group_stat(mg_group_t group, mg_stat_t* out) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (out == nullptr) return EINVAL;
  Registry& reg = GlobalRegistry();
  const CounterTree& t = reg.tree();
  GroupStat gs;
  ReadGroupStat(index, &gs);
  memset(out, 0, sizeof(*out));
  out->current = gs.current;
  out->heap = gs.heap;
  out->mmap = gs.mmap;
  out->explicit_bytes = gs.explicit_bytes;
  out->stock = gs.stock;
  out->reclaim_calls = gs.reclaim_calls;
  out->reclaimed = gs.reclaimed;
  out->throttled_usec = gs.throttled_ns / 1000;
  out->oom_wait_usec = gs.oom_wait_ns / 1000;
  // Engine view: every group of the subtree has its own arena.
  for (uint32_t i = 0; i < kMaxGroups; ++i) {
    if (!(reg.IsLive(i) || t.Usage(i) != 0) || !t.IsInSubtree(i, index)) {
      continue;
    }
    EngineGroupStats es;
    if (!engine::GroupStats(i, &es)) continue;
    out->overhead += OverheadBytes(es);
    out->allocs += static_cast<int64_t>(es.nmalloc);
    out->frees += static_cast<int64_t>(es.ndalloc);
  }
  return 0;
}

MG_EXPORT int mg_group_histogram(mg_group_t group, mg_size_class_t* out,
                                 size_t cap, size_t* n) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if ((out == nullptr && cap != 0) || n == nullptr) return EINVAL;
  static_assert(sizeof(mg_size_class_t) == sizeof(EngineSizeClass),
                "same layout");
  *n = engine::GroupHistogram(index, reinterpret_cast<EngineSizeClass*>(out),
                              cap);
  return 0;
}

MG_EXPORT int mg_group_pressure(mg_group_t group, mg_pressure_t* out) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (out == nullptr) return EINVAL;
  Pressure p;
  ReadPressure(index, &p);
  out->some_avg10 = p.some_avg10;
  out->some_avg60 = p.some_avg60;
  out->some_avg300 = p.some_avg300;
  out->full_avg10 = p.full_avg10;
  out->full_avg60 = p.full_avg60;
  out->full_avg300 = p.full_avg300;
  out->some_total_usec = p.some_total_us;
  out->full_total_usec = p.full_total_us;
  return 0;
}

MG_EXPORT int mg_threshold_register(mg_group_t group, int64_t threshold,
                                    mg_threshold_fn fn, void* arg,
                                    int* handle) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  return ToErrno(RegisterThreshold(
      index, threshold, reinterpret_cast<ThresholdFn>(fn), arg, handle));
}

MG_EXPORT int mg_threshold_unregister(int handle) {
  return ToErrno(UnregisterThreshold(handle));
}

MG_EXPORT int mg_pressure_register(mg_group_t group, int level,
                                   mg_pressure_fn fn, void* arg, int* handle) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  return ToErrno(RegisterPressureCallback(
      index, level, reinterpret_cast<PressureFn>(fn), arg, handle));
}

MG_EXPORT int mg_pressure_unregister(int handle) {
  return ToErrno(UnregisterPressureCallback(handle));
}

MG_EXPORT int mg_stats_write(int fd) {
  if (!EnsureInit()) return EAGAIN;
  WriteStats(fd);
  return 0;
}

}  // extern "C"
