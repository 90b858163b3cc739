// Implements job_pressure.h. Allocates: never.
//
// SYNCHRONIZATION
// - A member's `stalling` flag is exchanged (acq_rel): exactly one caller
//   moves it 0 -> 1 (JobStallBegin) and one 1 -> 0 (JobStallEnd or
//   JobStallRelease), so each member adds 1 to the node's count once and
//   takes it back once.
// - stall_state is changed by CAS loops (acq_rel): the count and the
//   period's start move together. The member whose CAS takes the count
//   1 -> 0 then adds the period to stall_some_ns (fetch_add, release).
// - stall_last_end_ns: an ender raises it (CAS) before its CAS of
//   stall_state; a beginner that loaded (acquire, or the acquire of a
//   failed CAS) a stall_state value with count 0 loads it after, so it
//   sees every end whose CAS came before that value, and stamps the new
//   period no earlier than them: no instant is counted in two periods.
// - A reader loads stall_some_ns (acquire) before stall_state (acquire):
//   if it saw a period's addition it also sees the CAS that ended it
//   (release sequence: the CAS is before the fetch_add in the ender's
//   order), so no period is counted twice; one ending between the two
//   loads is missing from that read only.
// - some_avg, full_avg: relaxed stores by the one averager, relaxed loads
//   by readers (independent statistics, each value whole).
// - A member's `full_flag` moves by CAS (its own changes, under its root
//   group's stall lock in its process) or exchange (a release), acq_rel:
//   each move is made by one caller, which then applies its change to
//   full_state. The changes are +1/-1 on the counts and commute, so the
//   order in which two callers reach full_state does not matter (but for
//   a decrement below 0, dropped: job_pressure.h).
// - full_state changes by CAS loops (acq_rel); the caller whose CAS
//   replaced a fully stalled state adds the interval it closed to
//   stall_full_ns (fetch_add, release), as for `some`: a reader loads
//   stall_full_ns (acquire) before full_state (acquire), so an addition
//   it sees comes with the CAS that closed it and no interval is counted
//   twice.
#include "counter/job_pressure.h"

#include "base/float_math.h"

namespace memgroup::internal {
namespace {

constexpr uint64_t kCountMask = (uint64_t{1} << kJobStallCountBits) - 1;
constexpr uint64_t kTimeMask = (uint64_t{1} << kJobStallTimeBits) - 1;
constexpr double kWindowsSec[3] = {10, 60, 300};

uint64_t Micros(int64_t now_ns) {
  return now_ns <= 0 ? 0 : static_cast<uint64_t>(now_ns) / 1000;
}

// Microseconds from the packed start to `now_us`, modulo 2^44; 0 for a
// start after `now_us` (a difference of 2^43 or more: a reader's clock read
// before a member stamped a new period; a member's own end never is, its
// clock read follows the CAS that stamped the start).
uint64_t Elapsed(uint64_t state, uint64_t now_us) {
  const uint64_t start = state >> kJobStallCountBits;
  const uint64_t elapsed = (now_us - start) & kTimeMask;
  return elapsed >= (kTimeMask >> 1) + 1 ? 0 : elapsed;
}

void NodeBegin(JobNode* node, int64_t now_ns) {
  // Acquire: a value an ender's CAS wrote makes its raise of
  // stall_last_end_ns, before that CAS, visible to the load below.
  uint64_t s = node->stall_state.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t count = s & kCountMask;
    // A count at its bound (a hostile block; members are at most 65536)
    // is left as it is: the period goes on.
    if (count == kCountMask) return;
    uint64_t start = s >> kJobStallCountBits;
    if (count == 0) {
      // A new period starts now, or at the last end if that is later (our
      // clock read may precede it). Acquire: see SYNCHRONIZATION.
      const int64_t last =
          node->stall_last_end_ns.load(std::memory_order_acquire);
      start = Micros(last > now_ns ? last : now_ns) & kTimeMask;
    }
    const uint64_t next = (start << kJobStallCountBits) | (count + 1);
    // acq_rel; acquire on failure: the next pass reads the fresh value's
    // last end (SYNCHRONIZATION).
    if (node->stall_state.compare_exchange_weak(s, next,
                                                std::memory_order_acq_rel,
                                                std::memory_order_acquire)) {
      return;
    }
  }
}

void NodeEnd(JobNode* node, int64_t now_ns) {
  const uint64_t now_us = Micros(now_ns);
  // The last end is raised first (relaxed load, acq_rel CAS: released by
  // the stall_state CAS below, which comes after it in this thread).
  int64_t last = node->stall_last_end_ns.load(std::memory_order_relaxed);
  while (last < now_ns &&
         !node->stall_last_end_ns.compare_exchange_weak(
             last, now_ns, std::memory_order_acq_rel,
             std::memory_order_relaxed)) {
  }
  // Relaxed first load: the CAS below validates it.
  uint64_t s = node->stall_state.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t count = s & kCountMask;
    if (count == 0) return;  // a hostile block's: nothing to end
    const uint64_t next =
        count == 1 ? 0 : (s & ~kCountMask) | (count - 1);
    // acq_rel: see SYNCHRONIZATION.
    if (node->stall_state.compare_exchange_weak(s, next,
                                                std::memory_order_acq_rel,
                                                std::memory_order_relaxed)) {
      if (count == 1) {
        // Release: after the CAS that ended the period (SYNCHRONIZATION).
        node->stall_some_ns.fetch_add(
            static_cast<int64_t>(Elapsed(s, now_us) * 1000),
            std::memory_order_release);
      }
      return;
    }
  }
}

