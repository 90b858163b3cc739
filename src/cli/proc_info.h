// What the control commands read about processes from /proc: a process's
// owner, its command line, its MEMGROUP_JOB variable, and the descendants
// of a process (to report the members of a job that the preload could not
// enter). Every read is bounded; a process that vanishes reads as absent.
#ifndef MEMGROUP_SRC_CLI_PROC_INFO_H_
#define MEMGROUP_SRC_CLI_PROC_INFO_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace memgroup::internal::cli {

// The owner (real uid from /proc/PID/status) of `pid`; false if there is
// no such process.
bool ProcessUid(pid_t pid, uid_t* uid);

// The command line of `pid`, arguments joined by spaces and made printable
// (counter/job_reader.h SanitizeText), at most 255 bytes; its comm in
// brackets for a process without one (a kernel thread, a zombie); "" if
// the process is gone.
std::string ProcessCommand(pid_t pid);

// The value of MEMGROUP_JOB in the environment of `pid` (one of ours), or
// "" when it has none or it cannot be read.
std::string ProcessJobPath(pid_t pid);

// Every live descendant of `root` (children, grandchildren, ...), in
// increasing pid order.
std::vector<pid_t> Descendants(pid_t root);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_PROC_INFO_H_
