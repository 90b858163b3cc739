// The process's pthread_atfork handlers: every memgroup lock is taken
// before fork in the documented order (thread start records, group layer,
// then mmap ranges, then the engine and jemalloc's own), released in the
// parent, reset in the child, whose lost threads' stocks are released and
// which, in a job, starts its own control agent.
// Must never: allocate, be registered before engine::Init (jemalloc's
// handlers must be registered first so that ours prepare first).
// Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_FORK_H_
#define MEMGROUP_SRC_ALLOC_FORK_H_

namespace memgroup::internal::alloc {

// Init only.
void RegisterForkHandlers();

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_FORK_H_
