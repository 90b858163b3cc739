// `memgroup stat [--json | --prometheus] PID [GROUP]`: one job's counters,
// limits, events and members in the chosen format (cli/job_format.h).
#include <stdio.h>

#include "absl/strings/str_cat.h"
#include "cli/control_commands.h"
#include "cli/job_format.h"
#include "cli/job_status.h"

namespace memgroup::internal::cli {

int StatMain(const std::vector<std::string>& args) {
  enum class Format { kText, kJson, kPrometheus } format = Format::kText;
  std::vector<std::string> positional;
  bool format_given = false;
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
    } else if (!a.empty() && a[0] == '-') {
      return UsageError(absl::StrCat("unknown option of stat '", a, "'"));
    } else {
      positional.push_back(a);
    }
  }
  if (positional.empty()) return UsageError("stat needs a PID");
  if (positional.size() > 2) {
    return UsageError(absl::StrCat("stat: unexpected argument '",
                                   positional[2], "'"));
  }
  JobRecord job;
  int status = 0;
  if (!LookupJob(positional[0], &job, &status)) return status;
  if (positional.size() == 2 && !IsJobGroup(positional[1], job)) {
    return ControlError(UnknownGroupMessage(positional[1], job));
  }
  JobStatus st = CollectJobStatus(job, /*untracked=*/true);
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
