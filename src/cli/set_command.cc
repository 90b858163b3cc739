// `memgroup set PID GROUP KEY=VALUE...` (or `set PID:/a/b KEY=VALUE...`):
// changes the job node's limits (max, high) and OOM policy, with cgroup
// v2's semantics: the new max is published atomically and holds from the
// next charge; a max below usage first asks every member to reclaim the
// excess (the request of `memgroup reclaim`, cli/job_reclaim.h), then
// refuses charges until usage is below it; threads waiting under the
// `wait` policy in every member are woken to retry. low and min do not
// apply to a job (no sibling to be protected from).
// A member's group (docs/control.md, "Groups inside members") takes max,
// high, low, min and oom: the request goes to the member's control agent
// (cli/group_request.h), which sets them as mg_group_set_limit does.
#include <stdio.h>
#include <string.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "base/parse_config.h"
#include "base/parse_size.h"
#include "cli/control_commands.h"
#include "cli/group_request.h"
#include "cli/job_reclaim.h"
#include "counter/counter_tree.h"
#include "counter/job_slots.h"

namespace memgroup::internal::cli {
namespace {

struct Settings {
  std::optional<int64_t> max;
  std::optional<int64_t> high;
  std::optional<int64_t> low;
  std::optional<int64_t> min;
  std::optional<OomSetting> oom;
};

// Parses KEY=VALUE; returns "" or a usage message.
std::string ParseSetting(const std::string& arg, Settings* s) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) {
    return absl::StrCat("set: '", arg, "' is not KEY=VALUE");
  }
  const std::string key = arg.substr(0, eq);
  const std::string value = arg.substr(eq + 1);
  const bool repeated = (key == "max" && s->max) ||
                        (key == "high" && s->high) ||
                        (key == "low" && s->low) || (key == "min" && s->min) ||
                        (key == "oom" && s->oom);
  if (repeated) {
    return absl::StrCat("set: '", key, "' given more than once");
  }
  if (key == "max" || key == "high" || key == "low" || key == "min") {
    int64_t bytes = 0;
    ParseSizeError e = ParseSize(value.c_str(), &bytes);
    if (e != ParseSizeError::kOk) {
      return absl::StrCat("set: bad ", key, " '", value, "': ",
                          ParseSizeErrorString(e),
                          " (expected bytes with an optional K, M, G or T "
                          "suffix, or max)");
    }
    (key == "max"    ? s->max
     : key == "high" ? s->high
     : key == "low"  ? s->low
                     : s->min) = bytes;
    return "";
  }
  if (key == "oom") {
    OomSetting o;
    ParseConfigError e = ParseOomPolicy(value.c_str(), &o);
    if (e != ParseConfigError::kOk) {
      return absl::StrCat("set: bad oom '", value, "': ",
                          ParseConfigErrorString(e), " (expected ",
                          kOomPolicyExpected, ")");
    }
    s->oom = o;
    return "";
  }
  return absl::StrCat("set: unknown key '", key,
                      "' (expected max, high, low, min or oom)");
}

// A member's group: one request to its control agent.
int SetGroup(const JobRecord& job, const JobGroupSnapshot& g,
             const Settings& s) {
  JobGroupRequest req;
  const struct {
    const std::optional<int64_t>& value;
    uint32_t bit;
    uint32_t index;
  } limits[] = {{s.max, kGroupSetMax, kGroupValueMax},
                {s.high, kGroupSetHigh, kGroupValueHigh},
                {s.low, kGroupSetLow, kGroupValueLow},
                {s.min, kGroupSetMin, kGroupValueMin}};
  for (const auto& l : limits) {
    if (!l.value) continue;
    req.mask |= l.bit;
    req.value[l.index] = *l.value;
  }
  if (s.oom) {
    req.mask |= kGroupSetOom;
    req.oom_policy = static_cast<uint32_t>(s.oom->policy);
    req.oom_wait_ns = s.oom->wait_ns;
  }
  GroupAnswer answer;
  absl::Status written = WithWritableJob(job.path, [&](const JobView& v) {
    answer = RequestGroup(v, g, req, kReclaimTimeoutNs);
  });
  if (!written.ok()) return ControlError(std::string(written.message()));
  const std::string name = absl::StrCat(g.pid, ":", g.path);
  if (!answer.answered) {
    return ControlError(absl::StrCat("set ", name, ": ", answer.problem));
  }
  if (answer.err != 0) {
    return ControlError(absl::StrCat("set ", name, ": the member refused it: ",
                                     strerror(answer.err)));
  }
  return 0;
}

}  // namespace

