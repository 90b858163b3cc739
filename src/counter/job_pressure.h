// The job's pressure (PSI `some` and `full` of the job control block's
// node, job_block.h): the shared stall accounting of the member processes
// and the running averages the supervisor derives from it.
// Owns: JobNode's stall_state, stall_some_ns, some_avg, full_state,
// stall_full_ns and full_avg, and a member slot's `stalling` and
// `full_flag`.
//
// A member process is stalled while at least one of its threads stalls in
// reclaim, throttling or an OOM wait (its root group's stall count above
// 0, group/pressure.cc); the job is stalled while at least one member is.
// That is the kernel's `some` for a cgroup: the share of wall time in
// which some task of it was stalled, each instant counted once however
// many threads or processes stall together.
//
// `full`: a member is fully stalled while every thread of its root group
// is (the in-process `full` of its root, group/pressure.cc: stalled
// threads > 0 and at least the threads bound to it); the job is fully
// stalled while every member counted in it is, and at least one is. A
// member is counted from its claim (JobFullJoin, kFullRunning) to its
// release (JobFullRelease), so a member that never stalls, idle or busy,
// keeps the job's `full` at 0, as an idle but runnable thread keeps a
// group's. full_state packs the counted members that are not fully
// stalled (bits [0, 17)), those that are ([17, 34)) and the time of its
// last change (CLOCK_MONOTONIC microseconds modulo 2^30, [34, 64)). Every
// CAS that changes it stamps the later of its clock read and the stamped
// time (so a caller delayed between the two never moves time back) and,
// if the state before was fully stalled, adds the time between the two
// stamps to stall_full_ns. The supervisor's averager calls JobFullTick
// every 200 ms, which does the same without changing the counts: an
// interval never spans more than that, far below the 2^30 - 2^24 us
// (17.6 min) the modular stamps measure correctly. (Without the tick, a
// state unchanged for longer would be measured modulo 2^30 us.) A stamp
// at most 2^24 us (16.8 s) after the caller's clock read is taken as
// later; anything further as earlier. So the block's creator stamps the
// creation time (JobFullInit): a zero stamp, left as the file's zeros,
// would be taken as later by every change made within 2^24 us before the
// clock's microseconds next pass a multiple of 2^30, and the job's `full`
// would count nothing until they did. The counts never go below 0 or past
// their field (a hostile block's, or a member's own change racing with
// its release as it exits: the changes commute, only a transient
// decrement below 0 is dropped).
//
// stall_state packs the stalled members' count (low kJobStallCountBits
// bits) with the start of the current period (CLOCK_MONOTONIC
// microseconds modulo 2^kJobStallTimeBits), so that a member that makes
// the count go 0 -> 1 stamps the start in the same CAS, and the one that
// makes it go 1 -> 0 adds the period to stall_some_ns. A period is
// measured modulo 2^44 us (203 days), and a difference of 2^43 us (101
// days) or more is taken as a start after the caller's clock read (a
// reader that read the clock before a member stamped a new period) and
// counted 0: only a single period longer than 101 days would be lost.
//
// A member's `stalling` flag makes each member count at most once and
// lets whoever releases a member that died while stalled (or an exec that
// replaced it) end its period: the flag is exchanged, and only the caller
// that moved it does the CAS on the node.
//
// Allocates: never. Thread-safe and process-safe: every operation may run
// concurrently in any member process; JobPressureUpdate has one caller
// per job (the supervisor), which owns the JobPressureAverages.
#ifndef MEMGROUP_SRC_COUNTER_JOB_PRESSURE_H_
#define MEMGROUP_SRC_COUNTER_JOB_PRESSURE_H_

#include <cstdint>

#include "counter/job_block.h"

namespace memgroup::internal {

inline constexpr uint32_t kJobStallCountBits = 20;
inline constexpr uint32_t kJobStallTimeBits = 64 - kJobStallCountBits;

// Member side: the member process holding slot `m` of the job with node
// `node` started stalling (its first stalled thread) / stopped (its last).
// Calls must alternate per member (the caller's root-level stall count
// decides, under its lock); a Begin while the flag is set, or an End while
// it is clear, does nothing.
void JobStallBegin(JobNode* node, JobMember* m, int64_t now_ns);
void JobStallEnd(JobNode* node, JobMember* m, int64_t now_ns);

// Ends slot `m`'s period if it is counted (a released member, an exec's
// new image, a claimer finding the flag set). Returns whether it was.
bool JobStallRelease(JobNode* node, JobMember* m, int64_t now_ns);

// Reader side: the job's `some` stall time until `now_ns` (completed
// periods plus the current one), in nanoseconds; never negative. The
// count and the start come from one load: a period that ends between the
// two loads may be missing until the next read (never counted twice).
int64_t JobStallSomeNs(const JobNode* node, int64_t now_ns);

// Members currently stalled (the count in stall_state).
uint32_t JobStalledMembers(const JobNode* node);

inline constexpr uint32_t kJobFullCountBits = 17;
inline constexpr uint32_t kJobFullTimeBits = 64 - 2 * kJobFullCountBits;

// Member side of `full`. JobFullJoin: the slot's new member is counted as
// not fully stalled (full_flag kFullNone -> kFullRunning; does nothing
// unless the flag is kFullNone). JobFullChange: its root group became
// fully stalled (`stalled`) or stopped being (kFullRunning <->
// kFullStalled; does nothing unless the flag holds the other value).
// JobFullRelease: the member is no longer counted (a release, an exec's
// new image); returns whether it was.
void JobFullJoin(JobNode* node, JobMember* m, int64_t now_ns);
void JobFullChange(JobNode* node, JobMember* m, bool stalled, int64_t now_ns);
bool JobFullRelease(JobNode* node, JobMember* m, int64_t now_ns);
// The creator of the block, before any member can open it: stamps `now_ns`
// in full_state (no member counted).
void JobFullInit(JobNode* node, int64_t now_ns);
// The averager's tick: accrues the current full interval and stamps now
// (see the file comment).
void JobFullTick(JobNode* node, int64_t now_ns);

// Reader side: the job's `full` stall time until `now_ns`, as
// JobStallSomeNs (completed intervals, then the current one; one that ends
// between the two loads may be missing until the next read).
int64_t JobStallFullNs(const JobNode* node, int64_t now_ns);
// The members counted in `full`: *running not fully stalled, *stalled
// fully stalled (one load).
void JobFullMembers(const JobNode* node, uint32_t* running, uint32_t* stalled);

// The averager's private state (the supervisor's memory, not the block).
struct JobPressureAverages {
  int64_t last_ns = 0;     // 0: no sample yet
  int64_t last_total = 0;  // JobStallSomeNs at last_ns
  double avg[3] = {};      // fractions 0..1, 10 s, 60 s, 300 s
  int64_t last_full_total = 0;  // JobStallFullNs at last_ns
  double full_avg[3] = {};
};
// Ticks `full` (JobFullTick), then folds the stall time since the last
// sample into the averages (as the kernel's PSI does from its totals:
// avg = avg * e^(-dt/W) + rate * (1 - e^(-dt/W)), rate = stalled time /
// dt, W = 10, 60, 300 s) and stores them in the node's some_avg and
// full_avg. A total that went down (a period that ended between a
// reader's two loads) is not taken as a new baseline. Samples closer than
// 1 ms to the last are skipped.
void JobPressureUpdate(JobNode* node, JobPressureAverages* a, int64_t now_ns);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_PRESSURE_H_
