// `memgroup reclaim [--timeout SECONDS] PID GROUP SIZE`: proactive reclaim
// of a running job (cgroup v2's memory.reclaim): every member's control
// agent runs the member's reclaim callbacks for its share of SIZE and
// returns its free engine pages to the OS (cli/job_reclaim.h). Prints the
// bytes released as `key value` lines and exits 0, or, when less than SIZE
// was released, says so with EAGAIN's meaning (the kernel's answer) and
// exits 1.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/parse_size.h"
#include "cli/control_commands.h"
#include "cli/group_request.h"
#include "cli/job_reclaim.h"
#include "counter/counter_tree.h"

namespace memgroup::internal::cli {
namespace {

// Parses --timeout's SECONDS: a decimal from 0.01 to 3600.
bool ParseTimeout(const std::string& text, int64_t* ns) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < 0.01 ||
      v > 3600) {
    return false;
  }
  *ns = static_cast<int64_t>(v * 1e9);
  return true;
}

void Print(const ReclaimOutcome& o) {
  printf("requested %lld\n", static_cast<long long>(o.requested));
  printf("released %lld\n", static_cast<long long>(o.released()));
  printf("reclaimed %lld\n", static_cast<long long>(o.reclaimed));
  printf("purged %lld\n", static_cast<long long>(o.purged));
  printf("current.before %lld\n", static_cast<long long>(o.current_before));
  printf("current.after %lld\n", static_cast<long long>(o.current_after));
  printf("members %zu\n", o.members.size());
  printf("answered %u\n", o.answered());
  for (const MemberReclaim& m : o.members) {
    printf("member %d %s %lld %lld %lld\n", static_cast<int>(m.pid),
           MemberReplyString(m.reply), static_cast<long long>(m.asked),
           static_cast<long long>(m.reclaimed),
           static_cast<long long>(m.purged));
  }
}

// A member's group: one request to its control agent (cli/group_request.h).
int ReclaimGroup(const JobRecord& job, const JobGroupSnapshot& g,
                 int64_t bytes, int64_t timeout_ns) {
  JobGroupRequest req;
  req.mask = kGroupReclaim;
  req.value[kGroupValueReclaim] = bytes;
  GroupAnswer answer;
  absl::Status done = WithWritableJob(job.path, [&](const JobView& v) {
    answer = RequestGroup(v, g, req, timeout_ns);
  });
  if (!done.ok()) return ControlError(std::string(done.message()));
  const std::string name = absl::StrCat(g.pid, ":", g.path);
  if (!answer.answered) {
    return ControlError(absl::StrCat("reclaim ", name, ": ", answer.problem));
  }
  if (answer.err != 0) {
    return ControlError(absl::StrCat("reclaim ", name,
                                     ": the member refused it: ",
                                     strerror(answer.err)));
  }
  const int64_t released =
      answer.reclaimed > INT64_MAX - answer.purged
          ? INT64_MAX
          : answer.reclaimed + answer.purged;
  printf("group %s\n", name.c_str());
  printf("requested %lld\n", static_cast<long long>(bytes));
  printf("released %lld\n", static_cast<long long>(released));
  printf("reclaimed %lld\n", static_cast<long long>(answer.reclaimed));
  printf("purged %lld\n", static_cast<long long>(answer.purged));
  fflush(stdout);
  if (released < bytes) {
    return ControlError(absl::StrCat(
        "reclaim released ", released, " of the ", bytes,
        " bytes requested from ", name, " (EAGAIN, ", strerror(EAGAIN),
        ": less than asked could be given back now by the group's reclaim "
        "callbacks and engine; the kernel's memory.reclaim fails the same "
        "way)"));
  }
  return 0;
}

}  // namespace

int ReclaimMain(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  int64_t timeout_ns = kReclaimTimeoutNs;
  bool timeout_seen = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    }
    std::string value;
    bool is_timeout = false;
    if (a == "--timeout") {
      if (i + 1 >= args.size()) return UsageError("--timeout needs SECONDS");
      value = args[++i];
      is_timeout = true;
    } else if (a.rfind("--timeout=", 0) == 0) {
      value = a.substr(strlen("--timeout="));
      is_timeout = true;
    }
    if (is_timeout) {
      if (timeout_seen) return UsageError("reclaim: --timeout given twice");
      timeout_seen = true;
      if (!ParseTimeout(value, &timeout_ns)) {
        return UsageError(absl::StrCat("reclaim: bad --timeout '", value,
                                       "' (expected seconds from 0.01 to "
                                       "3600)"));
      }
      continue;
    }
    if (a.size() > 1 && a[0] == '-' && positional.size() < 2) {
      return UsageError(absl::StrCat("reclaim: unknown option '", a, "'"));
    }
    positional.push_back(a);
  }
  // "PID:/a/b SIZE" names the group in the first argument.
  if (positional.size() == 2 && PidPart(positional[0]) != positional[0]) {
    positional.insert(positional.begin(), PidPart(positional[0]));
  }
  if (positional.size() != 3) {
    return UsageError("reclaim needs PID, GROUP and SIZE");
  }
  int64_t bytes = 0;
  const std::string& size = positional[2];
  ParseSizeError e = ParseSize(size.c_str(), &bytes);
  if (e != ParseSizeError::kOk) {
    return UsageError(absl::StrCat("reclaim: bad SIZE '", size, "': ",
                                   ParseSizeErrorString(e),
                                   " (expected bytes with an optional K, M, "
                                   "G or T suffix)"));
  }
  if (bytes == kUnlimited) {
    return UsageError(absl::StrCat("reclaim: bad SIZE '", size,
                                   "': a number of bytes, not max"));
  }
  JobRecord job;
  int status = 0;
  if (!LookupJob(positional[0], &job, &status)) return status;
  pid_t pid = 0;
  ParsePid(positional[0], &pid);  // checked by LookupJob
  GroupTarget target;
  std::string error;
  if (!ResolveGroup(pid, positional[1], job, &target, &error)) {
    return ControlError(error);
  }
  if (!target.job) return ReclaimGroup(job, target.group, bytes, timeout_ns);
  ReclaimOutcome outcome;
  absl::Status done = WithWritableJob(job.path, [&](const JobView& v) {
    outcome = ReclaimMembers(v, bytes, timeout_ns);
  });
  if (!done.ok()) return ControlError(std::string(done.message()));
  Print(outcome);
  fflush(stdout);
  for (const std::string& note : UnansweredNotes(outcome, timeout_ns)) {
    fprintf(stderr, "memgroup: %s\n", note.c_str());
  }
  if (outcome.released() < outcome.requested) {
    return ControlError(absl::StrCat(
        "reclaim released ", outcome.released(), " of the ",
        outcome.requested, " bytes requested (EAGAIN, ", strerror(EAGAIN),
        ": less than asked could be given back now by the members' reclaim "
        "callbacks and engines",
        outcome.answered() < outcome.members.size()
            ? ", and not every member answered"
            : "",
        "; the kernel's memory.reclaim fails the same way)"));
  }
  return 0;
}

}  // namespace memgroup::internal::cli
