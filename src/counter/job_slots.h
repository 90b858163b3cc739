// The job control block's member slots (job_block.h's JobMember): joining
// and leaving the job, a slot's command name, the exec and spawn marks of
// programs the library cannot enter, a child job's protection, releasing
// dead members and their charge, waking waiters, the control requests
// a slot carries (the member's agent answers them) and the crossings and
// stat bytes of the member's root group it publishes there. Implemented by
// job_slots.cc, job_control.cc (the requests), job_crossings.cc (the
// root crossings) and job_root_stat.cc (the root stat bytes).
//
// Allocates: never. Thread-safe and process-safe as job_block.h says.
#ifndef MEMGROUP_SRC_COUNTER_JOB_SLOTS_H_
#define MEMGROUP_SRC_COUNTER_JOB_SLOTS_H_

#include <sys/types.h>

#include <cstdint>

#include "counter/job_block.h"

namespace memgroup::internal {

inline constexpr uint32_t kNoMember = 0xffffffffu;

// Reads /proc/PID/stat: *start_ticks (field 22) and whether the process is
// alive (exists and is not a zombie). False if it cannot be read (gone).
// `comm`, when not null, receives field 2 (the command name, at most 15
// bytes) NUL-padded to 16 bytes.
// `ppid`, when not null, receives field 4 (the parent's pid).
bool ReadProcStart(pid_t pid, uint64_t* start_ticks, bool* alive,
                   char* comm = nullptr, pid_t* ppid = nullptr);

// The 16 comm bytes of a member slot (NUL-padded; no terminator when 16).
void JobMemberComm(const JobMember* m, char out[16]);

// Joins the job as (pid, start_ticks). If an Active slot already names the
// same pid and start time (an exec of a member), that slot is reused and
// the old image's charge and group table entries are released first;
// *reused says so. Otherwise a
// free slot is claimed with charged = 0. kNoMember when the table is full.
// `comm` (a string, of which at most the first 16 bytes are kept; may be
// null) and `child_job` are stored in the slot.
uint32_t JobClaimMember(const JobView& v, pid_t pid, uint64_t start_ticks,
                        const char* comm, bool* reused, int32_t child_job = 0);

// Untracked execs. A member whose process calls execve marks its slot
// first (JobMarkExec: exec_comm, then exec_pending = 1). An image the
// library runs in rejoins the slot (JobClaimMember's exec path), which
// clears the mark; a failed call clears it (JobClearExec). A mark that stays
// means the new image runs without the library (static, setuid, cleared
// environment): the supervisor reports the process, alive or not, even
// after its parent inside the job has reaped it (JobTakeExecUntracked).
// Claimers skip a free slot that still carries a mark, so that it is not
// lost before the supervisor has read it (at most one of its scans).
void JobMarkExec(const JobView& v, uint32_t i, const char* comm);
void JobClearExec(const JobView& v, uint32_t i);
// The supervisor: for every marked slot whose process is gone, a zombie or
// a reused pid (the slot's pid and start time), clears the mark and calls
// `report(ctx, pid, start_ticks, comm)` with the exec_comm bytes
// (NUL-padded, 16), unless another slot without a mark names the same
// process (a spawn slot whose child joined in a slot of its own while its
// parent was between the two looks of JobMarkSpawned: cleared silently).
// Marked slots of live processes are left to the /proc scan. Returns how
// many were reported.
uint32_t JobTakeExecUntracked(const JobView& v,
                              void (*report)(void* ctx, pid_t pid,
                                             uint64_t start_ticks,
                                             const char comm[16]),
                              void* ctx);
// Whether slot i carries an exec mark, of either kind (acquire).
bool JobExecPending(const JobMember* m);
// Whether slot i was claimed by a spawner for a child that has not joined
// (kExecSpawned; acquire): it names no member.
bool JobSpawnPending(const JobMember* m);

// Spawned children. posix_spawn execs inside glibc (not through the
// interposed execve), so its child's exec cannot be marked beforehand; the
// parent learns the child's pid only once the child has exec'd. So the
// parent claims a slot for the child afterwards (JobMarkSpawned: pid, start
// time, the image's comm, an exec mark), as an exec would have left it; an
// image the library runs in rejoins it by pid and start time
// (JobClaimMember's exec path) and clears the mark, and a mark that stays is
// reported as above. The child may join before the parent records it: then
// the parent finds the child's slot and claims nothing. The two can also
// cross (each looks for the other's slot before its own is visible): each
// publishes its slot, then (a sequentially consistent fence) looks for the
// other's, so at least one sees both; the spawn slot is the one dropped
// (JobDropSpawnMarks in the child, JobMarkSpawned itself in the parent),
// by whoever wins the CAS of its mark.
//
// The parent's part: unless a slot already names (pid, start_ticks) (the
// child joined), claims a free slot for it with `comm` and `child_job`,
// charge 0 and the mark kExecSpawned, published with Active; then drops it
// again if another slot names the child by then. Returns the slot, or
// kNoMember (joined already, crossed, or a full table).
uint32_t JobMarkSpawned(const JobView& v, pid_t pid, uint64_t start_ticks,
                        const char* comm, int32_t child_job = 0);
// The child's part, after it claimed slot `own` afresh (not by the exec
// path): drops every other active slot naming (pid, start_ticks) marked
// kExecSpawned (a spawn slot its parent published while it joined).
// Returns how many. One pass over the table.
uint32_t JobDropSpawnMarks(const JobView& v, pid_t pid, uint64_t start_ticks,
                           uint32_t own);

// A child job's supervisor publishes its job's protection in its own slot
// of the enclosing job `outer` (the Active slot naming `pid` and
// `start_ticks`). False if it holds no such slot.
bool JobPublishProtection(const JobView& outer, pid_t pid,
                          uint64_t start_ticks, int64_t bytes);

// Whether the child job whose supervisor is `child_job` is within its
// protection in block `v`: the charges of the members tagged with it sum
// to at most the `protect` its supervisor's slot holds (> 0). One pass
// over the table for the supervisor's slot and one for the sum.
bool JobChildProtected(const JobView& v, int32_t child_job);

// Returns member i's whole charge to the job node; the slot stays claimed
// (a process's exit hook: later charges stay accounted until the slot is
// released). Returns the bytes.
int64_t JobReleaseCharge(const JobView& v, uint32_t i);

// Releases member i (its charge, its stock chunks, its group table
// entries and its slot) if it is Active and still names `pid`. Whoever
// wins the CAS does it. Returns true if released. `forget`: the slot's pid
// is cleared too, so that it no longer names the process (a slot claimed
// for a vfork child's exec that failed: no image of that process ran in
// it); otherwise a released slot keeps naming its member until reclaimed.
bool JobReleaseMember(const JobView& v, uint32_t i, pid_t pid,
                      bool forget = false);

// Releases every Active member whose process is gone, a zombie, or has a
// different start time (pid reused). Returns how many.
uint32_t JobReleaseDead(const JobView& v);

// Releases the Active members named `pid` (a reaped child). Returns how many.
uint32_t JobReleasePid(const JobView& v, pid_t pid);

// Wakes threads of every member waiting under `wait` (after an uncharge or a
// limit raise). Cheap when nobody waits.
void JobWakeWaiters(JobNode* node);

// Control requests (the member slot's request fields).
//
// Agent side. JobAgentListen: the agent of the process holding slot `m`
// starts listening: answers nothing posted before, publishes `tid`.
// Returns the sequence number it has seen. JobAgentWait: waits up to
// `timeout_ns` (< 0: forever) for a request other than `seen`; returns
// true and *seq, *bytes for one (the bytes posted since the agent last
// read them, taken: a nudge adds none). JobAgentAnswer: publishes the
// answer to request `seq` (and to every request before it).
uint32_t JobAgentListen(JobMember* m, int32_t tid);
bool JobAgentWait(JobMember* m, uint32_t seen, int64_t timeout_ns,
                  uint32_t* seq, int64_t* bytes);
void JobAgentAnswer(JobMember* m, uint32_t seq, int64_t reclaimed,
                    int64_t purged);

// Requester side. JobPostRequest (the caller holds the block's flock, so
// that no other holder of the flock overwrites `bytes` before the agent
// reads it): asks member slot `m` for `bytes` (clamped at 0) and wakes its
// agent; returns the request's sequence number. JobNudgeAgent (a member's
// job-level refusal, without the flock): a request for 0 bytes that leaves
// request_bytes alone (the agent drains its stocks and returns its free
// engine pages; bytes a flock holder posted meanwhile are served by the
// same or the next answer); returns its sequence number. JobAnswered:
// whether the agent answered request `seq` or a later one (an answer
// serves every request posted before the agent read the sequence number;
// of two overlapping requests, the later answer may be the only one), and
// then that answer. JobRequestPending: whether a request to `m` is still
// unanswered (the agent is busy, or no longer runs). None waits: a member
// that never answers cannot hold the requester.
uint32_t JobPostRequest(JobMember* m, int64_t bytes);
uint32_t JobNudgeAgent(JobMember* m);
bool JobAnswered(const JobMember* m, uint32_t seq, int64_t* reclaimed,
                 int64_t* purged);
bool JobRequestPending(const JobMember* m);

// The crossings of the callbacks a member registered on its root group
// (JobMember::root_crossings): the member publishes them (one writer: its
// publisher, group/job_groups.h), readers take one publication, trying
// the sequence lock at most kJobRootReadTries times (false: none whole,
// the values are then unusable).
inline constexpr uint32_t kJobRootReadTries = 4;
void JobPublishRootCrossings(JobMember* m, const uint64_t c[kJobCrossings],
                             const int64_t last[2]);
bool JobReadRootCrossings(const JobMember* m, uint64_t c[kJobCrossings],
                          int64_t last[2]);

// The byte figures of a member's root group stat (JobMember::root_stat,
// JobRootStat order), published by the member's control agent at `now_ns`
// (CLOCK_MONOTONIC). Each value is a relaxed store of its own, read with a
// relaxed load: a reader may take figures of two publications (a
// statistic; readers sum them, never use them as a bound). JobReadRootStat
// returns the publication time (0: none yet).
void JobPublishRootStat(JobMember* m, const int64_t stat[kJobRootStats],
                        int64_t now_ns);
int64_t JobReadRootStat(const JobMember* m, int64_t stat[kJobRootStats]);

// Takes at most `bytes` from member i's `charged` (never below 0) and the
// same from the node; wakes waiters. Returns what it took.
int64_t JobUnchargeMember(const JobView& v, uint32_t i, int64_t bytes);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_SLOTS_H_
