// Asking a member to change, reclaim or republish one of its published
// groups (`memgroup set PID:/a/b ...`, `memgroup reclaim PID:/a/b SIZE`,
// the fresh figures of `memgroup stat/events PID:/a/b`): posting
// the request to the group's entry in the job's group table
// (counter/job_group_table.h), where the member's control agent carries it
// out, and waiting for its answer within a timeout. A member that has no
// agent, exits, or destroys the group meanwhile is reported, never waited
// for past the deadline.
#ifndef MEMGROUP_SRC_CLI_GROUP_REQUEST_H_
#define MEMGROUP_SRC_CLI_GROUP_REQUEST_H_

#include <cstdint>
#include <string>

#include "cli/job_files.h"
#include "counter/job_block.h"
#include "counter/job_group_table.h"
#include "counter/job_reader.h"

namespace memgroup::internal::cli {

struct GroupAnswer {
  bool answered = false;
  // Set when not answered: why (no agent, exited, group gone, timeout).
  std::string problem;
  int32_t err = 0;  // the member's errno for the request (0: done)
  int64_t reclaimed = 0;
  int64_t purged = 0;
};

// Posts `req` to group `g` (as read before) in the block `v` (mapped
// read-write, its flock held: WithWritableJob) and waits up to
// `timeout_ns` for the answer.
GroupAnswer RequestGroup(const JobView& v, const JobGroupSnapshot& g,
                         const JobGroupRequest& req, int64_t timeout_ns);

// How long `stat`/`events` of a member group wait for the block's lock and
// then for the member's fresh figures before showing the published ones.
inline constexpr int kRefreshLockWaitMs = 200;
inline constexpr int64_t kRefreshTimeoutNs = 200'000'000;

// Asks the owner of group *g of `job` to republish its figures now
// (kGroupRefresh) and reads its entry again at once. On success returns
// true with *g the group's new snapshot (its figures published after the
// request); otherwise false with *problem saying why (no agent, lock held,
// no answer in time, group gone) and *g untouched: the caller shows the
// figures it has, with their age.
bool RefreshGroup(const JobRecord& job, JobGroupSnapshot* g,
                  std::string* problem);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_GROUP_REQUEST_H_
