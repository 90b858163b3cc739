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
  // The crossings of the callbacks it registered on its root group (the
  // member itself), as a member group's (JobGroupFigures::crossings and
  // threshold_last); zeros and -1 when it published none.
  uint64_t crossings[kJobCrossings] = {};
  int64_t threshold_last[2] = {-1, -1};
  // Its root group's stat bytes (JobRootStat order), as its control agent
  // last published them (zeros before the first publication).
  int64_t stat[kJobRootStats] = {};
  // Whether any crossing was counted: the text forms list only those.
  bool Crossed() const;
};

struct UntrackedStatus {
  pid_t pid = 0;
  std::string command;
};

// A group a member created through the C ABI, as published in the job's
// group table (counter/job_group_table.h).
struct GroupStatus {
  pid_t pid = 0;       // the member
  std::string path;    // "/a/b", below the member's root
  std::string command;  // the member's, printable; "" if it is gone
  JobGroupFigures figures;
  // How old the figures were when read, in milliseconds (the member
  // republishes every 100 ms): the snapshot's read_ns minus
  // figures.published_ns on CLOCK_MONOTONIC; -1 when the table holds no
  // time before the read.
  int64_t age_ms = -1;
  // Whether the member republished them at this command's request
  // (`stat PID:/a/b` asks; group_request.h RefreshGroup).
  bool refreshed = false;
  // "PID:/a/b": how the commands address it.
  std::string Name() const;
};

struct JobStatus {
  JobSnapshot snap;
  std::string group = "/";  // the job's own node
  std::vector<MemberStatus> members;  // by pid
  std::vector<UntrackedStatus> untracked;  // by pid
  // Members' published groups, by pid then path.
  std::vector<GroupStatus> groups;
  // Groups the members could not publish (the table's bounds): the sum of
  // each member's count, or the table-full note when larger.
  uint64_t groups_unpublished = 0;
  // `stat PID:/a/b`: the formats show groups[0] alone.
  bool group_only = false;
};

// The age in milliseconds of figures published at `published_ns` (a
// CLOCK_MONOTONIC time read from the table) at `now_ns`: -1 unless
// 0 < published_ns <= now_ns.
int64_t GroupAgeMs(int64_t published_ns, int64_t now_ns);

// Fills a JobStatus from a record; `untracked` scans /proc for the
// supervisor's descendants (one pass over /proc). `member`, when not 0,
// keeps only that member's groups.
JobStatus CollectJobStatus(const JobRecord& rec, bool untracked,
                           pid_t member = 0);

// The JobStatus of one member's group (group_only).
JobStatus CollectGroupStatus(const JobRecord& rec, const JobGroupSnapshot& g);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_JOB_STATUS_H_
