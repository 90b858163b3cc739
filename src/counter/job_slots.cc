// Implements job_slots.h's member slots: claiming a slot (and rejoining it
// after an exec), the exec marks of untracked execs, releasing a member's
// charge and slot (dead members included), a child job's protection and the
// wake of `wait` waiters. Raw system calls only (src/base/sys.h): members
// claim their slots inside their first malloc. Allocates: never.
//
// SYNCHRONIZATION
// - JobMember::state is the slot protocol (see job_block.h). The CAS that
//   takes a slot is acq_rel; the store that publishes Active or Free is
//   release and pairs with the acquire loads of scanners, so a scanner that
//   sees Active also sees the pid and start time written before.
// - JobMember::charged: exchanged to 0 by a release (relaxed: the value is
//   a byte count; the job node's usage is adjusted by the same amount and
//   nothing else is published through it).
// - The job node's usage follows counter_tree.h (seq_cst add + load of max
//   on try-charge).
// - A slot's root crossings: job_crossings.cc (the claimer and an exec's
//   rejoin reset them here, while no other image of the slot runs).
// - A slot's stall flag follows counter/job_pressure.h.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "base/sys.h"
#include "counter/job_block.h"
#include "counter/job_group_table.h"
#include "counter/job_pressure.h"
#include "counter/job_slots.h"
#include "counter/job_stock_area.h"

