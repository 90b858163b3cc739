// The job control block: the shared, owner-only mapping through which every
// process of a `memgroup run` job charges one counter node.
// Owns: the block's fixed layout (header, the job's counter node with its
// events, futex word and OOM policy, the member table), creating it,
// attaching to it with full validation, the stock area's layout and the
// counter tree's uplink into the job node. The member slots' operations
// (claim, marks, release, the clamped member uncharge, control requests)
// are job_slots.h's; the stock area's, job_stock_area.h's.
//
// The mapping is written by other processes of the same user: everything
// read from it is validated before use, and no value read from it is ever
// used as a bound. A JobView copies the slot count once, after validation;
// indices are checked against that copy.
//
// Layout (version 11), all offsets fixed:
//   [0, 512)            JobHeader
//   [512, 896)          JobNode (PageCounter + events + futex + policy +
//                       the job's stall accounting, some and full,
//                       job_pressure.h)
//   [896, 896 + 320*n)  JobMember[n] (accounting fields, the control
//                       request fields of `memgroup reclaim`, the
//                       member's root crossings and stall flags, then its
//                       root group's stat bytes)
//   [S, S + 4096*(c+1)) the stock area, S = JobStockOffset(n): a page of
//                       JobStockArea, then JobStockChunk[c] of a page each;
//                       in a top-level job's block only (c = 0 in a nested
//                       job's: no area)
//   [G, G + 4096 + 768*g) the group table, G = JobGroupOffset(n, c): a page
//                       of JobGroupArea, then JobGroupEntry[g]: the groups
//                       members created through the C ABI, published by
//                       their owners (counter/job_group_table.h)
//
// The stock area's operations and the revocation of other members' stocks
// before a job-level decision are counter/job_stock_area.h's.
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

#include "counter/charge_stock.h"
#include "counter/counter_tree.h"

