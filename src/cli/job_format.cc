// Implements job_format.h.
#include "cli/job_format.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/limits.h"

namespace memgroup::internal::cli {
namespace {

// Nanoseconds as decimal seconds; a hostile block may hold any int64, so
// the magnitude is taken as unsigned (INT64_MIN has no positive twin).
std::string Seconds(int64_t ns) {
  const uint64_t mag = ns < 0 ? 0 - static_cast<uint64_t>(ns)
                              : static_cast<uint64_t>(ns);
  char buf[48];
  snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "",
           mag / 1000000000, mag % 1000000000);
  return buf;
}

// JSON number or null for "no limit".
std::string JsonLimit(int64_t bytes) {
  return bytes == kUnlimited ? "null" : absl::StrCat(bytes);
}

std::string PromLimit(int64_t bytes) {
  return bytes == kUnlimited ? "+Inf" : absl::StrCat(bytes);
}

// Microseconds as decimal seconds (any int64, as Seconds).
std::string SecondsFromMicros(int64_t us) {
  const uint64_t mag =
      us < 0 ? 0 - static_cast<uint64_t>(us) : static_cast<uint64_t>(us);
  char buf[48];
  snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%06" PRIu64, us < 0 ? "-" : "",
           mag / 1000000, mag % 1000000);
  return buf;
}

std::string SecondsFromMicros(uint64_t us) {
  char buf[48];
  snprintf(buf, sizeof(buf), "%" PRIu64 ".%06" PRIu64, us / 1000000,
           us % 1000000);
  return buf;
}

// Hundredths of a percent as the kernel prints a pressure average: "1.25".
std::string Percent(uint32_t hundredths) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%u.%02u", hundredths / 100, hundredths % 100);
  return buf;
}

// A member group's pressure: kinds "some" and "full", their averages at
// pressure_avg[3 * kind + 0..2] (avg10, avg60, avg300).
constexpr const char* kPressureKinds[kJobGroupPressureKinds] = {"some", "full"};
constexpr const char* kPressureAvgNames[3] = {"avg10", "avg60", "avg300"};

// The stat keys the group text and JSON print, in the in-process stats
// block's order (stats_report.cc WriteGroupStats), and which of them are
// bytes (memgroup_stat_bytes).
constexpr struct {
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
};

std::string GroupText(const JobStatus& st, const GroupStatus& g) {
  const JobGroupFigures& f = g.figures;
  std::string o;
  absl::StrAppend(&o, "pid ", st.snap.supervisor_pid, "\n");
  absl::StrAppend(&o, "group ", g.Name(), "\n");
  absl::StrAppend(&o, "member_pid ", g.pid, "\n");
  absl::StrAppend(&o, "path ", g.path, "\n");
  absl::StrAppend(&o, "command ", g.command, "\n");
  absl::StrAppend(&o, "current ", f.current, "\n");
  absl::StrAppend(&o, "peak ", f.peak, "\n");
  absl::StrAppend(&o, "max ", LimitText(f.max), "\n");
  absl::StrAppend(&o, "high ", LimitText(f.high), "\n");
  absl::StrAppend(&o, "low ", LimitText(f.low), "\n");
  absl::StrAppend(&o, "min ", LimitText(f.min), "\n");
  absl::StrAppend(&o, "oom.policy ", OomPolicyName(f.oom_policy, f.oom_wait_ns),
                  "\n");
  absl::StrAppend(&o, "failcnt ", f.failcnt, "\n");
  for (uint32_t e = 0; e < kJobGroupEvents; ++e) {
    absl::StrAppend(&o, "events.", kGroupEventNames[e], " ", f.events[e], "\n");
  }
  for (uint32_t e = 0; e < kJobGroupEvents; ++e) {
    absl::StrAppend(&o, "events_local.", kGroupEventNames[e], " ",
                    f.events_local[e], "\n");
  }
  for (const auto& k : kGroupStatKeys) {
    absl::StrAppend(&o, "stat.", k.key, " ", f.stat[k.index], "\n");
  }
  for (uint32_t kind = 0; kind < kJobGroupPressureKinds; ++kind) {
    absl::StrAppend(&o, "pressure.", kPressureKinds[kind]);
    for (uint32_t a = 0; a < 3; ++a) {
      absl::StrAppend(&o, " ", kPressureAvgNames[a], "=",
                      Percent(f.pressure_avg[3 * kind + a]));
    }
    absl::StrAppend(&o, " total=", f.pressure_total_us[kind], "\n");
  }
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    absl::StrAppend(&o, "crossings.", kGroupCrossingNames[k], " ",
                    f.crossings[k], "\n");
  }
  for (uint32_t k = 0; k < 2; ++k) {
    absl::StrAppend(&o, "crossings.", kThresholdLastNames[k], " ",
                    f.threshold_last[k], "\n");
  }
  absl::StrAppend(&o, "groups.unpublished ", f.unpublished, "\n");
  absl::StrAppend(&o, "age_ms ", g.age_ms, "\n");
  absl::StrAppend(&o, "refreshed ", g.refreshed ? 1 : 0, "\n");
  return o;
}

