// What the output formats of job_format.h share inside src/cli: times as
// decimal seconds and the names of a member group's pressure kinds and stat
// keys. Used by job_format.cc (text, JSON) and job_format_prometheus.cc.
#ifndef MEMGROUP_SRC_CLI_JOB_FORMAT_INTERNAL_H_
#define MEMGROUP_SRC_CLI_JOB_FORMAT_INTERNAL_H_

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

#include "cli/job_format.h"

namespace memgroup::internal::cli {

// Nanoseconds as decimal seconds; a hostile block may hold any int64, so
// the magnitude is taken as unsigned (INT64_MIN has no positive twin).
inline std::string Seconds(int64_t ns) {
  const uint64_t mag = ns < 0 ? 0 - static_cast<uint64_t>(ns)
                              : static_cast<uint64_t>(ns);
  char buf[48];
  snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "",
           mag / 1000000000, mag % 1000000000);
  return buf;
}

// Microseconds as decimal seconds (any int64, as Seconds).
inline std::string SecondsFromMicros(int64_t us) {
  const uint64_t mag =
      us < 0 ? 0 - static_cast<uint64_t>(us) : static_cast<uint64_t>(us);
  char buf[48];
  snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%06" PRIu64, us < 0 ? "-" : "",
           mag / 1000000, mag % 1000000);
  return buf;
}

inline std::string SecondsFromMicros(uint64_t us) {
  char buf[48];
  snprintf(buf, sizeof(buf), "%" PRIu64 ".%06" PRIu64, us / 1000000,
           us % 1000000);
  return buf;
}

// A member group's pressure: kinds "some" and "full", their averages at
// pressure_avg[3 * kind + 0..2] (avg10, avg60, avg300).
inline constexpr const char* kPressureKinds[kJobGroupPressureKinds] = {"some", "full"};
inline constexpr const char* kPressureAvgNames[3] = {"avg10", "avg60", "avg300"};

// The stat keys the group text and JSON print, in the in-process stats
// block's order (stats_report.cc WriteGroupStats), and which of them are
// bytes (memgroup_stat_bytes).
inline constexpr struct {
  uint32_t index;
  const char* key;
  bool bytes;
} kGroupStatKeys[kJobGroupStats] = {
    {kGroupStatHeap, "heap", true},
    {kGroupStatMmap, "mmap", true},
    {kGroupStatExplicit, "explicit", true},
    {kGroupStatStock, "stock", true},
    {kGroupStatStockBound, "stock_bound", true},
    {kGroupStatReclaimCalls, "reclaim_calls", false},
    {kGroupStatReclaimed, "reclaimed", true},
    {kGroupStatThrottledUs, "throttled_usec", false},
    {kGroupStatOomWaitUs, "oom_wait_usec", false},
    {kGroupStatFaultInjected, "fault_injected", false},
    {kGroupStatEngineFree, "engine_free", true},
    {kGroupStatEngineCached, "engine_cached", true},
    {kGroupStatEngineSlack, "engine_slack", true},
};

// The job's stat bytes (JobSnapshot::stat, MemberStatus::stat: the
// members' root group stat, JobRootStat order), their keys as a group's.
inline constexpr const char* kJobRootStatKeys[kJobRootStats] = {
    "heap",      "mmap",        "explicit",      "stock",       "stock_bound",
    "reclaimed", "engine_free", "engine_cached", "engine_slack"};

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_JOB_FORMAT_INTERNAL_H_
