// Implements fork.h.
#include "group/fork.h"

#include "group/job_groups.h"
#include "group/job_member.h"
#include "group/limits.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/registry.h"
#include "group/thread_binding.h"
#include "group/thresholds.h"

namespace memgroup::internal {

void GroupPrepareFork() {
  JobGroupsPrepareFork();
  LimitsPrepareFork();
  GlobalRegistry().PrepareFork();
  GlobalRegistry().stocks().PrepareFork();
  ReclaimPrepareFork();
  ThresholdsPrepareFork();
  PressurePrepareFork();
}

void GroupParentFork() {
  PressureParentFork();
  ThresholdsParentFork();
  ReclaimParentFork();
  GlobalRegistry().stocks().ParentFork();
  GlobalRegistry().ParentFork();
  LimitsParentFork();
  JobGroupsParentFork();
}

void GroupChildFork() {
  PressureChildFork();
  ThresholdsChildFork();
  ReclaimChildFork();
  Registry& reg = GlobalRegistry();
  reg.ChildFork();
  reg.stocks().AfterForkChild(t_thread.stock);
  if (reg.stocks().shared()) {
    // The thread's stock is its parent's (shared memory, emptied and frozen
    // by the parent's PrepareFork): never touched here. A new one, from
    // this process's own chunk of the job's stock area.
    if (t_thread.stock != nullptr) {
      t_thread.stock = reg.stocks().Acquire();
      reg.stocks().SetPrimary(t_thread.stock, t_thread.group);
    }
  } else if (InJob() && t_thread.stock != nullptr) {
    // A job member's inherited stock was charged to its parent's slot:
    // drain it (the uncharge stops at the child's own charge, 0), so the
    // child's allocations charge the job.
    reg.stocks().DrainOwn(t_thread.stock);
  }
  reg.ResetBindingsAfterFork(t_thread.status == kThreadReady ? t_thread.group
                                                             : kNoGroup);
  LimitsChildFork();
  JobGroupsChildFork();
}

}  // namespace memgroup::internal
