// The group table of the job control block (job_block.h): where a member
// publishes the groups it created through the C ABI, so that `memgroup
// stat/set/reclaim/top` see and steer them from outside the process.
// Owns: the table's layout (JobGroupArea, JobGroupEntry), an entry's owner
// protocol (claim, figures under a sequence lock, free), the release of a
// dead member's entries, and the per-entry control request (`memgroup set`
// of a group's limits and policy, `memgroup reclaim` of a group).
//
// The figures include the notifications of the callbacks the owner
// registered on the group (threshold and pressure-level crossings) as
// counters: the owner's callbacks never wait for, nor write to, anything a
// reader holds, and a reader that polls late sees every crossing counted
// (consecutive crossings between two reads coalesce into one change of the
// count).
//
// An entry belongs to one member process (pid, start time and member slot,
// written before it is Active) and names one of its groups by path (below
// the member's root, "/a/b") and by the member's own group id. Only its
// owner writes the path and the figures; requesters write the request
// fields; readers (job_reader.h) write nothing. Everything read from the
// table is validated (state, slot and pid cross-checked with the member
// table, path bounded, NUL-terminated and of group-name characters) and
// never used as a bound: JobView::group_entries, copied from the validated
// header, is the only one.
//
// Bounds: a member publishes at most kJobGroupsPerMember groups and the job
// at most its table's entries (kJobDefaultGroupEntries unless `memgroup
// run` was told otherwise); a group whose path does not fit in
// kJobGroupPathBytes is not published either. What is left out is counted,
// never silent: the owner writes the count of its groups left out into each
// of its entries (`unpublished`), and a member that found the table full
// records itself and its count in the area's `full_pid`/`full_count`.
//
// Allocates: never. Thread-safe: yes (entries are claimed with a CAS; one
// thread of the owner writes an entry's figures at a time: the caller
// serialises its publications).
#ifndef MEMGROUP_SRC_COUNTER_JOB_GROUP_TABLE_H_
#define MEMGROUP_SRC_COUNTER_JOB_GROUP_TABLE_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "counter/job_block.h"