namespace memgroup::internal {
namespace {

// Returns the job node's usage by `bytes` (clamped at 0, as an uncharge).
void UnchargeNode(JobNode* node, int64_t bytes) {
  if (bytes <= 0) return;
  // Relaxed: an uncharge is never ordered against a limit check (a late
  // uncharge only makes a racing charge fail conservatively).
  int64_t now =
      node->counter.usage.fetch_sub(bytes, std::memory_order_relaxed) - bytes;
  if (now < 0) {
    // Racy by design: add back only our deficit (see CounterTree::Cancel).
    node->counter.usage.fetch_add(-now, std::memory_order_relaxed);
  }
  JobWakeWaiters(node);
}

// Decimal digits [p, end) into *out; false on anything else or overflow.
bool ParseU64(const char* p, const char* end, uint64_t* out) {
  uint64_t v = 0;
  if (p >= end) return false;
  for (; p < end; ++p) {
    if (*p < '0' || *p > '9') return false;
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(*p - '0');
  }
  *out = v;
  return true;
}

void StoreComm(JobMember* m, const char* comm) {
  uint64_t w[2] = {0, 0};
  if (comm != nullptr) {
    // At most 16 bytes, and never past the string's terminator.
    char bytes[sizeof(w)] = {};
    for (size_t i = 0; i < sizeof(bytes) && comm[i] != '\0'; ++i) {
      bytes[i] = comm[i];
    }
    memcpy(w, bytes, sizeof(w));
  }
  // Relaxed: published with the slot (release store of Active) or, on an
  // exec's reuse, a statistic read by the supervisor.
  m->comm[0].store(w[0], std::memory_order_relaxed);
  m->comm[1].store(w[1], std::memory_order_relaxed);
}

void StoreExecComm(JobMember* m, const char* comm) {
  uint64_t w[2] = {0, 0};
  char bytes[sizeof(w)] = {};
  // At most 15 bytes (the kernel's comm), never past the terminator.
  for (size_t k = 0; comm != nullptr && k + 1 < sizeof(bytes) && comm[k] != '\0';
       ++k) {
    bytes[k] = comm[k];
  }
  memcpy(w, bytes, sizeof(w));
  // Relaxed: published by the release store of exec_pending (JobMarkExec)
  // or of Active (JobMarkSpawned) that follows.
  m->exec_comm[0].store(w[0], std::memory_order_relaxed);
  m->exec_comm[1].store(w[1], std::memory_order_relaxed);
}

// A slot other than `except` that names (pid, start_ticks), Active or
// released (Releasing or Free: a slot keeps naming its member until it is
// claimed again), and that the process itself claimed or rejoined: no
// spawn mark, and, unless `exec_marked` (the process exec'd from it since),
// no exec mark either. kNoMember if none.
uint32_t FindNamed(const JobView& v, pid_t pid, uint64_t start_ticks,
                   uint32_t except, bool exec_marked) {
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    if (i == except) continue;
    const JobMember* m = v.member(i);
    // Acquire: pairs with the release stores of Active and Free, so the
    // pid and start time read below are at least those published with
    // the state seen. A slot being claimed names nobody yet.
    if (m->state.load(std::memory_order_acquire) == kMemberClaiming) continue;
    // Relaxed: ordered by the acquire load above.
    if (m->pid.load(std::memory_order_relaxed) == pid &&
        m->start_ticks.load(std::memory_order_relaxed) == start_ticks &&
        (exec_marked ? !JobSpawnPending(m) : !JobExecPending(m))) {
      return i;
    }
  }
  return kNoMember;
}

// Drops spawn slot i (claimed by JobMarkSpawned for (pid, start_ticks),
// whose child holds a slot of its own): whoever clears the mark frees the
// slot, without touching the stock chunks or group entries of (pid,
// start_ticks), which are the child's own slot's. The slot forgets the
// pid. True if this call dropped it.
bool DropSpawnSlot(const JobView& v, uint32_t i, pid_t pid,
                   uint64_t start_ticks) {
  JobMember* m = v.member(i);
  uint32_t marked = kExecSpawned;
  // Acq_rel: exactly one of the parent, the child and the supervisor
  // (JobTakeExecUntracked) takes the mark; a rejoin cleared it already.
  if (!m->exec_pending.compare_exchange_strong(marked, kExecNone,
                                               std::memory_order_acq_rel,
                                               std::memory_order_relaxed)) {
    return false;
  }
  uint32_t active = kMemberActive;
  // Acq_rel: as JobReleaseMember's CAS. A releaser that won (the child is
  // dead) frees it itself.
  if (!m->state.compare_exchange_strong(active, kMemberReleasing,
                                        std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
    return true;
  }
  // Relaxed: we hold the slot (Releasing).
  if (m->pid.load(std::memory_order_relaxed) != pid ||
      m->start_ticks.load(std::memory_order_relaxed) != start_ticks) {
    // Not the slot we meant (cannot happen while the mark was ours); put
    // it back. Release: pairs with scanners' acquire loads.
    m->state.store(kMemberActive, std::memory_order_release);
    return true;
  }
  // Nothing charged through it; a corrupt value is clamped. Its claim
  // counted it in the job's `full` (ResetRoot).
  JobReleaseCharge(v, i);
  JobFullRelease(v.node(), m, MonotonicNanos());
  m->pid.store(0, std::memory_order_relaxed);
  // Release: the slot may be claimed again; pairs with the claimer's CAS.
  m->state.store(kMemberFree, std::memory_order_release);
  return true;
}

constexpr uint64_t kNoCrossings[kJobCrossings] = {};
constexpr int64_t kNoThresholds[2] = {-1, -1};

constexpr int64_t kNoRootStat[kJobRootStats] = {};

// A slot taken by a new image: its root crossings and stat bytes start at
// none, a stall period its previous image left counted (it died or
// exec'd while a thread stalled) ends now, and the new image is counted
// in the job's `full` as not stalled (job_pressure.h).
void ResetRoot(const JobView& v, JobMember* m) {
  JobPublishRootCrossings(m, kNoCrossings, kNoThresholds);
  JobPublishRootStat(m, kNoRootStat, 0);
  const int64_t now = MonotonicNanos();
  JobStallRelease(v.node(), m, now);
  JobFullRelease(v.node(), m, now);
  JobFullJoin(v.node(), m, now);
}

// Claims a free slot without an exec mark for (pid, start_ticks) and fills
// its fields (charge 0, `comm`, `child_job`), leaving it Claiming: the
// caller publishes it with its release store of Active (after any field of
// its own). kNoMember when the table is full.
uint32_t ClaimFreeSlot(const JobView& v, pid_t pid, uint64_t start_ticks,
                       const char* comm, int32_t child_job) {
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    JobMember* m = v.member(i);
    uint32_t expected = kMemberFree;
    // Relaxed pre-check, then acq_rel CAS: the winner owns the slot; the
    // acquire side orders our writes after the previous owner's release.
    // A slot with an exec mark waits for the supervisor (JobMarkExec).
    if (m->state.load(std::memory_order_relaxed) != kMemberFree ||
        JobExecPending(m) ||
        !m->state.compare_exchange_strong(expected, kMemberClaiming,
                                          std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
      continue;
    }
    // Relaxed: published by the caller's release store of Active; the
    // member's agent, once started, publishes itself (JobAgentListen).
    m->pid.store(pid, std::memory_order_relaxed);
    m->start_ticks.store(start_ticks, std::memory_order_relaxed);
    m->charged.store(0, std::memory_order_relaxed);
    m->peak.store(0, std::memory_order_relaxed);
    StoreComm(m, comm);
    m->child_job.store(child_job, std::memory_order_relaxed);
    m->protect.store(0, std::memory_order_relaxed);
    m->agent_tid.store(0, std::memory_order_relaxed);
    ResetRoot(v, m);
    return i;
  }
  return kNoMember;
}

}  // namespace

void JobMemberComm(const JobMember* m, char out[16]) {
  // Relaxed: see StoreComm.
  uint64_t w[2] = {m->comm[0].load(std::memory_order_relaxed),
                   m->comm[1].load(std::memory_order_relaxed)};
  memcpy(out, w, sizeof(w));
}

bool ReadProcStart(pid_t pid, uint64_t* start_ticks, bool* alive,
                   char* comm, pid_t* ppid) {
  if (pid <= 0) return false;
  char buf[1024];
  const long n = ReadProcStat(pid, buf, sizeof(buf));
  // "pid (comm) S ppid ... starttime(22) ...".
  const char* state = nullptr;
  const char* state_end = nullptr;
  const char* tok = nullptr;
  const char* tok_end = nullptr;
  if (!ProcStatField(buf, n, 3, &state, &state_end)) return false;
  if (comm != nullptr) {
    memset(comm, 0, 16);
    const char* open = static_cast<const char*>(memchr(buf, '(', n));
    const char* close = state - 1;
    while (close > buf && *close != ')') --close;
    if (open != nullptr && open < close) {
      size_t len = static_cast<size_t>(close - (open + 1));
      memcpy(comm, open + 1, len < 16 ? len : 16);
    }
  }
  if (ppid != nullptr) {
    uint64_t parent = 0;
    if (!ProcStatField(buf, n, 4, &tok, &tok_end) ||
        !ParseU64(tok, tok_end, &parent) || parent > INT_MAX) {
      return false;
    }
    *ppid = static_cast<pid_t>(parent);
  }
  if (!ProcStatField(buf, n, 22, &tok, &tok_end) ||
      !ParseU64(tok, tok_end, start_ticks)) {
    return false;
  }
  *alive = *state != 'Z' && *state != 'X' && *state != 'x';
  return true;
}

uint32_t JobClaimMember(const JobView& v, pid_t pid, uint64_t start_ticks,
                        const char* comm, bool* reused, int32_t child_job) {
  *reused = false;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    JobMember* m = v.member(i);
    // Acquire: pairs with the release store of Active; pid and start time
    // written before it are visible.
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // Relaxed: ordered by the acquire load above.
    if (m->pid.load(std::memory_order_relaxed) != pid ||
        m->start_ticks.load(std::memory_order_relaxed) != start_ticks) {
      continue;
    }
    // Our own pid and start time: the image before an exec. Its blocks
    // are gone with its address space, and so are its groups.
    JobReleaseCharge(v, i);
    JobGroupReleaseMember(v, i, pid, start_ticks);
    // Relaxed: a statistic.
    m->peak.store(0, std::memory_order_relaxed);
    StoreComm(m, comm);
    // Relaxed: the same process, the same place in the nesting.
    m->child_job.store(child_job, std::memory_order_relaxed);
    // Release: the image rejoined, so its exec is not an untracked one
    // (the comm above is stored before; pairs with JobTakeExecUntracked's
    // acquire load).
    m->exec_pending.store(kExecNone, std::memory_order_release);
    // Release: the new image starts its own agent; until it listens the
    // slot has none (pairs with requesters' acquire load of agent_tid).
    m->agent_tid.store(0, std::memory_order_release);
    ResetRoot(v, m);
    *reused = true;
    return i;
  }
  const uint32_t i = ClaimFreeSlot(v, pid, start_ticks, comm, child_job);
  if (i != kNoMember) {
    // Release: pairs with scanners' acquire loads of state.
    v.member(i)->state.store(kMemberActive, std::memory_order_release);
  }
  return i;
}

