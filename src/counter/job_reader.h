// The read side of the job control block (job_block.h) for observers that
// are not members: a validated snapshot of a mapped block, taken without
// writing to it and without waiting for any member.
// Owns: JobSnapshot and JobMemberSnapshot, and the copy rules: the header
// is validated once from a private copy and only that copy's slot count
// bounds the member walk; every counter is one atomic load; a member is
// taken only when its slot reads Active with the same pid before and after
// its fields, with the same start time (no lock, no retry loop, so a
// writer can never hold a reader);
// the command string is bounded, NUL-terminated and made printable.
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

namespace memgroup::internal {

struct JobMemberSnapshot {
  uint32_t slot = 0;
  int32_t pid = 0;
  uint64_t start_ticks = 0;
  int64_t charged = 0;  // bytes charged to the job and not returned
  int64_t peak = 0;
};

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
  int64_t events[kJobEventCount] = {};
  uint32_t oom_policy = 0;  // OomPolicyChoice value (unchecked, see below)
  int64_t oom_wait_ns = 0;
  int64_t throttled_ns = 0;
  uint32_t waiters = 0;
  // Active members seen; the first min(members, capacity) are stored.
  uint32_t members = 0;
  uint32_t members_stored = 0;
  // Active slots whose fields changed while being read, or whose pid is not
  // positive: not counted in `members`.
  uint32_t members_skipped = 0;
};

// Reads the block mapped at `base` (`bytes` long, 64-byte aligned) into
// *out and the Active members into members[0, capacity). Returns kOk, or
// the first validation failure of JobValidate (kTooSmall, kBadMagic,
// kBadVersion, kBadLayout); kBadLayout also for a misaligned base.
JobError JobReadSnapshot(const uint8_t* base, size_t bytes, JobSnapshot* out,
                         JobMemberSnapshot* members, uint32_t capacity);

// Copies at most cap - 1 bytes of `in` (up to its first NUL or in_bytes)
// into out, NUL-terminated, replacing every byte that is not printable
// ASCII or part of a well-formed UTF-8 sequence (no overlongs, surrogates
// or code points above U+10FFFF) by '?'. cap must be at least 1.
void SanitizeText(const char* in, size_t in_bytes, char* out, size_t cap);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_READER_H_
