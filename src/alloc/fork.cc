// Implements fork.h.
#include "alloc/fork.h"

#include <pthread.h>

#include "engine/engine.h"
#include "engine/mmap_tracker.h"
#include "group/fork.h"
#include "group/job_member.h"

namespace memgroup::internal::alloc {
namespace {

void AtForkPrepare() {
  GroupPrepareFork();
  mmap_tracker::PrepareFork();
  engine::PrepareFork();
}

void AtForkParent() {
  engine::ParentFork();
  mmap_tracker::ParentFork();
  GroupParentFork();
}

void AtForkChild() {
  // First: until the child has its own member slot, an uncharge would take
  // from its parent's.
  JobForkChild();
  engine::ChildFork();
  mmap_tracker::ChildFork();
  GroupChildFork();
}

}  // namespace

void RegisterForkHandlers() {
  pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
}

}  // namespace memgroup::internal::alloc
