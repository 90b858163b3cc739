// Implements job_group_table.h. Raw system calls only (src/base/sys.h):
// the owner publishes from its control agent and from the C ABI, never
// from inside malloc. Allocates: never.
//
// SYNCHRONIZATION
// - JobGroupEntry::state is JobMember's slot protocol: the claim CAS is
//   acq_rel, the stores of Active and Free are release and pair with the
//   acquire loads of readers and requesters, so one that sees Active also
//   sees the owner fields and the path written before.
// - The figures are a sequence lock: the owner stores seq + 1 (relaxed),
//   issues a release fence, stores the figures (relaxed), and stores
//   seq + 2 (release). A reader loads seq (acquire), the figures (relaxed),
//   issues an acquire fence and reloads seq: equal and even means the
//   figures are one publication's (job_reader.cc).
// - The request words follow job_control.cc's: values before the release
//   increment of request_seq (acquire load by the owner); answers before
//   the release store of answer_seq (acquire load by the requester).
#include "counter/job_group_table.h"
#include "counter/job_slots.h"

#include <climits>
#include <cstring>

#include "base/sys.h"

namespace memgroup::internal {
namespace {

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

void StoreFigures(JobGroupEntry* e, const JobGroupFigures& f) {
  // Relaxed: under the sequence lock (SYNCHRONIZATION).
  e->current.store(f.current, std::memory_order_relaxed);
  e->peak.store(f.peak, std::memory_order_relaxed);
  e->max.store(f.max, std::memory_order_relaxed);
  e->high.store(f.high, std::memory_order_relaxed);
  e->low.store(f.low, std::memory_order_relaxed);
  e->min.store(f.min, std::memory_order_relaxed);
  for (uint32_t k = 0; k < kJobGroupEvents; ++k) {
    e->events[k].store(f.events[k], std::memory_order_relaxed);
    e->events_local[k].store(f.events_local[k], std::memory_order_relaxed);
  }
  e->oom_policy.store(f.oom_policy, std::memory_order_relaxed);
  e->oom_wait_ns.store(f.oom_wait_ns, std::memory_order_relaxed);
  e->unpublished.store(f.unpublished, std::memory_order_relaxed);
  e->failcnt.store(f.failcnt, std::memory_order_relaxed);
  for (uint32_t k = 0; k < kJobGroupStats; ++k) {
    JobGroupStatAt(e, k).store(f.stat[k], std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < kJobGroupPressureAvgs; ++k) {
    e->pressure_avg[k].store(f.pressure_avg[k], std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < kJobGroupPressureKinds; ++k) {
    e->pressure_total_us[k].store(f.pressure_total_us[k],
                                  std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    e->crossings[k].store(f.crossings[k], std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < 2; ++k) {
    e->threshold_last[k].store(f.threshold_last[k], std::memory_order_relaxed);
  }
  // The time of this publication, not the caller's.
  e->published_ns.store(MonotonicNanos(), std::memory_order_relaxed);
}

bool Owned(const JobGroupEntry* e, pid_t pid, uint64_t start_ticks) {
  // Acquire: pairs with the release store of Active (the owner fields).
  return e->state.load(std::memory_order_acquire) == kMemberActive &&
         e->pid.load(std::memory_order_relaxed) == pid &&
         e->start_ticks.load(std::memory_order_relaxed) == start_ticks;
}

}  // namespace

uint32_t JobGroupUsed(const JobView& v) {
  if (v.group_entries == 0) return 0;
  // Acquire: pairs with the claimers' CAS that raised it; a value from the
  // shared block is clamped to our validated copy.
  const uint32_t used =
      JobGroupAreaOf(v)->used.load(std::memory_order_acquire);
  return used < v.group_entries ? used : v.group_entries;
}

bool JobGroupPathValid(const char* path, size_t bytes) {
  if (bytes == 0 || path[0] != '/') return false;
  size_t i = 1;
  size_t component = 0;
  for (; i < bytes && path[i] != '\0'; ++i) {
    if (path[i] == '/') {
      if (component == 0) return false;  // "//" or a leading "//"
      component = 0;
    } else if (NameChar(path[i])) {
      ++component;
    } else {
      return false;
    }
  }
  // NUL within the field, at least one component, no trailing '/'.
  return i < bytes && i < kJobGroupPathBytes && component > 0;
}

uint32_t JobGroupClaim(const JobView& v, uint32_t member_slot, pid_t pid,
                       uint64_t start_ticks, uint64_t group_id,
                       const char* path, const JobGroupFigures& f) {
  if (v.group_entries == 0 || member_slot >= v.slot_count) return kNoMember;
  const size_t len = strnlen(path, kJobGroupPathBytes);
  if (!JobGroupPathValid(path, len + 1 <= kJobGroupPathBytes ? len + 1 : len)) {
    return kNoMember;
  }
  JobGroupArea* area = JobGroupAreaOf(v);
  for (;;) {
    const uint32_t used = JobGroupUsed(v);
    for (uint32_t i = 0; i < used; ++i) {
      JobGroupEntry* e = JobGroupEntryAt(v, i);
      uint32_t expected = kMemberFree;
      // Relaxed pre-check, then acq_rel CAS, as JobClaimMember.
      if (e->state.load(std::memory_order_relaxed) != kMemberFree ||
          !e->state.compare_exchange_strong(expected, kMemberClaiming,
                                            std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        continue;
      }
      // Relaxed: published by the release store of Active below.
      e->pid.store(pid, std::memory_order_relaxed);
      e->member_slot.store(member_slot, std::memory_order_relaxed);
      e->start_ticks.store(start_ticks, std::memory_order_relaxed);
      e->group_id.store(group_id, std::memory_order_relaxed);
      memset(e->path, 0, sizeof(e->path));
      memcpy(e->path, path, len);
      // The request words start settled: nothing posted to the previous
      // owner is answered by this one. Relaxed: published by Active.
      const uint32_t req = e->request_seq.load(std::memory_order_relaxed);
      e->answer_seq.store(req, std::memory_order_relaxed);
      // Relaxed: published by the release store of Active.
      const uint32_t s = e->seq.load(std::memory_order_relaxed) & ~1u;
      e->seq.store(s, std::memory_order_relaxed);
      StoreFigures(e, f);
      // Release: pairs with readers' acquire loads of state.
      e->state.store(kMemberActive, std::memory_order_release);
      return i;
    }
    if (used >= v.group_entries) return kNoMember;  // full
    uint32_t expected = used;
    // acq_rel: one more entry in use; a racing claimer of it is decided by
    // the entry's own CAS above on our next pass.
    area->used.compare_exchange_strong(expected, used + 1,
                                       std::memory_order_acq_rel,
                                       std::memory_order_acquire);
  }
}

void JobGroupUpdate(const JobView& v, uint32_t i, const JobGroupFigures& f) {
  if (i >= v.group_entries) return;
  JobGroupEntry* e = JobGroupEntryAt(v, i);
  // Relaxed: only this owner writes seq; see SYNCHRONIZATION.
  const uint32_t s = e->seq.load(std::memory_order_relaxed) & ~1u;
  e->seq.store(s + 1, std::memory_order_relaxed);
  // Release fence: a reader that sees a figure below also sees seq odd.
  std::atomic_thread_fence(std::memory_order_release);
  StoreFigures(e, f);
  // Release: the figures before the even value (readers' acquire load).
  e->seq.store(s + 2, std::memory_order_release);
}

bool JobGroupFree(const JobView& v, uint32_t i, pid_t pid,
                  uint64_t start_ticks) {
  if (i >= v.group_entries) return false;
  JobGroupEntry* e = JobGroupEntryAt(v, i);
  if (!Owned(e, pid, start_ticks)) return false;
  uint32_t expected = kMemberActive;
  // acq_rel: exactly one releaser (the owner, or a dead member's releaser)
  // wins; the entry may be claimed again after the release store below.
  if (!e->state.compare_exchange_strong(expected, kMemberReleasing,
                                        std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
    return false;
  }
  // Release: pairs with a claimer's CAS.
  e->state.store(kMemberFree, std::memory_order_release);
  // A requester waiting on this entry sees it gone (JobGroupHolds).
  return true;
}

uint32_t JobGroupReleaseMember(const JobView& v, uint32_t member_slot,
                               pid_t pid, uint64_t start_ticks) {
  uint32_t released = 0;
  const uint32_t used = JobGroupUsed(v);
  for (uint32_t i = 0; i < used; ++i) {
    JobGroupEntry* e = JobGroupEntryAt(v, i);
    // Relaxed: compared only; JobGroupFree re-checks the owner with
    // acquire.
    if (e->member_slot.load(std::memory_order_relaxed) != member_slot) {
      continue;
    }
    if (JobGroupFree(v, i, pid, start_ticks)) ++released;
  }
  return released;
}

void JobGroupNoteFull(const JobView& v, pid_t pid, uint32_t count) {
  if (v.group_entries == 0) return;
  JobGroupArea* area = JobGroupAreaOf(v);
  // Relaxed: statistics (the pair may mix two members' notes; each value
  // is whole).
  area->full_pid.store(pid, std::memory_order_relaxed);
  area->full_count.store(count, std::memory_order_relaxed);
}

bool JobGroupPending(const JobView& v, uint32_t i, JobGroupRequest* req) {
  if (i >= v.group_entries) return false;
  JobGroupEntry* e = JobGroupEntryAt(v, i);
  // Acquire: pairs with JobGroupPost's release increment (the values).
  const uint32_t seq = e->request_seq.load(std::memory_order_acquire);
  // Relaxed: only the owner writes answer_seq.
  if (seq == e->answer_seq.load(std::memory_order_relaxed)) return false;
  req->seq = seq;
  // Relaxed: ordered by the acquire load above. The values are another
  // process's: the caller validates them as it would a program's.
  req->mask = e->request_mask.load(std::memory_order_relaxed) &
              kGroupRequestAll;
  for (uint32_t k = 0; k < kGroupValues; ++k) {
    req->value[k] = e->request_value[k].load(std::memory_order_relaxed);
  }
  req->oom_policy = e->request_oom.load(std::memory_order_relaxed);
  req->oom_wait_ns = e->request_oom_wait_ns.load(std::memory_order_relaxed);
  return true;
}

void JobGroupAnswer(const JobView& v, uint32_t i, uint32_t seq, int32_t err,
                    int64_t reclaimed, int64_t purged) {
  if (i >= v.group_entries) return;
  JobGroupEntry* e = JobGroupEntryAt(v, i);
  // Relaxed: published by the release store of answer_seq.
  e->answer_errno.store(err, std::memory_order_relaxed);
  e->reclaimed.store(reclaimed, std::memory_order_relaxed);
  e->purged.store(purged, std::memory_order_relaxed);
  // Release: pairs with JobGroupAnswered's acquire load.
  e->answer_seq.store(seq, std::memory_order_release);
  SysFutexWakeShared(reinterpret_cast<const uint32_t*>(&e->answer_seq),
                     INT_MAX);
}

bool JobGroupHolds(const JobView& v, uint32_t i, pid_t pid,
                   uint64_t start_ticks, uint64_t group_id) {
  if (i >= v.group_entries) return false;
  const JobGroupEntry* e = JobGroupEntryAt(v, i);
  // Relaxed group_id: ordered by Owned's acquire load of state.
  return Owned(e, pid, start_ticks) &&
         e->group_id.load(std::memory_order_relaxed) == group_id;
}

uint32_t JobGroupPost(const JobView& v, uint32_t i, pid_t pid,
                      uint64_t start_ticks, uint64_t group_id,
                      const JobGroupRequest& req, JobMember* owner) {
  if (!JobGroupHolds(v, i, pid, start_ticks, group_id)) return 0;
  JobGroupEntry* e = JobGroupEntryAt(v, i);
  // Relaxed: published by the release increment below.
  e->request_mask.store(req.mask & kGroupRequestAll,
                        std::memory_order_relaxed);
  for (uint32_t k = 0; k < kGroupValues; ++k) {
    e->request_value[k].store(req.value[k], std::memory_order_relaxed);
  }
  e->request_oom.store(req.oom_policy, std::memory_order_relaxed);
  e->request_oom_wait_ns.store(req.oom_wait_ns, std::memory_order_relaxed);
  // Release: pairs with the owner's acquire load (JobGroupPending).
  uint32_t seq = e->request_seq.fetch_add(1, std::memory_order_release) + 1;
  if (seq == 0) {
    // 0 means "not posted" to our caller: skip it (release, as above).
    seq = e->request_seq.fetch_add(1, std::memory_order_release) + 1;
  }
  // The agent sleeps on its member slot's request word: a wake without a
  // change makes it look at its entries (control_agent.cc).
  if (owner != nullptr) {
    SysFutexWakeShared(reinterpret_cast<const uint32_t*>(&owner->request_seq),
                       INT_MAX);
  }
  return seq;
}

bool JobGroupAnswered(const JobView& v, uint32_t i, uint32_t seq,
                      int32_t* err, int64_t* reclaimed, int64_t* purged) {
  if (i >= v.group_entries) return false;
  const JobGroupEntry* e = JobGroupEntryAt(v, i);
  // Acquire: pairs with JobGroupAnswer's release store.
  if (e->answer_seq.load(std::memory_order_acquire) != seq) return false;
  // Relaxed: ordered by the acquire load above; clamped (another
  // process's values).
  const int64_t r = e->reclaimed.load(std::memory_order_relaxed);
  const int64_t p = e->purged.load(std::memory_order_relaxed);
  *err = e->answer_errno.load(std::memory_order_relaxed);
  *reclaimed = r > 0 ? r : 0;
  *purged = p > 0 ? p : 0;
  return true;
}

}  // namespace memgroup::internal
