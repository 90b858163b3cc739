// Implements job_slots.h's control requests: the member slot's request
// fields through which `memgroup reclaim` and `set` ask a member's control
// agent for work, and the agent's wait and answer. Raw system calls only
// (src/base/sys.h). Allocates: never.
//
// SYNCHRONIZATION
// - The requester's writes of request_bytes happen before its release
//   increment of request_seq; the agent's acquire load of request_seq makes
//   them visible, and the agent takes them with a relaxed exchange (0).
//   A nudge (JobNudgeAgent, a job-level refusal in a member, which does not
//   hold the flock) only increments request_seq, so it never overwrites a
//   flock holder's bytes; overlapping requests are answered by one answer
//   (answer_seq at or after each requester's number). The agent's writes of reclaimed and purged happen before
//   its release store of answer_seq; the requester's acquire load of
//   answer_seq makes them visible. agent_tid is stored (release) after
//   answer_seq, so a requester that sees the tid (acquire) also sees a
//   settled answer_seq.
#include <atomic>
#include <climits>
#include <cstdint>

#include "base/sys.h"
#include "counter/job_block.h"
#include "counter/job_slots.h"

namespace memgroup::internal {

uint32_t JobAgentListen(JobMember* m, int32_t tid) {
  // Acquire: pairs with a requester's release increment; what was posted
  // before the agent listened is not for it (the previous owner's).
  const uint32_t seen = m->request_seq.load(std::memory_order_acquire);
  // Release: a requester that reads answer_seq == its number knows the
  // answer fields are written; here nothing is pending.
  m->answer_seq.store(seen, std::memory_order_release);
  // Release: after answer_seq (see SYNCHRONIZATION).
  m->agent_tid.store(tid, std::memory_order_release);
  return seen;
}

bool JobAgentWait(JobMember* m, uint32_t seen, int64_t timeout_ns,
                  uint32_t* seq, int64_t* bytes) {
  const auto* word = reinterpret_cast<const uint32_t*>(&m->request_seq);
  // Acquire: pairs with JobPostRequest's release increment (request_bytes).
  uint32_t now = m->request_seq.load(std::memory_order_acquire);
  if (now == seen) {
    if (timeout_ns == 0) return false;
    // A shared futex: the requester is another process. Returns on a wake,
    // a change of the word, a signal or the timeout; the reload decides.
    SysFutexWaitShared(word, seen, timeout_ns);
    // Acquire: as above.
    now = m->request_seq.load(std::memory_order_acquire);
    if (now == seen) return false;
  }
  *seq = now;
  // Relaxed: ordered by the acquire load of request_seq. Taken (zeroed), so
  // that a nudge (JobNudgeAgent), which posts no bytes, never serves a
  // flock holder's earlier request a second time.
  int64_t b = m->request_bytes.exchange(0, std::memory_order_relaxed);
  *bytes = b > 0 ? b : 0;
  return true;
}

void JobAgentAnswer(JobMember* m, uint32_t seq, int64_t reclaimed,
                    int64_t purged) {
  // Relaxed: published by the release store of answer_seq.
  m->reclaimed.store(reclaimed, std::memory_order_relaxed);
  m->purged.store(purged, std::memory_order_relaxed);
  // Release: pairs with JobAnswered's acquire load.
  m->answer_seq.store(seq, std::memory_order_release);
  SysFutexWakeShared(reinterpret_cast<const uint32_t*>(&m->answer_seq),
                     INT_MAX);
}

uint32_t JobPostRequest(JobMember* m, int64_t bytes) {
  // Relaxed: published by the release increment below.
  m->request_bytes.store(bytes > 0 ? bytes : 0, std::memory_order_relaxed);
  // Release: pairs with the agent's acquire load of request_seq.
  const uint32_t seq =
      m->request_seq.fetch_add(1, std::memory_order_release) + 1;
  SysFutexWakeShared(reinterpret_cast<const uint32_t*>(&m->request_seq),
                     INT_MAX);
  return seq;
}

uint32_t JobNudgeAgent(JobMember* m) {
  // Release: pairs with the agent's acquire load of request_seq (no data
  // of its own; it keeps the order of JobPostRequest's).
  const uint32_t seq =
      m->request_seq.fetch_add(1, std::memory_order_release) + 1;
  SysFutexWakeShared(reinterpret_cast<const uint32_t*>(&m->request_seq),
                     INT_MAX);
  return seq;
}

bool JobAnswered(const JobMember* m, uint32_t seq, int64_t* reclaimed,
                 int64_t* purged) {
  // Acquire: pairs with JobAgentAnswer's release store. Answered when the
  // agent's number is `seq` or after it (wrapping serial arithmetic: the
  // two are never 2^31 requests apart).
  const uint32_t answered = m->answer_seq.load(std::memory_order_acquire);
  if (static_cast<int32_t>(answered - seq) < 0) return false;
  // Relaxed: ordered by the acquire load above. Values written by another
  // process: clamped at 0 here, summed with overflow checks by the caller.
  const int64_t r = m->reclaimed.load(std::memory_order_relaxed);
  const int64_t p = m->purged.load(std::memory_order_relaxed);
  *reclaimed = r > 0 ? r : 0;
  *purged = p > 0 ? p : 0;
  return true;
}

bool JobRequestPending(const JobMember* m) {
  // Acquire, both: pair with the release increment and the release store
  // of the requester and the agent. A hint only: a stale pair makes the
  // caller ask once more or skip the member for this refusal.
  return m->request_seq.load(std::memory_order_acquire) !=
         m->answer_seq.load(std::memory_order_acquire);
}

}  // namespace memgroup::internal
