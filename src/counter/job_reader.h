// The read side of the job control block (job_block.h) for observers that
// are not members: a validated snapshot of a mapped block, taken without
// writing to it and without waiting for any member.
// Owns: JobSnapshot and JobMemberSnapshot, and the copy rules: the header
// is validated once from a private copy and only that copy's slot count
// bounds the member walk; every counter is one atomic load; a member is
// taken only when its slot reads Active with the same pid before and after
// its fields, with the same start time (no lock, no retry loop, so a
// writer can never hold a reader);
// the command string is bounded, NUL-terminated and made printable; a
// group table entry (job_group_table.h) is taken only when it reads Active
// with its owner's pid, start time and member slot matching a member taken
// in the same snapshot, its path valid (JobGroupPathValid), and its figures
// from one publication (the sequence lock read at most
// kJobGroupReadTries times, never waited on).
//
// The mapping may be hostile or change under the reader (another process of
// the same user writes it): nothing read from it is used as a bound or an
// index. The caller must guard against the file shrinking under a mapping
// (SIGBUS), which no in-memory check can rule out.
//
// Allocates: never (the caller passes the member array). Thread-safe: yes.
#ifndef MEMGROUP_SRC_COUNTER_JOB_READER_H_
#define MEMGROUP_SRC_COUNTER_JOB_READER_H_

#include <cstddef>
#include <cstdint>

#include "counter/job_block.h"
#include "counter/job_group_table.h"

namespace memgroup::internal {

struct JobMemberSnapshot {
  uint32_t slot = 0;
  int32_t pid = 0;
  uint64_t start_ticks = 0;
  int64_t charged = 0;  // bytes charged to the job and not returned
  int64_t peak = 0;
  // The crossings of the callbacks the member registered on its root
  // group (job_slots.h JobReadRootCrossings), when `root_whole`: read
  // from one publication; otherwise zeros and no thresholds (the member
  // was writing them through every try, or the block is hostile).
  bool root_whole = false;
  uint64_t root_crossings[kJobCrossings] = {};
  int64_t root_threshold_last[2] = {-1, -1};
  // Its root group's stat bytes (JobRootStat order) and when its agent
  // published them (CLOCK_MONOTONIC ns; 0: not yet, the figures are 0),
  // job_slots.h JobReadRootStat: any values a hostile block holds.
  int64_t stat[kJobRootStats] = {};
  int64_t stat_ns = 0;
};

// One published group of a member.
struct JobGroupSnapshot {
  uint32_t entry = 0;        // index in the group table
  uint32_t member_slot = 0;  // the owner's member slot
  int32_t pid = 0;           // the owner
  uint64_t start_ticks = 0;
  uint64_t group_id = 0;     // the owner's id of the group
  char path[kJobGroupPathBytes] = {};  // valid, NUL-terminated
  JobGroupFigures figures;
  // When the figures were read (CLOCK_MONOTONIC nanoseconds, just after
  // the sequence lock's check): with figures.published_ns, their age.
  int64_t read_ns = 0;
};

inline constexpr uint32_t kJobGroupReadTries = 4;

struct JobSnapshot {
  uint32_t slot_count = 0;
  int32_t supervisor_pid = 0;
  uint64_t start_ticks = 0;
  int64_t start_unix_ns = 0;
  // The header's command, cut at its first NUL or at kJobCommandBytes - 1,
  // bytes that are not printable ASCII nor part of valid UTF-8 replaced by
  // '?'. Always NUL-terminated.
  char command[kJobCommandBytes] = {};
  int64_t current = 0;
  int64_t peak = 0;
  int64_t max = 0;   // kUnlimited: no limit
  int64_t high = 0;  // kUnlimited: no limit
  int64_t failcnt = 0;
  // The job's events, hierarchical (its own and its nested jobs') and
  // local (its own), counter/job_events.h.
  int64_t events[kJobEventCount] = {};
  int64_t events_local[kJobEventCount] = {};
  uint32_t oom_policy = 0;  // OomPolicyChoice value (unchecked, see below)
  int64_t oom_wait_ns = 0;
  int64_t throttled_ns = 0;
  uint32_t waiters = 0;
  // The job's pressure (counter/job_pressure.h): `some` stall time until
  // the read (ns), the supervisor's running averages of it in hundredths
  // of a percent (10, 60, 300 s; any value a hostile block holds), and the
  // members stalled at the read.
  int64_t some_ns = 0;
  uint32_t some_avg[3] = {};
  uint32_t stalled_members = 0;
  // `full` likewise: stall time until the read (ns), the averages, and
  // the members counted in it, not fully stalled and fully stalled.
  int64_t full_ns = 0;
  uint32_t full_avg[3] = {};
  uint32_t full_running = 0;
  uint32_t full_stalled = 0;
  // The members' root stat bytes (JobRootStat order) summed over the
  // members counted in `members` (stored or not), each sum saturated at
  // the int64 range; and the oldest publication among them (0: some
  // member has published none yet).
  int64_t stat[kJobRootStats] = {};
  int64_t stat_oldest_ns = 0;
  // Active members seen (not counting slots claimed for a spawned child
  // that has not joined); the first min(members, capacity) are stored.
  uint32_t members = 0;
  uint32_t members_stored = 0;
  // Active slots whose fields changed while being read, or whose pid is not
  // positive: not counted in `members`.
  uint32_t members_skipped = 0;
  // The group table: its size (0: the block has none), Active entries
  // taken (the first min(groups, group capacity) stored), and entries
  // skipped (owner not a member taken above, bad path, figures changing
  // through every try).
  uint32_t group_entries = 0;
  uint32_t groups = 0;
  uint32_t groups_stored = 0;
  uint32_t groups_skipped = 0;
  // The last member that found the table full, and its count then.
  int32_t groups_full_pid = 0;
  uint32_t groups_full_count = 0;
};

// Reads the block mapped at `base` (`bytes` long, 64-byte aligned) into
// *out, the Active members into members[0, capacity) and the published
// groups of those members into groups[0, group_capacity) (in table order).
// Groups are only taken when members are stored: a group whose owner is
// beyond `capacity` is skipped. Returns kOk, or the first validation
// failure of JobValidate (kTooSmall, kBadMagic, kBadVersion, kBadLayout);
// kBadLayout also for a misaligned base.
JobError JobReadSnapshot(const uint8_t* base, size_t bytes, JobSnapshot* out,
                         JobMemberSnapshot* members, uint32_t capacity,
                         JobGroupSnapshot* groups = nullptr,
                         uint32_t group_capacity = 0);

// Reads group `was` (taken by JobReadSnapshot from a block of the same
// file) again from the validated view `v`: true with *out its current
// figures when entry was.entry is still Active with the same owner (pid,
// slot, start time), group id and path and its figures come from one
// publication; false otherwise (gone, reclaimed, torn). `was.entry` is
// checked against v's own bound. Writes nothing to the block.
bool JobReadGroupAgain(const JobView& v, const JobGroupSnapshot& was,
                       JobGroupSnapshot* out);

// Copies at most cap - 1 bytes of `in` (up to its first NUL or in_bytes)
// into out, NUL-terminated, replacing every byte that is not printable
// ASCII or part of a well-formed UTF-8 sequence (no overlongs, surrogates
// or code points above U+10FFFF) by '?'. cap must be at least 1.
void SanitizeText(const char* in, size_t in_bytes, char* out, size_t cap);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_READER_H_