bool JobExecPending(const JobMember* m) {
  // Acquire: pairs with JobMarkExec's release store (exec_comm visible).
  return m->exec_pending.load(std::memory_order_acquire) != kExecNone;
}

bool JobSpawnPending(const JobMember* m) {
  // Acquire: as JobExecPending (JobMarkSpawned's mark is published with
  // Active, whose acquire load the callers made).
  return m->exec_pending.load(std::memory_order_acquire) == kExecSpawned;
}

void JobMarkExec(const JobView& v, uint32_t i, const char* comm) {
  if (i >= v.slot_count) return;
  JobMember* m = v.member(i);
  StoreExecComm(m, comm);
  // Release: pairs with JobExecPending's acquire load.
  m->exec_pending.store(kExecMarked, std::memory_order_release);
}

void JobClearExec(const JobView& v, uint32_t i) {
  if (i >= v.slot_count) return;
  // Relaxed: nothing is published with the clear.
  v.member(i)->exec_pending.store(kExecNone, std::memory_order_relaxed);
}

uint32_t JobMarkSpawned(const JobView& v, pid_t pid, uint64_t start_ticks,
                        const char* comm, int32_t child_job) {
  if (pid <= 0) return kNoMember;
  // The child joined already (its slot may be released since: it still
  // names the child until another process claims it).
  if (FindNamed(v, pid, start_ticks, kNoMember, /*exec_marked=*/true) !=
      kNoMember) {
    return kNoMember;
  }
  const uint32_t i = ClaimFreeSlot(v, pid, start_ticks, comm, child_job);
  if (i == kNoMember) return kNoMember;
  JobMember* m = v.member(i);
  StoreExecComm(m, comm);
  // Release: a reader of the mark alone (JobTakeExecUntracked's acquire)
  // sees the pid, start time and exec_comm stored above.
  m->exec_pending.store(kExecSpawned, std::memory_order_release);
  // Release: pairs with scanners' acquire loads of state (the fields and
  // the mark above are visible with Active).
  m->state.store(kMemberActive, std::memory_order_release);
  // Seq_cst fence: orders the store of Active before the loads of the
  // look below, against the child's JobDropSpawnMarks, whose fence
  // follows its own slot's Active (Dekker: one of the two sees both).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (FindNamed(v, pid, start_ticks, i, /*exec_marked=*/true) != kNoMember) {
    DropSpawnSlot(v, i, pid, start_ticks);
    return kNoMember;
  }
  return i;
}