std::string GroupEventsJson(const uint64_t (&events)[kJobGroupEvents]) {
  std::string o = "{";
  for (uint32_t e = 0; e < kJobGroupEvents; ++e) {
    absl::StrAppend(&o, e == 0 ? "" : ",", "\"", kGroupEventNames[e], "\":",
                    events[e]);
  }
  return o + "}";
}

std::string GroupJson(const JobStatus& st, const GroupStatus& g) {
  const JobGroupFigures& f = g.figures;
  std::string o = "{";
  absl::StrAppend(&o, "\"schema\":\"memgroup.group.v1\"");
  absl::StrAppend(&o, ",\"pid\":", st.snap.supervisor_pid);
  absl::StrAppend(&o, ",\"group\":", JsonQuote(g.Name()));
  absl::StrAppend(&o, ",\"member_pid\":", g.pid);
  absl::StrAppend(&o, ",\"path\":", JsonQuote(g.path));
  absl::StrAppend(&o, ",\"command\":", JsonQuote(g.command));
  absl::StrAppend(&o, ",\"current\":", f.current);
  absl::StrAppend(&o, ",\"peak\":", f.peak);
  absl::StrAppend(&o, ",\"max\":", JsonLimit(f.max));
  absl::StrAppend(&o, ",\"high\":", JsonLimit(f.high));
  absl::StrAppend(&o, ",\"low\":", JsonLimit(f.low));
  absl::StrAppend(&o, ",\"min\":", JsonLimit(f.min));
  absl::StrAppend(&o, ",\"oom\":{\"policy\":",
                  JsonQuote(OomPolicyName(f.oom_policy, f.oom_wait_ns)), "}");
  absl::StrAppend(&o, ",\"failcnt\":", f.failcnt);
  absl::StrAppend(&o, ",\"events\":", GroupEventsJson(f.events));
  absl::StrAppend(&o, ",\"events_local\":", GroupEventsJson(f.events_local));
  absl::StrAppend(&o, ",\"stat\":{");
  for (const auto& k : kGroupStatKeys) {
    absl::StrAppend(&o, &k == kGroupStatKeys ? "" : ",", "\"", k.key,
                    "\":", f.stat[k.index]);
  }
  absl::StrAppend(&o, "},\"pressure\":{");
  for (uint32_t kind = 0; kind < kJobGroupPressureKinds; ++kind) {
    absl::StrAppend(&o, kind == 0 ? "" : ",", "\"", kPressureKinds[kind],
                    "\":{");
    for (uint32_t a = 0; a < 3; ++a) {
      absl::StrAppend(&o, "\"", kPressureAvgNames[a],
                      "\":", Percent(f.pressure_avg[3 * kind + a]), ",");
    }
    absl::StrAppend(&o, "\"total_usec\":", f.pressure_total_us[kind], "}");
  }
  absl::StrAppend(&o, "},\"crossings\":{");
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    absl::StrAppend(&o, k == 0 ? "" : ",", "\"", kGroupCrossingNames[k],
                    "\":", f.crossings[k]);
  }
  // A threshold is >= 0; anything else (none yet, or a hostile table's
  // value) is null.
  for (uint32_t k = 0; k < 2; ++k) {
    absl::StrAppend(&o, ",\"", kThresholdLastNames[k], "\":",
                    f.threshold_last[k] >= 0
                        ? absl::StrCat(f.threshold_last[k])
                        : std::string("null"));
  }
  absl::StrAppend(&o, "}");
  absl::StrAppend(&o, ",\"groups_unpublished\":", f.unpublished);
  absl::StrAppend(&o, ",\"age_ms\":", g.age_ms);
  absl::StrAppend(&o, ",\"refreshed\":", g.refreshed ? "true" : "false");
  absl::StrAppend(&o, "}\n");
  return o;
}

}  // namespace

