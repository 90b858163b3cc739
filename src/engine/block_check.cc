// Validation of the pointers passed to free, realloc and
// malloc_usable_size (engine.h, CheckBlock, CheckHeldBlock,
// ReleaseLargeBlock): interior pointers and double frees of slab regions,
// found through the page map and the slab header, and in check mode through
// the thread's caches and the slab's free bitmap; interior pointers and
// double frees of large blocks, found through the start map (owner_table.h),
// in every mode. Must never allocate or take a lock other than a slab bin's
// (check mode only).
#include "base/check.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/front_cache_internal.h"
#include "engine/other_cache.h"
#include "engine/owner_table.h"
#include "engine/slab.h"

namespace memgroup::internal::engine {

// Set before any thread allocates (environment configuration at init),
// read on free's miss. Plain bool: written once, before the threads that
// read it exist.
constinit bool g_check_mode = false;

namespace {

// Whether the bin `cls` of `fc` (a cache of `group`) holds p. Owner only.
bool InCache(const FrontCache* fc, uint32_t group, uint32_t cls,
             const void* p) {
  if (fc == nullptr || fc->group != group) return false;
  const FrontBin& b = fc->bins[cls];
  const void* q = b.head;
  for (uint32_t i = 0; i < b.count; ++i) {
    if (q == p) return true;
    q = *static_cast<void* const*>(q);
  }
  return false;
}

// Reports a large-block check that failed: `found` is the start record of
// p's page. Freed at p's own offset: p was a block's start, freed already.
[[noreturn]] MG_NOINLINE MG_COLD void BadLarge(const void* p, const char* call,
                                               uint16_t found) {
  const uint16_t freed = static_cast<uint16_t>(
      owner_table::StartRecordOf(reinterpret_cast<uintptr_t>(p)) |
      owner_table::kStartFreed);
  BadPointer(call, found == freed ? "double free" : "invalid pointer", p);
}

// The check of a large block that stays live (realloc, malloc_usable_size).
MG_ALWAYS_INLINE void CheckLive(const void* p, const char* call) {
  if (!LargeStartsKept()) return;
  const uint16_t found = owner_table::LargeStartRecord(p);
  if (MG_UNLIKELY(found !=
                  owner_table::StartRecordOf(reinterpret_cast<uintptr_t>(p)))) {
    BadLarge(p, call, found);
  }
}

}  // namespace

void CheckHeldBlock(const void* p, const char* call) {
  const uint32_t entry = owner_table::PageEntry(p);
  const uint32_t cls = entry & ((1u << owner_table::kEntryGroupShift) - 1);
  if (!IsSlabClass(cls)) {
    CheckLive(p, call);
    return;
  }
  if (slab::CheckRegion(p, entry >> owner_table::kEntryGroupShift, cls,
                        false) != slab::RegionState::kHeld) {
    BadPointer(call, "invalid pointer", p);
  }
}

void ReleaseLargeBlock(size_t page, const void* p, const char* call) {
  std::atomic<uint16_t>& slot = owner_table::StartSlotAt(page);
  uint16_t found = 0;
  if (MG_LIKELY(g_check_mode
                    ? owner_table::TakeLargeStart(slot, p, &found)
                    : owner_table::TakeLargeStartPlain(slot, p, &found))) {
    return;
  }
  // Nothing is recorded without the class tables (the map reads 0 there,
  // which no take accepts): no report then.
  if (!LargeStartsKept()) return;
  BadLarge(p, call, found);
}

void SetCheckMode(bool on) {
  g_check_mode = on;
  // Classes already filled (init ran first): redo their masks.
  if (g_usable_of_class[1] != 0) front::FillRegionMagic();
}

void CheckBlock(const void* p, const char* call) {
  const uint32_t entry = owner_table::PageEntry(p);
  const uint32_t cls = entry & ((1u << owner_table::kEntryGroupShift) - 1);
  const uint32_t group = entry >> owner_table::kEntryGroupShift;
  if (!IsSlabClass(cls)) {
    CheckLive(p, call);  // A large block (its page holds no slab region).
    return;
  }
  switch (slab::CheckRegion(p, group, cls, g_check_mode)) {
    case slab::RegionState::kInterior:
      BadPointer(call, "invalid pointer", p);
    case slab::RegionState::kFree:
      BadPointer(call, "double free", p);
    case slab::RegionState::kHeld:
      break;
  }
  if (g_check_mode &&
      (InCache(ThreadFront(), group, cls, p) ||
       InCache(t_other, group, cls, p))) {
    BadPointer(call, "double free", p);
  }
}

}  // namespace memgroup::internal::engine
