// Entry points of the live control commands on running jobs (see
// docs/control.md): list, stat, set, reclaim, events and top. Each takes the
// arguments after its name and returns the exit status: 0 on success, 1 for
// an unknown pid or group, another user's process or an unreadable block,
// 2 for a usage error (after printing the usage).
#ifndef MEMGROUP_SRC_CLI_CONTROL_COMMANDS_H_
#define MEMGROUP_SRC_CLI_CONTROL_COMMANDS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "cli/job_files.h"
#include "counter/job_reader.h"
#include "cli/usage.h"

namespace memgroup::internal::cli {

int ListMain(const std::vector<std::string>& args);
int StatMain(const std::vector<std::string>& args);
int SetMain(const std::vector<std::string>& args);
int ReclaimMain(const std::vector<std::string>& args);
int EventsMain(const std::vector<std::string>& args);
int TopMain(const std::vector<std::string>& args);

// Shared by the commands: one line "memgroup: MESSAGE" on stderr; returns 1.
int ControlError(const std::string& message);

// Resolves the PID argument to its job (printing the error and returning
// false when there is none).
bool LookupJob(const std::string& pid_arg, JobRecord* job, int* status);

// True if GROUP names the job's own node: "/" or "PID:/" with a pid of the
// job.
bool IsJobGroup(const std::string& group, const JobRecord& job);

// What a GROUP argument names in a job: the job's own node, or a group a
// member created through the C ABI and published in the job's group table
// (docs/control.md, "Groups inside members").
struct GroupTarget {
  bool job = true;
  // A member's group: its entry as read in the job's record.
  JobGroupSnapshot group;
};

// Resolves GROUP against `job`, with `pid` the command's PID argument:
//   "/" or "N:/"   the job's node (N any pid of the job);
//   "N:/a/b"       member N's group /a/b;
//   "/a/b"         the group /a/b of member `pid` (which must be a member).
// On failure returns false with the message for the user (unknown member,
// unknown group with the member's published ones, or a group the member
// could not publish).
bool ResolveGroup(pid_t pid, const std::string& group, const JobRecord& job,
                  GroupTarget* out, std::string* error);

// Splits a "PID:/a/b" first argument into its pid text; returns the
// argument unchanged when it has no ':'.
std::string PidPart(const std::string& arg);

// The target of `stat` and `events`, from their positional arguments:
// PID [GROUP], or "PID:/a/b" alone. Finds the job (LookupJob) and, when a
// group is named, resolves it (ResolveGroup; else *target is the job's
// own); *pid is the PID given. False with *status set (a usage error, exit 2, or the lookup's
// error) when there is none; the message is printed.
bool LookupTarget(const std::string& command,
                  const std::vector<std::string>& positional, JobRecord* job,
                  pid_t* pid, GroupTarget* target, int* status);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_CONTROL_COMMANDS_H_
