// Each thread's charge binding: its current group, its stock and its
// slow-path depth (the one re-entrancy guard of the library). Owns
// ThreadState and moving a thread between groups on the group layer's side
// (stock drain, primary slot, PSI membership).
// Must never: call the engine or any layer above (the charging allocator,
// src/alloc, composes this binding with the engine's), allocate, or take a
// lock other than the PSI membership lock of the groups involved.
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_THREAD_BINDING_H_
#define MEMGROUP_SRC_GROUP_THREAD_BINDING_H_

#include <cstdint>

#include "base/macros.h"
#include "counter/charge_stock.h"
#include "group/registry.h"

namespace memgroup::internal {

// One thread's binding. Initial-exec TLS, zero-initialised: a new thread has
// no stock (fails the fast-path compare) and is in the root group until
// SetupThread runs on its first slow-path call.
struct ThreadState {
  // Index of the thread's current group. Owner-only.
  uint32_t group;
  // Reentrancy depth of the slow path (allocations made by reclaim callbacks,
  // the OOM handler or the engine while we are inside the slow path).
  uint32_t depth;
  // The thread's stock; nullptr before setup and after thread exit.
  ThreadStock* stock;
  // kThreadNew, kThreadReady or kThreadExited.
  uint32_t status;
  // Group index the creating thread passed on (pthread_create hook), +1; 0
  // means none.
  uint32_t inherited_group_plus1;
  // Generation of `group` when the thread was bound to it: a destroyed and
  // reused slot is noticed on the next slow path. Owner-only.
  uint32_t generation;
  // Nonzero in the library's own threads (the control agent): they are not
  // PSI members of any group and their stalls are not counted, so a
  // program whose every thread stalls is `full` whatever the agent does.
  // Owner-only.
  uint32_t library;
};

inline constexpr uint32_t kThreadNew = 0;
inline constexpr uint32_t kThreadReady = 1;
inline constexpr uint32_t kThreadExited = 2;

MG_HIDDEN extern MG_TLS ThreadState t_thread;

// Raises the calling thread's slow-path depth for its lifetime: charges made
// meanwhile (by reclaim callbacks, OOM handlers, threshold callbacks, the
// engine) skip the stock and never re-enter reclaim. The only re-entrancy
// guard; every slow path that calls out uses it. Allocates: never.
class DepthGuard {
 public:
  DepthGuard() { ++t_thread.depth; }
  ~DepthGuard() { --t_thread.depth; }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;
};

// Prepares the calling thread's binding (stock, group inherited from its
// creator, PSI membership) once. Does not bind the engine. Allocates: never.
void SetupThread();

// Marks the calling thread as one of the library's own (ThreadState::library)
// before its first charge or uncharge; one already set up leaves its group's
// PSI membership. Allocates: never.
void MarkLibraryThread();

// Whether the calling thread is one of the library's own: its stalls are
// not counted (group/pressure.h). Allocates: never.
inline bool IsLibraryThread() { return t_thread.library != 0; }

// Thread exit: drains and releases the stock and drops the thread's
// binding count on its group's slot. Later charges of this thread go
// directly to the counter. Allocates: never.
void TeardownThread();

// Moves the calling (set-up) thread's binding to `group` (index of a live
// group): drains its stock (the stock always belongs to the bound group),
// moves slot 0, the PSI membership and the slot's binding count (the
// caller flushed the engine's caches of the old group first). Binding the group the thread is
// already in re-confirms the generation of the group living in that slot.
// Allocates: never.
void BindThreadGroup(uint32_t group);

// The group the calling thread should be charged to now: its group while
// that group lives; the nearest live ancestor once it was destroyed (the
// slot is not reused while a thread is bound to it, Registry::Bind, so the
// ancestry is known). A thread bound to a destroyed group misses on its next
// stock operation (the destroy retires its stock slots, charge_stock.h), so
// its next charge, fast path included, comes here. Changes nothing.
// Allocates: never.
uint32_t LiveBindingTarget();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_THREAD_BINDING_H_