const char* JobEventName(uint32_t e) {
  switch (e) {
    case kJobEventMax: return "max";
    case kJobEventOom: return "oom";
    case kJobEventOomKill: return "oom_kill";
    case kJobEventHigh: return "high";
  }
  return "unknown";
}

std::string OomPolicyName(uint32_t policy, int64_t wait_ns) {
  switch (policy) {
    case 0: return "enomem";
    case 1: return "abort";
    case 2: return "kill";
    case 3:
      if (wait_ns < 0) return "wait";
      if (wait_ns % 1000000000 == 0) {
        return absl::StrCat("wait:", wait_ns / 1000000000);
      }
      return absl::StrCat("wait:", Seconds(wait_ns));
    case 4: return "handler";
  }
  return absl::StrCat("unknown(", policy, ")");
}

std::string LimitText(int64_t bytes) {
  return bytes == kUnlimited ? "max" : absl::StrCat(bytes);
}

std::string HumanBytes(int64_t bytes) {
  if (bytes == kUnlimited) return "max";
  const bool neg = bytes < 0;
  // Magnitude as unsigned: INT64_MIN has no positive twin.
  uint64_t mag = neg ? 0 - static_cast<uint64_t>(bytes)
                     : static_cast<uint64_t>(bytes);
  static constexpr char kUnits[] = "KMGTPE";
  if (mag < 1024) return absl::StrCat(neg ? "-" : "", mag);
  double v = static_cast<double>(mag);
  int unit = -1;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  if (v < 10) {
    snprintf(buf, sizeof(buf), "%s%.1f%c", neg ? "-" : "", v, kUnits[unit]);
  } else {
    snprintf(buf, sizeof(buf), "%s%.0f%c", neg ? "-" : "", v, kUnits[unit]);
  }
  return buf;
}

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

