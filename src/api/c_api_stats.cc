// The C ABI's statistics (include/memgroup/memgroup.h): usage, peak,
// failcnt, events, memory.stat with the engine's figures, the size-class
// histogram, pressure and the stats report. Racy snapshots; no exceptions,
// no allocation through malloc.
#include "memgroup/memgroup.h"

#include <errno.h>

#include <cstddef>
#include <cstring>

#include "alloc/stats_writer.h"
#include "api/c_api_internal.h"
#include "engine/engine.h"
#include "group/charger.h"
#include "group/pressure.h"
#include "group/stats_report.h"

using namespace memgroup::internal;
using namespace memgroup::internal::alloc;
using namespace memgroup::internal::api;

extern "C" {

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
      local ? st.events_local : st.events;
  // Relaxed: statistics.
  out->low = ev[kEventLow].load(std::memory_order_relaxed);
  out->high = ev[kEventHigh].load(std::memory_order_relaxed);
  out->max = ev[kEventMax].load(std::memory_order_relaxed);
  out->oom = ev[kEventOom].load(std::memory_order_relaxed);
  out->oom_kill = ev[kEventOomKill].load(std::memory_order_relaxed);
  out->oom_group_kill = ev[kEventOomGroupKill].load(std::memory_order_relaxed);
  return 0;
}

// The size of mg_stat_t up to and including `frees`: what a program built
// against a memgroup.h before the engine figures passes to the symbol
// mg_group_stat (its layout is a prefix of today's).
constexpr size_t kStatPrefixBytes = offsetof(mg_stat_t, engine_free);
static_assert(kStatPrefixBytes == 12 * sizeof(int64_t));

MG_EXPORT int mg_group_stat_sized(mg_group_t group, mg_stat_t* out,
                                  size_t size) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (out == nullptr || size < kStatPrefixBytes) return EINVAL;
  Registry& reg = GlobalRegistry();
  const CounterTree& t = reg.tree();
  GroupStat gs;
  ReadGroupStat(index, &gs);
  mg_stat_t all;
  memset(&all, 0, sizeof(all));
  all.current = gs.current;
  all.heap = gs.heap;
  all.mmap = gs.mmap;
  all.explicit_bytes = gs.explicit_bytes;
  all.stock = gs.stock;
  all.reclaim_calls = gs.reclaim_calls;
  all.reclaimed = gs.reclaimed;
  all.throttled_usec = gs.throttled_ns / 1000;
  all.oom_wait_usec = gs.oom_wait_ns / 1000;
  all.engine_free = gs.engine_free;
  all.engine_cached = gs.engine_cached;
  all.engine_slack = gs.engine_slack;
  // Engine view: every group of the subtree has its own arena.
  for (uint32_t i = 0, end = reg.SlotLimit(); i < end; ++i) {
    if (!(reg.IsLive(i) || t.Usage(i) != 0) || !t.IsInSubtree(i, index)) {
      continue;
    }
    EngineGroupStats es;
    if (!engine::GroupStats(i, &es)) continue;
    all.overhead += OverheadBytes(es);
    all.allocs += static_cast<int64_t>(es.nmalloc);
    all.frees += static_cast<int64_t>(es.ndalloc);
  }
  // Only the caller's bytes: an older caller's struct ends at `frees`.
  memcpy(out, &all, size < sizeof(all) ? size : sizeof(all));
  return 0;
}

// The symbol of programs built before mg_group_stat became a macro over
// mg_group_stat_sized (memgroup.h): their mg_stat_t ends at `frees`. The
// parentheses keep the macro from expanding here.
MG_EXPORT int(mg_group_stat)(mg_group_t group, mg_stat_t* out) {
  return mg_group_stat_sized(group, out, kStatPrefixBytes);
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

MG_EXPORT int mg_stats_write(int fd) {
  if (!EnsureInit()) return EAGAIN;
  WriteStats(fd);
  return 0;
}

}  // extern "C"
