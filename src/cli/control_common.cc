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

std::string PidPart(const std::string& arg) {
  const size_t colon = arg.find(':');
  return colon == std::string::npos ? arg : arg.substr(0, colon);
}

bool ResolveGroup(pid_t pid, const std::string& group, const JobRecord& job,
                  GroupTarget* out, std::string* error) {
  *out = GroupTarget{};
  if (IsJobGroup(group, job)) return true;
  pid_t member = pid;
  std::string path = group;
  const size_t colon = group.find(':');
  if (colon != std::string::npos) {
    if (!ParsePid(group.substr(0, colon), &member)) {
      *error = absl::StrCat("bad group '", group,
                            "': expected /PATH, PID:/PATH or /");
      return false;
    }
    path = group.substr(colon + 1);
  }
  if (path.empty() || path[0] != '/') {
    *error = absl::StrCat("bad group '", group,
                          "': expected /PATH, PID:/PATH or /");
    return false;
  }
  bool is_member = false;
  for (const JobMemberSnapshot& m : job.members) is_member |= m.pid == member;
  if (!is_member) {
    *error = absl::StrCat(
        "unknown group '", group, "' in the job of ", job.snap.supervisor_pid,
        ": ", member, " is not a member process of it",
        member == job.snap.supervisor_pid
            ? " (the supervisor has no groups; name a member: PID:/PATH)"
            : "");
    return false;
  }
  std::string published;
  uint32_t unpublished = 0;
  for (const JobGroupSnapshot& g : job.groups) {
    if (g.pid != member) continue;
    if (path == g.path) {
      out->job = false;
      out->group = g;
      return true;
    }
    absl::StrAppend(&published, published.empty() ? "" : ", ", g.path);
    unpublished = g.figures.unpublished;
  }
  if (job.snap.groups_full_pid == member &&
      job.snap.groups_full_count > unpublished) {
    unpublished = job.snap.groups_full_count;
  }
  *error = absl::StrCat(
      "unknown group '", path, "' in member ", member, " of the job of ",
      job.snap.supervisor_pid, ": its published groups are ",
      published.empty() ? "none" : published,
      unpublished > 0
          ? absl::StrCat("; ", unpublished,
                         " of its groups are not published (the table's "
                         "limits, see docs/control.md)")
          : "");
  return false;
}

bool LookupTarget(const std::string& command,
                  const std::vector<std::string>& positional, JobRecord* job,
                  pid_t* pid, GroupTarget* target, int* status) {
  *target = GroupTarget{};
  if (positional.empty()) {
    *status = UsageError(absl::StrCat(command, " needs a PID"));
    return false;
  }
  if (positional.size() > 2) {
    *status = UsageError(absl::StrCat(command, ": unexpected argument '",
                                      positional[2], "'"));
    return false;
  }
  std::string group = positional.size() == 2 ? positional[1] : "";
  const std::string pid_text = PidPart(positional[0]);
  if (pid_text != positional[0]) {
    // "PID:/a/b" alone names the group too.
    if (!group.empty()) {
      *status = UsageError(absl::StrCat(command, ": '", positional[0],
                                        "' names a group already; "
                                        "unexpected '", group, "'"));
      return false;
    }
    group = positional[0];
  }
  if (!LookupJob(pid_text, job, status)) return false;
  ParsePid(pid_text, pid);  // checked by LookupJob
  if (group.empty()) return true;
  std::string error;
  if (!ResolveGroup(*pid, group, *job, target, &error)) {
    *status = ControlError(error);
    return false;
  }
  return true;
}

}  // namespace memgroup::internal::cli