namespace memgroup::internal {

// A path "/a/b" with its NUL: at most this many bytes.
inline constexpr uint32_t kJobGroupPathBytes = 192;
// The events of a group, in the group layer's order (group_state.h Event:
// low, high, max, oom, oom_kill, oom_group_kill).
inline constexpr uint32_t kJobGroupEvents = 6;
// The memory.stat-like figures of a group (stats_report.h GroupStat), in
// this order: heap, mmap, explicit, stock, stock_bound (bytes),
// reclaim_calls (count), reclaimed (bytes), throttled_usec, oom_wait_usec
// (microseconds), fault_injected (count), engine_free, engine_cached,
// engine_slack (bytes; block version 11). An entry holds the first ten in
// `stat`, the engine's three in `stat_engine` (JobGroupStatAt).
enum : uint32_t {
  kGroupStatHeap = 0,
  kGroupStatMmap,
  kGroupStatExplicit,
  kGroupStatStock,
  kGroupStatStockBound,
  kGroupStatReclaimCalls,
  kGroupStatReclaimed,
  kGroupStatThrottledUs,
  kGroupStatOomWaitUs,
  kGroupStatFaultInjected,
  kGroupStatEngineFree,
  kGroupStatEngineCached,
  kGroupStatEngineSlack,
  kJobGroupStats,
};
inline constexpr uint32_t kJobGroupStatsFirst = kGroupStatEngineFree;
// Pressure (pressure.h): the running averages in hundredths of a percent
// (0..10000), some avg10/avg60/avg300 then full avg10/avg60/avg300; the
// totals in microseconds, some then full.
inline constexpr uint32_t kJobGroupPressureAvgs = 6;
inline constexpr uint32_t kJobGroupPressureKinds = 2;
// The notifications delivered to the callbacks the owner registered on the
// group through the C ABI (mg_threshold_register, mg_pressure_register),
// one per callback call, in the group layer's order (group_state.h
// Crossing): threshold_above, threshold_below, pressure_low,
// pressure_medium, pressure_critical. Counters since the group was
// created; the last threshold crossed upwards and downwards (-1: none).
inline constexpr uint32_t kJobGroupCrossings = kJobCrossings;

// The table's first page.
struct JobGroupArea {
  // How many entries, from the first, have ever been claimed (claims take a
  // free one below it, else the one at it): readers stop there, so the
  // table costs 3 pages per 16 entries in use, not its whole size.
  std::atomic<uint32_t> used;
  // The last member that found the table full: its pid and how many of its
  // groups it could not publish then (relaxed statistics).
  std::atomic<int32_t> full_pid;
  std::atomic<uint32_t> full_count;
  uint32_t pad0;
};

// Request bits (JobGroupEntry::request_mask).
enum : uint32_t {
  kGroupSetMax = 1u << 0,
  kGroupSetHigh = 1u << 1,
  kGroupSetLow = 1u << 2,
  kGroupSetMin = 1u << 3,
  kGroupSetOom = 1u << 4,
  kGroupReclaim = 1u << 5,
  // Nothing to change: the owner republishes the figures before it answers
  // (`memgroup stat PID:/a/b` asking for fresh figures).
  kGroupRefresh = 1u << 6,
  kGroupRequestAll = (1u << 7) - 1,
};
// Indices of JobGroupEntry::request_value.
enum : uint32_t {
  kGroupValueMax = 0,
  kGroupValueHigh,
  kGroupValueLow,
  kGroupValueMin,
  kGroupValueReclaim,
  kGroupValues,
};

// One published group. `state` follows JobMember's protocol (Free ->
// Claiming -> Active -> Free), only ever moved by the owner or by whoever
// releases the owner's dead member slot.
struct JobGroupEntry {
  std::atomic<uint32_t> state;
  // Sequence lock of the figures: odd while the owner writes them.
  std::atomic<uint32_t> seq;
  // The owner (written before Active).
  std::atomic<int32_t> pid;
  std::atomic<uint32_t> member_slot;
  std::atomic<uint64_t> start_ticks;
  // The owner's GroupId of the group (its own numbering; a requester only
  // compares it).
  std::atomic<uint64_t> group_id;
  // Figures (under `seq`).
  std::atomic<int64_t> current;
  std::atomic<int64_t> peak;
  std::atomic<int64_t> max;
  std::atomic<int64_t> high;
  std::atomic<int64_t> low;
  std::atomic<int64_t> min;
  std::atomic<uint64_t> events[kJobGroupEvents];        // hierarchical
  std::atomic<uint64_t> events_local[kJobGroupEvents];  // this group only
  std::atomic<uint32_t> oom_policy;
  // The owner's groups left out of the table (see the file comment).
  std::atomic<uint32_t> unpublished;
  std::atomic<int64_t> oom_wait_ns;
  // The control request (requesters hold the block's flock: one at a
  // time). A requester writes the values and the mask, then bumps
  // `request_seq` (release) and wakes the owner's agent through its member
  // slot's request word; the agent answers each value of `request_seq`
  // that differs from `answer_seq`: it writes `answer_errno`, `reclaimed`
  // and `purged`, then stores `answer_seq` (release).
  std::atomic<uint32_t> request_seq;
  std::atomic<uint32_t> answer_seq;
  std::atomic<uint32_t> request_mask;
  std::atomic<int32_t> answer_errno;
  std::atomic<int64_t> request_value[kGroupValues];
  std::atomic<uint32_t> request_oom;
  uint32_t pad0;
  std::atomic<int64_t> request_oom_wait_ns;
  std::atomic<int64_t> reclaimed;
  std::atomic<int64_t> purged;
  // Figures (under `seq`): charges refused at this group's max (failcnt),
  // and when they were published (CLOCK_MONOTONIC nanoseconds: readers
  // show the figures' age).
  std::atomic<int64_t> failcnt;
  std::atomic<int64_t> published_ns;
  uint64_t pad1[3];
  // "/a/b", NUL-terminated, written by the owner before Active and never
  // changed while Active.
  char path[kJobGroupPathBytes];
  // Figures (under `seq`): the group's stat and pressure (see above).
  std::atomic<int64_t> stat[kJobGroupStatsFirst];
  std::atomic<uint32_t> pressure_avg[kJobGroupPressureAvgs];
  std::atomic<uint64_t> pressure_total_us[kJobGroupPressureKinds];
  // Figures (under `seq`), block version 7: the crossings (see above).
  std::atomic<uint64_t> crossings[kJobGroupCrossings];
  std::atomic<int64_t> threshold_last[2];  // above, below
  // Figures (under `seq`), block version 11: the group's stat from
  // kGroupStatEngineFree on (see above).
  std::atomic<int64_t> stat_engine[kJobGroupStats - kJobGroupStatsFirst];
  uint64_t pad2[7];
};
static_assert(sizeof(JobGroupEntry) == kJobGroupEntryBytes);
static_assert(offsetof(JobGroupEntry, failcnt) == 280);
static_assert(offsetof(JobGroupEntry, path) == 320);
static_assert(offsetof(JobGroupEntry, stat) == 512);
static_assert(offsetof(JobGroupEntry, pressure_avg) == 592);
static_assert(offsetof(JobGroupEntry, pressure_total_us) == 616);
static_assert(offsetof(JobGroupEntry, crossings) == 632);
static_assert(offsetof(JobGroupEntry, threshold_last) == 672);
static_assert(offsetof(JobGroupEntry, stat_engine) == 688);

// The entry's stat figure `k` (< kJobGroupStats, the order above), const
// for a const entry (the reader's).
template <typename Entry>
inline auto& JobGroupStatAt(Entry* e, uint32_t k) {
  return k < kJobGroupStatsFirst ? e->stat[k]
                                 : e->stat_engine[k - kJobGroupStatsFirst];
}

// The table of a block with group_entries > 0 (precondition).
inline JobGroupArea* JobGroupAreaOf(const JobView& v) {
  return reinterpret_cast<JobGroupArea*>(
      v.base + JobGroupOffset(v.slot_count, v.stock_chunks));
}
// Precondition: i < v.group_entries.
inline JobGroupEntry* JobGroupEntryAt(const JobView& v, uint32_t i) {
  return reinterpret_cast<JobGroupEntry*>(
             v.base + JobGroupOffset(v.slot_count, v.stock_chunks) +
             kJobStockChunkBytes) +
         i;
}
// Entries ever claimed (the area's `used`, clamped to group_entries).
uint32_t JobGroupUsed(const JobView& v);

// The figures an owner publishes.
struct JobGroupFigures {
  int64_t current = 0;
  int64_t peak = 0;
  int64_t max = 0;
  int64_t high = 0;
  int64_t low = 0;
  int64_t min = 0;
  uint64_t events[kJobGroupEvents] = {};
  uint64_t events_local[kJobGroupEvents] = {};
  uint32_t oom_policy = 0;
  int64_t oom_wait_ns = -1;
  uint32_t unpublished = 0;
  int64_t failcnt = 0;
  int64_t stat[kJobGroupStats] = {};
  uint32_t pressure_avg[kJobGroupPressureAvgs] = {};  // 1/100 %
  uint64_t pressure_total_us[kJobGroupPressureKinds] = {};
  uint64_t crossings[kJobGroupCrossings] = {};
  int64_t threshold_last[2] = {-1, -1};  // above, below; -1: none
  // CLOCK_MONOTONIC nanoseconds of the publication: JobGroupClaim and
  // JobGroupUpdate stamp it (the caller's value is ignored).
  int64_t published_ns = 0;
};

// Whether `path` can be published: "/" then components of [A-Za-z0-9._-]
// separated by single '/', no trailing '/', shorter than
// kJobGroupPathBytes. Readers apply the same check.
bool JobGroupPathValid(const char* path, size_t bytes);

// Owner side. Claims a free entry for group `group_id` at `path` of the
// member in slot `member_slot` (pid, start_ticks) with its first figures;
// the entry's request words start settled. kNoMember when the table is
// full or absent, or the path is invalid.
uint32_t JobGroupClaim(const JobView& v, uint32_t member_slot, pid_t pid,
                       uint64_t start_ticks, uint64_t group_id,
                       const char* path, const JobGroupFigures& f);
// Rewrites entry i's figures (the owner, one writer at a time).
void JobGroupUpdate(const JobView& v, uint32_t i, const JobGroupFigures& f);
// Frees entry i if it is Active and owned by (pid, start_ticks).
bool JobGroupFree(const JobView& v, uint32_t i, pid_t pid,
                  uint64_t start_ticks);
// Frees every entry of member slot `member_slot` owned by (pid,
// start_ticks): the member's release (alive or dead). Returns how many.
uint32_t JobGroupReleaseMember(const JobView& v, uint32_t member_slot,
                               pid_t pid, uint64_t start_ticks);
// A member that found the table full records itself (statistic).
void JobGroupNoteFull(const JobView& v, pid_t pid, uint32_t count);

// The control request, owner side: whether entry i (the caller's) has a
// request other than the one answered; then *seq, *mask and the values.
struct JobGroupRequest {
  uint32_t seq = 0;
  uint32_t mask = 0;
  int64_t value[kGroupValues] = {};
  uint32_t oom_policy = 0;
  int64_t oom_wait_ns = -1;
};
bool JobGroupPending(const JobView& v, uint32_t i, JobGroupRequest* req);
void JobGroupAnswer(const JobView& v, uint32_t i, uint32_t seq, int32_t err,
                    int64_t reclaimed, int64_t purged);

// Requester side (holding the block's flock). Posts `req` (its seq is
// ignored) to entry i, if it is Active and still owned by (pid,
// start_ticks, group_id), and wakes the owner's agent on `owner`'s request
// word; returns the request's sequence number, or 0 when the entry no
// longer holds that group. JobGroupAnswered: whether request `seq` is
// answered, and then the answer (bytes clamped at 0). Neither waits.
uint32_t JobGroupPost(const JobView& v, uint32_t i, pid_t pid,
                      uint64_t start_ticks, uint64_t group_id,
                      const JobGroupRequest& req, JobMember* owner);
bool JobGroupAnswered(const JobView& v, uint32_t i, uint32_t seq,
                      int32_t* err, int64_t* reclaimed, int64_t* purged);
// Whether entry i is still Active and owned by (pid, start_ticks,
// group_id).
bool JobGroupHolds(const JobView& v, uint32_t i, pid_t pid,
                   uint64_t start_ticks, uint64_t group_id);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_GROUP_TABLE_H_