namespace memgroup::internal {

inline constexpr uint64_t kJobMagic = 0x314b4f4a47524d4dull;  // "MMRGJOK1"
inline constexpr uint32_t kJobVersion = 11;
inline constexpr uint32_t kJobCommandBytes = 256;
// A nested job's header names its enclosing job's block by path (never a
// pointer): at most this many bytes with the NUL.
inline constexpr uint32_t kJobParentPathBytes = 192;
inline constexpr uint32_t kJobDefaultSlots = 1024;
inline constexpr uint32_t kJobMaxSlots = 65536;
// The stock area: chunks of one page, a 128-byte JobStockChunk header and
// 31 ThreadStocks each (a process with up to 31 threads takes one).
inline constexpr uint32_t kJobStockChunkBytes = 4096;
inline constexpr uint32_t kJobStocksPerChunk =
    (kJobStockChunkBytes - 128) / sizeof(ThreadStock);
inline constexpr uint32_t kJobDefaultStockChunks = 2048;
inline constexpr uint32_t kJobMaxStockChunks = 16384;
static_assert(kJobStocksPerChunk == 31);
// The crossings of the threshold and pressure-level callbacks a member
// registered on one of its groups (group_state.h Crossing order):
// threshold_above, threshold_below, pressure_low, pressure_medium,
// pressure_critical. A member slot carries its root group's
// (JobMember::root_crossings), a group table entry its group's.
inline constexpr uint32_t kJobCrossings = 5;
// The group table (counter/job_group_table.h): entries of 768 bytes, one
// per published group; a member publishes at most kJobGroupsPerMember.
inline constexpr uint32_t kJobGroupEntryBytes = 768;
inline constexpr uint32_t kJobDefaultGroupEntries = 1024;
inline constexpr uint32_t kJobMaxGroupEntries = 65536;
inline constexpr uint32_t kJobGroupsPerMember = 64;
// The byte figures of a member's root group stat (stats_report.h
// GroupStat) in its slot, in this order: heap, mmap, explicit, stock,
// stock_bound, reclaimed (JobMember::root_stat), engine_free,
// engine_cached, engine_slack (JobMember::root_stat_engine, block version
// 11): the group table's kGroupStat* keys that are bytes
// (job_group_table.h).
enum JobRootStat : uint32_t {
  kRootStatHeap = 0,
  kRootStatMmap,
  kRootStatExplicit,
  kRootStatStock,
  kRootStatStockBound,
  kRootStatReclaimed,
  kRootStatEngineFree,
  kRootStatEngineCached,
  kRootStatEngineSlack,
  kJobRootStats,
};

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
  // Entries of the group table (0: none), at most kJobMaxGroupEntries.
  uint32_t group_entries;
  char parent_path[kJobParentPathBytes];
  // The stock area: chunk count (0 in a nested job's block)
  // and its offset, JobStockOffset(slot_count) (0 without an area).
  uint32_t stock_chunks;
  uint32_t stock_offset;
};
static_assert(sizeof(JobHeader) == 512);
// Offsets outside readers rely on (docs/preload.md, "The control block").
static_assert(offsetof(JobHeader, command) == 48 &&
              offsetof(JobHeader, depth) == 304 &&
              offsetof(JobHeader, group_entries) == 308 &&
              offsetof(JobHeader, parent_path) == 312 &&
              offsetof(JobHeader, stock_chunks) == 504);

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
  // Relaxed statistics, written by any member: hierarchical (memory.events:
  // the events of this job and of the jobs nested in it; the local ones,
  // memory.events.local, are `events_local`), counter/job_events.h.
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
  // The job's pressure, PSI `some` (counter/job_pressure.h): time during
  // which at least one member process had a thread stalled (reclaim,
  // throttling, an OOM wait). `stall_state`: the stalled members' count
  // (low kJobStallCountBits bits) and, while it is not 0, when the current
  // period began (the rest: CLOCK_MONOTONIC microseconds modulo 2^44);
  // one CAS moves both. `stall_some_ns`: the completed periods' total.
  std::atomic<uint64_t> stall_state;
  std::atomic<int64_t> stall_some_ns;
  // The running averages of `some` over 10, 60 and 300 s in hundredths of
  // a percent, computed from the total by the job's supervisor
  // (JobPressureUpdate) every 200 ms; 0 when no supervisor updates them.
  std::atomic<uint32_t> some_avg[3];
  uint32_t pad0;
  // The latest time a member ended its stall (CLOCK_MONOTONIC ns, raised
  // with a CAS before the member's CAS of stall_state): a new period never
  // starts before it, so a member whose begin was delayed between its
  // clock read and its CAS cannot count again what a period just counted.
  std::atomic<int64_t> stall_last_end_ns;
  // The job's PSI `full` (block version 9, counter/job_pressure.h): time
  // during which every member counted in it was fully stalled (all the
  // threads of its root group stalled). `full_state` packs the members
  // counted and not fully stalled, the members counted and fully stalled,
  // and the time of its last change (CLOCK_MONOTONIC microseconds modulo
  // 2^30); one CAS moves all three. `stall_full_ns`: the full time of the
  // completed intervals. `full_avg`: as some_avg, for `full`.
  std::atomic<uint64_t> full_state;
  std::atomic<int64_t> stall_full_ns;
  std::atomic<uint32_t> full_avg[3];
  uint32_t pad1;
  // Block version 10: the events at this job's own limits (relaxed
  // statistics, counter/job_events.h).
  std::atomic<int64_t> events_local[kJobEventCount];
  uint8_t pad[24];
};
static_assert(sizeof(JobNode) == 384);
static_assert(offsetof(JobNode, oom_policy) == 232 &&
              offsetof(JobNode, oom_group) == 236 &&
              offsetof(JobNode, stall_state) == 256 &&
              offsetof(JobNode, stall_some_ns) == 264 &&
              offsetof(JobNode, some_avg) == 272 &&
              offsetof(JobNode, stall_last_end_ns) == 288 &&
              offsetof(JobNode, full_state) == 296 &&
              offsetof(JobNode, stall_full_ns) == 304 &&
              offsetof(JobNode, full_avg) == 312 &&
              offsetof(JobNode, events) == 192 &&
              offsetof(JobNode, events_local) == 328);

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
  // Exec marks (see "Untracked execs" below): kExecMarked from just before
  // the slot's process calls execve until its new image rejoins the slot
  // or the call fails; kExecSpawned in a slot a member claimed for a child
  // it started with posix_spawn (JobMarkSpawned), until the child's image
  // rejoins it (such a slot names no member yet: readers skip it); 0
  // otherwise. Any other value is taken as kExecMarked.
  std::atomic<uint32_t> exec_pending;
  std::atomic<int64_t> protect;

  // Control requests (`memgroup reclaim`, `memgroup set` of a max below
  // usage, and another member's job-level refusal asking for free engine
  // pages), answered by the member's control agent, a thread that waits on
  // `request_seq` (src/alloc/control_agent.h). Requesters that post bytes
  // serialise on the block's flock; a refusing member only increments
  // `request_seq` (counter/job_slots.h, JobNudgeAgent), and one answer may
  // serve several requests.
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
  // own number or a later one (acquire) before reading them.
  std::atomic<uint32_t> answer_seq;
  uint32_t pad1;
  // The request: bytes this member is asked to release (its share); the
  // agent takes them (exchange with 0) when it reads `request_seq`.
  std::atomic<int64_t> request_bytes;
  // The answer: bytes the member's reclaim callbacks released, and engine
  // pages the member returned to the OS (resident bytes of its groups'
  // arenas before and after the purge).
  std::atomic<int64_t> reclaimed;
  std::atomic<int64_t> purged;
  // With exec_pending: the comm the kernel gives the new image (the
  // basename of the path passed to execve, at most 15 bytes), NUL-padded,
  // as `comm`. Written before exec_pending (release).
  std::atomic<uint64_t> exec_comm[2];
  uint64_t pad2;

  // The member's root group (block version 8). `root_seq`: the sequence
  // lock of the crossings below, odd while the member writes them (one
  // writer: the member's publisher, group/job_groups.h); zeroed by the
  // claimer with them. `stalling`: 1 while this member is counted in the
  // node's stall_state (counter/job_pressure.h), so that whoever releases
  // a member that died stalled ends its period once.
  std::atomic<uint32_t> root_seq;
  std::atomic<uint32_t> stalling;
  // The calls made to the threshold and pressure-level callbacks the
  // member registered on its root group (mg_root()), kJobCrossings order,
  // and the last threshold crossed upwards and downwards (-1: none), as
  // a group table entry holds them for its group.
  std::atomic<uint64_t> root_crossings[kJobCrossings];
  std::atomic<int64_t> root_threshold_last[2];

  // Block version 9. The member's root group stat in bytes (JobRootStat
  // order: the subtree's heap, mmap, explicit, stock, stock_bound and
  // reclaimed, as stats_report.h's GroupStat), written by the member's
  // control agent when it starts and at every wake (at least every
  // kDecayTickMs, engine/free_pages.h), never on the allocation path;
  // `root_stat_ns`: when (CLOCK_MONOTONIC ns; 0: never). Relaxed: each is
  // an independent statistic, summed by readers and never used as a bound;
  // zeroed by the claimer.
  std::atomic<int64_t> root_stat[kRootStatEngineFree];
  std::atomic<int64_t> root_stat_ns;
  // The member in the job's `full` (counter/job_pressure.h): kFullNone
  // (not counted), kFullRunning (counted, not fully stalled) or
  // kFullStalled (counted, every thread of its root group stalled). Moved
  // by CAS (the member's own changes) or exchange (a release); whoever
  // moves it applies the matching change to the node's full_state.
  std::atomic<uint32_t> full_flag;
  uint32_t pad3;
  // Block version 11. The rest of the root group stat (JobRootStat order
  // from kRootStatEngineFree: engine_free, engine_cached, engine_slack),
  // published and zeroed with root_stat, as root_stat.
  std::atomic<int64_t> root_stat_engine[kJobRootStats - kRootStatEngineFree];
  uint64_t pad4[5];
};
static_assert(sizeof(JobMember) == 320);
static_assert(offsetof(JobMember, charged) == 16 &&
              offsetof(JobMember, comm) == 32 &&
              offsetof(JobMember, child_job) == 48 &&
              offsetof(JobMember, protect) == 56 &&
              offsetof(JobMember, agent_tid) == 64 &&
              offsetof(JobMember, request_seq) == 68 &&
              offsetof(JobMember, answer_seq) == 72 &&
              offsetof(JobMember, request_bytes) == 80 &&
              offsetof(JobMember, reclaimed) == 88 &&
              offsetof(JobMember, purged) == 96 &&
              offsetof(JobMember, exec_pending) == 52 &&
              offsetof(JobMember, exec_comm) == 104 &&
              offsetof(JobMember, root_seq) == 128 &&
              offsetof(JobMember, stalling) == 132 &&
              offsetof(JobMember, root_crossings) == 136 &&
              offsetof(JobMember, root_threshold_last) == 176 &&
              offsetof(JobMember, root_stat) == 192 &&
              offsetof(JobMember, root_stat_ns) == 240 &&
              offsetof(JobMember, full_flag) == 248 &&
              offsetof(JobMember, root_stat_engine) == 256);

