// Implements job_reclaim.h.
//
// SYNCHRONIZATION
// - Member slots are read as the other readers do (acquire load of state,
//   then the fields); the request and answer words follow
//   counter/job_block.h ("Control requests"). The caller holds the block's
//   flock, so no other requester posts to these slots meanwhile.
#include "cli/job_reclaim.h"

#include <sys/stat.h>

#include <climits>

#include "absl/strings/str_cat.h"
#include "base/sys.h"
#include "counter/job_slots.h"

namespace memgroup::internal::cli {
namespace {

int64_t AddSat(int64_t a, int64_t b) {
  if (a < 0) a = 0;
  if (b < 0) b = 0;
  return a > INT64_MAX - b ? INT64_MAX : a + b;
}

// bytes * part / whole, rounded up, without overflow (whole > 0).
int64_t ShareOf(int64_t bytes, int64_t part, int64_t whole) {
  const __int128 q =
      (static_cast<__int128>(bytes) * part + whole - 1) / whole;
  return q > INT64_MAX ? INT64_MAX : static_cast<int64_t>(q);
}

struct Slot {
  size_t member = 0;  // index in ReclaimOutcome::members
  uint32_t index = 0;
  uint64_t start_ticks = 0;
  int64_t charged = 0;
  int32_t agent_tid = 0;
};

// Whether thread `tid` of process `pid` exists (the member's agent: an
// exec into an image that did not rejoin the job keeps the pid and start
// time but not the thread).
bool ThreadExists(pid_t pid, int32_t tid) {
  const std::string path = absl::StrCat("/proc/", pid, "/task/", tid);
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

struct Posted {
  size_t slot = 0;  // index in the slot list
  uint32_t seq = 0;
  int64_t share = 0;
  bool done = false;
};

// Posts each share and waits for the answers until `deadline` (monotonic
// ns), adding them to the outcome.
void PostAndAwait(const JobView& v, const std::vector<Slot>& slots,
                  std::vector<Posted>* posted, ReclaimOutcome* out,
                  int64_t deadline) {
  for (Posted& p : *posted) {
    const Slot& s = slots[p.slot];
    MemberReclaim& m = out->members[s.member];
    p.seq = JobPostRequest(v.member(s.index), p.share);
    m.asked = AddSat(m.asked, p.share);
  }
  int64_t next_liveness = MonotonicNanos() + 50'000'000;
  for (;;) {
    const uint32_t* wait_word = nullptr;
    uint32_t wait_value = 0;
    for (Posted& p : *posted) {
      if (p.done) continue;
      const Slot& s = slots[p.slot];
      MemberReclaim& m = out->members[s.member];
      JobMember* slot = v.member(s.index);
      int64_t reclaimed = 0, purged = 0;
      if (JobAnswered(slot, p.seq, &reclaimed, &purged)) {
        m.reclaimed = AddSat(m.reclaimed, reclaimed);
        m.purged = AddSat(m.purged, purged);
        m.reply = MemberReply::kAnswered;
        p.done = true;
        continue;
      }
      if (wait_word == nullptr) {
        wait_word = reinterpret_cast<const uint32_t*>(&slot->answer_seq);
        // Relaxed: only the futex's expected value; the answer is read with
        // acquire by JobAnswered.
        wait_value = slot->answer_seq.load(std::memory_order_relaxed);
      }
    }
    if (wait_word == nullptr) return;  // every share answered
    const int64_t now = MonotonicNanos();
    if (now >= deadline) {
      for (Posted& p : *posted) {
        if (!p.done) out->members[slots[p.slot].member].reply =
            MemberReply::kTimeout;
      }
      return;
    }
    if (now >= next_liveness) {
      next_liveness = now + 50'000'000;
      for (Posted& p : *posted) {
        if (p.done) continue;
        const Slot& s = slots[p.slot];
        MemberReclaim& m = out->members[s.member];
        uint64_t start = 0;
        bool alive = false;
        if (!ReadProcStart(m.pid, &start, &alive) || !alive ||
            start != s.start_ticks) {
          m.reply = MemberReply::kExited;
          p.done = true;
        } else if (!ThreadExists(m.pid, s.agent_tid)) {
          m.reply = MemberReply::kNoAgent;
          p.done = true;
        }
      }
    }
    int64_t wait = deadline - now;
    if (wait > 10'000'000) wait = 10'000'000;
    SysFutexWaitShared(wait_word, wait_value, wait);
  }
}

}  // namespace

const char* MemberReplyString(MemberReply r) {
  switch (r) {
    case MemberReply::kAnswered: return "answered";
    case MemberReply::kNoAgent: return "no_agent";
    case MemberReply::kTimeout: return "timeout";
    case MemberReply::kExited: return "exited";
  }
  return "unknown";
}

int64_t ReclaimOutcome::released() const { return AddSat(reclaimed, purged); }

uint32_t ReclaimOutcome::answered() const {
  uint32_t n = 0;
  for (const MemberReclaim& m : members) {
    if (m.reply == MemberReply::kAnswered) ++n;
  }
  return n;
}

ReclaimOutcome ReclaimMembers(const JobView& v, int64_t bytes,
                              int64_t timeout_ns) {
  ReclaimOutcome out;
  out.requested = bytes < 0 ? 0 : bytes;
  JobNode* node = v.node();
  // Relaxed: a figure for the report.
  out.current_before = node->counter.usage.load(std::memory_order_relaxed);
  std::vector<Slot> slots;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    JobMember* m = v.member(i);
    // Acquire: pairs with the release store of Active (pid, start time).
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // Relaxed: ordered by the acquire above.
    const int32_t pid = m->pid.load(std::memory_order_relaxed);
    if (pid <= 0) continue;
    MemberReclaim r;
    r.pid = pid;
    // Acquire: pairs with JobAgentListen's release store (answer_seq is
    // settled before the tid is seen).
    const int32_t agent_tid = m->agent_tid.load(std::memory_order_acquire);
    const bool agent = agent_tid > 0;
    r.reply = agent ? MemberReply::kTimeout : MemberReply::kNoAgent;
    out.members.push_back(r);
    if (!agent) continue;
    Slot s;
    s.member = out.members.size() - 1;
    s.index = i;
    s.agent_tid = agent_tid;
    // Relaxed: ordered by the acquire of state; a figure for the share.
    s.start_ticks = m->start_ticks.load(std::memory_order_relaxed);
    const int64_t c = m->charged.load(std::memory_order_relaxed);
    s.charged = c > 0 ? c : 0;
    slots.push_back(s);
  }
  const int64_t deadline = MonotonicNanos() + timeout_ns;
  // Round 1: every member with an agent, by its share of the charge.
  // Round 2: what is missing, from those that gave at least their share.
  std::vector<size_t> candidates;
  for (size_t k = 0; k < slots.size(); ++k) candidates.push_back(k);
  int64_t missing = out.requested;
  for (int round = 0; round < 2 && !candidates.empty(); ++round) {
    if (round == 1 && missing <= 0) break;
    int64_t whole = 0;
    for (size_t k : candidates) whole = AddSat(whole, slots[k].charged);
    std::vector<Posted> posted;
    for (size_t k : candidates) {
      Posted p;
      p.slot = k;
      p.share = whole > 0
                    ? ShareOf(missing, slots[k].charged, whole)
                    : ShareOf(missing, 1,
                              static_cast<int64_t>(candidates.size()));
      posted.push_back(p);
    }
    if (round == 1) {
      // Only members with something to give are asked again.
      std::vector<Posted> keep;
      for (const Posted& p : posted) {
        if (p.share > 0) keep.push_back(p);
      }
      posted.swap(keep);
      if (posted.empty()) break;
    }
    PostAndAwait(v, slots, &posted, &out, deadline);
    out.reclaimed = 0;
    out.purged = 0;
    for (const MemberReclaim& m : out.members) {
      out.reclaimed = AddSat(out.reclaimed, m.reclaimed);
      out.purged = AddSat(out.purged, m.purged);
    }
    missing = out.requested - out.released();
    if (missing <= 0) break;
    std::vector<size_t> next;
    for (const Posted& p : posted) {
      const MemberReclaim& m = out.members[slots[p.slot].member];
      if (m.reply == MemberReply::kAnswered && p.share > 0 &&
          AddSat(m.reclaimed, m.purged) >= m.asked) {
        next.push_back(p.slot);
      }
    }
    candidates.swap(next);
  }
  // Relaxed: a figure for the report.
  out.current_after = node->counter.usage.load(std::memory_order_relaxed);
  return out;
}

std::vector<std::string> UnansweredNotes(const ReclaimOutcome& o,
                                         int64_t timeout_ns) {
  std::vector<std::string> notes;
  for (const MemberReclaim& m : o.members) {
    switch (m.reply) {
      case MemberReply::kAnswered:
        break;
      case MemberReply::kNoAgent:
        notes.push_back(absl::StrCat(
            "member ", m.pid,
            " has no control agent (it has not started one yet, could not, "
            "runs with MEMGROUP_CONTROL=0, or exec'd a program that did not "
            "rejoin the job), so it was not asked"));
        break;
      case MemberReply::kTimeout:
        notes.push_back(absl::StrCat("member ", m.pid,
                                     " did not answer within ",
                                     timeout_ns / 1'000'000, " ms"));
        break;
      case MemberReply::kExited:
        notes.push_back(
            absl::StrCat("member ", m.pid, " exited before answering"));
        break;
    }
  }
  return notes;
}

}  // namespace memgroup::internal::cli
