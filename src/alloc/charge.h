// The charge accounting of the charging allocator, in one place: the size
// guard every slow path applies to a request (the engine's usable size, or
// 0 when it cannot be charged), the uncharge that sets up a thread first,
// and the settlement that makes a block's charge equal what the engine
// really holds after a resize.
// Must never: allocate, call the engine's allocation functions (only its
// size arithmetic). Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_CHARGE_H_
#define MEMGROUP_SRC_ALLOC_CHARGE_H_

#include <cstddef>
#include <cstdint>

#include "base/macros.h"
#include "engine/engine.h"

namespace memgroup::internal::alloc {

// Passed down a slow path before the guard has run (the thread's first
// call: the engine may not be initialised yet).
inline constexpr size_t kUsableUnknown = SIZE_MAX;

// The usable size a request of (size, align) gets, or 0 when the engine
// cannot serve it or it does not fit a charge (over INT64_MAX). Computed
// once per miss and passed down. The engine must be initialised.
size_t GuardedUsable(size_t size, size_t align);

// Returns `bytes` charged to `owner`, setting the calling thread up first if
// this is its first call (so its thread-exit hook releases the engine
// caches its frees create).
void Uncharge(uint32_t owner, int64_t bytes);

// The charge of a request of usable size `usable` (GuardedUsable) and
// alignment `align`: 0 for a slab region (engine::BlockCharge).
MG_ALWAYS_INLINE int64_t ChargeOfRequest(size_t usable, size_t align) {
  return static_cast<int64_t>(engine::BlockCharge(usable, align));
}

// Installs the engine's page charger (engine/page_charge.h): slabs are
// charged to their group through ChargeSlow (ChargeKind::kEnginePages) and
// returned through Uncharge. Called once by init, before any slab exists.
void InstallPageCharger();

// Returns the free engine pages of `target` and its descendants (destroyed
// ones included, 256 groups per registry walk): each group's
// empty slabs, the calling thread's caches of it, and the arena's purgeable
// pages (engine::Purge). Returns the bytes uncharged. The group layer's
// page reclaim hook (group/reclaim.h). Allocates: never.
int64_t ReleaseFreePages(uint32_t target);

// After a resize charged `charged` bytes for a block of `owner` that now
// holds `actual`: returns the excess or force-charges the shortfall (the
// block exists: the charge must follow it).
void SettleCharge(uint32_t owner, int64_t charged, int64_t actual);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_CHARGE_H_
