// This user's job control blocks as seen by the control commands (list,
// stat, set, events, top): scanning the job directory, reading a block
// read-only into a snapshot (counter/job_reader.h), telling live jobs from
// stale ones (their supervisor is gone: pid plus start time) and removing
// the stale ones, finding the job of a pid, and opening a block for the
// writes of `memgroup set`.
//
// Every block is opened without following symlinks and without blocking
// (a FIFO planted in the directory cannot hang a reader), must be a regular
// file owned by the caller with mode 0600, and is validated before use. A
// file that shrinks while mapped raises SIGBUS: reads and writes of a
// mapping run under a guard that turns it into an error.
#ifndef MEMGROUP_SRC_CLI_JOB_FILES_H_
#define MEMGROUP_SRC_CLI_JOB_FILES_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "counter/job_block.h"
#include "counter/job_reader.h"

namespace memgroup::internal::cli {

// One block, read at one moment.
struct JobRecord {
  std::string path;
  JobSnapshot snap;
  std::vector<JobMemberSnapshot> members;  // snap.members_stored of them
  // The members' published groups (snap.groups_stored of them), in table
  // order.
  std::vector<JobGroupSnapshot> groups;

  // True if `pid` is the supervisor or an Active member.
  bool Names(pid_t pid) const;
};

// A block mapped read-only, for commands that read it repeatedly.
class JobMapping {
 public:
  JobMapping() = default;
  JobMapping(const JobMapping&) = delete;
  JobMapping& operator=(const JobMapping&) = delete;
  ~JobMapping();

  // Opens and maps `path` (the checks of the file comment). On error the
  // status message says what is wrong with the file.
  absl::Status Open(const std::string& path);
  // A fresh snapshot of the mapped block.
  absl::StatusOr<JobRecord> Read() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  uint8_t* base_ = nullptr;
  size_t bytes_ = 0;
};

// Opens, reads and unmaps one block.
absl::StatusOr<JobRecord> ReadJobFile(const std::string& path);

// True while the job's supervisor runs: its pid exists, is not a zombie,
// and has the start time recorded in the block.
bool SupervisorAlive(const JobSnapshot& snap);

struct JobScan {
  std::vector<JobRecord> live;     // sorted by supervisor pid
  std::vector<std::string> notes;  // one line per file skipped or removed
};

// Reads every block in the job directory (cli/supervisor.h JobDirectory).
// With remove_stale, blocks whose supervisor is gone are unlinked (and
// noted). Files that are not valid blocks are skipped with a note, except
// blocks younger than a second that still lack their magic (a job being
// created).
absl::StatusOr<JobScan> ScanJobs(bool remove_stale);

// The outcome of looking up a pid for a command.
struct JobLookup {
  bool found = false;
  JobRecord job;
  // Set when not found: the message for the user (unknown pid, another
  // user's process, a process outside any job).
  std::string error;
};

// Finds the live job whose supervisor or member is `pid`: first in the job
// directory, then through the process's MEMGROUP_JOB (a job started with
// another runtime directory). Refuses another user's process, and any pid
// while this user's job directory is not private (JobDirectory's checks:
// the error says why).
JobLookup FindJob(pid_t pid);

// Runs `write` on the block at `path` mapped read-write (JobAttach's
// checks), holding an exclusive flock on the file so that concurrent
// setters are serialised (members never take it), under the SIGBUS guard.
// A holder that keeps the lock longer than `lock_wait_ms` is reported (an
// Unavailable status), not waited for.
absl::Status WithWritableJob(const std::string& path,
                             const std::function<void(const JobView&)>& write,
                             int lock_wait_ms = 1000);

// Parses a decimal pid (1 to INT32_MAX); false otherwise.
bool ParsePid(const std::string& text, pid_t* pid);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_JOB_FILES_H_
