// Whether the fork(2) in progress holds the library's locks across it. The
// fork handlers (alloc/fork.cc and the layers' handlers it calls) take each
// lock before fork so that the child never inherits one held by a thread
// it does not have. A process that has only ever had one thread (libc's
// __libc_single_threaded, which libc's own fork consults for its locks)
// has no such thread: its handlers take no lock, release none and reset
// none, so that a fork writes none of the pages that hold them, each a
// page the parent and the child would copy on write (a fork followed by an
// exec, as a shell or a build runs commands, pays those copies for
// nothing). Their other work (the child's own accounts) is unchanged.
// Allocates: never.
#ifndef MEMGROUP_SRC_BASE_FORK_LOCKS_H_
#define MEMGROUP_SRC_BASE_FORK_LOCKS_H_

#include <sys/single_threaded.h>

#include "base/spinlock.h"

namespace memgroup::internal {

// Plain: written by a prepare handler and read by the handlers of the same
// fork, all on the forking thread. true until the first fork decides.
inline constinit bool g_fork_holds_locks = true;

// Called by every layer's first prepare handler: all compute the same value
// during one fork (the flag only goes from true to false, by a thread
// creation, and no thread but the forking one runs while it is true).
// Written only when it changes: its page is one more the parent would copy
// at each fork.
inline void DecideForkLocks() {
  const bool holds = !__libc_single_threaded;
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

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_FORK_LOCKS_H_