// JobMember::exec_pending's values.
inline constexpr uint32_t kExecNone = 0;
inline constexpr uint32_t kExecMarked = 1;
inline constexpr uint32_t kExecSpawned = 2;

// JobMember::full_flag's values (counter/job_pressure.h). Any other value
// (a hostile block's) is left as it is and counts nowhere.
inline constexpr uint32_t kFullNone = 0;
inline constexpr uint32_t kFullRunning = 1;
inline constexpr uint32_t kFullStalled = 2;

inline constexpr uint32_t kJobHeaderBytes = sizeof(JobHeader) + sizeof(JobNode);

// Size of a block with `slots` member slots and no stock area.
constexpr uint64_t JobBlockBytes(uint32_t slots) {
  return kJobHeaderBytes + static_cast<uint64_t>(slots) * sizeof(JobMember);
}
// Where the stock area starts: the first page after the member table.
constexpr uint64_t JobStockOffset(uint32_t slots) {
  return (JobBlockBytes(slots) + kJobStockChunkBytes - 1) &
         ~uint64_t{kJobStockChunkBytes - 1};
}
// Total size of a block with `slots` slots and `chunks` stock chunks: the
// area is one page of JobStockArea, then the chunks.
constexpr uint64_t JobBlockBytes(uint32_t slots, uint32_t chunks) {
  return chunks == 0 ? JobBlockBytes(slots)
                     : JobStockOffset(slots) +
                           (uint64_t{chunks} + 1) * kJobStockChunkBytes;
}
// Where the group table starts: the first page after the stock area (or
// after the member table when there is no stock area).
constexpr uint64_t JobGroupOffset(uint32_t slots, uint32_t chunks) {
  return (JobBlockBytes(slots, chunks) + kJobStockChunkBytes - 1) &
         ~uint64_t{kJobStockChunkBytes - 1};
}
// Total size of a block with `slots` slots, `chunks` stock chunks and
// `groups` group entries: the table is one page of JobGroupArea, then the
// entries.
constexpr uint64_t JobBlockBytes(uint32_t slots, uint32_t chunks,
                                 uint32_t groups) {
  return groups == 0 ? JobBlockBytes(slots, chunks)
                     : JobGroupOffset(slots, chunks) + kJobStockChunkBytes +
                           uint64_t{groups} * kJobGroupEntryBytes;
}
// The largest block a member or reader accepts.
inline constexpr uint64_t kJobMaxBlockBytes =
    JobBlockBytes(kJobMaxSlots, kJobMaxStockChunks, kJobMaxGroupEntries);

