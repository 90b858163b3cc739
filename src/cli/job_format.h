// The output formats of `memgroup stat` (and `list`/`top`'s sizes): the
// kernel's `key value` text, one JSON object (schema in docs/control.md),
// and the Prometheus text exposition format 0.0.4. Pure functions of a
// JobStatus: no I/O.
#ifndef MEMGROUP_SRC_CLI_JOB_FORMAT_H_
#define MEMGROUP_SRC_CLI_JOB_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "cli/job_status.h"
#include "counter/job_block.h"
#include "counter/job_group_table.h"

namespace memgroup::internal::cli {

// "enomem", "abort", "kill", "wait", "wait:SECONDS", "handler" or
// "unknown(N)" for a value no version writes.
std::string OomPolicyName(uint32_t policy, int64_t wait_ns);

// "max" for kUnlimited, else the decimal bytes (the kernel's form).
std::string LimitText(int64_t bytes);

// Bytes for people: "0", "512K", "4.0M", "1.5G" (binary multiples);
// "max" for kUnlimited.
std::string HumanBytes(int64_t bytes);

// A JSON string literal (quotes included) for `s`: ", \ and control
// characters escaped; other bytes as they are (the job's strings are
// sanitized to printable UTF-8 when read).
std::string JsonQuote(absl::string_view s);

// A Prometheus label value's escaping (\, " and newline), no quotes.
std::string PromEscape(absl::string_view s);

std::string FormatStatText(const JobStatus& st);
std::string FormatStatJson(const JobStatus& st);
// One exposition of every metric family for every job given, each family's
// HELP and TYPE once.
std::string FormatStatPrometheus(const std::vector<JobStatus>& jobs);

// A member's root group crossings in stat's and events' text:
// "member_crossings PID threshold_above=N ... threshold_below_last=B\n".
std::string MemberCrossingsLine(const MemberStatus& m);
// The job's pressure in stat's text: "pressure.some avg10=A avg60=B
// avg300=C total=USEC\n", then the same line for "pressure.full" (the
// kernel's memory.pressure lines).
std::string JobPressureText(const JobSnapshot& s);

// The job's event names, in JobEvent order: high, max, oom, oom_kill as
// the kernel's memory.events names them.
const char* JobEventName(uint32_t e);
// A member group's events (JobGroupFigures::events), in the kernel's
// memory.events order (the group layer's Event order).
inline constexpr const char* kGroupEventNames[kJobGroupEvents] = {
    "low", "high", "max", "oom", "oom_kill", "oom_group_kill"};

// A member group's crossings (JobGroupFigures::crossings): the calls made
// to the threshold and pressure-level callbacks registered on it through
// the C ABI, in the group layer's order.
inline constexpr const char* kGroupCrossingNames[kJobGroupCrossings] = {
    "threshold_above", "threshold_below", "pressure_low", "pressure_medium",
    "pressure_critical"};
// The last threshold crossed upwards [0] and downwards [1]
// (JobGroupFigures::threshold_last), in stat's keys.
inline constexpr const char* kThresholdLastNames[2] = {"threshold_above_last",
                                                       "threshold_below_last"};

// JobEvent values in the kernel's memory.events order.
inline constexpr uint32_t kJobEventsInKernelOrder[] = {
    kJobEventHigh, kJobEventMax, kJobEventOom, kJobEventOomKill};

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_JOB_FORMAT_H_
