// Implements control_agent.h.
//
// SYNCHRONIZATION
// - g_agent.started: written only by StartControlAgent and the fork child
//   handler. Relaxed exchange: it only keeps a second agent from starting;
//   the thread's own data is handed over by pthread_create.
// - g_agent.parked and g_agent.fence: a Dekker handshake between the agent
//   and a forking thread. The agent stores parked = 0 and then loads the
//   fence; the fork's prepare handler stores the fence and then loads
//   parked; all four are seq_cst, so at least one of them sees the other's
//   store. A fork that sees the agent parked counts on it staying parked
//   (holding no lock, taking none) until the parent's handler lifts the
//   fence; an agent that sees the fence set waits on it before it does
//   anything.
// - The slot words follow counter/job_block.h ("Control requests").
#include "alloc/control_agent.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "alloc/env_config.h"
#include "alloc/thread_start.h"
#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/sys.h"
#include "counter/job_slots.h"
#include "engine/engine.h"
#include "engine/free_pages.h"
#include "group/charger.h"
#include "group/job_groups.h"
#include "group/job_member.h"
#include "group/reclaim.h"
#include "group/registry.h"
#include "group/stats_report.h"
#include "group/thread_binding.h"

namespace memgroup::internal::alloc {
namespace {

// The fence's values.
constexpr uint32_t kNoFence = 0;
constexpr uint32_t kFenced = 1;
constexpr uint32_t kFencedWaiting = 2;  // ... and the agent sleeps on it.

// One line: a fork child writes it when it starts its own agent, so that
// its reset of the other words costs no page more.
struct alignas(64) AgentState {
  std::atomic<bool> started{false};
  // 1 while the agent sleeps in its wait for a request, holding no lock
  // and running none of the library: set before the wait, cleared after.
  std::atomic<uint32_t> parked{0};
  // Set by a fork's prepare handler while the agent runs, lifted by the
  // parent's handler: the agent, back from its wait, does nothing until
  // then.
  std::atomic<uint32_t> fence{kNoFence};
};
constinit AgentState g_agent;

const uint32_t* FenceWord() {
  return reinterpret_cast<const uint32_t*>(&g_agent.fence);
}

// Before the agent's wait: from here until Unpark it holds no lock. Release:
// its last lock release comes before a fork's seq_cst load that sees this.
void Park() { g_agent.parked.store(1, std::memory_order_release); }

// After the agent's wait, before anything else: waits out a fork that saw
// it parked (SYNCHRONIZATION).
void Unpark() {
  g_agent.parked.store(0, std::memory_order_seq_cst);
  uint32_t f = g_agent.fence.load(std::memory_order_seq_cst);
  while (f != kNoFence) {
    // Acquire (both): pairs with the parent handler's release exchange.
    if (f == kFenced &&
        !g_agent.fence.compare_exchange_strong(f, kFencedWaiting,
                                               std::memory_order_acquire,
                                               std::memory_order_acquire)) {
      continue;  // f reloaded: lifted, or set again by the next fork.
    }
    SysFutexWait(FenceWord(), kFencedWaiting, -1);
    f = g_agent.fence.load(std::memory_order_acquire);
  }
}

// A member of a nested job has a slot at every level; the innermost one is
// waited on with a futex, the enclosing levels' are looked at each time
// this interval passes.
constexpr int64_t kOuterPollNs = 200'000'000;
// The agent wakes at least this often to run the decay of free pages.
constexpr int64_t kDecayPollNs = engine::kDecayTickMs * 1'000'000;
// Its first publication comes at most this long after it starts.
constexpr int64_t kFirstPublishNs = kPublishIntervalNs;

// The groups PurgeEngine visits; only the agent thread uses it (one agent
// per process).
MG_TABLE constinit uint32_t g_purge_groups[kMaxGroups] = {};

// Returns group `g`'s free engine pages to the OS: the bytes its arena's
// resident count fell by.
int64_t PurgeGroup(uint32_t g) {
  EngineGroupStats before{}, after{};
  const bool measured = engine::GroupStats(g, &before);
  engine::Purge(g);
  if (measured && engine::GroupStats(g, &after) &&
      before.resident_bytes > after.resident_bytes) {
    return static_cast<int64_t>(before.resident_bytes - after.resident_bytes);
  }
  return 0;
}

// Returns the free pages of every group's arena (destroyed groups still
// holding blocks included) to the OS; the bytes the engines' resident
// counts fell by.
int64_t PurgeEngine() {
  uint32_t* groups = g_purge_groups;
  uint32_t n = 0;
  // The registry lock is held while visiting: only collect here.
  GlobalRegistry().ForEachChargedInSubtree(kRootGroup, [&](uint32_t g) {
    if (n < kMaxGroups) groups[n++] = g;
  });
  int64_t purged = 0;
  for (uint32_t k = 0; k < n; ++k) purged += PurgeGroup(groups[k]);
  return purged;
}

// Answers a request: `memgroup reclaim`'s share (`bytes`), or another
// member's job-level refusal (0 bytes: free pages and stocks only).
void Serve(JobMember* slot, uint32_t seq, int64_t bytes) {
  // The free engine pages first: they are charged (engine/free_pages.h), and
  // left in place they would answer the share before any callback ran.
  int64_t purged = PurgeEngine();
  // Drains the stocks of every thread, then asks the callbacks (rounds of a
  // quarter of the remainder; 16 rounds without progress end it).
  const int64_t reclaimed = ProactiveReclaim(kRootGroup, bytes);
  // The pages of what the callbacks freed.
  if (reclaimed > 0) purged += PurgeEngine();
  // The callbacks' frees refilled this thread's stock first: drained again,
  // the job's counter shows what they released before the answer.
  DrainSubtree(kRootGroup);
  JobAgentAnswer(slot, seq, reclaimed, purged);
}

// The member's root group stat bytes (stats_report.h, the engine's heap
// bytes through its hook) into its slot at every job level
// (JobPublishRootStat): `memgroup stat` sums them over the members.
void PublishRootStat(JobMember* const* slots, uint32_t levels) {
  GroupStat gs;
  ReadGroupStat(kRootGroup, &gs);
  int64_t stat[kJobRootStats] = {};
  stat[kRootStatHeap] = gs.heap;
  stat[kRootStatMmap] = gs.mmap;
  stat[kRootStatExplicit] = gs.explicit_bytes;
  stat[kRootStatStock] = gs.stock;
  stat[kRootStatStockBound] = gs.stock_bound;
  stat[kRootStatReclaimed] = gs.reclaimed;
  stat[kRootStatEngineFree] = gs.engine_free;
  stat[kRootStatEngineCached] = gs.engine_cached;
  stat[kRootStatEngineSlack] = gs.engine_slack;
  const int64_t now = MonotonicNanos();
  for (uint32_t pos = 0; pos < levels; ++pos) {
    if (slots[pos] != nullptr) JobPublishRootStat(slots[pos], stat, now);
  }
}

void* AgentMain(void*) {
  // Before its first uncharge (a decay, a purge): the agent is no PSI member
  // of the program's root group, so the program's `full` stays its own.
  MarkLibraryThread();
  prctl(PR_SET_NAME, "memgroup-ctl", 0, 0, 0);
  const int32_t tid = SysGettid();
  JobMember* slots[kJobMaxLevels] = {};
  uint32_t seen[kJobMaxLevels] = {};
  uint32_t levels = JobLevels();
  if (levels > kJobMaxLevels) levels = kJobMaxLevels;
  for (uint32_t pos = 0; pos < levels; ++pos) {
    slots[pos] = JobOwnSlot(pos);
    if (slots[pos] != nullptr) seen[pos] = JobAgentListen(slots[pos], tid);
  }
  if (levels == 0 || slots[0] == nullptr) return nullptr;
  // The process's groups (job_groups.h) and the root stat bytes: first
  // published at the agent's first wake, a request's or at most
  // kFirstPublishNs after it starts, then at every wake, which comes at
  // least every kPublishIntervalNs while there are groups and every
  // kDecayPollNs otherwise. A group request wakes the agent without
  // changing its word. Not at once: most members of a build live less than
  // that, and the first publication is the agent's costliest step (the
  // engine's statistics, about 20-25 pages written the first time); they
  // show zeros until then, as a member that has just joined always did.
  int64_t timeout = kFirstPublishNs;
  for (;;) {
    uint32_t seq = 0;
    int64_t bytes = 0;
    Park();
    const bool asked = JobAgentWait(slots[0], seen[0], timeout, &seq, &bytes);
    Unpark();
    if (asked) {
      Serve(slots[0], seq, bytes);
      seen[0] = seq;
    }
    for (uint32_t pos = 1; pos < levels; ++pos) {
      if (slots[pos] != nullptr &&
          JobAgentWait(slots[pos], seen[pos], 0, &seq, &bytes)) {
        Serve(slots[pos], seq, bytes);
        seen[pos] = seq;
      }
    }
    ServeGroupRequests(PurgeGroup);
    const bool fresh = PublishGroups();
    PublishRootStat(slots, levels);
    // The decay of free pages (engine.h, DecayFreePages): the agent drives
    // it, at least once per tick, so that an idle member's free pages go
    // back too.
    (void)engine::DecayFreePages();
    timeout = fresh ? kPublishIntervalNs : levels > 1 ? kOuterPollNs : -1;
    if (timeout < 0 || timeout > kDecayPollNs) timeout = kDecayPollNs;
  }
}

void Start() {
  if (JobLevels() == 0 || ControlOff()) return;
  // Relaxed: see SYNCHRONIZATION.
  if (g_agent.started.exchange(true, std::memory_order_relaxed)) return;
  // The program sees no errno of ours (this runs before main and in a fork
  // child's return from fork).
  const int saved_errno = errno;
  // Every signal blocked in the new thread from its first instruction (the
  // attribute's mask is installed by libc before the thread runs): the
  // program's signals go to its own threads, as without the agent.
  sigset_t all;
  sigfillset(&all);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  // The mask is kept in an allocated extension of the attribute: without
  // it (no memory) there is no agent rather than one open to signals.
  int rc = pthread_attr_setsigmask_np(&attr, &all);
  if (rc == 0) rc = CreateLibraryThread(&thread, &attr, AgentMain, nullptr);
  pthread_attr_destroy(&attr);
  // No agent (thread limit, memory): the slot's agent_tid stays 0 and the
  // requester reports the member as having none.
  if (rc != 0) {
    // Relaxed: as above.
    g_agent.started.store(false, std::memory_order_relaxed);
  }
  errno = saved_errno;
}

}  // namespace

void StartControlAgent() { Start(); }

bool ControlAgentPrepareFork() {
  // Relaxed: set before main or in this process's fork handler, before the
  // program could start the thread that forks; a stale false would only
  // make the fork count the agent (and take every lock).
  if (!g_agent.started.load(std::memory_order_relaxed)) return false;
  // Seq_cst (both): see SYNCHRONIZATION.
  g_agent.fence.store(kFenced, std::memory_order_seq_cst);
  return g_agent.parked.load(std::memory_order_seq_cst) == 1;
}

void ControlAgentParentFork() {
  // Relaxed: as in ControlAgentPrepareFork (the same thread's later load
  // sees what that one saw, or later).
  if (!g_agent.started.load(std::memory_order_relaxed)) return;
  // Release: the fork's own work (its handlers' unlocks among it) comes
  // before the agent's acquire load that sees the fence lifted.
  if (g_agent.fence.exchange(kNoFence, std::memory_order_release) ==
      kFencedWaiting) {
    SysFutexWake(FenceWord(), 1);
  }
}

void ControlAgentChildFork() {
  // Written only when set (a process with no agent leaves the page alone).
  ChildStoreIfChanged(g_agent.parked, 0u);
  ChildStoreIfChanged(g_agent.fence, kNoFence);
  ChildStoreIfChanged(g_agent.started, false);
  Start();
}

}  // namespace memgroup::internal::alloc
