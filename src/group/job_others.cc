// What a member does to the other members of a job at a refusal at a job
// level (job_member.h): asks their control agents for their free engine
// pages and waits for the answers, chooses the member to kill and kills
// members for the OOM policies, and waits for a killed member's slot to
// be released.
//
// SYNCHRONIZATION
// - The shared blocks follow counter/job_block.h; the requests of
//   JobAskOthersForFreePages follow its "Control requests".
// - g_last_ask_ns: relaxed, a rate limit (see its use).
#include <signal.h>

#include <atomic>
#include <climits>
#include <cstdint>

#include "base/sys.h"
#include "counter/job_slots.h"
#include "group/job_member.h"

namespace memgroup::internal {
namespace {

// JobAskOthersForFreePages: when this process last asked (monotonic ns; 0:
// never), the members it waits for at most, and the futex wait's slice
// (it looks at every member it waits for after each).
constinit std::atomic<int64_t> g_last_ask_ns{0};
constexpr uint32_t kMaxAskWaits = 64;
constexpr int64_t kAskPollNs = 10'000'000;  // 10 ms

}  // namespace

int64_t JobAskOthersForFreePages(uint32_t refusing, bool throttled) {
  uint32_t own_slot = kNoMember;
  const JobView* view = JobLevelView(refusing, &own_slot);
  if (view == nullptr) return 0;
  const int64_t start = MonotonicNanos();
  if (throttled) {
    // Relaxed: a rate limit; two threads passing it at once ask twice,
    // and the second finds the first's requests pending.
    const int64_t last = g_last_ask_ns.load(std::memory_order_relaxed);
    if (last != 0 && start - last < kJobAskIntervalNs) return 0;
  }
  // Relaxed: as above.
  g_last_ask_ns.store(start, std::memory_order_relaxed);
  const JobView& v = *view;
  const int32_t self = SysGetpid();
  struct Asked {
    JobMember* m;
    uint32_t seq;
  };
  Asked asked[kMaxAskWaits];
  uint32_t n = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    if (i == own_slot) continue;
    JobMember* m = v.member(i);
    // Acquire: pairs with the release store of Active (pid).
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // Relaxed: ordered by the acquire above.
    const int32_t pid = m->pid.load(std::memory_order_relaxed);
    if (pid <= 1 || pid == self) continue;
    // Acquire: pairs with JobAgentListen's release store (a listening
    // agent's answer_seq is settled).
    if (m->agent_tid.load(std::memory_order_acquire) == 0) continue;
    if (JobRequestPending(m)) continue;
    const uint32_t seq = JobNudgeAgent(m);
    // Beyond kMaxAskWaits members are asked but not waited for.
    if (n < kMaxAskWaits) asked[n++] = Asked{m, seq};
  }
  const int64_t deadline = start + kJobAskWaitNs;
  int64_t returned = 0;
  for (;;) {
    const uint32_t* word = nullptr;
    uint32_t expected = 0;
    for (uint32_t k = 0; k < n; ++k) {
      if (asked[k].m == nullptr) continue;
      int64_t reclaimed = 0, purged = 0;
      if (JobAnswered(asked[k].m, asked[k].seq, &reclaimed, &purged)) {
        // Clamped at 0 by JobAnswered; summed without overflow.
        returned = purged > INT64_MAX - returned ? INT64_MAX
                                                 : returned + purged;
        asked[k].m = nullptr;
        continue;
      }
      if (word == nullptr) {
        word = reinterpret_cast<const uint32_t*>(&asked[k].m->answer_seq);
        // Relaxed: the futex's expected value only; JobAnswered reads the
        // answer with acquire.
        expected = asked[k].m->answer_seq.load(std::memory_order_relaxed);
      }
    }
    if (word == nullptr) break;  // every member asked answered
    const int64_t now = MonotonicNanos();
    if (now >= deadline) break;
    int64_t wait = deadline - now;
    if (wait > kAskPollNs) wait = kAskPollNs;
    SysFutexWaitShared(word, expected, wait);
  }
  return returned;
}

