// A job member's groups in its innermost job's group table
// (counter/job_group_table.h): publishing the groups the process created
// through the C ABI (path, usage, peak, limits, events, OOM policy,
// failcnt, the memory.stat-like figures of stats_report.h, the pressure
// of pressure.h, and the counts of the threshold and pressure-level
// callbacks made for each group, group_state.h crossings) so that
// `memgroup stat/events/set/reclaim/top` see them, and the crossings of the
// callbacks on the root group (the member itself) in the member slot,
// withdrawing them when they are destroyed or the process exits, and carrying
// out the control requests posted to them from outside (limits, policy,
// reclaim, a refresh of the figures).
//
// Publication is a reconciliation of the registry's live groups with the
// process's entries: new groups are claimed (within kJobGroupsPerMember and
// the table's size; the rest are counted as unpublished), destroyed ones
// freed, the others' figures rewritten. It runs when the C ABI creates or
// destroys a group or changes its limits or policy (so a group is visible
// as soon as mg_group_create returns, and gone when mg_group_destroy
// returns), after each control request, and every kPublishIntervalNs from
// the control agent: the figures are at most that old. Never on the malloc
// path: an allocation costs nothing more.
//
// Must never: run inside malloc or a signal handler, allocate, call the
// engine or a layer above (the reclaim request's purge is the caller's
// callback; the heap bytes of a group's stat come through stats_report.h's
// hook, as for mg_group_stat). Allocates: never (reclaim callbacks may, in
// ServeGroupRequests). Thread-safe: yes (one process-local lock, taken
// before the registry's; never held while a request runs).
#ifndef MEMGROUP_SRC_GROUP_JOB_GROUPS_H_
#define MEMGROUP_SRC_GROUP_JOB_GROUPS_H_

#include <cstdint>

namespace memgroup::internal {

// How old the published figures may be: the control agent republishes at
// this interval while the process has groups.
inline constexpr int64_t kPublishIntervalNs = 100'000'000;

// Reconciles and refreshes the published groups (see the file comment).
// No-op outside a job or after UnpublishGroups. Returns true when the
// process has groups to keep fresh (published or left out).
bool PublishGroups();

// A threshold or pressure-level callback was registered on the root group
// (the C ABI): from now on every publication also writes the root's
// crossings into the member slot (job_slots.h JobPublishRootCrossings),
// and the agent keeps them fresh as it keeps groups (every
// kPublishIntervalNs). Publishes at once.
void WatchRootCrossings();

// Withdraws every entry of this process and stops publishing (exit hook).
void UnpublishGroups();

// Runs the requests posted to this process's entries: limits and policy
// through the group layer (SetLimit: v2 semantics, a max below usage
// reclaims then refuses), reclaim through ProactiveReclaim, then
// `purge(group)` for each group of the reclaimed subtree (the engine's
// free pages; returns the bytes returned to the OS). Answers each, then
// republishes. Returns how many requests it served.
uint32_t ServeGroupRequests(int64_t (*purge)(uint32_t group));

// fork(2): the lock is held across fork; the child forgets the parent's
// entries (they name the parent) and publishes its own from its agent.
void JobGroupsPrepareFork();
void JobGroupsParentFork();
void JobGroupsChildFork();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_JOB_GROUPS_H_
