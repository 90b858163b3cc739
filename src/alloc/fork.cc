// Implements fork.h.
#include "alloc/fork.h"

#include <pthread.h>

#include "alloc/control_agent.h"
#include "alloc/thread_start.h"
#include "base/limits.h"

#include "engine/engine.h"
#include "engine/free_pages.h"
#include "engine/mmap_tracker.h"
#include "group/charger.h"
#include "group/fork.h"
#include "group/job_member.h"

namespace memgroup::internal::alloc {
namespace {

void AtForkPrepare() {
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
}

void AtForkChild() {
  StartChildFork();
  // First: until the child has its own member slot, an uncharge would take
  // from its parent's.
  JobForkChild();
  engine::ChildFork();
  mmap_tracker::ChildFork();
  GroupChildFork();
  // The inherited free pages' charge is the parent's: uncharged here (with
  // the child's own stock and slot in place), before the child can take
  // it for a block (engine/free_pages.h); what the uncharge left in the
  // child's stock is drained too, so that no allocation of the child uses
  // it uncharged.
  if (engine::DropInheritedFreePages() > 0) (void)DrainSubtree(kRootGroup);
  // Last: a job member's child needs its own control agent (the parent's
  // thread did not survive the fork).
  ControlAgentChildFork();
}

}  // namespace

void RegisterForkHandlers() {
  pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
}

}  // namespace memgroup::internal::alloc
