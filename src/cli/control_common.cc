// The pieces the control commands share: error lines, resolving a PID
// argument to its job, and the GROUP argument (cli/control_commands.h).
#include <stdio.h>

#include "absl/strings/str_cat.h"
#include "cli/control_commands.h"

namespace memgroup::internal::cli {

int ControlError(const std::string& message) {
  fprintf(stderr, "memgroup: %s\n", message.c_str());
  return 1;
}

bool LookupJob(const std::string& pid_arg, JobRecord* job, int* status) {
  pid_t pid = 0;
  if (!ParsePid(pid_arg, &pid)) {
    *status = UsageError(absl::StrCat("'", pid_arg,
                                      "' is not a process id (1 to 2147483647)"));
    return false;
  }
  JobLookup found = FindJob(pid);
  if (!found.found) {
    *status = ControlError(found.error);
    return false;
  }
  *job = std::move(found.job);
  return true;
}

bool IsJobGroup(const std::string& group, const JobRecord& job) {
  if (group == "/") return true;
  const size_t colon = group.find(':');
  if (colon == std::string::npos || group.substr(colon + 1) != "/") {
    return false;
  }
  pid_t pid = 0;
  return ParsePid(group.substr(0, colon), &pid) && job.Names(pid);
}

std::string UnknownGroupMessage(const std::string& group,
                                const JobRecord& job) {
  return absl::StrCat(
      "unknown group '", group, "' in the job of ", job.snap.supervisor_pid,
      ": only the job's own group / is published (groups created inside "
      "members are not visible from outside)");
}

}  // namespace memgroup::internal::cli
