// Implements fork.h.
#include "group/fork.h"

#include "group/job_member.h"
#include "group/limits.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/registry.h"
#include "group/thread_binding.h"
#include "group/thresholds.h"

namespace memgroup::internal {

void GroupPrepareFork() {
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
}

void GroupChildFork() {
  PressureChildFork();
  ThresholdsChildFork();
  ReclaimChildFork();
  Registry& reg = GlobalRegistry();
  reg.ChildFork();
  reg.stocks().AfterForkChild(t_thread.stock);
  // A job member's inherited stock was charged to its parent's slot: drain
  // it (the uncharge stops at the child's own charge, 0), so the child's
  // allocations charge the job.
  if (InJob() && t_thread.stock != nullptr) reg.stocks().DrainOwn(t_thread.stock);
  reg.ResetBindingsAfterFork(t_thread.status == kThreadReady ? t_thread.group
                                                             : kNoGroup);
  LimitsChildFork();
}

}  // namespace memgroup::internal
