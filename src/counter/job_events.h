// The job's events (memory.events and memory.events.local of a job node):
// raising one at the job level that refused and at every job level
// enclosing it (nested jobs), as the kernel's memcg_memory_event does up
// the cgroup tree.
// Owns: JobRaiseEvent. The counters' layout is job_block.h's (JobNode
// events, events_local).
//
// Allocates: never. Thread-safe: yes (relaxed increments of shared
// counters; any member process may raise at the same time).
#ifndef MEMGROUP_SRC_COUNTER_JOB_EVENTS_H_
#define MEMGROUP_SRC_COUNTER_JOB_EVENTS_H_

#include <cstdint>

#include "counter/job_block.h"

namespace memgroup::internal {

// Counts event `event` (a JobEvent; others are ignored) in `refusing`'s
// node: in its `events_local` and `events`, then in the `events` of each
// level above it (the link's `up` chain, the charge walk's levels that
// enclose it). A null link or node is a no-op.
void JobRaiseEvent(const JobLink* refusing, uint32_t event);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_EVENTS_H_
