// The job control block: the shared, owner-only mapping through which every
// process of a `memgroup run` job charges one counter node.
// Owns: the block's fixed layout (header, the job's counter node with its
// events, futex word and OOM policy, the member table), creating it,
// attaching to it with full validation, member slots (claim, release,
// release of dead members) and the clamped member uncharge.
//
// The mapping is written by other processes of the same user: everything
// read from it is validated before use, and no value read from it is ever
// used as a bound. A JobView copies the slot count once, after validation;
// indices are checked against that copy.
//
// Layout (version 3), all offsets fixed:
//   [0, 512)            JobHeader
//   [512, 768)          JobNode (PageCounter + events + futex + policy)
//   [768, 768 + 128*n)  JobMember[n] (accounting fields, then the control
//                       request fields of `memgroup reclaim`)
//
// Invariants (between operations, with no charge in flight, stocks drained):
//   node.usage == sum(member.charged for claimed members)
//   member.charged >= 0
//
// Allocates: never (members attach inside the first malloc). Thread-safe:
// every operation may run concurrently in any member process.
#ifndef MEMGROUP_SRC_COUNTER_JOB_BLOCK_H_
#define MEMGROUP_SRC_COUNTER_JOB_BLOCK_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "counter/counter_tree.h"

namespace memgroup::internal {

inline constexpr uint64_t kJobMagic = 0x314b4f4a47524d4dull;  // "MMRGJOK1"
inline constexpr uint32_t kJobVersion = 3;
inline constexpr uint32_t kJobCommandBytes = 256;
// A nested job's header names its enclosing job's block by path (never a
// pointer): at most this many bytes with the NUL.
inline constexpr uint32_t kJobParentPathBytes = 192;
inline constexpr uint32_t kJobDefaultSlots = 1024;
inline constexpr uint32_t kJobMaxSlots = 65536;

static_assert(std::atomic<int64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free &&
                  std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<int32_t>::is_always_lock_free,
              "atomics in a mapping shared between processes");

// Written once by the creator before any member can open the file; read-only
// afterwards.
struct JobHeader {
  uint64_t magic;
  uint32_t version;
  uint32_t header_bytes;  // offset of the member table
  uint64_t total_bytes;   // header_bytes + slot_count * sizeof(JobMember)
  uint32_t slot_count;
  int32_t supervisor_pid;
  uint64_t start_ticks;      // the supervisor's /proc/PID/stat field 22
  int64_t start_unix_ns;     // CLOCK_REALTIME when the job was created
  char command[kJobCommandBytes];  // NUL-terminated, truncated
  // Nesting: 0 for a job started outside any job; else 1 + the enclosing
  // job's depth, below kJobMaxLevels. `parent_path` is the enclosing job's
  // block (absolute, NUL-terminated; empty at depth 0). A member attaches
  // it with JobAttach's full validation and checks its depth is one less.
  uint32_t depth;
  uint32_t pad0;
  char parent_path[kJobParentPathBytes];
  char pad[512 - 48 - kJobCommandBytes - 8 - kJobParentPathBytes];
};
static_assert(sizeof(JobHeader) == 512);
// Offsets outside readers rely on (docs/preload.md, "The control block").
static_assert(offsetof(JobHeader, command) == 48 &&
              offsetof(JobHeader, depth) == 304 &&
              offsetof(JobHeader, parent_path) == 312);

enum JobEvent : uint32_t {
  kJobEventMax = 0,
  kJobEventOom,
  kJobEventOomKill,
  kJobEventHigh,
  kJobEventCount,
};

// The job's counter node. `counter` uses usage, max, high, watermarks and
// failcnt; its parent is never read (the job is the top of every member's
// walk).
struct JobNode {
  PageCounter counter;
  // Relaxed statistics, written by any member.
  std::atomic<int64_t> events[kJobEventCount];
  // Futex word of the `wait` policy: bumped (release) by an uncharge that
  // sees waiters and by limit raises; waiters compare against the value
  // they read (acquire) before their retry. Shared futex.
  std::atomic<uint32_t> wake_seq;
  // Members' threads sleeping under `wait` (relaxed: a wake decision; a
  // missed wake is bounded by the waiters' poll).
  std::atomic<uint32_t> waiters;
  // OomPolicy of the job and the wait timeout (-1: forever). Written by the
  // creator; relaxed (advisory configuration).
  std::atomic<uint32_t> oom_policy;
  // 1: `kill` kills every member (memory.oom.group). Written by the
  // creator; relaxed (advisory configuration).
  std::atomic<uint32_t> oom_group;
  std::atomic<int64_t> oom_wait_ns;
  // Time members' threads slept above the job's high (relaxed statistic).
  std::atomic<int64_t> throttled_ns;
};
static_assert(sizeof(JobNode) == 256);
static_assert(offsetof(JobNode, oom_policy) == 232 &&
              offsetof(JobNode, oom_group) == 236);

enum JobMemberState : uint32_t {
  kMemberFree = 0,
  kMemberClaiming = 1,  // a process is filling the slot
  kMemberActive = 2,
  kMemberReleasing = 3,  // someone releases a dead member's charge
};

// One member (a process). `state` is the slot's owner protocol: Free ->
// Claiming (CAS, by the joining process) -> Active (release store, after pid
// and start time) -> Releasing (CAS, by whoever releases it) -> Free
// (release store).
struct JobMember {
  std::atomic<uint32_t> state;
  std::atomic<int32_t> pid;
  std::atomic<uint64_t> start_ticks;  // /proc/PID/stat field 22
  // Bytes this member charged to the job node and has not returned.
  std::atomic<int64_t> charged;
  std::atomic<int64_t> peak;  // relaxed statistic
  // The member image's /proc/PID/comm, NUL-padded (16 bytes, little-endian
  // words): written with `pid` by the claimer (and again by an exec that
  // reuses the slot), relaxed; a reader that sees another comm in /proc
  // knows the process has exec'd an image that did not rejoin.
  std::atomic<uint64_t> comm[2];
  // Nested jobs. `child_job`: for a member of a child job of this job, the
  // pid of that child job's supervisor (the job directly inside this one
  // that the member belongs to); 0 for a direct member. Written by the
  // claimer before Active. `protect`: in the slot of a child job's
  // supervisor, the child job's max(--min, --low), written by that
  // supervisor once its job exists (relaxed). Both are only compared,
  // never used as a bound (JobChooseVictim).
  std::atomic<int32_t> child_job;
  uint32_t pad0;
  std::atomic<int64_t> protect;

