// `memgroup list`: this user's live jobs, one line each (supervisor pid,
// members, current, max, peak, oom events, command); blocks of dead jobs
// are removed, with a note on stderr.
#include <stdio.h>

#include "absl/strings/str_cat.h"
#include "cli/control_commands.h"
#include "cli/job_format.h"

namespace memgroup::internal::cli {

int ListMain(const std::vector<std::string>& args) {
  if (!args.empty()) {
    if (args[0] == "-h" || args[0] == "--help") {
      fputs(kUsage, stdout);
      return 0;
    }
    return UsageError(absl::StrCat("list takes no arguments ('", args[0],
                                   "')"));
  }
  absl::StatusOr<JobScan> scan = ScanJobs(/*remove_stale=*/true);
  if (!scan.ok()) return ControlError(std::string(scan.status().message()));
  for (const std::string& note : scan->notes) {
    fprintf(stderr, "memgroup: %s\n", note.c_str());
  }
  printf("%-8s %7s %12s %12s %12s %5s %s\n", "PID", "MEMBERS", "CURRENT",
         "MAX", "PEAK", "OOM", "COMMAND");
  for (const JobRecord& job : scan->live) {
    const JobSnapshot& s = job.snap;
    printf("%-8d %7u %12lld %12s %12lld %5lld %s\n", s.supervisor_pid,
           s.members, static_cast<long long>(s.current), LimitText(s.max).c_str(),
           static_cast<long long>(s.peak),
           static_cast<long long>(s.events[kJobEventOom]), s.command);
  }
  return 0;
}

}  // namespace memgroup::internal::cli
