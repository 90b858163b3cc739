// Implements resize.h. Growth is charged before the engine resizes; the
// settlement afterwards returns or adds the difference, so a failed or
// partial resize never leaves a charge that no block holds.
#include "alloc/resize.h"

#include <cerrno>
#include <cstring>

#include "alloc/alloc_path.h"
#include "alloc/bootstrap.h"
#include "alloc/charge.h"
#include "alloc/slow_path.h"
#include "engine/fork_epoch.h"
#include "engine/warm_large.h"
#include "group/charger.h"

namespace memgroup::internal::alloc {
namespace {

// A bootstrap block moves to a real one (bootstrap blocks are never
// resized or reused).
void* ReallocBootstrap(void* p, size_t size) {
  size_t old = BootstrapSize(p);
  void* q = AllocImpl(size == 0 ? 1 : size, 0, false);
  if (q != nullptr) memcpy(q, p, old < size ? old : size);
  return q;
}

}  // namespace

void* Realloc(void* p, size_t size) {
  if (p == nullptr) return AllocImpl(size, 0, false);
  uint32_t owner = owner_table::OwnerOf(p);
  if (MG_UNLIKELY(owner == kNoGroup)) {
    if (IsBootstrap(p)) return ReallocBootstrap(p, size);
    // Not ours and of unknown size: refuse rather than guess.
    errno = ENOMEM;
    return nullptr;
  }
  engine::CheckBlock(p, "realloc");
  if (size == 0) {
    // glibc semantics: realloc(p, 0) frees p and returns NULL.
    FreeImpl(p);
    return nullptr;
  }
  size_t old_usable = engine::UsableSize(p);
  size_t new_usable = GuardedUsable(size, 0);
  if (new_usable == 0) {
    errno = ENOMEM;
    return nullptr;
  }
  if (new_usable == old_usable) return p;
  int saved = errno;
  // realloc keeps the block in its owner group: charge the growth there
  // (of what is charged: a slab region's is 0, page_charge.h).
  const int64_t old_charge = static_cast<int64_t>(engine::ChargeOfBlock(p));
  const int64_t new_charge = ChargeOfRequest(new_usable, 0);
  // A large block a fork child inherited live is its parent's charge in
  // the job (engine/fork_epoch.h): the child charges the new block whole,
  // and the old one leaves only its own counters once resized.
  const bool inherited = engine::LargeInherited(p, old_usable);
  const int64_t held = inherited ? 0 : old_charge;
  const int64_t grow = new_charge - held;
  if (grow > 0 &&
      ChargeSlow(owner, grow, ChargeKind::kHeap) != ChargeResult::kOk) {
    errno = ENOMEM;
    return nullptr;
  }
  void* q = engine::Realloc(p, size, 0, owner);
  if (q == nullptr) {
    if (grow > 0) Uncharge(owner, grow);
    errno = ENOMEM;
    return nullptr;
  }
  const int64_t charged_now = static_cast<int64_t>(engine::ChargeOfBlock(q));
  if (inherited) {
    UnchargeInherited(owner, old_charge);
    // The pages it left (all, when it moved) are inherited dirty pages;
    // resized in place, it is the child's block now.
    const size_t now_usable = engine::UsableSize(q);
    engine::NoteInheritedPages(
        owner, q != p                    ? old_usable
               : old_usable > now_usable ? old_usable - now_usable
                                         : 0);
    if (charged_now > 0) engine::StampLarge(q);
  }
  SettleCharge(owner, grow > 0 ? new_charge : held, charged_now);
  if (old_charge > 0 && charged_now > 0) {
    // A large block resized by the engine (jemalloc's rallocx): its old
    // extent (moved) or its tail (shrunk) is dirty in the arena with no
    // count (engine/warm_large.h).
    const size_t now_usable = engine::UsableSize(q);
    const size_t shrunk =
        old_usable > now_usable ? old_usable - now_usable : 0;
    engine::NoteLargeResize(owner, q != p ? old_usable : shrunk);
  }
  errno = saved;
  return q;
}

void* ReallocMove(void* p, size_t size, size_t align, bool zero) {
  void* q = AllocImpl(size, align, zero);
  if (q == nullptr) return nullptr;
  size_t old = UsableSize(p);
  memcpy(q, p, old < size ? old : size);
  FreeImpl(p);
  return q;
}

size_t ResizeInPlace(void* p, size_t size, size_t extra, size_t align) {
  uint32_t owner = owner_table::OwnerOf(p);
  if (owner == kNoGroup) return UsableSize(p);
  // A large block a fork child inherited live keeps its size (xallocx may
  // always refuse): its charge is its parent's in the job
  // (engine/fork_epoch.h), and a resize would make it the child's.
  if (const size_t usable = engine::UsableSize(p);
      engine::LargeInherited(p, usable)) {
    return usable;
  }
  const int64_t old = static_cast<int64_t>(engine::ChargeOfBlock(p));
  size_t want = GuardedUsable(size + extra < size ? size : size + extra, align);
  // Charge the most it could grow to up front; settle afterwards. A slab
  // region keeps its class (and charges nothing).
  const int64_t want_charge = ChargeOfRequest(want, align);
  int64_t grow = old != 0 && want_charge > old ? want_charge - old : 0;
  if (grow > 0 &&
      ChargeSlow(owner, grow, ChargeKind::kHeap) != ChargeResult::kOk) {
    grow = 0;
    extra = 0;
    size = static_cast<size_t>(old);  // stay as is: cannot grow within the limit
  }
  const size_t old_usable = old != 0 ? engine::UsableSize(p) : 0;
  size_t now = engine::ResizeInPlace(p, size, extra, align, owner);
  SettleCharge(owner, old + grow,
               static_cast<int64_t>(engine::ChargeOfBlock(p)));
  // A large block's shrunk tail is dirty in the arena with no count
  // (engine/warm_large.h).
  if (old != 0) {
    engine::NoteLargeResize(owner, old_usable > now ? old_usable - now : 0);
  }
  return now;
}

}  // namespace memgroup::internal::alloc
