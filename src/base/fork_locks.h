// Whether the fork(2) in progress holds the library's locks across it. The
// fork handlers (alloc/fork.cc and the layers' handlers it calls) take each
// lock before fork so that the child never inherits one held by a thread
// it does not have. A process whose forking thread is its only one has no
// such thread: a process that has only ever had one thread (libc's
// __libc_single_threaded, which libc's own fork consults for its locks), or
// one whose other threads have all exited (the kernel's count of its
// threads, read at each fork of a process that ever had another: git
// joins its worker threads before it runs a command), not counting a job
// member's control agent while it is parked. Its handlers then
// take no lock, release none and reset none, so that a fork writes none of
// the pages that hold them, each a page the parent and the child would
// copy on write (a fork followed by an exec, as a shell or a build runs
// commands, pays those copies for nothing). Their other work (the child's
// own accounts) is unchanged. Allocates: never.
#ifndef MEMGROUP_SRC_BASE_FORK_LOCKS_H_
#define MEMGROUP_SRC_BASE_FORK_LOCKS_H_

#include <sys/single_threaded.h>

#include <atomic>

#include "base/spinlock.h"
#include "base/sys.h"

namespace memgroup::internal {

// Plain: written by the first prepare handler and read by the handlers of
// the same fork, all on the forking thread. true (every lock held) until a
// fork decides, so that handlers registered on their own (the engine's, in
// its tests) always hold them.
inline constinit bool g_fork_holds_locks = true;

// Called once per fork, by the first prepare handler (alloc/fork.cc), before
// any lock is taken. `idle_threads` counts the library's own threads that
// are known to hold no lock and to take none until the fork is over (a job
// member's control agent, parked: alloc/control_agent.h); the fork takes no
// lock when they and the forking thread are all the threads there are.
// Written only when it changes: its page is one more the parent would copy
// at each fork.
inline void DecideForkLocks(int idle_threads) {
  // Only the forking thread runs this (and no idle thread starts one), so
  // the count cannot grow under it; a thread it still counts has not
  // exited and may hold a lock.
  const bool holds =
      !__libc_single_threaded && ProcessThreadCount() != 1 + idle_threads;
  if (g_fork_holds_locks != holds) g_fork_holds_locks = holds;
}

inline bool ForkHoldsLocks() { return g_fork_holds_locks; }

// One lock's steps across fork, each taken only when the fork holds locks:
// before fork, after it in the parent, after it in the child.
inline void ForkLock(SpinLock& lock) {
  if (g_fork_holds_locks) lock.Lock();
}
inline void ForkUnlock(SpinLock& lock) {
  if (g_fork_holds_locks) lock.Unlock();
}
inline void ForkReset(SpinLock& lock) {
  if (g_fork_holds_locks) lock.ResetAfterFork();
}

// In a fork child (one thread: relaxed): stores v in a only when a holds
// something else, so that a child handler that finds its word as it wants
// it leaves the page unwritten, one page less copied on write.
template <typename T>
inline void ChildStoreIfChanged(std::atomic<T>& a, T v) {
  if (a.load(std::memory_order_relaxed) != v) {
    a.store(v, std::memory_order_relaxed);
  }
}

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_FORK_LOCKS_H_