constexpr uint64_t kFullCountMask = (uint64_t{1} << kJobFullCountBits) - 1;
constexpr uint64_t kFullTimeMask = (uint64_t{1} << kJobFullTimeBits) - 1;
constexpr uint32_t kFullTimeShift = 2 * kJobFullCountBits;
// A stamp this far (us) after a caller's clock read is taken as later.
constexpr uint64_t kFullSkewUs = uint64_t{1} << 24;

uint64_t FullRunning(uint64_t s) { return s & kFullCountMask; }
uint64_t FullStalled(uint64_t s) {
  return (s >> kJobFullCountBits) & kFullCountMask;
}
uint64_t FullTime(uint64_t s) { return s >> kFullTimeShift; }
bool IsFull(uint64_t s) { return FullRunning(s) == 0 && FullStalled(s) > 0; }

// The later of a clock read and a stamp, both modulo 2^30 us: the stamp
// when it is at most kFullSkewUs ahead (a change made after the caller
// read its clock), else the clock.
uint64_t Later(uint64_t now_us, uint64_t stamp) {
  const uint64_t ahead = (stamp - now_us) & kFullTimeMask;
  return ahead != 0 && ahead <= kFullSkewUs ? stamp : now_us;
}

// A count moved by `d` (-1, 0, +1) within [0, the field's maximum].
uint64_t Step(uint64_t count, int d) {
  if (d < 0) return count == 0 ? 0 : count - 1;
  if (d > 0) return count == kFullCountMask ? count : count + 1;
  return count;
}

// Applies one change of the counts (or none: a tick), stamping the later
// of now and the last stamp and accruing a closed fully stalled interval.
void FullApply(JobNode* node, int d_running, int d_stalled, int64_t now_ns) {
  const uint64_t now_us = Micros(now_ns) & kFullTimeMask;
  // Relaxed first load: the CAS below validates it.
  uint64_t s = node->full_state.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t stamp = Later(now_us, FullTime(s));
    const uint64_t next = (stamp << kFullTimeShift) |
                          (Step(FullStalled(s), d_stalled)
                           << kJobFullCountBits) |
                          Step(FullRunning(s), d_running);
    // acq_rel: see SYNCHRONIZATION.
    if (node->full_state.compare_exchange_weak(s, next,
                                               std::memory_order_acq_rel,
                                               std::memory_order_relaxed)) {
      const uint64_t elapsed = (stamp - FullTime(s)) & kFullTimeMask;
      if (IsFull(s) && elapsed != 0) {
        // Release: after the CAS that closed the interval
        // (SYNCHRONIZATION).
        node->stall_full_ns.fetch_add(static_cast<int64_t>(elapsed * 1000),
                                      std::memory_order_release);
      }
      return;
    }
  }
}

}  // namespace

