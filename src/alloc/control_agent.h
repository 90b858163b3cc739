// The control agent of a job member: one thread per member process that
// waits on the request word of the process's member slots
// (counter/job_block.h, "Control requests") and answers `memgroup reclaim`
// (and `memgroup set` of a max below usage) from outside the process: it
// runs the process's reclaim callbacks for the bytes asked (the group
// layer's ProactiveReclaim on the root group, which drains the stocks
// first), returns the free pages of every group's engine arena to the OS
// (engine::Purge) and publishes both counts.
//
// Why a thread (docs/control.md, "The control agent"): it answers while
// every program thread is blocked in a system call, runs callbacks that may
// allocate (never from a signal handler), takes no signal number from the
// program and interrupts none of its system calls. It is started with every
// signal blocked (so signals still reach the program's threads), after init
// (the preload's constructor) and again in a fork child, whose copy of the
// process has no agent; an exec ends it with the old image and the new
// image starts its own.
// Must never: run from inside malloc or a signal handler, or hold a lock
// while it waits. Allocates: only as a normal thread (creation, callbacks).
#ifndef MEMGROUP_SRC_ALLOC_CONTROL_AGENT_H_
#define MEMGROUP_SRC_ALLOC_CONTROL_AGENT_H_

namespace memgroup::internal::alloc {

// Starts the agent if this process is a job member, has none yet and
// MEMGROUP_CONTROL is not 0. Call after init from a context that may
// create a thread (not inside malloc).
void StartControlAgent();

// fork(2) prepare, first, before the fork decides on its locks
// (base/fork_locks.h): fences the agent off; true when it is parked in its
// wait for a request, so that it holds no lock and takes none until
// ControlAgentParentFork lifts the fence, and the fork need not count it
// among the threads that may hold one. false when the process has no agent
// or it is awake (the fork counts it; it waits for the fence all the same).
bool ControlAgentPrepareFork();

// fork(2) parent, last: lifts the fence, waking the agent if it waits on it.
void ControlAgentParentFork();

// fork(2) child (last handler, after the job slots, engine and group layer
// are reset): the parent's agent did not survive; starts the child's.
void ControlAgentChildFork();

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_CONTROL_AGENT_H_
