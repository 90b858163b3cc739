// A job's state as the control commands show it: the block's snapshot plus
// what /proc says about its processes (each member's command line, and the
// descendants of the supervisor that are not members: processes the
// preload could not enter, which run outside the job's limit).
#ifndef MEMGROUP_SRC_CLI_JOB_STATUS_H_
#define MEMGROUP_SRC_CLI_JOB_STATUS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli/job_files.h"
#include "counter/job_reader.h"

namespace memgroup::internal::cli {

struct MemberStatus {
  pid_t pid = 0;
  std::string command;  // printable; "" if the process is gone
  int64_t current = 0;  // bytes it charged to the job
  int64_t peak = 0;
};

struct UntrackedStatus {
  pid_t pid = 0;
  std::string command;
};

struct JobStatus {
  JobSnapshot snap;
  std::string group = "/";  // the job's own node
  std::vector<MemberStatus> members;  // by pid
  std::vector<UntrackedStatus> untracked;  // by pid
};

// Fills a JobStatus from a record; `untracked` scans /proc for the
// supervisor's descendants (one pass over /proc).
JobStatus CollectJobStatus(const JobRecord& rec, bool untracked);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_JOB_STATUS_H_
