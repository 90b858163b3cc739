// Explicit jemalloc tcaches for the large blocks of the groups a thread is
// not bound to: one per (thread, group), at most kThreadTcaches per thread
// and kTcacheBudget per process, else MALLOCX_TCACHE_NONE. Also the flush of
// the automatic tcache (the bound group's). Owner-thread only.
// Allocates: never (through malloc).
#ifndef MEMGROUP_SRC_ENGINE_TCACHE_SLOTS_H_
#define MEMGROUP_SRC_ENGINE_TCACHE_SLOTS_H_

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

// Returns the blocks of the thread's automatic tcache (the bound group's) to
// their arena: on rebind, Purge and ThreadExit.
inline void FlushAutomaticTcache() {
  mgje_mallctlbymib(g_mibs.thread_tcache_flush.v, g_mibs.thread_tcache_flush.len,
                    nullptr, nullptr, nullptr, 0);
}

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_TCACHE_SLOTS_H_