uint32_t JobDropSpawnMarks(const JobView& v, pid_t pid, uint64_t start_ticks,
                           uint32_t own) {
  // Seq_cst fence: see JobMarkSpawned (the caller published `own` before).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint32_t dropped = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    if (i == own) continue;
    JobMember* m = v.member(i);
    // Acquire: pairs with the release store of Active (pid, start time
    // and the mark written before it).
    if (m->state.load(std::memory_order_acquire) != kMemberActive ||
        m->pid.load(std::memory_order_relaxed) != pid ||
        m->start_ticks.load(std::memory_order_relaxed) != start_ticks ||
        !JobSpawnPending(m)) {
      continue;
    }
    if (DropSpawnSlot(v, i, pid, start_ticks)) ++dropped;
  }
  return dropped;
}

uint32_t JobTakeExecUntracked(const JobView& v,
                              void (*report)(void* ctx, pid_t pid,
                                             uint64_t start_ticks,
                                             const char comm[16]),
                              void* ctx) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    JobMember* m = v.member(i);
    // Acquire: pairs with the release store of the mark (JobMarkExec) or
    // of Active (JobMarkSpawned): exec_comm is visible.
    uint32_t expected = m->exec_pending.load(std::memory_order_acquire);
    if (expected == kExecNone) continue;
    // Relaxed: the pid and start time were written before the mark (by
    // the claimer, whose release of Active the mark's writer acquired, or
    // by JobMarkSpawned before its release store of the mark).
    const pid_t pid = m->pid.load(std::memory_order_relaxed);
    const uint64_t start = m->start_ticks.load(std::memory_order_relaxed);
    uint64_t now = 0;
    bool alive = false;
    if (ReadProcStart(pid, &now, &alive) && alive && now == start) continue;
    // Relaxed: the winner reports; exec_comm was made visible by the
    // acquire load above.
    if (!m->exec_pending.compare_exchange_strong(expected, kExecNone,
                                                 std::memory_order_relaxed)) {
      continue;
    }
    // A spawn slot whose child joined in a slot of its own (JobMarkSpawned
    // and the child crossed, and neither has dropped it yet): not
    // untracked.
    if (FindNamed(v, pid, start, i, /*exec_marked=*/false) != kNoMember) {
      continue;
    }
    const uint64_t w[2] = {m->exec_comm[0].load(std::memory_order_relaxed),
                           m->exec_comm[1].load(std::memory_order_relaxed)};
    char comm[16];
    memcpy(comm, w, sizeof(comm));
    report(ctx, pid, start, comm);
    ++n;
  }
  return n;
}

