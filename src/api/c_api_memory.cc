// The C ABI's threads and memory (include/memgroup/memgroup.h): a thread's
// group, explicit charges, allocation in a group, moving a block between
// groups and a block's group. No exceptions; no allocation through malloc
// except mg_malloc_in and mg_transfer, which allocate the caller's block.
#include "memgroup/memgroup.h"

#include <errno.h>

#include <cstring>

#include "alloc/alloc_path.h"
#include "alloc/slow_path.h"
#include "alloc/thread.h"
#include "api/c_api_internal.h"
#include "group/charger.h"
#include "group/oom_policy.h"
#include "group/thresholds.h"

using namespace memgroup::internal;
using namespace memgroup::internal::alloc;
using namespace memgroup::internal::api;

extern "C" {

MG_EXPORT int mg_thread_set_group(mg_group_t group) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (t_thread.status == kThreadExited) return EINVAL;
  return MoveThread(index) ? 0 : ENOSPC;
}

MG_EXPORT int mg_thread_get_group(mg_group_t* out) {
  if (out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  uint32_t index = t_thread.status == kThreadExited ? t_thread.group
                                                    : CurrentGroup();
  *out = GlobalRegistry().IdOf(GlobalRegistry().LiveAncestor(index));
  return 0;
}

MG_EXPORT int mg_charge(mg_group_t group, int64_t bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes < 0) return EINVAL;
  if (bytes == 0) return 0;
  if (ChargeSlow(index, bytes, ChargeKind::kExplicit) != ChargeResult::kOk) {
    return ENOMEM;
  }
  // Relaxed: statistics.
  GlobalRegistry().state(index).explicit_bytes.fetch_add(
      bytes, std::memory_order_relaxed);
  return 0;
}

MG_EXPORT int mg_uncharge(mg_group_t group, int64_t bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  GroupState& st = GlobalRegistry().state(index);
  // Relaxed: statistics; refuse to uncharge more than was charged.
  if (bytes < 0 || bytes > st.explicit_bytes.load(std::memory_order_relaxed)) {
    return EINVAL;
  }
  st.explicit_bytes.fetch_sub(bytes, std::memory_order_relaxed);
  GlobalRegistry().tree().Uncharge(index, bytes);
  NotifyLimitChanged(index);
  // The counter moved down: a threshold crossed downwards is reported now,
  // as for any other uncharge (thresholds.h).
  CheckThresholds(index);
  return 0;
}

MG_EXPORT void* mg_malloc_in(mg_group_t group, size_t size) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) {
    errno = err;
    return nullptr;
  }
  return AllocIn(index, size);
}

MG_EXPORT int mg_transfer(void** block, mg_group_t to) {
  if (block == nullptr || *block == nullptr) return EINVAL;
  uint32_t index;
  int err = Resolve(to, &index);
  if (err != 0) return err;
  uint32_t owner = owner_table::OwnerOf(*block);
  if (owner == kNoGroup) return EINVAL;
  if (owner == index) return 0;
  size_t size = engine::UsableSize(*block);
  int saved = errno;
  void* q = AllocIn(index, size);
  if (q == nullptr) {
    errno = saved;
    return ENOMEM;
  }
  memcpy(q, *block, size);
  FreeImpl(*block);
  *block = q;
  return 0;
}

MG_EXPORT int mg_block_group(const void* block, mg_group_t* out) {
  if (block == nullptr || out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  uint32_t owner = owner_table::OwnerOf(block);
  if (owner == kNoGroup) return ENOENT;
  *out = GlobalRegistry().IdOf(GlobalRegistry().LiveAncestor(owner));
  return 0;
}

}  // extern "C"
