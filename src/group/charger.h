// The charge slow path of memgroup: what runs when the thread's stock cannot
// cover a charge: stock miss -> counter -> drain -> reclaim -> OOM policy
// (the kernel's try_charge order), then thresholds and high throttling;
// and the uncharge that returns bytes to a stock or the counter. The inline fast paths
// (src/alloc/alloc_path.h) only call ChargeStocks::ConsumePrimary/
// RefillPrimary; everything else comes here.
// Must never: call the engine or any layer above, allocate, hold a lock
// while reclaim callbacks or OOM handlers run.
// Allocates: never (nested allocations by reclaim callbacks are charged
// directly and never re-enter reclaim).
#ifndef MEMGROUP_SRC_GROUP_CHARGER_H_
#define MEMGROUP_SRC_GROUP_CHARGER_H_

#include <cstdint>

#include "base/macros.h"
#include "group/registry.h"
#include "group/thread_binding.h"

namespace memgroup::internal {

enum class [[nodiscard]] ChargeResult { kOk, kOverLimit };

// Why memory is charged; selects stock use and failure behaviour. kHeap:
// a large block for an allocation call (fault injection draws here);
// kEnginePages: a slab the engine takes for the group (page_charge.h; no
// draw: the call that needed it drew already).
enum class ChargeKind { kHeap, kEnginePages, kMmap, kExplicit };

// Charges `bytes` to `group`: stock, counter, drain, reclaim, OOM policy.
// On kOverLimit the caller fails the allocation (ENOMEM); abort/kill
// policies never return. Allocates: never.
ChargeResult ChargeSlow(uint32_t group, int64_t bytes, ChargeKind kind);

// Fault injection for an allocation call that charges nothing itself (a
// small block: its slab is charged, or already was): true if this call
// fails (counted in the group's faults_injected). Allocates: never.
bool FaultInjectedFor(uint32_t group);

// A retry, straight on the counter, of a charge already refused (and
// counted in failcnt) once: a failure here is not counted again, so failcnt
// counts refused charges. *failed: the refusing level. Allocates: never.
ChargeResult RetryCharge(uint32_t group, int64_t bytes, uint32_t* failed);

// Returns `bytes` charged to `owner` (a block freed by any thread): to the
// calling thread's stock, or directly. Allocates: never.
void UnchargeSlow(uint32_t owner, int64_t bytes);

// Returns `bytes` that a fork child inherited charged (its parent's blocks
// and slabs made before the fork, engine/fork_epoch.h) to `owner`'s
// in-process counters only: no stock takes them, and no job member slot
// gives them back (the child never charged its slots for them: they are
// its parent's charge there). Allocates: never.
void UnchargeInherited(uint32_t owner, int64_t bytes);

// Drains every stock in the subtree and returns the bytes. Allocates: never.
int64_t DrainSubtree(uint32_t group);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_CHARGER_H_
