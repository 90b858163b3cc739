// Implements slow_path.h and the misses declared in alloc_path.h.
//
// SYNCHRONIZATION
// - Stocks: ConsumePrimary/RefillPrimary* follow charge_stock.h's busy/frozen
//   protocol; everything else goes through the group layer's charger.
// - Page-map and owner-table reads follow owner_table.h (the entry of a
//   live block precedes every pointer to it).
#include "alloc/slow_path.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include "alloc/bootstrap.h"
#include "alloc/charge.h"
#include "alloc/init.h"
#include "alloc/thread.h"
#include "base/check.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "group/charger.h"

namespace memgroup::internal::alloc {
namespace {

constinit std::atomic<uint64_t> g_foreign_frees{0};

// Gives `taken` (engine::TakeFreePages) back when the block is not made:
// to the group's free pages, or uncharged when they cannot keep it or are
// gone (`purged`: a refused charge's reclaim purged the group's arena).
void ReturnFreeCharge(uint32_t group, int64_t taken, bool purged) {
  if (taken > 0 && (purged || !engine::KeepFreePages(group, taken))) {
    Uncharge(group, taken);
  }
}

// Charges the block (GuardedUsable(size, align), 0: refused; a slab
// region charges nothing itself, its slab is charged by the engine) to
// `group`, then asks the engine. errno is kept on success.
void* AllocInGroup(uint32_t group, size_t size, size_t align, bool zero,
                   size_t usable) {
  if (usable == 0) {
    errno = ENOMEM;
    return nullptr;
  }
  int saved = errno;
  const int64_t charge = ChargeOfRequest(usable, align);
  // The decay of free pages while some are kept (a coarse clock read and a
  // compare, once per slow allocation; engine.h, DecayFreePages).
  if (engine::FreePagesPending()) (void)engine::DecayFreePages();
  // A large block takes the charge of the group's free pages first (the
  // arena serves it from them: engine/free_pages.h) and charges the rest.
  // With nothing left to charge, the call still draws for fault injection.
  const int64_t taken = charge == 0 || !engine::FreePagesPending()
                            ? 0
                            : engine::TakeFreePages(group, charge);
  if (charge == taken ? FaultInjectedFor(group)
                      : ChargeSlow(group, charge - taken, ChargeKind::kHeap) !=
                            ChargeResult::kOk) {
    // Refused after a reclaim that purged the group's arena (the free pages
    // taken are gone), or an injected failure (they stay).
    ReturnFreeCharge(group, taken, charge != taken);
    errno = ENOMEM;
    return nullptr;
  }
  void* p = engine::Alloc(group, size, align, zero, usable);
  if (p == nullptr) {
    if (charge != 0) UnchargeSlow(group, charge);
    errno = ENOMEM;
    return nullptr;
  }
  errno = saved;
  return p;
}

// Init, thread setup, the size guard if the miss did not run it, then the
// charge (with the group's OOM policy) and the engine.
MG_NOINLINE void* AllocSlow(size_t size, size_t align, bool zero,
                            size_t usable) {
  if (MG_UNLIKELY(!EnsureInit())) {
    // The initialising thread's own nested call.
    void* p = BootstrapAlloc(size, align);
    if (p != nullptr && zero) memset(p, 0, size);
    return p;
  }
  const uint32_t group = CallerGroup();
  if (usable == kUsableUnknown) usable = GuardedUsable(size, align);
  return AllocInGroup(group, size, align, zero, usable);
}

}  // namespace

void* AllocMiss(size_t size, size_t align, bool zero) {
  ThreadState& t = t_thread;
  ThreadStock* ts = t.stock;
  if (MG_UNLIKELY(ts == nullptr)) {
    return AllocSlow(size, align, zero, kUsableUnknown);
  }
  const size_t usable = GuardedUsable(size, align);
  const int64_t charge = usable == 0 ? 0 : ChargeOfRequest(usable, align);
  // A cached large block of the class first (the inline path takes only
  // small classes): it comes with its charge (engine::CacheLarge).
  engine::FrontCache* fc = engine::ThreadFront();
  if (charge != 0 && fc != nullptr && fc->group == t.group && align == 0) {
    const uint32_t cls = engine::ClassOfUsable(usable);
    if (cls != 0) {
      void* p = engine::FrontPop(fc, cls);
      if (p != nullptr) {
        if (zero) memset(p, 0, size);
        return p;
      }
    }
  }
  // A slab region (charge 0: nothing to take from the stock) or a stock
  // miss: the slow path, which also moves a thread whose group was
  // destroyed (the stock's retired mark catches that for large blocks).
  if (charge == 0 ||
      !GlobalRegistry().stocks().ConsumePrimary(ts, t.group, charge)) {
    return AllocSlow(size, align, zero, usable);
  }
  // From the arena: the group's free pages (engine/free_pages.h) cover
  // what they can, and that much of the stock's charge goes back to it.
  const int64_t taken = engine::FreePagesPending()
                            ? engine::TakeFreePages(t.group, charge)
                            : 0;
  if (taken != 0 &&
      !GlobalRegistry().stocks().RefillPrimary(ts, t.group, taken)) {
    Uncharge(t.group, taken);
  }
  void* p = engine::Alloc(t.group, size, align, zero, usable);
  if (MG_LIKELY(p != nullptr)) return p;
  UnchargeSlow(t.group, charge);
  errno = ENOMEM;
  return nullptr;
}

void FreeMiss(void* p) {
  if (p == nullptr) return;
  // A published block of a front-cache class: group and size from the page
  // map. Anything else (over 4 MiB, foreign, or no front cache: the class
  // table reads 0 then): the owner table and the engine.
  const size_t page = owner_table::PageIndexOf(p);
  const uint32_t entry = owner_table::PageEntryAt(page);
  uint32_t cls = entry & ((1u << owner_table::kEntryGroupShift) - 1);
  uint32_t owner = entry >> owner_table::kEntryGroupShift;
  size_t usable = engine::g_usable_of_class[cls];
  if (MG_UNLIKELY(cls - 1 < engine::kFrontFirstLarge - 1 &&  // a slab class
                  !engine::OnRegionGrid(
                      p, engine::g_region_magic_of_class[cls]))) {
    // Not at a multiple of its class size from its slab's start (a pointer
    // inside a block), or check mode: every small free is checked here
    // (engine.h, CheckBlock).
    if (!engine::CheckMode()) BadPointer("free", "invalid pointer", p);
    engine::CheckBlock(p, "free");
  }
  if (usable == 0) {
    cls = 0;
    owner = owner_table::OwnerOf(p);
    if (MG_UNLIKELY(owner == kNoGroup)) {
      FreeForeign(p);
      return;
    }
  }
  // A large block: checked and recorded as freed before anything reads it
  // (an interior pointer or a double free aborts here, engine.h).
  const bool large = cls == 0 || cls >= engine::kFrontFirstLarge;
  if (large) engine::ReleaseLargeBlock(page, p, "free");  // In the reservation.
  if (usable == 0) usable = engine::UsableSize(p);
  MG_DCHECK(owner == owner_table::OwnerOf(p));
  // A thread whose first call is a free is set up first, so that its exit
  // hook flushes the caches this free may fill (small blocks charge
  // nothing back, so no uncharge below would do it).
  if (MG_UNLIKELY(t_thread.status == kThreadNew)) PrepareThread();
  if (large && engine::LargeInherited(p, usable)) {
    // A block a fork child inherited live (engine/fork_epoch.h): its charge
    // is its parent's in the job, so it leaves only the child's own
    // counters, and its pages are no charged free pages of the child's.
    engine::FreeInheritedLarge(p, owner, usable);
    UnchargeInherited(owner, static_cast<int64_t>(usable));
    return;
  }
  ThreadStock* ts = t_thread.stock;
  engine::FrontCache* fc = engine::ThreadFront();
  if (MG_LIKELY(cls >= engine::kFrontFirstLarge && fc != nullptr &&
                fc->group == owner) &&
      engine::CacheLarge(fc, p, cls)) {
    // A large block of the bound group kept in the front cache (unless its
    // class already holds one: then it goes to the arena, below), with its
    // charge: its pages stay resident for the group's next block of the
    // class, which takes no charge (AllocMiss).
    return;
  }
  if (cls != 0 && cls < engine::kFrontFirstLarge) {
    // A slab region returns nothing: its slab's charge goes when the slab
    // goes back to the arena (engine::Free may do that, page_charge.h).
    engine::Free(p, owner);
    return;
  }
  // A large block going back to its engine: its charge stays as the
  // group's free pages where it can (engine.h, FreeKeepingCharge).
  if (engine::FreeKeepingCharge(p, owner, usable)) return;
  engine::Free(p, owner);
  if (MG_LIKELY(ts != nullptr && GlobalRegistry().stocks().RefillPrimary(
                                     ts, owner, static_cast<int64_t>(usable)))) {
    return;
  }
  Uncharge(owner, static_cast<int64_t>(usable));
}

void* AllocIn(uint32_t group, size_t size) {
  PrepareThread();
  return AllocInGroup(group, size, 0, false, GuardedUsable(size, 0));
}

void FreeForeign(void* p) {
  // Bootstrap blocks are never reused; anything else was not allocated by
  // memgroup (another allocator, or memory from before the preload) and is
  // left alone rather than handed to an engine that does not own it, but
  // counted (stat.foreign_frees).
  if (IsBootstrap(p)) return;
  // Relaxed: a statistic; no ordering with anything else.
  g_foreign_frees.fetch_add(1, std::memory_order_relaxed);
}

uint64_t ForeignFrees() {
  // Relaxed: a statistics snapshot.
  return g_foreign_frees.load(std::memory_order_relaxed);
}

size_t UsableSize(const void* p) {
  if (p == nullptr) return 0;
  if (owner_table::OwnerOf(p) != kNoGroup) {
    engine::CheckHeldBlock(p, "malloc_usable_size");
    return engine::UsableSize(p);
  }
  if (IsBootstrap(p)) return BootstrapSize(p);
  return 0;
}

}  // namespace memgroup::internal::alloc