int64_t JobReleaseCharge(const JobView& v, uint32_t i) {
  if (i >= v.slot_count) return 0;
  // Relaxed: see SYNCHRONIZATION; the count moves to the node below.
  int64_t bytes = v.member(i)->charged.exchange(0, std::memory_order_relaxed);
  // A hostile or corrupted value is clamped by UnchargeNode.
  UnchargeNode(v.node(), bytes);
  return bytes;
}

bool JobReleaseMember(const JobView& v, uint32_t i, pid_t pid, bool forget) {
  if (i >= v.slot_count) return false;
  JobMember* m = v.member(i);
  uint32_t expected = kMemberActive;
  // Acquire: the pid read below is the one published with Active.
  if (m->state.load(std::memory_order_acquire) != kMemberActive ||
      m->pid.load(std::memory_order_relaxed) != pid) {
    return false;
  }
  // acq_rel: exactly one releaser wins; see SYNCHRONIZATION.
  if (!m->state.compare_exchange_strong(expected, kMemberReleasing,
                                        std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
    return false;
  }
  if (m->pid.load(std::memory_order_relaxed) != pid) {
    // Reclaimed by another process between our check and CAS: put it back.
    // Release: pairs with scanners' acquire loads.
    m->state.store(kMemberActive, std::memory_order_release);
    return false;
  }
  // Relaxed: we hold the slot (Releasing).
  const uint64_t start = m->start_ticks.load(std::memory_order_relaxed);
  JobReleaseCharge(v, i);
  // Its stocks were part of its charge: the chunks are free again.
  if (v.stock_chunks != 0) JobReleaseStockChunks(v, pid, start);
  // Its published groups are gone with it, and so is a stall it was in.
  JobGroupReleaseMember(v, i, pid, start);
  const int64_t now = MonotonicNanos();
  JobStallRelease(v.node(), m, now);
  JobFullRelease(v.node(), m, now);
  // Relaxed: published by the release store of Free below.
  if (forget) m->pid.store(0, std::memory_order_relaxed);
  // Release: the slot may be claimed again; pairs with the claimer's CAS.
  m->state.store(kMemberFree, std::memory_order_release);
  return true;
}

uint32_t JobReleaseDead(const JobView& v) {
  uint32_t released = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    JobMember* m = v.member(i);
    // Acquire: pairs with the release store of Active.
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // Relaxed: ordered by the acquire above.
    pid_t pid = m->pid.load(std::memory_order_relaxed);
    uint64_t want = m->start_ticks.load(std::memory_order_relaxed);
    uint64_t start = 0;
    bool alive = false;
    bool dead = !ReadProcStart(pid, &start, &alive) || !alive || start != want;
    if (dead && JobReleaseMember(v, i, pid)) ++released;
  }
  return released;
}

