// Implements job_events.h: an event counted locally at the refusing job
// level and hierarchically there and at every level enclosing it.
#include "counter/job_events.h"

#include <atomic>

namespace memgroup::internal {

void JobRaiseEvent(const JobLink* refusing, uint32_t event) {
  if (refusing == nullptr || refusing->node == nullptr ||
      event >= kJobEventCount) {
    return;
  }
  // Relaxed: independent statistics, read by observers one load each; no
  // other memory is published through them, and each is exact once the
  // raisers are done.
  refusing->node->events_local[event].fetch_add(1, std::memory_order_relaxed);
  // A chain has at most kJobMaxLevels links (JobLink::up); the bound guards
  // against a cycle no caller builds.
  uint32_t levels = 0;
  for (const JobLink* l = refusing; l != nullptr && levels < kJobMaxLevels;
       l = l->up, ++levels) {
    if (l->node == nullptr) continue;
    // Relaxed: as above.
    l->node->events[event].fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace memgroup::internal
