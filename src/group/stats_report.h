// The group layer's statistics and reports: memory.stat of a group
// (ReadGroupStat), the `key value` stats block of one group
// (WriteGroupStats) and the OOM report written by the abort and kill
// policies (WriteOomReport).
//
// The one upward hook of the group layer: the OOM report ends with the
// refusing group's engine figures, which only the charging allocator
// (src/alloc) can read, and it is written from inside the abort/kill
// policies, which never return to a caller that could append them. So the
// allocator installs SetOomReportHook at init; without it (the group
// layer's own tests) the report has no engine part. Nothing else calls up.
// Must never: allocate (raw_log formats on the stack), call the engine or
// any layer above except through that hook. Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_STATS_REPORT_H_
#define MEMGROUP_SRC_GROUP_STATS_REPORT_H_

#include <cstdint>

namespace memgroup::internal {

// memory.stat of a group and its subtree, from the counters and the group
// states (the engine's own figures are added by the callers that have the
// engine). Racy snapshot. Allocates: never.
struct GroupStat {
  // heap + mmap + explicit_bytes + stock + engine_free + engine_cached +
  // engine_slack (exact between charges: the parts are read one after the
  // other).
  int64_t current;
  // Usable bytes of live blocks over the subtree, from the engine's figures
  // (SetHeapBytesHook); without the hook, current - mmap - explicit - stock
  // (the heap's charge: slab pages and large blocks), clamped at 0.
  int64_t heap;
  int64_t mmap;
  int64_t explicit_bytes;
  int64_t stock;
  // The rest of the heap's charge (0 without the hook): the engine's
  // charged free pages (freed large blocks' pages, released slabs), the
  // freed large blocks threads' caches keep charged, and the remainder,
  // the charged slab pages beyond their live regions (headers, page tails,
  // free regions), clamped at 0.
  int64_t engine_free;
  int64_t engine_cached;
  int64_t engine_slack;
  int64_t stock_bound;  // ChargeStocks::StockBound of the subtree
  int64_t reclaim_calls;
  int64_t reclaimed;
  int64_t throttled_ns;
  int64_t oom_wait_ns;
  int64_t faults_injected;  // allocation calls failed by MEMGROUP_FAULT
};
void ReadGroupStat(uint32_t group, GroupStat* out);

// Writes the group layer's `key value` lines of one group (path, usage,
// limits, events, stats, pressure) to fd. Allocates: never.
void WriteGroupStats(int fd, uint32_t group);

// The engine's figures of one group's heap (not its subtree's): usable
// bytes of live blocks, its charged free pages and its charged cached
// large blocks. Filled by the hook; zero for a group the engine has no
// figures of.
struct HeapBytes {
  int64_t live;
  int64_t free;
  int64_t cached;
};
// Reads them for stat.heap, stat.engine_free and stat.engine_cached:
// installed by src/alloc at init (the group layer cannot call the engine).
// Allocates: never.
using HeapBytesHook = void (*)(uint32_t group, HeapBytes* out);
void SetHeapBytesHook(HeapBytesHook hook);

// Appends the engine's figures of `group` to an OOM report on fd.
using OomReportHook = void (*)(int fd, uint32_t group);
void SetOomReportHook(OomReportHook hook);

// Writes the OOM report for a refused charge of `bytes` at `group` to fd 2.
// Allocates: never.
void WriteOomReport(uint32_t group, int64_t bytes, const char* verdict);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_STATS_REPORT_H_
