// Implements job_slots.h's publication of a member's root group stat bytes
// (heap, mmap, explicit, stock, stock_bound, reclaimed, engine_free,
// engine_cached, engine_slack) in its slot, and
// their reading by `memgroup stat`. Allocates: never.
//
// SYNCHRONIZATION
// - Every figure and the publication time are relaxed stores by the one
//   writer (the member's control agent; the claimer when it zeroes them,
//   while no other image of the slot runs) and relaxed loads by readers:
//   each is an independent statistic, whole as one atomic, and no reader
//   relates one to another or uses one as a bound. A reader may so sum
//   figures of two publications, never more than one refresh apart.
#include <atomic>
#include <cstdint>

#include "counter/job_slots.h"

namespace memgroup::internal {
namespace {

// The slot's figure `k` (JobRootStat order): root_stat, then
// root_stat_engine. `Member`: JobMember or const JobMember.
template <typename Member>
auto& RootStatAt(Member* m, uint32_t k) {
  return k < kRootStatEngineFree ? m->root_stat[k]
                                 : m->root_stat_engine[k - kRootStatEngineFree];
}

}  // namespace

void JobPublishRootStat(JobMember* m, const int64_t stat[kJobRootStats],
                        int64_t now_ns) {
  for (uint32_t k = 0; k < kJobRootStats; ++k) {
    // Relaxed: see SYNCHRONIZATION.
    RootStatAt(m, k).store(stat[k], std::memory_order_relaxed);
  }
  // Relaxed: see SYNCHRONIZATION.
  m->root_stat_ns.store(now_ns, std::memory_order_relaxed);
}

int64_t JobReadRootStat(const JobMember* m, int64_t stat[kJobRootStats]) {
  for (uint32_t k = 0; k < kJobRootStats; ++k) {
    // Relaxed: see SYNCHRONIZATION.
    stat[k] = RootStatAt(m, k).load(std::memory_order_relaxed);
  }
  // Relaxed: see SYNCHRONIZATION.
  return m->root_stat_ns.load(std::memory_order_relaxed);
}

}  // namespace memgroup::internal
