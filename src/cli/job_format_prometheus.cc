// Implements job_format.h's Prometheus text exposition format 0.0.4
// (FormatStatPrometheus): every metric family once, with HELP and TYPE,
// and a series per job and member group.
#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/limits.h"
#include "cli/job_format.h"
#include "cli/job_format_internal.h"

namespace memgroup::internal::cli {
namespace {

std::string PromLimit(int64_t bytes) {
  return bytes == kUnlimited ? "+Inf" : absl::StrCat(bytes);
}

}  // namespace

std::string FormatStatPrometheus(const std::vector<JobStatus>& jobs) {
  std::string o;
  auto family = [&](const char* name, const char* type, const char* help) {
    absl::StrAppend(&o, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                    type, "\n");
  };
  auto labels = [](const JobStatus& j) {
    return absl::StrCat("pid=\"", j.snap.supervisor_pid, "\",group=\"",
                        PromEscape(j.group), "\"");
  };
  // A member group's series carry the job's pid and the group as
  // "MEMBER:/a/b".
  auto group_labels = [](const JobStatus& j, const GroupStatus& g) {
    return absl::StrCat("pid=\"", j.snap.supervisor_pid, "\",group=\"",
                        PromEscape(g.Name()), "\"");
  };
  // The job's own series, unless the status is one member group's.
  auto job_series = [](const JobStatus& j) { return !j.group_only; };
  family("memgroup_info", "gauge",
         "Always 1; the job's (or the group's member's) command as a label.");
  for (const JobStatus& j : jobs) {
    if (job_series(j)) {
      absl::StrAppend(&o, "memgroup_info{", labels(j), ",command=\"",
                      PromEscape(j.snap.command), "\"} 1\n");
    }
    for (const GroupStatus& g : j.groups) {
      absl::StrAppend(&o, "memgroup_info{", group_labels(j, g), ",command=\"",
                      PromEscape(g.command), "\"} 1\n");
    }
  }
  // One gauge family with a value for the job and each member group.
  auto gauge = [&](const char* name, const char* help,
                   int64_t (*job_value)(const JobSnapshot&),
                   int64_t (*group_value)(const JobGroupFigures&),
                   bool limit) {
    family(name, "gauge", help);
    auto text = [&](int64_t v) {
      return limit ? PromLimit(v) : absl::StrCat(v);
    };
    for (const JobStatus& j : jobs) {
      if (job_series(j)) {
        absl::StrAppend(&o, name, "{", labels(j), "} ", text(job_value(j.snap)),
                        "\n");
      }
      for (const GroupStatus& g : j.groups) {
        absl::StrAppend(&o, name, "{", group_labels(j, g), "} ",
                        text(group_value(g.figures)), "\n");
      }
    }
  };
  gauge("memgroup_current_bytes",
        "Bytes charged to the group (memory.current).",
        [](const JobSnapshot& s) { return s.current; },
        [](const JobGroupFigures& f) { return f.current; }, false);
  gauge("memgroup_peak_bytes",
        "Largest usage since the group was created (memory.peak).",
        [](const JobSnapshot& s) { return s.peak; },
        [](const JobGroupFigures& f) { return f.peak; }, false);
  gauge("memgroup_max_bytes", "Hard limit (memory.max); +Inf when unlimited.",
        [](const JobSnapshot& s) { return s.max; },
        [](const JobGroupFigures& f) { return f.max; }, true);
  gauge("memgroup_high_bytes",
        "Throttle limit (memory.high); +Inf when unlimited.",
        [](const JobSnapshot& s) { return s.high; },
        [](const JobGroupFigures& f) { return f.high; }, true);
  family("memgroup_events_total", "counter",
         "Events of the group (memory.events).");
  for (const JobStatus& j : jobs) {
    if (job_series(j)) {
      for (uint32_t e : kJobEventsInKernelOrder) {
        absl::StrAppend(&o, "memgroup_events_total{", labels(j), ",event=\"",
                        JobEventName(e), "\"} ", j.snap.events[e], "\n");
      }
    }
    for (const GroupStatus& g : j.groups) {
      for (uint32_t e = 0; e < kJobGroupEvents; ++e) {
        absl::StrAppend(&o, "memgroup_events_total{", group_labels(j, g),
                        ",event=\"", kGroupEventNames[e], "\"} ",
                        g.figures.events[e], "\n");
      }
    }
  }
  family("memgroup_failcnt_total", "counter",
         "Charges refused at the group's max.");
  for (const JobStatus& j : jobs) {
    if (job_series(j)) {
      absl::StrAppend(&o, "memgroup_failcnt_total{", labels(j), "} ",
                      j.snap.failcnt, "\n");
    }
    for (const GroupStatus& g : j.groups) {
      absl::StrAppend(&o, "memgroup_failcnt_total{", group_labels(j, g), "} ",
                      g.figures.failcnt, "\n");
    }
  }
  family("memgroup_throttled_seconds_total", "counter",
         "Time threads slept above the group's high.");
  for (const JobStatus& j : jobs) {
    if (job_series(j)) {
      absl::StrAppend(&o, "memgroup_throttled_seconds_total{", labels(j), "} ",
                      Seconds(j.snap.throttled_ns), "\n");
    }
    for (const GroupStatus& g : j.groups) {
      absl::StrAppend(
          &o, "memgroup_throttled_seconds_total{", group_labels(j, g), "} ",
          SecondsFromMicros(g.figures.stat[kGroupStatThrottledUs]), "\n");
    }
  }
  // The memory.stat bytes: the job's (its members' root groups summed)
  // and the member groups'.
  family("memgroup_stat_bytes", "gauge",
         "The group's memory.stat bytes by key (heap, mmap, explicit, stock, "
         "stock_bound, reclaimed, engine_free, engine_cached, engine_slack); "
         "a job's are its members' sums.");
  for (const JobStatus& j : jobs) {
    if (job_series(j)) {
      for (uint32_t k = 0; k < kJobRootStats; ++k) {
        absl::StrAppend(&o, "memgroup_stat_bytes{", labels(j), ",key=\"",
                        kJobRootStatKeys[k], "\"} ", j.snap.stat[k], "\n");
      }
    }
    for (const GroupStatus& g : j.groups) {
      for (const auto& k : kGroupStatKeys) {
        if (!k.bytes) continue;
        absl::StrAppend(&o, "memgroup_stat_bytes{", group_labels(j, g),
                        ",key=\"", k.key, "\"} ", g.figures.stat[k.index],
                        "\n");
      }
    }
  }
  // The member groups' OOM wait time and figures' age (the job's block has
  // neither): the families only when there are member groups.
  bool any_group = false;
  for (const JobStatus& j : jobs) any_group |= !j.groups.empty();
  if (any_group) {
    family("memgroup_oom_wait_seconds_total", "counter",
           "Time threads waited for memory under the wait policy.");
    for (const JobStatus& j : jobs) {
      for (const GroupStatus& g : j.groups) {
        absl::StrAppend(
            &o, "memgroup_oom_wait_seconds_total{", group_labels(j, g), "} ",
            SecondsFromMicros(g.figures.stat[kGroupStatOomWaitUs]), "\n");
      }
    }
    family("memgroup_figures_age_seconds", "gauge",
           "How old the member group's published figures are; -1 unknown.");
    for (const JobStatus& j : jobs) {
      for (const GroupStatus& g : j.groups) {
        absl::StrAppend(&o, "memgroup_figures_age_seconds{", group_labels(j, g),
                        "} ",
                        g.age_ms < 0 ? std::string("-1")
                                     : SecondsFromMicros(g.age_ms * 1000),
                        "\n");
      }
    }
  }
  // The pressure: both kinds, of the job and of the member groups.
  family("memgroup_pressure_stall_seconds_total", "counter",
         "Time some (kind=\"some\") or all (kind=\"full\") of the group's "
         "threads stalled on memory (memory.pressure totals); for a job, "
         "time at least one member (some) or every member (full) was "
         "stalled.");
  for (const JobStatus& j : jobs) {
    if (job_series(j)) {
      absl::StrAppend(&o, "memgroup_pressure_stall_seconds_total{", labels(j),
                      ",kind=\"some\"} ", Seconds(j.snap.some_ns), "\n");
      absl::StrAppend(&o, "memgroup_pressure_stall_seconds_total{", labels(j),
                      ",kind=\"full\"} ", Seconds(j.snap.full_ns), "\n");
    }
    for (const GroupStatus& g : j.groups) {
      for (uint32_t kind = 0; kind < kJobGroupPressureKinds; ++kind) {
        absl::StrAppend(
            &o, "memgroup_pressure_stall_seconds_total{", group_labels(j, g),
            ",kind=\"", kPressureKinds[kind], "\"} ",
            SecondsFromMicros(g.figures.pressure_total_us[kind]), "\n");
      }
    }
  }
  // The crossings: of the member groups, and of the members' root groups
  // (the members themselves: the job's labels and `member`), for the
  // members that had any.
  bool any_crossings = false;
  for (const JobStatus& j : jobs) {
    any_crossings |= !j.groups.empty();
    if (!job_series(j)) continue;
    for (const MemberStatus& m : j.members) any_crossings |= m.Crossed();
  }
  if (any_crossings) {
    family("memgroup_crossings_total", "counter",
           "Calls made to the threshold (event=\"threshold_above|"
           "threshold_below\") and pressure-level (event=\"pressure_low|"
           "pressure_medium|pressure_critical\") callbacks the member "
           "registered on the group (or, with a member label, on its root "
           "group) through the C ABI.");
    for (const JobStatus& j : jobs) {
      if (job_series(j)) {
        for (const MemberStatus& m : j.members) {
          if (!m.Crossed()) continue;
          for (uint32_t k = 0; k < kJobCrossings; ++k) {
            absl::StrAppend(&o, "memgroup_crossings_total{", labels(j),
                            ",member=\"", m.pid, "\",event=\"",
                            kGroupCrossingNames[k], "\"} ", m.crossings[k],
                            "\n");
          }
        }
      }
      for (const GroupStatus& g : j.groups) {
        for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
          absl::StrAppend(&o, "memgroup_crossings_total{", group_labels(j, g),
                          ",event=\"", kGroupCrossingNames[k], "\"} ",
                          g.figures.crossings[k], "\n");
        }
      }
    }
    family("memgroup_threshold_last_bytes", "gauge",
           "The threshold of the group's (or, with a member label, the "
           "member's root group's) last crossing upwards "
           "(direction=\"above\") or downwards (direction=\"below\"); "
           "absent before the first.");
    static constexpr const char* kDirections[2] = {"above", "below"};
    for (const JobStatus& j : jobs) {
      if (job_series(j)) {
        for (const MemberStatus& m : j.members) {
          if (!m.Crossed()) continue;
          for (uint32_t k = 0; k < 2; ++k) {
            if (m.threshold_last[k] < 0) continue;
            absl::StrAppend(&o, "memgroup_threshold_last_bytes{", labels(j),
                            ",member=\"", m.pid, "\",direction=\"",
                            kDirections[k], "\"} ", m.threshold_last[k], "\n");
          }
        }
      }
      for (const GroupStatus& g : j.groups) {
        for (uint32_t k = 0; k < 2; ++k) {
          if (g.figures.threshold_last[k] < 0) continue;
          absl::StrAppend(&o, "memgroup_threshold_last_bytes{",
                          group_labels(j, g), ",direction=\"", kDirections[k],
                          "\"} ", g.figures.threshold_last[k], "\n");
        }
      }
    }
  }
  if (jobs.empty() || !jobs[0].group_only) {
    family("memgroup_members", "gauge", "Member processes of the job.");
    for (const JobStatus& j : jobs) {
      if (!job_series(j)) continue;
      absl::StrAppend(&o, "memgroup_members{", labels(j), "} ",
                      j.members.size(), "\n");
    }
    family("memgroup_untracked_processes", "gauge",
           "Processes of the job the preload could not enter.");
    for (const JobStatus& j : jobs) {
      if (!job_series(j)) continue;
      absl::StrAppend(&o, "memgroup_untracked_processes{", labels(j), "} ",
                      j.untracked.size(), "\n");
    }
    family("memgroup_member_current_bytes", "gauge",
           "Bytes one member process charged to the job.");
    for (const JobStatus& j : jobs) {
      if (!job_series(j)) continue;
      for (const MemberStatus& m : j.members) {
        absl::StrAppend(&o, "memgroup_member_current_bytes{", labels(j),
                        ",member=\"", m.pid, "\"} ", m.current, "\n");
      }
    }
    family("memgroup_groups_unpublished", "gauge",
           "Groups the job's members created but could not publish (the "
           "group table's bounds).");
    for (const JobStatus& j : jobs) {
      if (!job_series(j)) continue;
      absl::StrAppend(&o, "memgroup_groups_unpublished{", labels(j), "} ",
                      j.groups_unpublished, "\n");
    }
  }
  return o;
}

}  // namespace memgroup::internal::cli
