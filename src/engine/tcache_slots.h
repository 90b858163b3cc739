// Explicit jemalloc tcaches for large blocks: for the groups a thread is not
// bound to, one per (thread, group), at most kThreadTcaches per thread and
// kTcacheBudget per process, else MALLOCX_TCACHE_NONE; for the bound group,
// one per thread, taken the first time the thread hands jemalloc a block
// that jemalloc caches (jemalloc's automatic tcache is off,
// jemalloc_glue.cc: a thread that never needs one never builds one).
// Owner-thread only. Allocates: never (through malloc).
#ifndef MEMGROUP_SRC_ENGINE_TCACHE_SLOTS_H_
#define MEMGROUP_SRC_ENGINE_TCACHE_SLOTS_H_

#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/engine_internal.h"
#include "engine/jemalloc_private.h"

namespace memgroup::internal::engine {

// Explicit tcaches: jemalloc allows 4094 per process. Each thread keeps at
// most kThreadTcaches (one per non-bound group it uses); the process at most
// kTcacheBudget, leaving headroom for anything else that creates one.
inline constexpr uint32_t kThreadTcaches = 8;
inline constexpr int32_t kTcacheBudget = 4000;

struct TcacheSlot {
  uint32_t group;
  unsigned tc;
};
// The thread's slots: t_tc[0, t_ntc) are in use. Owner-only.
MG_HIDDEN extern MG_TLS uint32_t t_ntc;
MG_HIDDEN extern MG_TLS TcacheSlot t_tc[kThreadTcaches];

// TcacheFlags' miss: takes a free slot, or recycles one after
// kEvictAfterMisses misses. Never after ThreadExit.
MG_NOINLINE int TcacheFlagsSlow(uint32_t group);

// The tcache flag for a block of `group` that is not the bound group: this
// thread's explicit tcache for the group, or MALLOCX_TCACHE_NONE. Never the
// automatic tcache. Allocates: never (through malloc).
MG_ALWAYS_INLINE int TcacheFlags(uint32_t group) {
  for (uint32_t i = 0; i < t_ntc; ++i) {
    if (t_tc[i].group == group) return MALLOCX_TCACHE(t_tc[i].tc);
  }
  return TcacheFlagsSlow(group);
}

// Flushes the thread's explicit tcache of `group`, if it has one (Purge).
void FlushThreadTcacheOf(uint32_t group);
// Destroys the thread's explicit tcache of `group`, if it has one, and frees
// its slot (ReleaseGroup: the group was destroyed).
void DropThreadTcacheOf(uint32_t group);
// Explicit tcaches, in any thread, that were used with `group`'s blocks and
// not destroyed since: while it is not 0 one of them may cache a block of
// the group, and its arena must not be retired. Read with acquire: the
// destroying thread's flush happens before a 0 is read.
uint32_t TcacheUsers(uint32_t group);
// Destroys all of the thread's explicit tcaches (ThreadExit).
void DestroyThreadTcaches();

// The largest block jemalloc's tcaches hold (jemalloc_glue.cc's
// tcache_max): larger ones go to the arena whatever the flags say.
inline constexpr size_t kTcacheMaxBytes = MG_JE_TCACHE_MAX;

// The thread's tcache for its bound group's blocks: MALLOCX_TCACHE(tc), 0
// until the first block that needs it (and after ThreadExit),
// MALLOCX_TCACHE_NONE when none could be made (kTcacheBudget). It holds only
// the bound group's blocks: BindThread flushes it before the thread's next
// group can use it. Owner-only.
MG_HIDDEN extern MG_TLS int t_bound_tc;

// BoundTcacheFlags' first need: makes the tcache. Never after ThreadExit.
MG_NOINLINE int BoundTcacheSlow();

// The tcache flag for a block of `usable` bytes of the bound group, going
// to or coming from jemalloc without an arena flag (thread.arena is the
// group's): the bound tcache when jemalloc would cache such a block, else 0
// (the automatic tcache, which is off: none). Allocates: never (through
// malloc).
MG_ALWAYS_INLINE int BoundTcacheFlags(size_t usable) {
  if (usable > kTcacheMaxBytes) return 0;
  const int flags = t_bound_tc;
  return MG_LIKELY(flags != 0) ? flags : BoundTcacheSlow();
}

// Returns the blocks of the thread's bound tcache to their arena: on rebind
// and Purge.
void FlushBoundTcache();
// Destroys the thread's bound tcache (ThreadExit).
void DestroyBoundTcache();

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_TCACHE_SLOTS_H_