int SetMain(const std::vector<std::string>& args) {
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    }
  }
  // "PID:/a/b" names the group in the first argument.
  const std::string pid_text = args.empty() ? "" : PidPart(args[0]);
  const bool combined = !args.empty() && pid_text != args[0];
  const size_t first_key = combined ? 1 : 2;
  if (args.size() < first_key + 1) {
    return UsageError("set needs PID, GROUP and at least one KEY=VALUE");
  }
  const std::string group = combined ? args[0] : args[1];
  Settings s;
  for (size_t i = first_key; i < args.size(); ++i) {
    std::string msg = ParseSetting(args[i], &s);
    if (!msg.empty()) return UsageError(msg);
  }
  // The job's own node ("/", "N:/") takes no protection: a usage error,
  // found before any lookup.
  const bool job_node =
      group == "/" || (group.size() >= 2 && group.compare(group.size() - 2, 2,
                                                          ":/") == 0);
  if (job_node && (s.low || s.min)) {
    return UsageError(absl::StrCat(
        "set: ", s.low ? "low" : "min",
        " does not apply to a job: protection only matters against sibling "
        "groups, and the job has none"));
  }
  JobRecord job;
  int status = 0;
  if (!LookupJob(pid_text, &job, &status)) return status;
  pid_t pid = 0;
  ParsePid(pid_text, &pid);  // checked by LookupJob
  GroupTarget target;
  std::string error;
  if (!ResolveGroup(pid, group, job, &target, &error)) {
    return ControlError(error);
  }
  if (!target.job) return SetGroup(job, target.group, s);
  ReclaimOutcome reclaim;
  bool reclaimed = false;
  absl::Status written = WithWritableJob(job.path, [&](const JobView& v) {
    JobNode* node = v.node();
    const CounterTree tree(&node->counter, 1);
    bool raised = false;
    if (s.oom) {
      // Relaxed: the policy is advisory configuration, read on each OOM
      // decision (job_block.h); the timeout first, so a reader of the new
      // policy never pairs it with a stale timeout for long.
      node->oom_wait_ns.store(s.oom->wait_ns, std::memory_order_relaxed);
      node->oom_policy.store(static_cast<uint32_t>(s.oom->policy),
                             std::memory_order_relaxed);
      raised = true;  // a waiter re-reads the policy when woken
    }
    if (s.high) {
      const int64_t old = tree.High(0);
      tree.SetHigh(0, *s.high);
      raised = raised || *s.high > old;
    }
    if (s.max) {
      // v2 memory.max: a limit below usage first reclaims down to it (the
      // same request to every member as `memgroup reclaim`), under the old
      // limit, so that the members' reclaim callbacks can still allocate;
      // then the new limit refuses what does not fit.
      const int64_t usage = tree.Usage(0);
      if (usage > *s.max) {
        reclaim = ReclaimMembers(v, usage - *s.max, kReclaimTimeoutNs);
        reclaimed = true;
      }
      // ExchangeMax is seq_cst against the charges' usage add (see
      // counter_tree.h): after it returns no charge can pass the old max.
      const int64_t old = tree.ExchangeMax(0, *s.max);
      raised = raised || *s.max > old;
      // The usage once the new limit holds, for the report below.
      if (reclaimed) reclaim.current_after = tree.Usage(0);
    }
    if (raised) JobWakeWaiters(node);
  });
  if (!written.ok()) return ControlError(std::string(written.message()));
  if (reclaimed) {
    for (const std::string& note :
         UnansweredNotes(reclaim, kReclaimTimeoutNs)) {
      fprintf(stderr, "memgroup: %s\n", note.c_str());
    }
    if (reclaim.current_after > *s.max) {
      fprintf(stderr,
              "memgroup: the job still uses %lld bytes, above the new max "
              "%lld, after its members released %lld; charges are refused "
              "until it is below\n",
              static_cast<long long>(reclaim.current_after),
              static_cast<long long>(*s.max),
              static_cast<long long>(reclaim.released()));
    }
  }
  return 0;
}

}  // namespace memgroup::internal::cli