std::string PromEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatStatText(const JobStatus& st) {
  if (st.group_only && !st.groups.empty()) return GroupText(st, st.groups[0]);
  const JobSnapshot& s = st.snap;
  std::string o;
  absl::StrAppend(&o, "pid ", s.supervisor_pid, "\n");
  absl::StrAppend(&o, "group ", st.group, "\n");
  absl::StrAppend(&o, "command ", s.command, "\n");
  absl::StrAppend(&o, "current ", s.current, "\n");
  absl::StrAppend(&o, "peak ", s.peak, "\n");
  absl::StrAppend(&o, "max ", LimitText(s.max), "\n");
  absl::StrAppend(&o, "high ", LimitText(s.high), "\n");
  absl::StrAppend(&o, "oom.policy ", OomPolicyName(s.oom_policy, s.oom_wait_ns),
                  "\n");
  absl::StrAppend(&o, "oom.waiters ", s.waiters, "\n");
  absl::StrAppend(&o, "failcnt ", s.failcnt, "\n");
  for (uint32_t e : kJobEventsInKernelOrder) {
    absl::StrAppend(&o, "events.", JobEventName(e), " ", s.events[e], "\n");
  }
  absl::StrAppend(&o, "stat.throttled_usec ", s.throttled_ns / 1000, "\n");
  absl::StrAppend(&o, "members ", st.members.size(), "\n");
  for (const MemberStatus& m : st.members) {
    absl::StrAppend(&o, "member ", m.pid, " ", m.current, " ", m.peak, " ",
                    m.command, "\n");
  }
  absl::StrAppend(&o, "untracked ", st.untracked.size(), "\n");
  for (const UntrackedStatus& u : st.untracked) {
    absl::StrAppend(&o, "untracked_process ", u.pid, " ", u.command, "\n");
  }
  absl::StrAppend(&o, "groups ", st.groups.size(), "\n");
  for (const GroupStatus& g : st.groups) {
    absl::StrAppend(&o, "member_group ", g.Name(), " ", g.figures.current, " ",
                    g.figures.peak, " ", LimitText(g.figures.max), "\n");
  }
  absl::StrAppend(&o, "groups.unpublished ", st.groups_unpublished, "\n");
  return o;
}

