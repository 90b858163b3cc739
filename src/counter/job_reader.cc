// Implements job_reader.h.
//
// SYNCHRONIZATION
// - Counters of the job node: one relaxed load each. They are independent
//   statistics written with relaxed or seq_cst RMWs by members; a reader
//   needs each value whole, not an order between them (as reading
//   memory.current and memory.peak one after the other).
// - Member slots: state is loaded with acquire (pairs with the release
//   store of Active in JobClaimMember, so pid and start time of that claim
//   are visible), the fields relaxed, then an acquire fence, an acquire
//   reload of state and relaxed reloads of pid and start time: if any
//   changed, the slot was released or reclaimed meanwhile (or the pair was
//   read across a reclaim) and is skipped, never waited for. charged and
//   peak are statistics of that slot read somewhere in that interval. The
//   root crossings are read after, under the slot's sequence lock
//   (job_slots.cc), at most kJobRootReadTries times.
// - The job's stall accounting: job_pressure.cc's two loads. A
//   slot marked kExecSpawned (acquire, after the state) is no member; a
//   mark cleared or set while the slot is read just moves the slot in or
//   out of this snapshot.
// - Group entries: state loaded with acquire (pairs with the owner's
//   release store of Active: owner fields and path visible), then the
//   figures under the sequence lock (job_group_table.cc: acquire load of
//   seq, relaxed figures, acquire fence, relaxed reload), then an acquire
//   reload of state and the owner fields: changed means freed or reclaimed
//   meanwhile, and the entry is skipped.
#include "counter/job_reader.h"
#include "counter/job_pressure.h"
#include "counter/job_slots.h"

#include <atomic>
#include <cstring>

#include "base/sys.h"

namespace memgroup::internal {
namespace {

bool Continuation(unsigned char c) { return (c & 0xc0) == 0x80; }

// Length of the well-formed UTF-8 sequence at p (n bytes available), or 0.
size_t Utf8Length(const unsigned char* p, size_t n) {
  const unsigned char c = p[0];
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (!Continuation(p[k])) return 0;
  }
  return len;
}

// a + b within the int64 range (a hostile block's figures may be any).
int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

}  // namespace

void SanitizeText(const char* in, size_t in_bytes, char* out, size_t cap) {
  const auto* p = reinterpret_cast<const unsigned char*>(in);
  size_t n = 0;
  while (n < in_bytes && p[n] != 0) ++n;
  size_t o = 0;
  size_t i = 0;
  while (i < n && o + 1 < cap) {
    const unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f) {
      out[o++] = static_cast<char>(c);
      ++i;
      continue;
    }
    const size_t len = c >= 0x80 ? Utf8Length(p + i, n - i) : 0;
    // A stray byte, or a C1 control (U+0080..U+009F: terminals act on
    // some), is one '?'.
    if (len == 0 || (c == 0xc2 && p[i + 1] < 0xa0)) {
      out[o++] = '?';
      i += len == 0 ? 1 : len;
      continue;
    }
    if (o + len + 1 > cap) break;  // never cut a sequence
    memcpy(out + o, p + i, len);
    o += len;
    i += len;
  }
  out[o] = '\0';
}

