// Implements job_member.h.
//
// SYNCHRONIZATION
// - g_view, g_slot and g_link are written at init (before Ready is
//   published with release by src/alloc/init.cc) and in a fork child (one
//   thread); every other access reads them.
// - The shared block follows counter/job_block.h.
#include "group/job_member.h"

#include <signal.h>

#include "base/raw_log.h"
#include "base/sys.h"
#include "group/registry.h"

namespace memgroup::internal {
namespace {

constinit JobView g_view;
constinit JobLink g_link;
constinit uint32_t g_slot = kNoMember;

// Counts for the cases where a process cannot take part in accounting.
constinit std::atomic<int64_t> g_detached_charge{0};
constinit std::atomic<int64_t> g_detached_peak{0};

bool Claim() {
  const pid_t pid = SysGetpid();
  uint64_t start = 0;
  bool alive = false;
  char comm[16];
  if (!ReadProcStart(pid, &start, &alive, comm)) return false;
  bool reused = false;
  uint32_t slot = JobClaimMember(g_view, pid, start, comm, &reused);
  if (slot == kNoMember) {
    // A full table: dead members may hold slots.
    JobReleaseDead(g_view);
    slot = JobClaimMember(g_view, pid, start, comm, &reused);
  }
  if (slot == kNoMember) return false;
  g_slot = slot;
  JobMember* m = g_view.member(slot);
  g_link.charged = &m->charged;
  g_link.peak = &m->peak;
  g_link.node = g_view.node();
  return true;
}

void Unlink() {
  g_link.node = nullptr;
  g_link.charged = &g_detached_charge;
  g_link.peak = &g_detached_peak;
  g_slot = kNoMember;
}

}  // namespace

JobError JoinJob(const char* path, int* err) {
  JobError e = JobAttach(path, &g_view, err);
  if (e != JobError::kOk) return e;
  if (!Claim()) {
    RawLog("job: no free member slot (or /proc unreadable); this process "
           "runs outside the job's limit");
    Unlink();
  }
  return JobError::kOk;
}

const JobLink* JobLinkForTree() { return &g_link; }

bool InJob() { return g_link.node != nullptr; }
const JobView& JobBlockView() { return g_view; }
JobNode* JobNodeOrNull() { return g_link.node; }

void JobForkChild() {
  if (!g_view.attached() || g_link.node == nullptr) return;
  // Until the claim below, nothing may reach the parent's slot.
  Unlink();
  if (!Claim()) {
    RawLog("job: no free member slot for the forked child %d; it runs "
           "outside the job's limit",
           static_cast<int>(SysGetpid()));
    Unlink();
  }
}

void JobExitRelease() {
  if (g_link.node == nullptr || g_slot == kNoMember) return;
  JobReleaseCharge(g_view, g_slot);
}

void RaiseJobEvent(Event e) {
  JobNode* node = g_link.node;
  if (node == nullptr) return;
  uint32_t je;
  switch (e) {
    case kEventMax: je = kJobEventMax; break;
    case kEventOom: je = kJobEventOom; break;
    case kEventOomKill: je = kJobEventOomKill; break;
    case kEventHigh: je = kJobEventHigh; break;
    default: return;
  }
  // Relaxed: statistics.
  node->events[je].fetch_add(1, std::memory_order_relaxed);
}

uint32_t JobOomPolicy() {
  JobNode* node = g_link.node;
  // Relaxed: configuration written by the creator. Any value is checked by
  // the dispatcher against its table.
  return node == nullptr ? 0 : node->oom_policy.load(std::memory_order_relaxed);
}

int64_t JobOomWaitNs() {
  JobNode* node = g_link.node;
  // Relaxed: as JobOomPolicy.
  return node == nullptr ? -1
                         : node->oom_wait_ns.load(std::memory_order_relaxed);
}

bool JobOomGroup() {
  JobNode* node = g_link.node;
  // Relaxed: as JobOomPolicy.
  return node != nullptr &&
         node->oom_group.load(std::memory_order_relaxed) != 0;
}

uint32_t JobKillOtherMembers(int64_t* bytes) {
  *bytes = 0;
  if (!g_view.attached()) return 0;
  const int32_t self = SysGetpid();
  // Two passes: every victim is counted before the first signal, since the
  // supervisor writes the stats as soon as the program (maybe a victim) is
  // gone; then each is signalled if /proc still shows the member.
  uint32_t killed = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t i = 0; i < g_view.slot_count; ++i) {
      JobMember* m = g_view.member(i);
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
        RaiseJobEvent(kEventOomKill);
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

uint32_t JobReleaseDeadMembers() {
  if (!g_view.attached()) return 0;
  return JobReleaseDead(g_view);
}

int32_t JobChooseVictim(int64_t* victim_bytes) {
  *victim_bytes = 0;
  if (!g_view.attached()) return 0;
  int32_t victim = 0;
  uint64_t victim_start = 0;
  int64_t best = -1;
  for (uint32_t i = 0; i < g_view.slot_count; ++i) {
    JobMember* m = g_view.member(i);
    // Acquire: pairs with the release store of Active (pid, start time).
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // Relaxed: a snapshot; the choice is a heuristic, as the kernel's.
    int64_t bytes = m->charged.load(std::memory_order_relaxed);
    int32_t pid = m->pid.load(std::memory_order_relaxed);
    if (pid <= 1 || bytes <= best) continue;
    best = bytes;
    victim = pid;
    victim_start = m->start_ticks.load(std::memory_order_relaxed);
  }
  if (victim == 0) return 0;
  // Never signal a process that is not the member the slot names (a pid
  // reused by another process of this user).
  uint64_t start = 0;
  bool alive = false;
  if (!ReadProcStart(victim, &start, &alive) || !alive ||
      start != victim_start) {
    JobReleaseDead(g_view);
    return 0;
  }
  *victim_bytes = best;
  return victim;
}

void JobAwaitRelease(int32_t pid, int64_t timeout_ns) {
  const int64_t deadline = MonotonicNanos() + timeout_ns;
  for (;;) {
    bool named = false;
    for (uint32_t i = 0; i < g_view.slot_count; ++i) {
      JobMember* m = g_view.member(i);
      // Acquire: as JobChooseVictim.
      if (m->state.load(std::memory_order_acquire) == kMemberActive &&
          m->pid.load(std::memory_order_relaxed) == pid) {
        named = true;
        break;
      }
    }
    if (!named) return;
    JobReleaseDead(g_view);
    if (MonotonicNanos() >= deadline) return;
    SleepNanos(1'000'000);
  }
}

}  // namespace memgroup::internal
