// The other-group cache of other_cache.h: owns each thread's t_other and its
// move counters. Slow paths only (the lookup is inline in the header).
//
// Must never: hold a large block, or blocks of two groups at once; hold the
// bound group's blocks (BindThread flushes it first); allocate through
// malloc.
#include "engine/other_cache.h"

#include <cstdint>

#include "base/macros.h"
#include "engine/front_cache_internal.h"

namespace memgroup::internal::engine {

MG_TLS FrontCache* t_other = nullptr;
MG_TLS uint32_t t_other_misses = 0;
MG_TLS bool t_other_failed = false;

void FlushOtherCacheOf(uint32_t group) {
  if (t_other != nullptr && t_other->group == group) front::Flush(t_other);
}

void RetireOtherCache() {
  FrontCache* oc = t_other;
  t_other = nullptr;
  if (oc != nullptr) front::Retire(oc);  // Small blocks only: to the slabs.
}

}  // namespace memgroup::internal::engine
