// The mimalloc engine's kept blocks (mimalloc_engine.h, KeepSlab and
// KeepLarge): the blocks of released slabs, and the freed large blocks
// above the front cache's classes, a group keeps, resident and charged as
// its free pages (free_pages.h), for its next slabs and large blocks; their
// return to the OS with their charge (decay, reclaim, before an OOM
// decision, purge); their trim when the group's free pages were drawn on by
// something else; and the lists' locks across fork. Owns the per-group
// lists and their counts.
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

#include "base/fork_locks.h"
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
// charged ones, so resident): the next kept block and its charged bytes;
// a large block also its mimalloc size.
struct KeptHeader {
  KeptHeader* next;
  int64_t charged;
};
struct KeptLargeHeader {
  KeptLargeHeader* next;
  int64_t charged;
  size_t bytes;
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
  // The kept large blocks, under lock; their charged bytes as `bytes`.
  KeptLargeHeader* large_head = nullptr;
  std::atomic<int64_t> large_bytes{0};
};
// 63 x 64 bytes of zeroed data.
static_assert(sizeof(KeptSlabs) == MG_CACHELINE);
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

// Unlinks the kept large block of `k` that best fits a block of `total`
// bytes (mimalloc's size at least that, at most kKeptLargeFit times it),
// or with `total` 0 any one: nullptr if none.
KeptLargeHeader* TakeKeptLarge(KeptSlabs& k, size_t total) {
  // Relaxed: a hint (see KeptSlabs::bytes).
  if (k.large_bytes.load(std::memory_order_relaxed) == 0) return nullptr;
  SpinLockHolder holder(&k.lock);
  KeptLargeHeader** best = nullptr;
  for (KeptLargeHeader** at = &k.large_head; *at != nullptr;
       at = &(*at)->next) {
    const size_t b = (*at)->bytes;
    if (total != 0 && (b < total || b / kKeptLargeFit > total)) continue;
    if (best == nullptr || b < (*best)->bytes) best = at;
    if (total == 0) break;
  }
  if (best == nullptr) return nullptr;
  KeptLargeHeader* h = *best;
  *best = h->next;
  // Relaxed: see KeptSlabs::n (under the lock; read as hints).
  k.large_bytes.store(k.large_bytes.load(std::memory_order_relaxed) -
                          h->charged,
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

bool KeepLarge(uint32_t group, void* block, size_t bytes, int64_t charged) {
  if (group >= kMiMaxGroups || charged <= 0 ||
      static_cast<uint64_t>(charged) > kKeptLargeMaxBytes) {
    return false;
  }
  KeptSlabs& k = g_kept[group];
  // Room under the bound: the last kept blocks go back, with their charge
  // (the list is short: at most kKeptLargeMaxBytes of blocks above 4 MiB).
  // Relaxed: see KeptSlabs::bytes (a stale value evicts one block too many
  // or too few, and the next keep corrects it).
  while (k.large_bytes.load(std::memory_order_relaxed) + charged >
         static_cast<int64_t>(kKeptLargeMaxBytes)) {
    KeptLargeHeader* h = TakeKeptLarge(k, 0);
    if (h == nullptr) break;
    const int64_t c = h->charged;
    ReturnLargeBlock(h, h->bytes);
    UnchargeFreePages(group, c);
  }
  // The charge first, so that a trim between the two finds it covered.
  if (!KeepFreePages(group, charged)) return false;
  KeptLargeHeader* h = static_cast<KeptLargeHeader*>(block);
  SpinLockHolder holder(&k.lock);
  h->charged = charged;
  h->bytes = bytes;
  h->next = k.large_head;
  k.large_head = h;
  // Relaxed: see KeptSlabs::n (under the lock; read as hints).
  k.large_bytes.store(k.large_bytes.load(std::memory_order_relaxed) + charged,
                      std::memory_order_relaxed);
  return true;
}

void* TakeKeptLargeBlock(uint32_t group, size_t total, int64_t* charged,
                         size_t* bytes) {
  if (group >= kMiMaxGroups) return nullptr;
  KeptLargeHeader* h = TakeKeptLarge(g_kept[group], total);
  if (h == nullptr) return nullptr;
  *charged = h->charged;
  *bytes = h->bytes;
  return h;
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
  const int64_t uncovered = k.bytes.load(std::memory_order_relaxed) +
                            k.large_bytes.load(std::memory_order_relaxed) -
                            FreePagesOf(group);
  const int64_t inherited = InheritedDirtyPages(group, uncovered);
  const int64_t excess = uncovered - inherited;
  if (excess <= 0) return;
  if (TryChargePages(group, excess)) {
    if (KeepFreePages(group, excess)) return;
    UnchargePages(group, excess);  // A destroyed group: all go back below.
  }
  // The large blocks first: fewer calls for the bytes.
  while (k.bytes.load(std::memory_order_relaxed) +
             k.large_bytes.load(std::memory_order_relaxed) >
         FreePagesOf(group) + inherited) {
    KeptLargeHeader* l = TakeKeptLarge(k, 0);
    if (l != nullptr) {
      ReturnLargeBlock(l, l->bytes);
      continue;
    }
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
  if (group < kMiMaxGroups) {
    KeptSlabs& k = g_kept[group];
    for (KeptLargeHeader* h = TakeKeptLarge(k, 0); h != nullptr;
         h = TakeKeptLarge(k, 0)) {
      ReturnLargeBlock(h, h->bytes);
    }
  }
  // Their charge, with whatever else the group's free pages count held.
  (void)ReturnFreePages(group);
}

int64_t KeptBytes(uint32_t group) {
  if (group >= kMiMaxGroups) return 0;
  // Relaxed: a statistic (see KeptSlabs::bytes).
  return g_kept[group].bytes.load(std::memory_order_relaxed) +
         g_kept[group].large_bytes.load(std::memory_order_relaxed);
}

void PrepareKeptFork() {
  for (KeptSlabs& k : g_kept) ForkLock(k.lock);
}
void ParentKeptFork() {
  for (KeptSlabs& k : g_kept) ForkUnlock(k.lock);
}
void ChildKeptFork() {
  for (KeptSlabs& k : g_kept) ForkReset(k.lock);
}

}  // namespace memgroup::internal::engine::mi