uint32_t JobKillOtherMembers(int64_t* bytes, uint32_t refusing) {
  *bytes = 0;
  const JobView* view = JobLevelView(refusing, nullptr);
  if (view == nullptr) return 0;
  const JobView& v = *view;
  const int32_t self = SysGetpid();
  // Two passes: every victim is counted before the first signal, since the
  // supervisor writes the stats as soon as the program (maybe a victim) is
  // gone; then each is signalled if /proc still shows the member.
  uint32_t killed = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t i = 0; i < v.slot_count; ++i) {
      JobMember* m = v.member(i);
      // Acquire: pairs with the release store of Active (pid, start time).
      if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
      // Relaxed: ordered by the acquire above.
      const int32_t pid = m->pid.load(std::memory_order_relaxed);
      const uint64_t want = m->start_ticks.load(std::memory_order_relaxed);
      if (pid <= 1 || pid == self) continue;
      // Never signal a process that is not the member the slot names.
      uint64_t start = 0;
      bool alive = false;
      if (!ReadProcStart(pid, &start, &alive) || !alive || start != want) {
        continue;
      }
      if (pass == 0) {
        RaiseJobEvent(kEventOomKill, refusing);
        continue;
      }
      // Relaxed: a statistic for the report.
      *bytes += m->charged.load(std::memory_order_relaxed);
      SysKill(pid, SIGKILL);
      ++killed;
    }
  }
  return killed;
}

int32_t JobChooseVictim(int64_t* victim_bytes, uint32_t refusing) {
  *victim_bytes = 0;
  const JobView* view = JobLevelView(refusing, nullptr);
  if (view == nullptr) return 0;
  const JobView& v = *view;
  int32_t victim = 0;
  uint64_t victim_start = 0;
  int64_t best = -1;
  // First the members outside child jobs within their protection (--min,
  // --low of a nested job), then, if there is none, any member.
  for (int pass = 0; pass < 2 && victim == 0; ++pass) {
    for (uint32_t i = 0; i < v.slot_count; ++i) {
      JobMember* m = v.member(i);
      // Acquire: pairs with the release store of Active (pid, start time).
      if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
      // Relaxed: a snapshot; the choice is a heuristic, as the kernel's.
      int64_t bytes = m->charged.load(std::memory_order_relaxed);
      int32_t pid = m->pid.load(std::memory_order_relaxed);
      if (pid <= 1 || bytes <= best) continue;
      if (pass == 0 &&
          JobChildProtected(v, m->child_job.load(std::memory_order_relaxed))) {
        continue;
      }
      best = bytes;
      victim = pid;
      victim_start = m->start_ticks.load(std::memory_order_relaxed);
    }
  }
  if (victim == 0) return 0;
  // Never signal a process that is not the member the slot names (a pid
  // reused by another process of this user).
  uint64_t start = 0;
  bool alive = false;
  if (!ReadProcStart(victim, &start, &alive) || !alive ||
      start != victim_start) {
    JobReleaseDead(v);
    return 0;
  }
  *victim_bytes = best;
  return victim;
}

void JobAwaitRelease(int32_t pid, int64_t timeout_ns, uint32_t refusing) {
  const JobView* view = JobLevelView(refusing, nullptr);
  if (view == nullptr) return;
  const JobView& v = *view;
  const int64_t deadline = MonotonicNanos() + timeout_ns;
  for (;;) {
    bool named = false;
    for (uint32_t i = 0; i < v.slot_count; ++i) {
      JobMember* m = v.member(i);
      // Acquire: as JobChooseVictim.
      if (m->state.load(std::memory_order_acquire) == kMemberActive &&
          m->pid.load(std::memory_order_relaxed) == pid) {
        named = true;
        break;
      }
    }
    if (!named) return;
    JobReleaseDead(v);
    if (MonotonicNanos() >= deadline) return;
    SleepNanos(1'000'000);
  }
}

}  // namespace memgroup::internal