namespace {

void LoadFigures(const JobGroupEntry* e, JobGroupFigures* f) {
  // Relaxed: under the sequence lock (SYNCHRONIZATION).
  f->current = e->current.load(std::memory_order_relaxed);
  f->peak = e->peak.load(std::memory_order_relaxed);
  f->max = e->max.load(std::memory_order_relaxed);
  f->high = e->high.load(std::memory_order_relaxed);
  f->low = e->low.load(std::memory_order_relaxed);
  f->min = e->min.load(std::memory_order_relaxed);
  for (uint32_t k = 0; k < kJobGroupEvents; ++k) {
    f->events[k] = e->events[k].load(std::memory_order_relaxed);
    f->events_local[k] = e->events_local[k].load(std::memory_order_relaxed);
  }
  f->oom_policy = e->oom_policy.load(std::memory_order_relaxed);
  f->oom_wait_ns = e->oom_wait_ns.load(std::memory_order_relaxed);
  f->unpublished = e->unpublished.load(std::memory_order_relaxed);
  // Any value is taken: the figures are only printed, never a bound.
  f->failcnt = e->failcnt.load(std::memory_order_relaxed);
  for (uint32_t k = 0; k < kJobGroupStats; ++k) {
    f->stat[k] = JobGroupStatAt(e, k).load(std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < kJobGroupPressureAvgs; ++k) {
    f->pressure_avg[k] = e->pressure_avg[k].load(std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < kJobGroupPressureKinds; ++k) {
    f->pressure_total_us[k] =
        e->pressure_total_us[k].load(std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    f->crossings[k] = e->crossings[k].load(std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < 2; ++k) {
    f->threshold_last[k] = e->threshold_last[k].load(std::memory_order_relaxed);
  }
  f->published_ns = e->published_ns.load(std::memory_order_relaxed);
}

// One entry into *g if it is consistent (see the header comment), its
// owner accepted by `owner_ok(*g)` (called with the owner fields and path
// read, before the figures).
template <typename OwnerOk>
bool ReadEntry(const JobView& v, uint32_t i, OwnerOk owner_ok,
               JobGroupSnapshot* g) {
  const JobGroupEntry* e = JobGroupEntryAt(v, i);
  // Acquire: pairs with the owner's release store of Active.
  if (e->state.load(std::memory_order_acquire) != kMemberActive) return false;
  // Relaxed: ordered after the acquire above.
  g->entry = i;
  g->pid = e->pid.load(std::memory_order_relaxed);
  g->member_slot = e->member_slot.load(std::memory_order_relaxed);
  g->start_ticks = e->start_ticks.load(std::memory_order_relaxed);
  g->group_id = e->group_id.load(std::memory_order_relaxed);
  memcpy(g->path, e->path, sizeof(g->path));  // a private copy, checked
  if (!JobGroupPathValid(g->path, sizeof(g->path))) return false;
  if (!owner_ok(*g)) return false;
  bool whole = false;
  for (uint32_t t = 0; t < kJobGroupReadTries && !whole; ++t) {
    // Acquire: pairs with the owner's release store of an even seq.
    const uint32_t s1 = e->seq.load(std::memory_order_acquire);
    LoadFigures(e, &g->figures);
    // Acquire fence: the figure loads before the reload below.
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint32_t s2 = e->seq.load(std::memory_order_relaxed);
    whole = s1 == s2 && (s1 & 1) == 0;
  }
  if (!whole) return false;
  g->read_ns = MonotonicNanos();
  // Acquire fence, then the owner fields again: the same claim throughout.
  std::atomic_thread_fence(std::memory_order_acquire);
  return e->state.load(std::memory_order_acquire) == kMemberActive &&
         e->pid.load(std::memory_order_relaxed) == g->pid &&
         e->member_slot.load(std::memory_order_relaxed) == g->member_slot &&
         e->start_ticks.load(std::memory_order_relaxed) == g->start_ticks &&
         e->group_id.load(std::memory_order_relaxed) == g->group_id;
}

// An entry of a member of this snapshot (slot, pid, start time); the slot
// is only compared, never used as an index.
bool ReadGroup(const JobView& v, uint32_t i, const JobMemberSnapshot* members,
               uint32_t stored, JobGroupSnapshot* g) {
  return ReadEntry(
      v, i,
      [&](const JobGroupSnapshot& r) {
        for (uint32_t k = 0; k < stored; ++k) {
          if (members[k].slot == r.member_slot && members[k].pid == r.pid &&
              members[k].start_ticks == r.start_ticks) {
            return true;
          }
        }
        return false;
      },
      g);
}

}  // namespace

JobError JobReadSnapshot(const uint8_t* base, size_t bytes, JobSnapshot* out,
                         JobMemberSnapshot* members, uint32_t capacity,
                         JobGroupSnapshot* groups, uint32_t group_capacity) {
  *out = JobSnapshot{};
  if (reinterpret_cast<uintptr_t>(base) % alignof(JobNode) != 0 &&
      bytes >= kJobHeaderBytes) {
    return JobError::kBadLayout;
  }
  uint32_t slots = 0;
  uint32_t chunks = 0;
  uint32_t entries = 0;
  JobError e = JobValidate(base, bytes, &slots, &chunks, &entries);
  if (e != JobError::kOk) return e;
  // A private copy of the header: nothing below re-reads the mapping's.
  JobHeader h;
  memcpy(&h, base, sizeof(h));
  out->slot_count = slots;
  out->supervisor_pid = h.supervisor_pid;
  out->start_ticks = h.start_ticks;
  out->start_unix_ns = h.start_unix_ns;
  SanitizeText(h.command, sizeof(h.command), out->command,
               sizeof(out->command));

  const JobView v{const_cast<uint8_t*>(base), bytes, slots, chunks, entries};
  const JobNode* n = v.node();
  // Relaxed loads: see SYNCHRONIZATION (independent statistics).
  out->current = n->counter.usage.load(std::memory_order_relaxed);
  out->peak = n->counter.watermark.load(std::memory_order_relaxed);
  out->max = n->counter.max.load(std::memory_order_relaxed);
  out->high = n->counter.high.load(std::memory_order_relaxed);
  out->failcnt = n->counter.failcnt.load(std::memory_order_relaxed);
  for (uint32_t k = 0; k < kJobEventCount; ++k) {
    out->events[k] = n->events[k].load(std::memory_order_relaxed);
    out->events_local[k] = n->events_local[k].load(std::memory_order_relaxed);
  }
  out->oom_policy = n->oom_policy.load(std::memory_order_relaxed);
  out->oom_wait_ns = n->oom_wait_ns.load(std::memory_order_relaxed);
  out->throttled_ns = n->throttled_ns.load(std::memory_order_relaxed);
  out->waiters = n->waiters.load(std::memory_order_relaxed);
  for (uint32_t k = 0; k < 3; ++k) {
    out->some_avg[k] = n->some_avg[k].load(std::memory_order_relaxed);
  }
  // The stall total: two loads in job_pressure.cc's order (never a
  // period twice).
  const int64_t now = MonotonicNanos();
  out->some_ns = JobStallSomeNs(n, now);
  out->stalled_members = JobStalledMembers(n);
  for (uint32_t k = 0; k < 3; ++k) {
    // Relaxed: as some_avg (SYNCHRONIZATION).
    out->full_avg[k] = n->full_avg[k].load(std::memory_order_relaxed);
  }
  out->full_ns = JobStallFullNs(n, now);
  JobFullMembers(n, &out->full_running, &out->full_stalled);
  bool any_unpublished = false;

  for (uint32_t i = 0; i < slots; ++i) {  // the validated copy bounds it
    const JobMember* m = v.member(i);
    // Acquire: pairs with the release store of Active (SYNCHRONIZATION).
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // A slot a member claimed for a child it spawned names no member until
    // the child's image rejoins it (job_block.h, "Spawned children").
    if (JobSpawnPending(m)) continue;
    JobMemberSnapshot s;
    s.slot = i;
    // Relaxed: ordered after the acquire above.
    s.pid = m->pid.load(std::memory_order_relaxed);
    s.start_ticks = m->start_ticks.load(std::memory_order_relaxed);
    s.charged = m->charged.load(std::memory_order_relaxed);
    s.peak = m->peak.load(std::memory_order_relaxed);
    // Acquire fence: the field loads above are ordered before the reloads
    // below. The reload of state is acquire too, so the pid and start time
    // reloaded after it are at least those of the claim it sees: equal
    // pairs mean (pid, start time) belong to one claim (see
    // SYNCHRONIZATION; state alone could go Active -> Free -> Active).
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint32_t state2 = m->state.load(std::memory_order_acquire);
    // Relaxed: ordered after the acquire above.
    const int32_t pid2 = m->pid.load(std::memory_order_relaxed);
    const uint64_t start2 = m->start_ticks.load(std::memory_order_relaxed);
    if (state2 != kMemberActive || pid2 != s.pid ||
        start2 != s.start_ticks || s.pid <= 0) {
      ++out->members_skipped;
      continue;
    }
    // The root crossings under their own sequence lock (a few tries, never
    // waited on); a slot that changed owner meanwhile is caught by the
    // next snapshot, as its charged and peak would be.
    s.root_whole =
        JobReadRootCrossings(m, s.root_crossings, s.root_threshold_last);
    if (!s.root_whole) {
      for (uint64_t& c : s.root_crossings) c = 0;
      s.root_threshold_last[0] = s.root_threshold_last[1] = -1;
    }
    // The root stat bytes: independent relaxed figures (job_slots.h),
    // summed, never used as a bound.
    s.stat_ns = JobReadRootStat(m, s.stat);
    for (uint32_t k = 0; k < kJobRootStats; ++k) {
      out->stat[k] = SaturatingAdd(out->stat[k], s.stat[k]);
    }
    if (s.stat_ns <= 0) {
      any_unpublished = true;
    } else if (out->stat_oldest_ns == 0 || s.stat_ns < out->stat_oldest_ns) {
      out->stat_oldest_ns = s.stat_ns;
    }
    if (out->members_stored < capacity) members[out->members_stored++] = s;
    ++out->members;
  }
  if (any_unpublished) out->stat_oldest_ns = 0;

  out->group_entries = entries;
  if (entries == 0) return JobError::kOk;
  const JobGroupArea* area = JobGroupAreaOf(v);
  // Relaxed: statistics.
  out->groups_full_pid = area->full_pid.load(std::memory_order_relaxed);
  out->groups_full_count = area->full_count.load(std::memory_order_relaxed);
  const uint32_t used = JobGroupUsed(v);  // clamped to the validated count
  for (uint32_t i = 0; i < used; ++i) {
    JobGroupSnapshot g;
    // Acquire: pairs with the owner's release store of Active.
    if (JobGroupEntryAt(v, i)->state.load(std::memory_order_acquire) !=
        kMemberActive) {
      continue;
    }
    if (!ReadGroup(v, i, members, out->members_stored, &g)) {
      ++out->groups_skipped;
      continue;
    }
    if (groups != nullptr && out->groups_stored < group_capacity) {
      groups[out->groups_stored++] = g;
    }
    ++out->groups;
  }
  return JobError::kOk;
}

bool JobReadGroupAgain(const JobView& v, const JobGroupSnapshot& was,
                       JobGroupSnapshot* out) {
  if (was.entry >= v.group_entries) return false;  // the view's own bound
  return ReadEntry(
      v, was.entry,
      [&](const JobGroupSnapshot& r) {
        return r.pid == was.pid && r.member_slot == was.member_slot &&
               r.start_ticks == was.start_ticks && r.group_id == was.group_id &&
               strncmp(r.path, was.path, sizeof(r.path)) == 0;
      },
      out);
}

}  // namespace memgroup::internal
