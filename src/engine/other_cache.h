// The thread's second front cache, t_other: the small blocks of one group
// the thread is not bound to (mg_malloc_in, frees of that group's blocks),
// so that those do not take their slab bin's lock once per block. It holds
// small blocks only, of one group at a time, and moves to another group
// after kEvictAfterMisses operations on groups it does not hold. Owner-only.
// Allocates: never (through malloc).
#ifndef MEMGROUP_SRC_ENGINE_OTHER_CACHE_H_
#define MEMGROUP_SRC_ENGINE_OTHER_CACHE_H_

#include <cstdint>

#include "base/macros.h"
#include "engine/engine_internal.h"
#include "engine/front_cache_internal.h"

namespace memgroup::internal::engine {

// nullptr until first needed and after ThreadExit.
MG_HIDDEN extern MG_TLS FrontCache* t_other;
// Small operations on other groups than t_other's since it last moved.
MG_HIDDEN extern MG_TLS uint32_t t_other_misses;
// Set when no cache could be had (metadata memory exhausted): not retried.
MG_HIDDEN extern MG_TLS bool t_other_failed;

// The thread's cache for the small blocks of `group` (not the bound group):
// t_other when it holds that group; after kEvictAfterMisses operations on
// other groups it is flushed and moves to `group`. nullptr: the caller
// takes the slab path for this block. Part of the Alloc and Free miss
// paths: the compiler inlines it there, and they compile to the same code as
// when all of this lived in one file (MG_ALWAYS_INLINE measured a different
// block layout in Free).
inline FrontCache* OtherCache(uint32_t group) {
  FrontCache* fc = t_other;
  if (MG_LIKELY(fc != nullptr && fc->group == group)) return fc;
  if (t_dead || t_other_failed) return nullptr;
  if (fc == nullptr) {
    t_other = front::Acquire(group);
    t_other_failed = t_other == nullptr;
    return t_other;
  }
  if (++t_other_misses < kEvictAfterMisses) return nullptr;
  t_other_misses = 0;
  front::Flush(fc);  // Small blocks only: back to their group's slabs.
  front::SetGroup(fc, group);
  return fc;
}

// Flushes t_other if it holds `group`'s blocks (the thread binds to the
// group, or purges it): a group's blocks are cached in one place only.
void FlushOtherCacheOf(uint32_t group);
// Returns t_other's blocks to their slabs and drops it (ThreadExit).
void RetireOtherCache();

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_OTHER_CACHE_H_