  // Control requests (`memgroup reclaim`, `memgroup set` of a max below
  // usage), answered by the member's control agent, a thread that waits on
  // `request_seq` (src/alloc/control_agent.h). One request at a time per
  // slot: requesters serialise on the block's flock.
  // `agent_tid`: the agent's thread id once it listens, 0 when the member
  // has none (not started yet, or it could not be created). Written by the
  // member (release, after `answer_seq`), zeroed by the claimer.
  std::atomic<int32_t> agent_tid;
  // Futex word (shared): a requester writes `request_bytes`, then bumps it
  // (release) and wakes it. The agent reads it (acquire) and answers each
  // value it sees that differs from `answer_seq`.
  std::atomic<uint32_t> request_seq;
  // Futex word (shared): the agent stores the sequence number it answered
  // (release) after `reclaimed` and `purged`; the requester waits for its
  // own number (acquire) before reading them.
  std::atomic<uint32_t> answer_seq;
  uint32_t pad1;
  // The request: bytes this member is asked to release (its share).
  std::atomic<int64_t> request_bytes;
  // The answer: bytes the member's reclaim callbacks released, and engine
  // pages the member returned to the OS (resident bytes of its groups'
  // arenas before and after the purge).
  std::atomic<int64_t> reclaimed;
  std::atomic<int64_t> purged;
  uint64_t pad2[3];
};
static_assert(sizeof(JobMember) == 128);
static_assert(offsetof(JobMember, charged) == 16 &&
              offsetof(JobMember, comm) == 32 &&
              offsetof(JobMember, child_job) == 48 &&
              offsetof(JobMember, protect) == 56 &&
              offsetof(JobMember, agent_tid) == 64 &&
              offsetof(JobMember, request_seq) == 68 &&
              offsetof(JobMember, answer_seq) == 72 &&
              offsetof(JobMember, request_bytes) == 80 &&
              offsetof(JobMember, reclaimed) == 88 &&
              offsetof(JobMember, purged) == 96);

inline constexpr uint32_t kJobHeaderBytes = sizeof(JobHeader) + sizeof(JobNode);

// Total size of a block with `slots` member slots.
constexpr uint64_t JobBlockBytes(uint32_t slots) {
  return kJobHeaderBytes + static_cast<uint64_t>(slots) * sizeof(JobMember);
}

enum class JobError {
  kOk,
  kOpen,        // open(2) failed (errno kept in *err)
  kNotRegular,  // not a regular file (or a symlink: O_NOFOLLOW)
  kNotOwner,    // owned by another user
  kBadMode,     // group or other may access it
  kTooSmall,    // shorter than a header
  kBadMagic,
  kBadVersion,
  kBadLayout,   // header_bytes, slot_count or total_bytes inconsistent
  kMap,         // mmap failed
  kExists,      // create: the file exists
  kCreate,      // create: open/ftruncate failed
};
const char* JobErrorString(JobError e);

// A process's view of a mapped block. The slot count is copied from the
// validated header and is the only bound used.
struct JobView {
  uint8_t* base = nullptr;
  size_t map_bytes = 0;
  uint32_t slot_count = 0;

