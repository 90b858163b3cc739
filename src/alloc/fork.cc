// Implements fork.h.
#include "alloc/fork.h"

#include <pthread.h>

#include "alloc/control_agent.h"
#include "alloc/thread_start.h"
#include "base/fork_locks.h"
#include "base/limits.h"

#include "engine/engine.h"
#include "engine/mmap_tracker.h"
#include "group/charger.h"
#include "group/fork.h"
#include "group/job_member.h"

namespace memgroup::internal::alloc {
namespace {

void AtForkPrepare() {
  // First: every handler below asks whether this fork holds locks, and a
  // job member's control agent, parked and fenced off, is not counted.
  DecideForkLocks(ControlAgentPrepareFork() ? 1 : 0);
  StartPrepareFork();
  GroupPrepareFork();
  mmap_tracker::PrepareFork();
  engine::PrepareFork();
}

void AtForkParent() {
  engine::ParentFork();
  mmap_tracker::ParentFork();
  GroupParentFork();
  StartParentFork();
  // Last: the agent may take the locks again.
  ControlAgentParentFork();
}

void AtForkChild() {
  StartChildFork();
  // First: until the child has its own member slot, an uncharge would take
  // from its parent's.
  JobForkChild();
  engine::ChildFork();
  mmap_tracker::ChildFork();
  GroupChildFork();
  // With the child's own slots and stock in place, before it charges
  // anything: the engine's charges inherited from the parent (its free
  // pages, its cached large blocks) leave the child's counters (in a job
  // its slots give back at most what it charged, 0 so far), and what that
  // put in the thread's stock is drained, so that no block of the child
  // is served from them uncharged (engine.h).
  if (engine::ChildForkDropInherited() > 0) (void)DrainSubtree(kRootGroup);
  // Last: a job member's child needs its own control agent (the parent's
  // thread did not survive the fork).
  ControlAgentChildFork();
}

}  // namespace

void RegisterForkHandlers() {
  pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
}

}  // namespace memgroup::internal::alloc