std::string FormatStatJson(const JobStatus& st) {
  if (st.group_only && !st.groups.empty()) return GroupJson(st, st.groups[0]);
  const JobSnapshot& s = st.snap;
  std::string o = "{";
  absl::StrAppend(&o, "\"schema\":\"memgroup.stat.v1\"");
  absl::StrAppend(&o, ",\"pid\":", s.supervisor_pid);
  absl::StrAppend(&o, ",\"group\":", JsonQuote(st.group));
  absl::StrAppend(&o, ",\"command\":", JsonQuote(s.command));
  absl::StrAppend(&o, ",\"start_unix_ns\":", s.start_unix_ns);
  absl::StrAppend(&o, ",\"current\":", s.current);
  absl::StrAppend(&o, ",\"peak\":", s.peak);
  absl::StrAppend(&o, ",\"max\":", JsonLimit(s.max));
  absl::StrAppend(&o, ",\"high\":", JsonLimit(s.high));
  absl::StrAppend(&o, ",\"oom\":{\"policy\":",
                  JsonQuote(OomPolicyName(s.oom_policy, s.oom_wait_ns)),
                  ",\"waiters\":", s.waiters, "}");
  absl::StrAppend(&o, ",\"failcnt\":", s.failcnt);
  absl::StrAppend(&o, ",\"events\":{");
  bool first = true;
  for (uint32_t e : kJobEventsInKernelOrder) {
    absl::StrAppend(&o, first ? "" : ",", "\"", JobEventName(e), "\":",
                    s.events[e]);
    first = false;
  }
  absl::StrAppend(&o, "}");
  absl::StrAppend(&o, ",\"stat\":{\"throttled_usec\":", s.throttled_ns / 1000,
                  "}");
  absl::StrAppend(&o, ",\"members\":[");
  first = true;
  for (const MemberStatus& m : st.members) {
    absl::StrAppend(&o, first ? "" : ",", "{\"pid\":", m.pid,
                    ",\"command\":", JsonQuote(m.command),
                    ",\"current\":", m.current, ",\"peak\":", m.peak, "}");
    first = false;
  }
  absl::StrAppend(&o, "],\"untracked\":[");
  first = true;
  for (const UntrackedStatus& u : st.untracked) {
    absl::StrAppend(&o, first ? "" : ",", "{\"pid\":", u.pid,
                    ",\"command\":", JsonQuote(u.command), "}");
    first = false;
  }
  absl::StrAppend(&o, "],\"groups\":[");
  first = true;
  for (const GroupStatus& g : st.groups) {
    const JobGroupFigures& f = g.figures;
    absl::StrAppend(&o, first ? "" : ",", "{\"group\":", JsonQuote(g.Name()),
                    ",\"member_pid\":", g.pid, ",\"path\":", JsonQuote(g.path),
                    ",\"current\":", f.current, ",\"peak\":", f.peak,
                    ",\"max\":", JsonLimit(f.max),
                    ",\"high\":", JsonLimit(f.high), ",\"age_ms\":", g.age_ms,
                    "}");
    first = false;
  }
  absl::StrAppend(&o, "],\"groups_unpublished\":", st.groups_unpublished,
                  "}\n");
  return o;
}

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
  // The member groups' memory.stat bytes, pressure and figures' age (the
  // job's block has none of these): the families only when there are
  // member groups.
  bool any_group = false;
  for (const JobStatus& j : jobs) any_group |= !j.groups.empty();
  if (any_group) {
    family("memgroup_stat_bytes", "gauge",
           "The group's memory.stat bytes by key (heap, mmap, explicit, stock, "
           "stock_bound, reclaimed).");
    for (const JobStatus& j : jobs) {
      for (const GroupStatus& g : j.groups) {
        for (const auto& k : kGroupStatKeys) {
          if (!k.bytes) continue;
          absl::StrAppend(&o, "memgroup_stat_bytes{", group_labels(j, g),
                          ",key=\"", k.key, "\"} ", g.figures.stat[k.index],
                          "\n");
        }
      }
    }
    family("memgroup_oom_wait_seconds_total", "counter",
           "Time threads waited for memory under the wait policy.");
    for (const JobStatus& j : jobs) {
      for (const GroupStatus& g : j.groups) {
        absl::StrAppend(
            &o, "memgroup_oom_wait_seconds_total{", group_labels(j, g), "} ",
            SecondsFromMicros(g.figures.stat[kGroupStatOomWaitUs]), "\n");
      }
    }
    family("memgroup_pressure_stall_seconds_total", "counter",
           "Time some (kind=\"some\") or all (kind=\"full\") of the group's "
           "threads stalled on memory (memory.pressure totals).");
    for (const JobStatus& j : jobs) {
      for (const GroupStatus& g : j.groups) {
        for (uint32_t kind = 0; kind < kJobGroupPressureKinds; ++kind) {
          absl::StrAppend(
              &o, "memgroup_pressure_stall_seconds_total{", group_labels(j, g),
              ",kind=\"", kPressureKinds[kind], "\"} ",
              SecondsFromMicros(g.figures.pressure_total_us[kind]), "\n");
        }
      }
    }
    family("memgroup_crossings_total", "counter",
           "Calls made to the threshold (event=\"threshold_above|"
           "threshold_below\") and pressure-level (event=\"pressure_low|"
           "pressure_medium|pressure_critical\") callbacks the member "
           "registered on the group through the C ABI.");
    for (const JobStatus& j : jobs) {
      for (const GroupStatus& g : j.groups) {
        for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
          absl::StrAppend(&o, "memgroup_crossings_total{", group_labels(j, g),
                          ",event=\"", kGroupCrossingNames[k], "\"} ",
                          g.figures.crossings[k], "\n");
        }
      }
    }
    family("memgroup_threshold_last_bytes", "gauge",
           "The threshold of the group's last crossing upwards "
           "(direction=\"above\") or downwards (direction=\"below\"); "
           "absent before the first.");
    for (const JobStatus& j : jobs) {
      for (const GroupStatus& g : j.groups) {
        for (uint32_t k = 0; k < 2; ++k) {
          if (g.figures.threshold_last[k] < 0) continue;
          absl::StrAppend(&o, "memgroup_threshold_last_bytes{",
                          group_labels(j, g), ",direction=\"",
                          k == 0 ? "above" : "below", "\"} ",
                          g.figures.threshold_last[k], "\n");
        }
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
