// This process's membership in a `memgroup run` job: attaching
// to the job control block (counter/job_block.h) at init, the member slot,
// the uplink of the process root into the job node, rejoining as a new
// member in a fork child, releasing the charge at exit, and the job's OOM
// decisions (release of dead members; `kill` picks the largest member).
// Must never: allocate, use libc stdio or getenv (it runs inside the first
// malloc), trust the shared block for a bound (JobView's copy is the bound).
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_JOB_MEMBER_H_
#define MEMGROUP_SRC_GROUP_JOB_MEMBER_H_

#include <cstdint>

#include "counter/job_block.h"
#include "group/group_state.h"

namespace memgroup::internal {

// Attaches to the block at `path` and claims a member slot; links the
// registry's counter tree to the job node. Call once at init, after
// Registry::Init, before other threads charge. On failure returns the error
// (and *err the errno) and leaves the process outside any job.
JobError JoinJob(const char* path, int* err);

// The link the registry's counter tree carries from Registry::Init on
// (inactive until JoinJob).
const JobLink* JobLinkForTree();

// True when this process is a job member.
bool InJob();
const JobView& JobBlockView();
JobNode* JobNodeOrNull();

// fork(2) child, first handler: the child joins as a new member (charge 0),
// so that nothing it uncharges reaches its parent's slot. With no free slot
// the child leaves the job, with one line on stderr.
void JobForkChild();

// Exit hook: returns this member's whole charge to the job (the slot stays
// claimed until the process is gone; later charges are released then).
void JobExitRelease();

// Raises job event `e` (the group layer's Event) on the job node.
void RaiseJobEvent(Event e);

// The job's OOM policy (OomPolicy) and wait timeout.
uint32_t JobOomPolicy();
int64_t JobOomWaitNs();
// True when the job's `kill` kills every member (--oom-group).
bool JobOomGroup();

// Releases dead members (pid gone, zombie, or start time changed). Returns
// how many.
uint32_t JobReleaseDeadMembers();

// `kill` at the job level: the member with the largest charge (this
// process included), checked against /proc (same start time), or 0 if none
// could be chosen. *victim_bytes: its charge. The caller signals it.
int32_t JobChooseVictim(int64_t* victim_bytes);

// `kill` with --oom-group: sends SIGKILL to every member other than this
// process whose /proc start time matches its slot, counting `oom_kill`
// for each before its signal (the supervisor may write the stats as soon
// as the program dies). Returns how many were signalled; *bytes: the
// charge they held. The caller kills itself next.
uint32_t JobKillOtherMembers(int64_t* bytes);

// Waits up to `timeout_ns` for member `pid` to be released (its slot no
// longer Active with that pid), releasing it when its process is gone.
void JobAwaitRelease(int32_t pid, int64_t timeout_ns);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_JOB_MEMBER_H_
