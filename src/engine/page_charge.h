// The pages the engine holds are charged to their group: a slab's pages as
// its regions are first handed out, until it goes back to the arena
// (slab.h). The engine does not know the charger (src/group is below it, but
// the charge path with its stocks and OOM policies is set up by src/alloc):
// src/alloc installs the two functions at init (SetPageCharger); without
// them (the engine's own unit tests) nothing is charged.
//
// Owns: the installed charger and the calling thread's count of bytes the
// engine uncharged (what a reclaim of free pages reports).
// Must never: be called with a lock of the engine held (charging may run
// reclaim, which releases engine pages, and the group's OOM policy);
// allocate. Allocates: never.
#ifndef MEMGROUP_SRC_ENGINE_PAGE_CHARGE_H_
#define MEMGROUP_SRC_ENGINE_PAGE_CHARGE_H_

#include <cstdint>

#include "base/macros.h"

namespace memgroup::internal::engine {

struct PageCharger {
  // Charges `bytes` to `group` (stock, counter, reclaim, OOM policy): false
  // when refused. Allocates: never.
  bool (*charge)(uint32_t group, int64_t bytes);
  // Returns `bytes` charged to `group`. Allocates: never.
  void (*uncharge)(uint32_t group, int64_t bytes);
  // Charges `bytes` to `group` only if every level's max allows it as it
  // stands: no stock, reclaim, OOM policy, event or failure count (false
  // then). Allocates: never.
  bool (*try_charge)(uint32_t group, int64_t bytes);
  // Returns `bytes` a fork child inherited charged to `group` to the
  // process's own counters only (group/charger.h, UnchargeInherited).
  // Allocates: never.
  void (*uncharge_inherited)(uint32_t group, int64_t bytes);
};

// Installs the charger (once, at init, before any slab exists; `c` must
// outlive the process). nullptr: nothing charged.
void SetPageCharger(const PageCharger* c);

// Charges / uncharges the pages of a slab or block the engine takes from or
// gives back to the group's arena. ChargePages takes the group's free
// pages' charge first (free_pages.h) and charges only the rest. Allocates:
// never.
[[nodiscard]] bool ChargePages(uint32_t group, int64_t bytes);
void UnchargePages(uint32_t group, int64_t bytes);
// Uncharges up to `bytes` of the group's free pages' charge (free_pages.h),
// for kept pages given back to the OS: what the count still held of them
// (a charge taken since by a new block stays). Allocates: never.
void UnchargeFreePages(uint32_t group, int64_t bytes);
// The charger's uncharge_inherited: the pages of a slab this process
// inherited at its last fork (fork_epoch.h), its parent's charge in the
// job. Allocates: never.
void UnchargeInheritedPages(uint32_t group, int64_t bytes);
// The charger's try_charge: charges pages the engine finds it holds for the
// group beyond its count (warm_large.h) when the limits allow, true; false
// and nothing charged otherwise (the caller purges them). Allocates: never.
[[nodiscard]] bool TryChargePages(uint32_t group, int64_t bytes);

// Bytes this thread's engine calls uncharged since its last call of this
// function (it resets the count): what Purge gave back. Allocates: never.
int64_t TakeUnchargedPages();

}  // namespace memgroup::internal::engine

#endif  // MEMGROUP_SRC_ENGINE_PAGE_CHARGE_H_