// The stock area's first page. `used`: how many chunks, from the first,
// have ever been claimed; claims take a free one below it, else the one at
// it (a CAS raises it). Scans stop there (clamped to the view's validated
// chunk count), so the file's pages beyond it are never touched: the area
// costs a page per chunk in use, not its whole size.
struct JobStockArea {
  std::atomic<uint32_t> used;
  uint32_t pad0;
};

// One chunk of the stock area (its first 128 bytes; the ThreadStocks
// follow). `state` follows JobMember's protocol (Free -> Claiming ->
// Active -> Free). The owner fields are written by the claimer before its
// release store of Active; the stocks' own protocol is charge_stock.h's.
struct JobStockChunk {
  std::atomic<uint32_t> state;
  std::atomic<int32_t> pid;
  std::atomic<uint64_t> start_ticks;
  // The owner's member slot in its job at each nesting depth (kNoMember:
  // none). A revoker uses one only after checking that slot's pid and
  // start time.
  std::atomic<uint32_t> slot_at_depth[kJobMaxLevels];
  // 1: the owner registered for the global expedited membarrier, so a
  // revoker's barrier reaches its threads. Its stocks are revoked only
  // then.
  std::atomic<uint32_t> global_barrier;
  uint32_t pad0;
  char pad[128 - 40];
};
static_assert(sizeof(JobStockChunk) == 128);
static_assert(alignof(ThreadStock) <= 128);

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
  // Copied from the validated header with slot_count; the only bound of
  // the stock area.
  uint32_t stock_chunks = 0;
  // Likewise the only bound of the group table (0: the block has none).
  uint32_t group_entries = 0;

  bool attached() const { return base != nullptr; }
  JobHeader* header() const { return reinterpret_cast<JobHeader*>(base); }
  JobNode* node() const {
    return reinterpret_cast<JobNode*>(base + sizeof(JobHeader));
  }
  // Precondition: i < slot_count (checked by the callers).
  JobMember* member(uint32_t i) const {
    return reinterpret_cast<JobMember*>(base + kJobHeaderBytes) + i;
  }
  // Precondition: stock_chunks > 0.
  JobStockArea* area() const {
    return reinterpret_cast<JobStockArea*>(base + JobStockOffset(slot_count));
  }
  // Chunks ever claimed (the area's `used`, clamped to stock_chunks).
  uint32_t stock_used() const;
  // Precondition: i < stock_chunks.
  JobStockChunk* chunk(uint32_t i) const {
    return reinterpret_cast<JobStockChunk*>(
        base + JobStockOffset(slot_count) +
        (static_cast<uint64_t>(i) + 1) * kJobStockChunkBytes);
  }
  static ThreadStock* stocks(JobStockChunk* c) {
    return reinterpret_cast<ThreadStock*>(reinterpret_cast<uint8_t*>(c) +
                                          sizeof(JobStockChunk));
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
  // The stock area's chunks; a nested job (depth > 0) has none (its
  // members' stocks live in the top-level job's area).
  uint32_t stock_chunks = 0;
  // Entries of the group table (every job has its own: a member publishes
  // its groups in its innermost job's block).
  uint32_t group_entries = 0;
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
JobError JobValidate(const uint8_t* base, size_t bytes, uint32_t* slot_count,
                     uint32_t* stock_chunks = nullptr,
                     uint32_t* group_entries = nullptr);

// The enclosing job of an attached block: copies its depth and parent path
// (NUL-terminated, kJobParentPathBytes) from one snapshot of the header and
// re-checks them (the mapping is shared). False if they are inconsistent.
bool JobParentOf(const JobView& v, uint32_t* depth,
                 char parent_path[kJobParentPathBytes]);

void JobDetach(JobView* view);

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
  // This level's nesting depth (0: a top-level job): a revoked stock's
  // bytes are returned to the levels deeper than its cut
  // (CounterTree::UnchargeRevoked).
  uint32_t depth = 0;
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_BLOCK_H_
