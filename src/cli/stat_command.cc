// `memgroup stat [--json | --prometheus] [--no-refresh] PID [GROUP]` (or
// `PID:/a/b`): one job's counters, limits, events, members and their
// published groups, or one member group's, in the chosen format
// (cli/job_format.h). `stat PID` with a member's pid lists that member's
// groups only. A member group's figures are first refreshed by its member
// (group_request.h RefreshGroup, bounded wait); when it does not answer,
// or with --no-refresh, the published ones are shown with their age.
#include <stdio.h>

#include "absl/strings/str_cat.h"
#include "cli/control_commands.h"
#include "cli/group_request.h"
#include "cli/job_format.h"
#include "cli/job_status.h"

namespace memgroup::internal::cli {

int StatMain(const std::vector<std::string>& args) {
  enum class Format { kText, kJson, kPrometheus } format = Format::kText;
  std::vector<std::string> positional;
  bool format_given = false;
  bool refresh = true;
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--json" || a == "--prometheus") {
      if (format_given) {
        return UsageError("stat takes one of --json and --prometheus");
      }
      format = a == "--json" ? Format::kJson : Format::kPrometheus;
      format_given = true;
    } else if (a == "--no-refresh") {
      if (!refresh)
        return UsageError("stat: --no-refresh given more than once");
      refresh = false;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError(absl::StrCat("unknown option of stat '", a, "'"));
    } else {
      positional.push_back(a);
    }
  }
  JobRecord job;
  pid_t pid = 0;
  GroupTarget target;
  int status = 0;
  if (!LookupTarget("stat", positional, &job, &pid, &target, &status)) {
    return status;
  }
  JobStatus st;
  if (!target.job) {
    std::string problem;
    const bool refreshed =
        refresh && RefreshGroup(job, &target.group, &problem);
    st = CollectGroupStatus(job, target.group);
    st.groups[0].refreshed = refreshed;
    if (refresh && !refreshed) {
      fprintf(stderr,
              "memgroup: no fresh figures of %s (%s): showing those it "
              "published %s ago\n",
              st.group.c_str(), problem.c_str(),
              st.groups[0].age_ms < 0
                  ? "an unknown time"
                  : absl::StrCat(st.groups[0].age_ms, " ms").c_str());
    }
  } else {
    // A member's pid without a group: the job, with that member's groups.
    const bool member = pid != job.snap.supervisor_pid && job.Names(pid);
    st = CollectJobStatus(job, /*untracked=*/true, member ? pid : 0);
  }
  std::string out;
  switch (format) {
    case Format::kText: out = FormatStatText(st); break;
    case Format::kJson: out = FormatStatJson(st); break;
    case Format::kPrometheus: out = FormatStatPrometheus({st}); break;
  }
  fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace memgroup::internal::cli
