// This process's membership in a `memgroup run` job and the jobs
// enclosing it: attaching to the job control blocks (counter/job_block.h)
// at init, the member slots, the uplinks of the process root into the job
// nodes, rejoining as a new
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

// Attaches to the block at `path` and claims a member slot; then, for a
// nested job, attaches each enclosing job named by the blocks' headers
// (each with JobAttach's full validation, its depth one less) and claims a
// slot in each: the process is a member of every level. Links the
// registry's counter tree to the chain of job nodes (innermost first).
// Call once at init, after Registry::Init, before other threads charge.
// On failure at the innermost block returns the error (and *err the errno)
// and leaves the process outside any job; an enclosing level that cannot
// be joined (gone, invalid, table full) is left out with one line on
// stderr.
JobError JoinJob(const char* path, int* err);

// The link the registry's counter tree carries from Registry::Init on
// (inactive until JoinJob).
const JobLink* JobLinkForTree();

// True when this process is a job member.
bool InJob();
// The innermost job's node, or null.
JobNode* JobNodeOrNull();
// The node of job level `refusing` (IsJobLevel: kJobNode is the innermost
// job, kJobNode - k its k-th enclosing job), or null.
JobNode* JobNodeAt(uint32_t refusing);
// Job levels this process charges (0 outside any job).
uint32_t JobLevels();
// This process's member slot at position `pos` of its charge walk (0: the
// innermost job, as JobLevels counts), or null. Valid until the next
// JobForkChild (a fork child gets new slots).
JobMember* JobOwnSlot(uint32_t pos);

// The innermost job level this process holds a slot in: its view, the
// slot, and this process as the slots name it (pid, start time). False
// outside any job. Valid until the next JobForkChild.
bool JobInnermost(const JobView** view, uint32_t* slot, int32_t* pid,
                  uint64_t* start_ticks);

// fork(2) child, first handler: the child joins every level as a new member
// (charge 0), so that nothing it uncharges reaches its parent's slots. A
// level with no free slot is left out, with one line on stderr.
void JobForkChild();

// exec(2) marks (counter/job_block.h, "Untracked execs"): the slots an
// exec of this process marks, so that an image that runs without the
// library is reported by the supervisor even once its parent inside the
// job has reaped it.
struct JobExecMarks {
  const JobView* views[kJobMaxLevels];
  uint32_t slots[kJobMaxLevels];
  uint32_t count = 0;    // levels marked
  bool claimed = false;  // the slots were claimed for a vfork child
  int32_t pid = 0;
};
// Before an execve of the program at `path` (its basename is the comm the
// kernel gives the new image): marks this process's slot at every level.
// In a vfork child (it runs in this process's memory under another pid) it
// claims a slot for the child at every level first, which the new image
// rejoins, and writes nothing of this process's own state. No-op outside a
// job. Allocates: never.
void JobNoteExec(const char* path, JobExecMarks* marks);
// The execve returned (it failed): clears the marks and releases the slots
// claimed for a vfork child. Allocates: never.
void JobExecFailed(const JobExecMarks& marks);
// After posix_spawn started `child` (it has exec'd by then): records it at
// every level as a process whose image has yet to join, with an exec mark
// (counter/job_block.h, "Spawned children"), unless it joined already. A
// child that is not this process's (reaped by another thread meanwhile) is
// left out. No-op outside a job. Allocates: never.
void JobNoteSpawn(pid_t child);

// Exit hook: withdraws this member's published groups (job_groups.h) and
// returns its whole charge to every level (the slots stay claimed until the
// process is gone; later charges are released then).
void JobExitRelease();

// The process's first thread started stalling (`begin`) or its last one
// stopped (group/pressure.cc, under its root group's stall lock): this
// member stalls, or no longer, in every job level it holds a slot in
// (counter/job_pressure.h). No-op outside a job. Allocates: never.
void JobNoteStall(bool begin, int64_t now_ns);
// The process's root group became fully stalled (`stalled`: every thread
// bound to it stalled, the in-process PSI `full`) or stopped being
// (group/pressure.cc, under its root group's stall lock): this member
// counts so in the job's `full` at every job level it holds a slot in
// (counter/job_pressure.h JobFullChange). No-op outside a job. Allocates:
// never.
void JobNoteFullStall(bool stalled, int64_t now_ns);

