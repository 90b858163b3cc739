// A thread's setup, rebinding and teardown as the allocator sees them: the
// group layer's charge binding (group/thread_binding.h) composed with the
// engine's fast-path binding (engine::BindThread) and the thread-exit key,
// so that the stock and the front cache always belong to the same group.
// Must never: be called before EnsureInit succeeded, allocate.
// Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_THREAD_H_
#define MEMGROUP_SRC_ALLOC_THREAD_H_

#include <cstdint>

namespace memgroup::internal::alloc {

// Creates the pthread key whose destructor runs ThreadExit. Init only.
bool CreateThreadExitKey();

// Sets the calling thread up once (group binding, engine binding to the
// group it inherited, thread-exit hook). No-op unless kThreadNew.
void PrepareThread();

// Moves the calling thread to `group` (index of a live group): the engine's
// binding first (false if it fails, nothing changed), then the charge
// binding. Allocates: never.
bool MoveThread(uint32_t group);

// The calling thread's current group, after moving it to the nearest live
// group if its group was destroyed (group/thread_binding.h,
// LiveBindingTarget). Sets the thread up first. Allocates: never.
uint32_t CurrentGroup();

// The group a slow-path allocation or mapping of the calling thread is
// charged to: CurrentGroup() for a live thread; after thread exit, the
// group it had. Allocates: never.
uint32_t CallerGroup();

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_THREAD_H_
