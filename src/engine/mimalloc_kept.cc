// The mimalloc engine's kept slabs (mimalloc_engine.h, KeepSlab): the
// blocks of released slabs a group keeps, resident and charged as its free
// pages (free_pages.h), for its next slabs; their return to the OS with
// their charge (decay, reclaim, before an OOM decision, purge); their trim
// when the group's free pages were drawn on by something else; and the
// lists' locks across fork. Owns the per-group lists and their counts.
//
// Must never: allocate; call out (mimalloc, madvise, the charger) with a
// list's lock held; be called under a lock of the engine (TrimKept charges
// and uncharges, page_charge.h); hold a block in two places; keep a block of another
// group.
//
// SYNCHRONIZATION: each group's list (its head, and the header each kept
// block carries in its first bytes) is under the group's spinlock, a leaf
// lock (nothing else is taken while it is held), taken by fork's prepare
// handler after every other engine lock. The counts (blocks, charged
// bytes) are changed under the lock and read without it as hints
// (relaxed).
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "engine/free_pages.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab.h"

namespace memgroup::internal::engine::mi {
namespace {

// What a kept block holds in its first bytes (its first page is among its
// charged ones, so resident): the next kept block and its charged bytes.
struct KeptHeader {
  KeptHeader* next;
  int64_t charged;
};

struct alignas(MG_CACHELINE) KeptSlabs {
  SpinLock lock;
  KeptHeader* head = nullptr;  // Under lock.
  // Kept blocks and their charged bytes: written under lock, read without
  // it (relaxed. Racy by design: a hint for TakeKept, a comparison for
  // TrimKept, a statistic; a stale value delays a take or a trim by one
  // call, and the next keep, take or trim reads the new one).
  std::atomic<uint32_t> n{0};
  std::atomic<int64_t> bytes{0};
};
// 63 x 64 bytes of zeroed data.
constinit KeptSlabs g_kept[kMiMaxGroups];

// Unlinks one kept block of `k`: nullptr if none.
KeptHeader* TakeKept(KeptSlabs& k) {
  // Relaxed: a hint (see KeptSlabs::n); a block kept just now is found by
  // the next call.
  if (k.n.load(std::memory_order_relaxed) == 0) return nullptr;
  SpinLockHolder holder(&k.lock);
  KeptHeader* h = k.head;
  if (h == nullptr) return nullptr;
  k.head = h->next;
  // Relaxed: see KeptSlabs::n (under the lock; read as hints).
  k.n.store(k.n.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  k.bytes.store(k.bytes.load(std::memory_order_relaxed) - h->charged,
                std::memory_order_relaxed);
  return h;
}

}  // namespace

bool KeepSlab(uint32_t group, void* mem, int64_t charged) {
  if (group >= kMiMaxGroups || charged <= 0 ||
      charged > static_cast<int64_t>(slab::kSlabBytes)) {
    return false;
  }
  KeptSlabs& k = g_kept[group];
  KeptHeader* h = static_cast<KeptHeader*>(mem);
  SpinLockHolder holder(&k.lock);
  h->charged = charged;
  h->next = k.head;
  k.head = h;
  // Relaxed: see KeptSlabs::n (under the lock; read as hints).
  k.n.store(k.n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  k.bytes.store(k.bytes.load(std::memory_order_relaxed) + charged,
                std::memory_order_relaxed);
  return true;
}

void* TakeKeptSlab(uint32_t group) {
  if (group >= kMiMaxGroups) return nullptr;
  TrimKept(group);
  return TakeKept(g_kept[group]);
}

void TrimKept(uint32_t group) {
  if (group >= kMiMaxGroups) return;
  KeptSlabs& k = g_kept[group];
  // Relaxed: see KeptSlabs::bytes. The group's free pages went to blocks
  // that are not these (a large block, a slab in a block of mimalloc's):
  // the kept pages no charge covers any more are charged again while the
  // group's limits allow it (so that they stay warm, as warm_large.h does
  // for jemalloc's dirty pages), else go back to the OS.
  // A fork child's inherited kept slabs are its parent's charge: neither
  // charged again nor returned for that (free_pages.h).
  const int64_t uncovered =
      k.bytes.load(std::memory_order_relaxed) - FreePagesOf(group);
  const int64_t inherited = InheritedDirtyPages(group, uncovered);
  const int64_t excess = uncovered - inherited;
  if (excess <= 0) return;
  if (TryChargePages(group, excess)) {
    if (KeepFreePages(group, excess)) return;
    UnchargePages(group, excess);  // A destroyed group: all go back below.
  }
  while (k.bytes.load(std::memory_order_relaxed) >
         FreePagesOf(group) + inherited) {
    KeptHeader* h = TakeKept(k);
    if (h == nullptr) return;
    SlabFree(group, h);
  }
}

void DropKeptSlabs(uint32_t group) {
  if (group >= kMiMaxGroups) return;
  KeptSlabs& k = g_kept[group];
  for (KeptHeader* h = TakeKept(k); h != nullptr; h = TakeKept(k)) {
    SlabFree(group, h);
  }
}

void ReturnKeptPages(uint32_t group) {
  DropKeptSlabs(group);
  // Their charge, with whatever else the group's free pages count held.
  (void)ReturnFreePages(group);
}

int64_t KeptSlabBytes(uint32_t group) {
  // Relaxed: a statistic (see KeptSlabs::bytes).
  return group < kMiMaxGroups
             ? g_kept[group].bytes.load(std::memory_order_relaxed)
             : 0;
}

void PrepareKeptFork() {
  for (KeptSlabs& k : g_kept) k.lock.Lock();
}
void ParentKeptFork() {
  for (KeptSlabs& k : g_kept) k.lock.Unlock();
}
void ChildKeptFork() {
  for (KeptSlabs& k : g_kept) k.lock.ResetAfterFork();
}

}  // namespace memgroup::internal::engine::mi