uint32_t JobReleasePid(const JobView& v, pid_t pid) {
  uint32_t released = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    if (JobReleaseMember(v, i, pid)) ++released;
  }
  return released;
}

bool JobPublishProtection(const JobView& outer, pid_t pid,
                          uint64_t start_ticks, int64_t bytes) {
  for (uint32_t i = 0; i < outer.slot_count; ++i) {
    JobMember* m = outer.member(i);
    // Acquire: pairs with the release store of Active.
    if (m->state.load(std::memory_order_acquire) != kMemberActive ||
        m->pid.load(std::memory_order_relaxed) != pid ||
        m->start_ticks.load(std::memory_order_relaxed) != start_ticks) {
      continue;
    }
    // Relaxed: advisory configuration, read by an OOM decision.
    m->protect.store(bytes, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool JobChildProtected(const JobView& v, int32_t child_job) {
  if (child_job <= 0) return false;
  int64_t protect = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    const JobMember* m = v.member(i);
    // Acquire: as JobPublishProtection. Relaxed loads after it.
    if (m->state.load(std::memory_order_acquire) == kMemberActive &&
        m->pid.load(std::memory_order_relaxed) == child_job) {
      protect = m->protect.load(std::memory_order_relaxed);
      break;
    }
  }
  if (protect <= 0) return false;
  if (protect > INT64_MAX / 2) protect = INT64_MAX / 2;  // no overflow below
  int64_t usage = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    const JobMember* m = v.member(i);
    // Acquire: as above.
    if (m->state.load(std::memory_order_acquire) != kMemberActive ||
        m->child_job.load(std::memory_order_relaxed) != child_job) {
      continue;
    }
    // Relaxed: a snapshot; a corrupt value is clamped, and the sum stops
    // once it is over (no overflow).
    const int64_t c = m->charged.load(std::memory_order_relaxed);
    if (c > 0) usage += c < protect ? c : protect;
    if (usage > protect) return false;
  }
  return true;
}

void JobWakeWaiters(JobNode* node) {
  // Relaxed: a waiter that registers after this load re-checks within its
  // poll interval.
  if (node->waiters.load(std::memory_order_relaxed) == 0) return;
  // Release: pairs with the waiter's acquire load of wake_seq before its
  // retry; the futex compares against that value, so no wake is lost.
  node->wake_seq.fetch_add(1, std::memory_order_release);
  SysFutexWakeShared(reinterpret_cast<const uint32_t*>(&node->wake_seq),
                     INT_MAX);
}

int64_t JobUnchargeMember(const JobView& v, uint32_t i, int64_t bytes) {
  if (i >= v.slot_count || bytes <= 0) return 0;
  std::atomic<int64_t>* charged = &v.member(i)->charged;
  // Relaxed: a byte count; the CAS makes concurrent uncharges take disjoint
  // amounts, never below 0 (as CounterTree's job uncharge).
  int64_t cur = charged->load(std::memory_order_relaxed);
  int64_t take;
  do {
    take = cur < bytes ? cur : bytes;
    if (take <= 0) return 0;
  } while (!charged->compare_exchange_weak(cur, cur - take,
                                           std::memory_order_relaxed,
                                           std::memory_order_relaxed));
  UnchargeNode(v.node(), take);
  return take;
}

}  // namespace memgroup::internal
