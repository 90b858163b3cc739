// Asking a running job's members to reclaim (`memgroup reclaim`, and
// `memgroup set` of a max below usage): splitting the request into shares,
// posting each to the member's slot (counter/job_block.h, "Control
// requests"), where the member's control agent answers, and collecting the
// answers within a timeout. A member that does not answer in time, has no
// agent or exits is reported, never waited for past the deadline.
#ifndef MEMGROUP_SRC_CLI_JOB_RECLAIM_H_
#define MEMGROUP_SRC_CLI_JOB_RECLAIM_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "counter/job_block.h"

namespace memgroup::internal::cli {

// The default time members have to answer.
inline constexpr int64_t kReclaimTimeoutNs = 5'000'000'000;

enum class MemberReply {
  kAnswered,
  kNoAgent,   // the slot names no control agent (see docs/control.md)
  kTimeout,   // no answer before the deadline
  kExited,    // the process ended before answering
};
const char* MemberReplyString(MemberReply r);

struct MemberReclaim {
  pid_t pid = 0;
  MemberReply reply = MemberReply::kNoAgent;
  int64_t asked = 0;      // bytes asked, over all rounds
  int64_t reclaimed = 0;  // released by its reclaim callbacks
  int64_t purged = 0;     // engine pages it returned to the OS
};

struct ReclaimOutcome {
  int64_t requested = 0;
  int64_t reclaimed = 0;  // sums over the members (saturating)
  int64_t purged = 0;
  int64_t current_before = 0;  // the job node's usage
  int64_t current_after = 0;
  std::vector<MemberReclaim> members;

  int64_t released() const;  // reclaimed + purged (saturating)
  uint32_t answered() const;
};

// Asks the Active members of the block `v` (mapped read-write, its flock
// held: WithWritableJob) for `bytes` in total, in at most two rounds: first
// each member with an agent for a share proportional to its charge (equal
// shares when no member is charged); then, for what is still missing, the
// members that released at least their share. Waits for the answers up to
// `timeout_ns` in all.
ReclaimOutcome ReclaimMembers(const JobView& v, int64_t bytes,
                              int64_t timeout_ns);

// One line per member that did not answer (for stderr), else empty.
std::vector<std::string> UnansweredNotes(const ReclaimOutcome& o,
                                         int64_t timeout_ns);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_JOB_RECLAIM_H_
