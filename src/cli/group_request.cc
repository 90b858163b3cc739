// Implements group_request.h.
//
// SYNCHRONIZATION
// - The entry's request and answer words follow counter/job_group_table.h;
//   the member slot's agent_tid is loaded with acquire (job_block.h). The
//   caller holds the block's flock, so no other requester posts to the
//   entry meanwhile.
#include "cli/group_request.h"

#include <string.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "base/sys.h"
#include "counter/job_slots.h"

namespace memgroup::internal::cli {
namespace {

bool ThreadExists(pid_t pid, int32_t tid) {
  const std::string path = absl::StrCat("/proc/", pid, "/task/", tid);
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

GroupAnswer RequestGroup(const JobView& v, const JobGroupSnapshot& g,
                         const JobGroupRequest& req, int64_t timeout_ns) {
  GroupAnswer a;
  const std::string name = absl::StrCat(g.pid, ":", g.path);
  // Our own mapping's validated counts bound every index read from the
  // snapshot (another mapping of the same file, read earlier).
  if (g.member_slot >= v.slot_count || g.entry >= v.group_entries) {
    a.problem = absl::StrCat("the job's block changed: ", name,
                             " is no longer in it");
    return a;
  }
  JobMember* owner = v.member(g.member_slot);
  // Acquire: pairs with the claimer's release store of Active; the pid and
  // start time after it are relaxed (ordered by it). agent_tid: acquire,
  // pairs with the agent's release store (job_block.h).
  if (owner->state.load(std::memory_order_acquire) != kMemberActive ||
      owner->pid.load(std::memory_order_relaxed) != g.pid ||
      owner->start_ticks.load(std::memory_order_relaxed) != g.start_ticks) {
    a.problem = absl::StrCat("member ", g.pid, " has left the job");
    return a;
  }
  const int32_t agent = owner->agent_tid.load(std::memory_order_acquire);
  if (agent <= 0) {
    a.problem = absl::StrCat(
        "member ", g.pid,
        " has no control agent (MEMGROUP_CONTROL=0, or it could not start "
        "one): its groups cannot be changed from outside");
    return a;
  }
  const uint32_t seq =
      JobGroupPost(v, g.entry, g.pid, g.start_ticks, g.group_id, req, owner);
  if (seq == 0) {
    a.problem = absl::StrCat("group ", name, " was destroyed");
    return a;
  }
  const int64_t deadline = MonotonicNanos() + timeout_ns;
  int64_t next_liveness = MonotonicNanos() + 50'000'000;
  const JobGroupEntry* e = JobGroupEntryAt(v, g.entry);
  for (;;) {
    if (JobGroupAnswered(v, g.entry, seq, &a.err, &a.reclaimed, &a.purged)) {
      a.answered = true;
      return a;
    }
    if (!JobGroupHolds(v, g.entry, g.pid, g.start_ticks, g.group_id)) {
      a.problem = absl::StrCat("group ", name,
                               " was destroyed before its member answered");
      return a;
    }
    const int64_t now = MonotonicNanos();
    if (now >= deadline) {
      a.problem = absl::StrCat("member ", g.pid, " did not answer within ",
                               timeout_ns / 1'000'000, " ms");
      return a;
    }
    if (now >= next_liveness) {
      next_liveness = now + 50'000'000;
      uint64_t start = 0;
      bool alive = false;
      if (!ReadProcStart(g.pid, &start, &alive) || !alive ||
          start != g.start_ticks) {
        a.problem = absl::StrCat("member ", g.pid, " exited before answering");
        return a;
      }
      if (!ThreadExists(g.pid, agent)) {
        a.problem = absl::StrCat("member ", g.pid,
                                 " no longer has its control agent");
        return a;
      }
    }
    // Relaxed: only the futex's expected value; the answer is read with
    // acquire by JobGroupAnswered.
    const uint32_t now_seq = e->answer_seq.load(std::memory_order_relaxed);
    if (now_seq == seq) continue;
    int64_t wait = deadline - now;
    if (wait > 10'000'000) wait = 10'000'000;
    SysFutexWaitShared(reinterpret_cast<const uint32_t*>(&e->answer_seq),
                       now_seq, wait);
  }
}

namespace {

bool Succeeded(const GroupAnswer& a, std::string* problem) {
  if (!a.answered) {
    *problem = a.problem;
    return false;
  }
  if (a.err != 0) {
    *problem =
        absl::StrCat("the member refused the request: ", strerror(a.err));
    return false;
  }
  return true;
}

}  // namespace

bool RefreshGroup(const JobRecord& job, JobGroupSnapshot* g,
                  std::string* problem) {
  JobGroupRequest req;
  req.mask = kGroupRefresh;
  GroupAnswer answer;
  JobGroupSnapshot fresh;
  bool again = false;
  absl::Status written = WithWritableJob(
      job.path,
      [&](const JobView& v) {
        answer = RequestGroup(v, *g, req, kRefreshTimeoutNs);
        // The entry alone, at once: the figures are as young as the answer.
        if (answer.answered) again = JobReadGroupAgain(v, *g, &fresh);
      },
      kRefreshLockWaitMs);
  if (!written.ok()) {
    *problem = std::string(written.message());
    return false;
  }
  if (!Succeeded(answer, problem)) return false;
  if (!again) {
    *problem = absl::StrCat("group ", g->pid, ":", g->path,
                            " left the table after its member answered");
    return false;
  }
  *g = fresh;
  return true;
}

}  // namespace memgroup::internal::cli