void JobFullJoin(JobNode* node, JobMember* m, int64_t now_ns) {
  uint32_t expected = kFullNone;
  // acq_rel: see SYNCHRONIZATION (one caller moves the flag).
  if (!m->full_flag.compare_exchange_strong(expected, kFullRunning,
                                            std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
    return;
  }
  FullApply(node, +1, 0, now_ns);
}

void JobFullChange(JobNode* node, JobMember* m, bool stalled,
                   int64_t now_ns) {
  uint32_t expected = stalled ? kFullRunning : kFullStalled;
  // acq_rel: see SYNCHRONIZATION.
  if (!m->full_flag.compare_exchange_strong(
          expected, stalled ? kFullStalled : kFullRunning,
          std::memory_order_acq_rel, std::memory_order_relaxed)) {
    return;
  }
  FullApply(node, stalled ? -1 : +1, stalled ? +1 : -1, now_ns);
}

bool JobFullRelease(JobNode* node, JobMember* m, int64_t now_ns) {
  // acq_rel: see SYNCHRONIZATION.
  const uint32_t was = m->full_flag.exchange(kFullNone,
                                             std::memory_order_acq_rel);
  if (was == kFullRunning) {
    FullApply(node, -1, 0, now_ns);
  } else if (was == kFullStalled) {
    FullApply(node, 0, -1, now_ns);
  } else {
    return false;  // not counted (or a hostile block's value)
  }
  return true;
}

void JobFullInit(JobNode* node, int64_t now_ns) {
  // Relaxed: nobody else has the block yet (its creator publishes it).
  node->full_state.store((Micros(now_ns) & kFullTimeMask) << kFullTimeShift,
                         std::memory_order_relaxed);
}

void JobFullTick(JobNode* node, int64_t now_ns) {
  FullApply(node, 0, 0, now_ns);
}

int64_t JobStallFullNs(const JobNode* node, int64_t now_ns) {
  // Acquire, in this order: see SYNCHRONIZATION.
  const int64_t done = node->stall_full_ns.load(std::memory_order_acquire);
  const uint64_t s = node->full_state.load(std::memory_order_acquire);
  int64_t total = done < 0 ? 0 : done;  // a hostile block's value
  if (IsFull(s)) {
    const uint64_t now_us = Micros(now_ns) & kFullTimeMask;
    const uint64_t stamp = Later(now_us, FullTime(s));
    const int64_t cur = static_cast<int64_t>(
        ((stamp - FullTime(s)) & kFullTimeMask) * 1000);
    total = cur > INT64_MAX - total ? INT64_MAX : total + cur;
  }
  return total;
}

void JobFullMembers(const JobNode* node, uint32_t* running,
                    uint32_t* stalled) {
  // Relaxed: a statistic.
  const uint64_t s = node->full_state.load(std::memory_order_relaxed);
  *running = static_cast<uint32_t>(FullRunning(s));
  *stalled = static_cast<uint32_t>(FullStalled(s));
}

void JobStallBegin(JobNode* node, JobMember* m, int64_t now_ns) {
  // acq_rel: see SYNCHRONIZATION (one transition per member).
  if (m->stalling.exchange(1, std::memory_order_acq_rel) != 0) return;
  NodeBegin(node, now_ns);
}

void JobStallEnd(JobNode* node, JobMember* m, int64_t now_ns) {
  JobStallRelease(node, m, now_ns);
}

bool JobStallRelease(JobNode* node, JobMember* m, int64_t now_ns) {
  // acq_rel: see SYNCHRONIZATION. Any value but 0 counts as set (a
  // hostile block's).
  if (m->stalling.exchange(0, std::memory_order_acq_rel) == 0) return false;
  NodeEnd(node, now_ns);
  return true;
}

int64_t JobStallSomeNs(const JobNode* node, int64_t now_ns) {
  // Acquire, in this order: see SYNCHRONIZATION.
  const int64_t done = node->stall_some_ns.load(std::memory_order_acquire);
  const uint64_t s = node->stall_state.load(std::memory_order_acquire);
  int64_t total = done < 0 ? 0 : done;  // a hostile block's value
  if ((s & kCountMask) != 0) {
    const int64_t cur = static_cast<int64_t>(Elapsed(s, Micros(now_ns)) * 1000);
    total = cur > INT64_MAX - total ? INT64_MAX : total + cur;
  }
  return total;
}

uint32_t JobStalledMembers(const JobNode* node) {
  // Relaxed: a statistic.
  return static_cast<uint32_t>(
      node->stall_state.load(std::memory_order_relaxed) & kCountMask);
}

namespace {

// The rate of stall time since the last sample, in [0, 1].
double Rate(int64_t total, int64_t last_total, int64_t dt) {
  // A total below the baseline is a period caught between a reader's two
  // loads: nothing new, and the baseline stays (job_pressure.h).
  const int64_t stalled = total > last_total ? total - last_total : 0;
  const double rate = static_cast<double>(stalled) / static_cast<double>(dt);
  return rate > 1 ? 1 : rate;  // at most all of the interval
}

void Fold(double avg[3], double rate, int64_t dt,
          std::atomic<uint32_t> out[3]) {
  for (int w = 0; w < 3; ++w) {
    const double decay = Exp(-(static_cast<double>(dt) / 1e9) /
                                  kWindowsSec[w]);
    avg[w] = avg[w] * decay + rate * (1 - decay);
    double hundredths = avg[w] * 10000 + 0.5;
    if (hundredths > 10000) hundredths = 10000;
    // Relaxed: see SYNCHRONIZATION (the averager is the only writer).
    out[w].store(static_cast<uint32_t>(hundredths), std::memory_order_relaxed);
  }
}

}  // namespace

void JobPressureUpdate(JobNode* node, JobPressureAverages* a, int64_t now_ns) {
  JobFullTick(node, now_ns);
  const int64_t total = JobStallSomeNs(node, now_ns);
  const int64_t full_total = JobStallFullNs(node, now_ns);
  if (a->last_ns == 0) {
    a->last_ns = now_ns;
    a->last_total = total;
    a->last_full_total = full_total;
    return;
  }
  const int64_t dt = now_ns - a->last_ns;
  if (dt < 1'000'000) return;
  Fold(a->avg, Rate(total, a->last_total, dt), dt, node->some_avg);
  Fold(a->full_avg, Rate(full_total, a->last_full_total, dt), dt,
       node->full_avg);
  a->last_ns = now_ns;
  if (total > a->last_total) a->last_total = total;
  if (full_total > a->last_full_total) a->last_full_total = full_total;
}

}  // namespace memgroup::internal
