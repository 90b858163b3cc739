// fork(2) handlers of the group layer, in its lock order: job groups lock
// (job_groups.h) -> limits lock ->
// registry lock -> stock drain lock -> stock grow lock -> reclaimer lock ->
// threshold lock -> pressure-callback lock. The embedding layer runs them
// from pthread_atfork around its own (engine, mmap ranges) handlers.
// Must never: allocate, call the engine or any layer above.
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_FORK_H_
#define MEMGROUP_SRC_GROUP_FORK_H_

namespace memgroup::internal {

// Takes every group-layer lock, in order.
void GroupPrepareFork();
// Releases them in the parent, in reverse order.
void GroupParentFork();
// Resets them in the child and releases the stocks of the threads that do
// not exist in the child (the forking thread keeps its own).
void GroupChildFork();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_FORK_H_