// Raises event `e` (the group layer's Event) on job level `refusing`: in
// its local and hierarchical counters, and in the hierarchical counters of
// every job level enclosing it (counter/job_events.h).
void RaiseJobEvent(Event e, uint32_t refusing = kJobNode);

// Job level `refusing`'s OOM policy (OomPolicy), wait timeout and whether
// its `kill` kills every member (--oom-group).
uint32_t JobOomPolicy(uint32_t refusing = kJobNode);
int64_t JobOomWaitNs(uint32_t refusing = kJobNode);
bool JobOomGroup(uint32_t refusing = kJobNode);

// Revokes the job's share of every other member's stocks at job level
// `refusing` and the levels enclosing it (counter/job_block.h, "Stock
// revocation"), so that a decision there counts no member's stocks; the
// caller drains its own. Returns the bytes taken from that level.
int64_t JobRevokeOtherStocks(uint32_t refusing);

// The block of the job level a job-level code names, and this process's
// slot in it (*own_slot, if not null); null when the code names no level
// this process is in (job_others.cc's view of the levels job_member.cc
// keeps). Allocates: never.
const JobView* JobLevelView(uint32_t refusing, uint32_t* own_slot);

// memcg reclaims every process of a cgroup before it OOMs: at a refusal at
// job level `refusing`, asks every other Active member there whose control
// agent listens to drain its stocks and return its free engine pages to
// the OS (a request of 0 bytes, counter/job_slots.h's JobNudgeAgent; the
// agent answers with src/alloc/control_agent.cc's Serve), and waits for
// their answers, kJobAskWaitNs at most in all (an agent answers at once,
// or within its 200 ms poll of an enclosing level's slot). A member with a
// request still unanswered when this starts (busy, stopped, or an exec'd
// image without the library) is neither asked again nor waited for, so it
// costs one wait once. Members without an agent are not asked; dead ones
// are released by the caller first (JobReleaseDeadMembers). The callers
// hold a stall of the refusing thread open around the call (the wait is
// reclaim: group/pressure.h). `throttled`:
// skipped when this process asked less than kJobAskIntervalNs ago (the OOM
// policies' retries, every 10 ms under `wait`). Returns the bytes the
// answering members' arenas returned to the OS. What a member's threads
// hold in their front caches is not reachable from its agent (each cache
// is its thread's own): at most 4 MiB per thread stays charged
// (engine/front_cache.h, kFrontLargeBudget).
inline constexpr int64_t kJobAskWaitNs = 250'000'000;      // 250 ms
inline constexpr int64_t kJobAskIntervalNs = 100'000'000;  // 100 ms
int64_t JobAskOthersForFreePages(uint32_t refusing, bool throttled);

// Releases dead members (pid gone, zombie, or start time changed) at every
// level. Returns how many.
uint32_t JobReleaseDeadMembers();

// `kill` at job level `refusing`: the member with the largest charge there
// (this process included), checked against /proc (same start time), or 0
// if none could be chosen. *victim_bytes: its charge. The caller signals
// it.
int32_t JobChooseVictim(int64_t* victim_bytes, uint32_t refusing = kJobNode);

// `kill` with --oom-group at job level `refusing`: sends SIGKILL to every
// member there other than this process whose /proc start time matches its
// slot, counting `oom_kill` for each before any signal (the supervisor may
// write the stats as soon as the program dies). Returns how many were
// signalled; *bytes: the charge they held. The caller kills itself next.
uint32_t JobKillOtherMembers(int64_t* bytes, uint32_t refusing = kJobNode);

// Waits up to `timeout_ns` for member `pid` of level `refusing` to be
// released (its slot no longer Active with that pid), releasing it when its
// process is gone.
void JobAwaitRelease(int32_t pid, int64_t timeout_ns,
                     uint32_t refusing = kJobNode);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_JOB_MEMBER_H_
