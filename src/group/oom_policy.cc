// Implements oom_policy.h.
//
// SYNCHRONIZATION
// - Waiters sleep on GroupState::wake_seq (futex) with a short timeout;
//   NotifyLimitChanged bumps it (release) and wakes. A waiter re-drains and
//   retries after every wake-up or timeout; the futex compares against the
//   value read before the retry, so no wake-up is lost.
// - No lock is held while the handler runs or while waiting.
#include "group/oom_policy.h"

#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "base/raw_log.h"
#include "base/sys.h"
#include "group/job_member.h"
#include "group/oom_handler.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/refusal_notice.h"
#include "group/stats_report.h"
#include "group/thresholds.h"

namespace memgroup::internal {
namespace {

constexpr int kMaxHandlerRounds = 16;        // kernel MAX_RECLAIM_RETRIES
constexpr int64_t kWaitPollNs = 10'000'000;  // 10 ms
constexpr int kMaxJobKills = 16;
constexpr int64_t kKillReleaseWaitNs = 5'000'000'000;  // 5 s

// The process subtree a refusal at `refusing` drains (the whole process for
// the job node).
uint32_t LocalLevel(uint32_t refusing) {
  return IsJobLevel(refusing) ? kRootGroup : refusing;
}

// Whether the caller has a stall of `group` open around DrainAndRetry.
enum class InStall { kNo, kYes };

// Drains and retries a charge already refused; for the job also releases
// dead members first, revokes the other members' stocks and asks them for
// their free engine pages (at most every kJobAskIntervalNs: this runs at
// every poll of `wait`). The wait for their answers is a stall of `group`
// (as reclaim is, charger.cc): one is opened around it unless the caller
// has one open (`wait`). Frees since the refusal may have left their
// charge as free engine pages: those go back first.
ChargeResult DrainAndRetry(uint32_t group, uint32_t refusing, int64_t bytes,
                           uint32_t* failed, InStall in_stall) {
  if (IsJobLevel(refusing)) {
    JobReleaseDeadMembers();
    JobRevokeOtherStocks(refusing);
    const int64_t start = in_stall == InStall::kNo ? MonotonicNanos() : 0;
    if (in_stall == InStall::kNo) StallBegin(group);
    (void)JobAskOthersForFreePages(refusing, /*throttled=*/true);
    if (in_stall == InStall::kNo) {
      StallEnd(group, StallKind::kReclaim, MonotonicNanos() - start);
    }
  }
  (void)ReturnFreePagesOf(LocalLevel(refusing));
  GlobalRegistry().stocks().DrainSubtree(LocalLevel(refusing));
  return RetryCharge(group, bytes, failed);
}

using PolicyFn = ChargeResult (*)(uint32_t group, uint32_t refusing,
                                  int64_t bytes);

ChargeResult OomEnomem(uint32_t, uint32_t, int64_t) {
  return ChargeResult::kOverLimit;
}

[[noreturn]] ChargeResult OomAbort(uint32_t, uint32_t refusing,
                                   int64_t bytes) {
  WriteOomReport(refusing, bytes, "abort");
  abort();
}

// memory.oom.group at the job level: every member gets SIGKILL, this
// process last.
[[noreturn]] ChargeResult OomKillJobGroup(uint32_t refusing, int64_t bytes) {
  WriteOomReport(refusing, bytes, "kill");
  // Counted before any kill: the supervisor writes the stats as soon as the
  // program is gone. JobKillOtherMembers counts each member it signals.
  GlobalRegistry().RaiseEvent(refusing, kEventOomKill);
  int64_t others_bytes = 0;
  const uint32_t others = JobKillOtherMembers(&others_bytes, refusing);
  RawPrint(2,
           "memgroup: out of memory in the job: killed every member (%u "
           "others, charged %lld bytes, and %d) for a charge of %lld bytes\n",
           others, static_cast<long long>(others_bytes),
           static_cast<int>(SysGetpid()), static_cast<long long>(bytes));
  kill(SysGetpid(), SIGKILL);
  _exit(137);
}

// memcg's OOM killer at the job level: SIGKILL the member with the largest
// charge (possibly this process), wait until it is released, retry.
ChargeResult OomKillJob(uint32_t group, uint32_t refusing, int64_t bytes) {
  if (JobOomGroup(refusing)) return OomKillJobGroup(refusing, bytes);
  for (int round = 0; round < kMaxJobKills; ++round) {
    int64_t victim_bytes = 0;
    int32_t victim = JobChooseVictim(&victim_bytes, refusing);
    if (victim != 0) {
      GlobalRegistry().RaiseEvent(refusing, kEventOomKill);
      if (round == 0) WriteOomReport(refusing, bytes, "kill");
      RawPrint(2,
               "memgroup: out of memory in the job: killed member %d "
               "(charged %lld bytes) for a charge of %lld bytes by %d\n",
               static_cast<int>(victim), static_cast<long long>(victim_bytes),
               static_cast<long long>(bytes), static_cast<int>(SysGetpid()));
      SysKill(victim, SIGKILL);
      JobAwaitRelease(victim, kKillReleaseWaitNs, refusing);
    }
    uint32_t failed;
    if (DrainAndRetry(group, refusing, bytes, &failed, InStall::kNo) ==
        ChargeResult::kOk) {
      CheckThresholds(group);
      return ChargeResult::kOk;
    }
    if (failed != refusing) return ChargeResult::kOverLimit;
  }
  return ChargeResult::kOverLimit;
}

[[noreturn]] ChargeResult OomKillSelf(uint32_t refusing, int64_t bytes) {
  GlobalRegistry().RaiseEvent(refusing, kEventOomKill);
  WriteOomReport(refusing, bytes, "kill");
  kill(SysGetpid(), SIGKILL);
  _exit(137);
}

ChargeResult OomKill(uint32_t group, uint32_t refusing, int64_t bytes) {
  if (IsJobLevel(refusing)) return OomKillJob(group, refusing, bytes);
  return OomKillSelf(refusing, bytes);
}

// Where a `wait` sleeps: the refusing level's wake word and waiter count,
// its timeout, and the futex flavour (a group's words are process-private;
// the job node's live in the shared control block).
struct WaitSite {
  std::atomic<uint32_t>* wake_seq;
  std::atomic<uint32_t>* waiters;
  int64_t timeout_ns;  // -1: none
  int (*futex_wait)(const uint32_t* addr, uint32_t expected, int64_t ns);
};

// Sleeps until the charge fits (retried after draining the refusing
// subtree, and, at the job, releasing dead members) or the timeout passes;
// woken by uncharges and limit raises, polling every 10 ms.
ChargeResult WaitForRoom(uint32_t group, uint32_t refusing, int64_t bytes,
                         const WaitSite& w) {
  int64_t deadline = w.timeout_ns < 0 ? -1 : MonotonicNanos() + w.timeout_ns;
  // Relaxed counter of sleepers (statistics and wake decisions).
  w.waiters->fetch_add(1, std::memory_order_relaxed);
  int64_t start = MonotonicNanos();
  StallBegin(group);
  ChargeResult r = ChargeResult::kOverLimit;
  for (;;) {
    // Pairs with the waker's release bump (NotifyLimitChanged,
    // JobWakeWaiters): a wake after this read is not lost (the futex
    // compares against it).
    uint32_t seq = w.wake_seq->load(std::memory_order_acquire);
    uint32_t failed;
    if (DrainAndRetry(group, refusing, bytes, &failed, InStall::kYes) ==
        ChargeResult::kOk) {
      r = ChargeResult::kOk;
      break;
    }
    int64_t now = MonotonicNanos();
    if (deadline >= 0 && now >= deadline) break;
    int64_t sleep = kWaitPollNs;
    if (deadline >= 0 && deadline - now < sleep) sleep = deadline - now;
    w.futex_wait(reinterpret_cast<const uint32_t*>(w.wake_seq), seq, sleep);
  }
  // Relaxed: as above.
  w.waiters->fetch_sub(1, std::memory_order_relaxed);
  StallEnd(group, StallKind::kOomWait, MonotonicNanos() - start);
  if (r == ChargeResult::kOk) CheckThresholds(group);
  return r;
}

// Sleeps until the charge fits or the refusing level's wait timeout passes:
// a group's own words, or the job node's shared ones.
ChargeResult OomWait(uint32_t group, uint32_t refusing, int64_t bytes) {
  if (IsJobLevel(refusing)) {
    JobNode* node = JobNodeAt(refusing);
    if (node == nullptr) return ChargeResult::kOverLimit;
    return WaitForRoom(group, refusing, bytes,
                       {&node->wake_seq, &node->waiters, JobOomWaitNs(refusing),
                        SysFutexWaitShared});
  }
  GroupState& st = GlobalRegistry().state(refusing);
  // Relaxed: see GroupState::oom_policy.
  const int64_t timeout = st.oom_wait_ns.load(std::memory_order_relaxed);
  return WaitForRoom(group, refusing, bytes,
                     {&st.wake_seq, &st.waiters, timeout, SysFutexWait});
}

// Asks the program's handler, up to 16 rounds of retry verdicts.
ChargeResult OomHandler(uint32_t group, uint32_t refusing, int64_t bytes) {
  Registry& reg = GlobalRegistry();
  for (int round = 0; round < kMaxHandlerRounds; ++round) {
    int verdict = RunOomHandler(LocalLevel(refusing), bytes);
    if (verdict == kOomForce) {
      // Charged over the limit on the program's decision.
      reg.RaiseEvent(refusing, kEventMax);
      reg.tree().Charge(group, bytes);
      CheckThresholds(group);
      return ChargeResult::kOk;
    }
    if (verdict != kOomRetry) break;
    uint32_t again;
    if (DrainAndRetry(group, refusing, bytes, &again, InStall::kNo) ==
        ChargeResult::kOk) {
      CheckThresholds(group);
      return ChargeResult::kOk;
    }
    refusing = again;
  }
  return ChargeResult::kOverLimit;
}

// Indexed by OomPolicy.
constexpr PolicyFn kPolicies[] = {OomEnomem, OomAbort, OomKill, OomWait,
                                  OomHandler};
static_assert(static_cast<uint32_t>(OomPolicy::kHandler) + 1 ==
              sizeof(kPolicies) / sizeof(kPolicies[0]));

}  // namespace

ChargeResult RunOomPolicy(uint32_t group, uint32_t refusing, int64_t bytes) {
  Registry& reg = GlobalRegistry();
  reg.RaiseEvent(refusing, kEventOom);
  // Once per process, at MEMGROUP_MAX or a job's max: says so before the
  // policy (abort, kill and an endless wait never come back).
  NoticeRefusal(refusing, bytes);
  // Relaxed: see GroupState::oom_policy. The job's policy comes from the
  // shared block and is bounded by the table below.
  uint32_t policy =
      IsJobLevel(refusing)
          ? JobOomPolicy(refusing)
          : reg.state(refusing).oom_policy.load(std::memory_order_relaxed);
  if (policy >= sizeof(kPolicies) / sizeof(kPolicies[0])) {
    return ChargeResult::kOverLimit;
  }
  return kPolicies[policy](group, refusing, bytes);
}

void NotifyLimitChanged(uint32_t group) {
  Registry& reg = GlobalRegistry();
  for (uint32_t i = 0, end = reg.SlotLimit(); i < end; ++i) {
    if (!reg.IsLive(i) || !reg.tree().IsInSubtree(i, group)) continue;
    GroupState& st = reg.state(i);
    // Release: pairs with the waiter's acquire load of wake_seq.
    st.wake_seq.fetch_add(1, std::memory_order_release);
    // Relaxed: a waiter that registers after this load re-checks within
    // its 10 ms poll.
    if (st.waiters.load(std::memory_order_relaxed) != 0) {
      SysFutexWake(reinterpret_cast<const uint32_t*>(&st.wake_seq), INT32_MAX);
    }
  }
}

}  // namespace memgroup::internal
