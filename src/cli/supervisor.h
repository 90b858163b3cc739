// `memgroup run`'s job supervisor: creates the job control block
// (counter/job_block.h) in the user's runtime directory (a child job of the
// enclosing one when MEMGROUP_JOB is already set), starts the program as
// its child with MEMGROUP_JOB naming the block, forwards signals, reaps
// every descendant (a child subreaper) and releases dead members, watches
// the job's processes (job_watch.h), writes the job's stats once, removes
// the block and exits with the program's status (or dies of its signal).
#ifndef MEMGROUP_SRC_CLI_SUPERVISOR_H_
#define MEMGROUP_SRC_CLI_SUPERVISOR_H_

#include <string>

#include "absl/status/statusor.h"
#include "cli/run.h"

namespace memgroup::internal::cli {

// The directory for job blocks: $XDG_RUNTIME_DIR/memgroup when
// XDG_RUNTIME_DIR is set and is a directory owned by the caller, else
// /dev/shm/memgroup-UID. Created with mode 0700 if missing; refused unless
// it is a directory (not a symlink) owned by the caller with no access for
// group or others.
absl::StatusOr<std::string> JobDirectory();

// Runs `options` as a job (see the file comment) and returns the exit
// status for `memgroup run`; re-raises the program's fatal signal instead
// of returning when the program died of one.
int SuperviseRun(const RunOptions& options, const std::string& library);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_SUPERVISOR_H_
