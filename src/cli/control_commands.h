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
// job. Other groups (per-process groups inside members) are not published.
bool IsJobGroup(const std::string& group, const JobRecord& job);

// The message for a GROUP that IsJobGroup refuses.
std::string UnknownGroupMessage(const std::string& group,
                                const JobRecord& job);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_CONTROL_COMMANDS_H_