  bool attached() const { return base != nullptr; }
  JobHeader* header() const { return reinterpret_cast<JobHeader*>(base); }
  JobNode* node() const {
    return reinterpret_cast<JobNode*>(base + sizeof(JobHeader));
  }
  // Precondition: i < slot_count (checked by the callers).
  JobMember* member(uint32_t i) const {
    return reinterpret_cast<JobMember*>(base + kJobHeaderBytes) + i;
  }
};

// What the creator writes.
struct JobParams {
  uint32_t slot_count = kJobDefaultSlots;
  int64_t max = kUnlimited;
  int64_t high = kUnlimited;
  uint32_t oom_policy = 0;  // OomPolicy (enomem)
  int64_t oom_wait_ns = -1;
  bool oom_group = false;
  int32_t supervisor_pid = 0;
  uint64_t start_ticks = 0;
  int64_t start_unix_ns = 0;
  const char* command = "";
  // A nested job: its enclosing job's block and depth + 1 (see JobHeader),
  // and its protection (stored in the node's `min` and `low`).
  const char* parent_path = "";
  uint32_t depth = 0;
  int64_t min = 0;
  int64_t low = 0;
};

// Creates the block at `path` (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), sizes
// and initialises it, and maps it. *err: errno of a failed call.
JobError JobCreate(const char* path, const JobParams& params, JobView* view,
                   int* err);

// Opens and maps an existing block: the file must be a regular file owned by
// the caller's uid with mode 0600, and the header must be valid (magic,
// version, header size, slot count within [1, kJobMaxSlots], total size
// equal to the file's size).
JobError JobAttach(const char* path, JobView* view, int* err);

// Validates a mapped block of `bytes` bytes (the checks of JobAttach after
// the file's, including the nesting fields: depth below kJobMaxLevels, a
// NUL-terminated parent path, absolute exactly when depth > 0). Exposed
// for tests.
JobError JobValidate(const uint8_t* base, size_t bytes, uint32_t* slot_count);

// The enclosing job of an attached block: copies its depth and parent path
// (NUL-terminated, kJobParentPathBytes) from one snapshot of the header and
// re-checks them (the mapping is shared). False if they are inconsistent.
bool JobParentOf(const JobView& v, uint32_t* depth,
                 char parent_path[kJobParentPathBytes]);

void JobDetach(JobView* view);

inline constexpr uint32_t kNoMember = 0xffffffffu;

// Reads /proc/PID/stat: *start_ticks (field 22) and whether the process is
// alive (exists and is not a zombie). False if it cannot be read (gone).
// `comm`, when not null, receives field 2 (the command name, at most 15
// bytes) NUL-padded to 16 bytes.
bool ReadProcStart(pid_t pid, uint64_t* start_ticks, bool* alive,
                   char* comm = nullptr);

// The 16 comm bytes of a member slot (NUL-padded; no terminator when 16).
void JobMemberComm(const JobMember* m, char out[16]);

// Joins the job as (pid, start_ticks). If an Active slot already names the
// same pid and start time (an exec of a member), that slot is reused and
// the old image's charge is released first; *reused says so. Otherwise a
// free slot is claimed with charged = 0. kNoMember when the table is full.
// `comm` (a string, of which at most the first 16 bytes are kept; may be
// null) and `child_job` are stored in the slot.
uint32_t JobClaimMember(const JobView& v, pid_t pid, uint64_t start_ticks,
                        const char* comm, bool* reused, int32_t child_job = 0);

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

// Releases member i (its charge and its slot) if it is Active and still
// names `pid`. Whoever wins the CAS does it. Returns true if released.
bool JobReleaseMember(const JobView& v, uint32_t i, pid_t pid);

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
// true and *seq, *bytes for one. JobAgentAnswer: publishes the answer to
// request `seq`.
uint32_t JobAgentListen(JobMember* m, int32_t tid);
bool JobAgentWait(JobMember* m, uint32_t seen, int64_t timeout_ns,
                  uint32_t* seq, int64_t* bytes);
void JobAgentAnswer(JobMember* m, uint32_t seq, int64_t reclaimed,
                    int64_t purged);

// Requester side (the caller holds the block's flock, so requests to one
// slot never overlap). JobPostRequest: asks member slot `m` for `bytes`
// (clamped at 0) and wakes its agent; returns the request's sequence
// number. JobAnswered: whether the agent answered request `seq`, and then
// its answer. Neither waits: a member that never answers cannot hold the
// requester.
uint32_t JobPostRequest(JobMember* m, int64_t bytes);
bool JobAnswered(const JobMember* m, uint32_t seq, int64_t* reclaimed,
                 int64_t* purged);

// The uplink of a process's counter tree into the job: charges that reach
// the process root continue into `node` and add to `charged`; uncharges
// take from both, never more than `charged` holds (see CounterTree).
// Written before the process serves allocations from other threads (init)
// or while it has one thread (a fork child); read by every charge walk.
struct JobLink {
  JobNode* node = nullptr;
  std::atomic<int64_t>* charged = nullptr;
  std::atomic<int64_t>* peak = nullptr;
  // The enclosing job's level (nested jobs), or null. A chain has at most
  // kJobMaxLevels links.
  const JobLink* up = nullptr;
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_BLOCK_H_
