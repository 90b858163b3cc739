// Implements job_format.h's text and JSON forms and the names they share
// (the Prometheus form: job_format_prometheus.cc).
#include "cli/job_format.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "base/limits.h"
#include "cli/job_format_internal.h"

namespace memgroup::internal::cli {
namespace {

// JSON number or null for "no limit".
std::string JsonLimit(int64_t bytes) {
  return bytes == kUnlimited ? "null" : absl::StrCat(bytes);
}

// Hundredths of a percent as the kernel prints a pressure average: "1.25".
std::string Percent(uint32_t hundredths) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%u.%02u", hundredths / 100, hundredths % 100);
  return buf;
}

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

// The crossings and last thresholds as a JSON object's members (no
// braces): a threshold is >= 0; anything else (none yet, or a hostile
// table's value) is null.
std::string CrossingsJsonMembers(const uint64_t (&crossings)[kJobCrossings],
                                 const int64_t (&last)[2]) {
  std::string o;
  for (uint32_t k = 0; k < kJobCrossings; ++k) {
    absl::StrAppend(&o, k == 0 ? "" : ",", "\"", kGroupCrossingNames[k],
                    "\":", crossings[k]);
  }
  for (uint32_t k = 0; k < 2; ++k) {
    absl::StrAppend(&o, ",\"", kThresholdLastNames[k], "\":",
                    last[k] >= 0 ? absl::StrCat(last[k]) : std::string("null"));
  }
  return o;
}

// The members' root stat bytes as JSON members (no braces):
// "heap":N,...,"reclaimed":N.
std::string RootStatJson(const int64_t (&stat)[kJobRootStats]) {
  std::string o;
  for (uint32_t k = 0; k < kJobRootStats; ++k) {
    absl::StrAppend(&o, k == 0 ? "" : ",", "\"", kJobRootStatKeys[k],
                    "\":", stat[k]);
  }
  return o;
}

// A job's events as `PREFIX.NAME N` lines, in the kernel's order.
std::string JobEventsText(const char* prefix,
                          const int64_t (&events)[kJobEventCount]) {
  std::string o;
  for (uint32_t e : kJobEventsInKernelOrder) {
    absl::StrAppend(&o, prefix, ".", JobEventName(e), " ", events[e], "\n");
  }
  return o;
}

// A job's events as a JSON object, in the kernel's order.
std::string JobEventsJson(const int64_t (&events)[kJobEventCount]) {
  std::string o = "{";
  bool first = true;
  for (uint32_t e : kJobEventsInKernelOrder) {
    absl::StrAppend(&o, first ? "" : ",", "\"", JobEventName(e), "\":",
                    events[e]);
    first = false;
  }
  return o + "}";
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
  absl::StrAppend(&o, "},\"crossings\":{",
                  CrossingsJsonMembers(f.crossings, f.threshold_last), "}");
  absl::StrAppend(&o, ",\"groups_unpublished\":", f.unpublished);
  absl::StrAppend(&o, ",\"age_ms\":", g.age_ms);
  absl::StrAppend(&o, ",\"refreshed\":", g.refreshed ? "true" : "false");
  absl::StrAppend(&o, "}\n");
  return o;
}

}  // namespace

std::string MemberCrossingsLine(const MemberStatus& m) {
  std::string o = absl::StrCat("member_crossings ", m.pid);
  for (uint32_t k = 0; k < kJobCrossings; ++k) {
    absl::StrAppend(&o, " ", kGroupCrossingNames[k], "=", m.crossings[k]);
  }
  for (uint32_t k = 0; k < 2; ++k) {
    absl::StrAppend(&o, " ", kThresholdLastNames[k], "=", m.threshold_last[k]);
  }
  return o + "\n";
}

std::string JobPressureText(const JobSnapshot& s) {
  std::string o;
  for (uint32_t kind = 0; kind < 2; ++kind) {
    const uint32_t* avg = kind == 0 ? s.some_avg : s.full_avg;
    absl::StrAppend(&o, "pressure.", kPressureKinds[kind]);
    for (uint32_t a = 0; a < 3; ++a) {
      absl::StrAppend(&o, " ", kPressureAvgNames[a], "=", Percent(avg[a]));
    }
    absl::StrAppend(&o, " total=", (kind == 0 ? s.some_ns : s.full_ns) / 1000,
                    "\n");
  }
  return o;
}

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
  absl::StrAppend(&o, JobEventsText("events", s.events));
  absl::StrAppend(&o, JobEventsText("events_local", s.events_local));
  for (uint32_t k = 0; k < kJobRootStats; ++k) {
    absl::StrAppend(&o, "stat.", kJobRootStatKeys[k], " ", s.stat[k], "\n");
  }
  absl::StrAppend(&o, "stat.throttled_usec ", s.throttled_ns / 1000, "\n");
  absl::StrAppend(&o, JobPressureText(s));
  absl::StrAppend(&o, "members ", st.members.size(), "\n");
  for (const MemberStatus& m : st.members) {
    absl::StrAppend(&o, "member ", m.pid, " ", m.current, " ", m.peak, " ",
                    m.command, "\n");
  }
  // The crossings of the members' root groups, for those that had any.
  for (const MemberStatus& m : st.members) {
    if (m.Crossed()) absl::StrAppend(&o, MemberCrossingsLine(m));
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
  absl::StrAppend(&o, ",\"events\":", JobEventsJson(s.events));
  absl::StrAppend(&o, ",\"events_local\":", JobEventsJson(s.events_local));
  absl::StrAppend(&o, ",\"stat\":{", RootStatJson(s.stat),
                  ",\"throttled_usec\":", s.throttled_ns / 1000, "}");
  absl::StrAppend(&o, ",\"pressure\":{");
  for (uint32_t kind = 0; kind < 2; ++kind) {
    const uint32_t* avg = kind == 0 ? s.some_avg : s.full_avg;
    absl::StrAppend(&o, kind == 0 ? "" : ",", "\"", kPressureKinds[kind],
                    "\":{");
    for (uint32_t a = 0; a < 3; ++a) {
      absl::StrAppend(&o, "\"", kPressureAvgNames[a], "\":", Percent(avg[a]),
                      ",");
    }
    absl::StrAppend(&o, "\"total_usec\":",
                    (kind == 0 ? s.some_ns : s.full_ns) / 1000, "}");
  }
  absl::StrAppend(&o, "}");
  absl::StrAppend(&o, ",\"members\":[");
  bool first = true;
  for (const MemberStatus& m : st.members) {
    absl::StrAppend(&o, first ? "" : ",", "{\"pid\":", m.pid,
                    ",\"command\":", JsonQuote(m.command),
                    ",\"current\":", m.current, ",\"peak\":", m.peak,
                    ",\"stat\":{", RootStatJson(m.stat), "}",
                    ",\"crossings\":{",
                    CrossingsJsonMembers(m.crossings, m.threshold_last), "}}");
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

}  // namespace memgroup::internal::cli
