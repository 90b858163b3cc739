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
// caches its frees create). `extra`: see ChargeStocks::Refill.
void Uncharge(uint32_t owner, int64_t bytes, int64_t extra = 0);

// After a resize charged `charged` bytes for a block of `owner` that now
// holds `actual`: returns the excess or force-charges the shortfall (the
// block exists: the charge must follow it).
void SettleCharge(uint32_t owner, int64_t charged, int64_t actual);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_CHARGE_H_
