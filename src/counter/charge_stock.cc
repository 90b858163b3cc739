// Implements charge_stock.h: the owner side (consume, refill, charge through
// the stock) and the remote side (drain of a subtree under membarrier).
// Allocates: never (stock memory comes from MetaMap).
#include "counter/charge_stock.h"

#include <sched.h>

#include <new>

#include "base/fork_locks.h"
#include "base/meta_alloc.h"
#include "base/sys.h"

namespace memgroup::internal {
namespace {
constexpr size_t kStockChunkBytes = 16 * 1024;
static_assert(ChargeStocks::kStocksPerChunk * sizeof(ThreadStock) ==
              kStockChunkBytes);
// How long a drain, a thread exit or a fork waits for another process's
// revocation of a shared stock (it lasts microseconds unless that process
// is stopped).
constexpr int64_t kRevokeWaitNs = 100'000'000;

// Claims `ts` if no thread owns it.
bool TryClaim(ThreadStock* ts) {
  uint32_t expected = 0;
  // Acquire: pairs with Release's store(0, release): the previous owner's
  // final slot writes (all zero) are visible. The relaxed load first skips
  // owned stocks without a locked instruction.
  return ts->in_use.load(std::memory_order_relaxed) == 0 &&
         ts->in_use.compare_exchange_strong(expected, 1,
                                            std::memory_order_acquire,
                                            std::memory_order_relaxed);
}

}  // namespace

void ChargeStocks::Init() {
  // Relaxed: Init is called from the process's one-time init under its lock.
  if (initialised_.exchange(true, std::memory_order_relaxed)) return;
  enabled_.store(SysMembarrierRegister(), std::memory_order_relaxed);
}

ThreadStock* ChargeStocks::Acquire() {
  if (shared()) return AcquireShared();
  for (;;) {
    // Pairs with the release CAS that pushed each node: its fields are
    // initialised before we see it.
    for (ThreadStock* ts = head_.load(std::memory_order_acquire); ts != nullptr;
         ts = ts->next) {
      if (TryClaim(ts)) return ts;
    }
    SpinLockHolder h(&grow_lock_);
    if (grow_chunk_ == nullptr || grow_used_ == kStocksPerChunk) {
      void* mem = MetaMap(kStockChunkBytes);
      if (mem == nullptr) return nullptr;
      grow_chunk_ = static_cast<ThreadStock*>(mem);
      grow_used_ = 0;
    }
    // One stock per miss, so that a chunk's pages are touched as threads
    // come: a process of one thread writes one page of the four.
    ThreadStock* ts = new (&grow_chunk_[grow_used_++]) ThreadStock();
    // Pairs with the acquire loads of head_ in Acquire and DrainSubtree.
    ThreadStock* old = head_.load(std::memory_order_relaxed);
    do {
      ts->next = old;
    } while (!head_.compare_exchange_weak(old, ts, std::memory_order_release,
                                          std::memory_order_relaxed));
    // The next scan claims it (or, if another thread did first, grows again).
  }
}

ThreadStock* ChargeStocks::AcquireShared() {
  for (;;) {
    // Acquire: pairs with the release store of shared_count_ below.
    const uint32_t n = shared_count_.load(std::memory_order_acquire);
    for (uint32_t c = 0; c < n; ++c) {
      for (uint32_t k = 0; k < shared_[c].count; ++k) {
        ThreadStock* ts = shared_[c].first + k;
        if (TryClaim(ts)) return ts;
      }
    }
    SpinLockHolder h(&grow_lock_);
    // Relaxed: grow_lock_ orders us after the last grower.
    if (shared_count_.load(std::memory_order_relaxed) != n) continue;
    if (n == kMaxSharedChunks) return nullptr;
    uint32_t count = 0;
    ThreadStock* first = shared_source_(&count);
    if (first == nullptr || count == 0) return nullptr;
    shared_[n] = {first, count};
    // Release: the entry above is visible to whoever sees the count.
    shared_count_.store(n + 1, std::memory_order_release);
  }
}

template <typename F>
void ChargeStocks::ForEachStock(F f) const {
  // Pairs with Acquire's release CAS of head_.
  for (ThreadStock* ts = head_.load(std::memory_order_acquire); ts != nullptr;
       ts = ts->next) {
    f(ts);
  }
  // Acquire: pairs with AcquireShared's release store of the count.
  const uint32_t n = shared_count_.load(std::memory_order_acquire);
  for (uint32_t c = 0; c < n; ++c) {
    for (uint32_t k = 0; k < shared_[c].count; ++k) f(shared_[c].first + k);
  }
}

bool ChargeStocks::Hold(ThreadStock* ts, uint32_t hold,
                        int64_t wait_ns) const {
  const int64_t deadline = wait_ns > 0 ? MonotonicNanos() + wait_ns : 0;
  for (;;) {
    // Relaxed: the CAS below decides.
    uint32_t f = ts->frozen.load(std::memory_order_relaxed);
    if (f == kStockThawed || f == kStockRevoked) {
      // Acquire: after kStockRevoked, pairs with the revoker's release
      // store (its revoke_cut); after kStockThawed, with the last holder's.
      if (ts->frozen.compare_exchange_strong(f, hold,
                                             std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
        if (f == kStockRevoked) ReturnRevoked(ts);
        return true;
      }
      continue;  // changed under us: look again
    }
    // Another process revokes it, or its owner returns it: briefly.
    if (deadline == 0 || MonotonicNanos() >= deadline) return false;
    sched_yield();
  }
}

void ChargeStocks::ReturnRevoked(ThreadStock* ts) const {
  // Relaxed: ordered by the caller's acquire CAS of frozen.
  const int32_t cut = ts->revoke_cut.load(std::memory_order_relaxed);
  for (StockSlot& slot : ts->slots) {
    const uint32_t g = slot.group.load(std::memory_order_relaxed);
    if (g >= kMaxGroups) continue;
    // Relaxed: we hold the stock (no owner section, no other drainer).
    const int64_t b = slot.bytes.exchange(0, std::memory_order_relaxed);
    if (b > 0) tree_.UnchargeRevoked(g, b, cut);
  }
  ts->revoke_cut.store(-1, std::memory_order_relaxed);
}

void ChargeStocks::ReturnOwnRevoked(ThreadStock* ts) const {
  uint32_t f = kStockRevoked;
  // Acquire: pairs with the revoker's release store of kStockRevoked.
  if (!ts->frozen.compare_exchange_strong(f, kStockReturning,
                                          std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
    return;
  }
  ReturnRevoked(ts);
  // Release: our slot writes precede the next holder's acquire CAS.
  ts->frozen.store(kStockThawed, std::memory_order_release);
}

void ChargeStocks::FreezeSharedForFork() {
  // Under drain_lock_ (PrepareFork). Every shared stock of ours is emptied
  // and left frozen: the child maps the same memory.
  bool any = false;
  ForEachStock([&](ThreadStock* ts) {
    // Relaxed: in_use only says whether the record is worth the wait.
    if (ts->in_use.load(std::memory_order_relaxed) != 0 &&
        Hold(ts, kStockFrozen, kRevokeWaitNs)) {
      any = true;
    }
  });
  if (!any) return;
  SysMembarrier();
  ForEachStock([&](ThreadStock* ts) {
    // Relaxed: we set it above, under the drain lock.
    if (ts->frozen.load(std::memory_order_relaxed) != kStockFrozen) return;
    // Acquire: pairs with the owner's release store of busy = 0.
    while (ts->busy.load(std::memory_order_acquire) != 0) sched_yield();
    TakeSlots(ts, kNoGroup);
  });
}

void ChargeStocks::ThawShared() {
  ForEachStock([&](ThreadStock* ts) {
    // Relaxed load; release store: our slot writes precede the owner's
    // next section (ordered as DrainSubtree's).
    if (ts->frozen.load(std::memory_order_relaxed) == kStockFrozen) {
      ts->frozen.store(kStockThawed, std::memory_order_release);
    }
  });
}

void ChargeStocks::Release(ThreadStock* ts) {
  if (ts == nullptr) return;
  // Under the drain lock no drainer runs, and the owner (the caller) is not
  // inside a stock operation: the slots can be taken directly.
  SpinLockHolder h(&drain_lock_);
  // A shared stock may be held by another process's revoker: wait for it.
  // One that stays held (its revoker stopped) is never reused.
  const bool held = !shared() || Hold(ts, kStockFrozen, kRevokeWaitNs);
  if (!held) return;
  TakeSlots(ts, kNoGroup);
  // Relaxed: published by the release store of in_use below.
  ts->frozen.store(kStockThawed, std::memory_order_relaxed);
  for (StockSlot& slot : ts->slots) {
    // Relaxed: published to the next owner by the release store of in_use.
    // Clears retired marks too.
    slot.group.store(kNoGroup, std::memory_order_relaxed);
  }
  ts->primary = kNoGroup;
  ts->next_evict = 0;
  // Pairs with Acquire's CAS (acquire): the next owner sees empty slots.
  ts->in_use.store(0, std::memory_order_release);
}

void ChargeStocks::UnchargePending(const Pending* p, int n) const {
  for (int k = 0; k < n; ++k) {
    if (p[k].bytes > 0) tree_.Uncharge(p[k].group, p[k].bytes);
  }
}

int64_t ChargeStocks::SlotLimit(uint32_t group) const {
  const int64_t room = tree_.Margin(group) / kBatchMarginDivisor;
  return kStockBatchBytes < room ? kStockBatchBytes : room;
}

int ChargeStocks::AddToSlot(ThreadStock* ts, uint32_t group, int64_t bytes,
                            int64_t batch, Pending out[2]) const {
  int n = 0;
  StockSlot* slot = nullptr;
  for (int s = 0; s < kStockSlots; ++s) {
    if (ts->slots[s].group.load(std::memory_order_relaxed) == group) {
      slot = &ts->slots[s];
      break;
    }
  }
  if (slot == nullptr) {
    if (group == ts->primary &&
        ts->slots[0].group.load(std::memory_order_relaxed) ==
            (kRetiredSlotBit | group)) {
      // The bound group was destroyed: no stock for it until the owner
      // rebinds (its miss path does); all of `bytes` goes back.
      out[n++] = {group, bytes};
      return n;
    }
    if (group == ts->primary) {
      slot = &ts->slots[0];  // the bound group always lives in slot 0
    } else {
      // Slots 1.. hold other groups (frees of their blocks, mg_malloc_in):
      // an empty one, else round-robin eviction (kernel drain_idx).
      for (int s = 1; s < kStockSlots && slot == nullptr; ++s) {
        if (ts->slots[s].group.load(std::memory_order_relaxed) == kNoGroup ||
            ts->slots[s].bytes.load(std::memory_order_relaxed) == 0) {
          slot = &ts->slots[s];
        }
      }
      if (slot == nullptr) {
        slot = &ts->slots[1 + ts->next_evict];
        ts->next_evict = (ts->next_evict + 1) % (kStockSlots - 1);
      }
    }
    int64_t old = slot->bytes.load(std::memory_order_relaxed);
    if (old > 0) {
      out[n++] = {slot->group.load(std::memory_order_relaxed), old};
    }
    // Release: a drain that finds `group` here reads its counter node
    // (IsInSubtree, Uncharge), which Registry::Create constructed before
    // the owner could charge it; its acquire load pairs with this store.
    slot->group.store(group, std::memory_order_release);
    slot->bytes.store(0, std::memory_order_relaxed);
  }
  int64_t now = slot->bytes.load(std::memory_order_relaxed) + bytes;
  if (now > batch) {
    // Return the excess and half a batch more, so that the next frees fit
    // in the stock again instead of each paying a hierarchical uncharge
    // (measured: without this, a free-heavy phase spent 30% of its time in
    // CounterTree::Uncharge).
    int64_t keep = batch / 2;
    out[n++] = {group, now - keep};
    now = keep;
  }
  slot->bytes.store(now, std::memory_order_relaxed);
  return n;
}

bool ChargeStocks::TryCharge(ThreadStock* ts, uint32_t group, int64_t bytes,
                             uint32_t* failed) const {
  bool use_stock = ts != nullptr && enabled();
  // Relaxed: a hint; ReturnOwnRevoked's CAS decides.
  if (use_stock &&
      ts->frozen.load(std::memory_order_relaxed) == kStockRevoked) {
    ReturnOwnRevoked(ts);
  }
  if (use_stock && Consume(ts, group, bytes)) return true;
  int64_t batch = use_stock ? Batch(group) : 0;
  if (batch > 0 && bytes < batch) {
    // Charge a full batch and keep the surplus (kernel try_charge_memcg). A
    // refused batch is not a refused charge: it does not count in failcnt.
    if (tree_.TryCharge(group, batch, failed, CountFailure::kNo)) {
      if (BeginOwner(ts)) {
        Pending p[2];
        int n = AddToSlot(ts, group, batch - bytes, batch, p);
        EndOwner(ts);
        UnchargePending(p, n);
      } else {
        tree_.Uncharge(group, batch - bytes);
      }
      return true;
    }
    // Retry once with exactly what is needed.
  }
  return tree_.TryCharge(group, bytes, failed);
}

void ChargeStocks::Refill(ThreadStock* ts, uint32_t group,
                          int64_t bytes) const {
  if (bytes <= 0) return;
  // Relaxed: a hint, as in TryCharge.
  if (ts != nullptr &&
      ts->frozen.load(std::memory_order_relaxed) == kStockRevoked) {
    ReturnOwnRevoked(ts);
  }
  if (ts == nullptr || !enabled() || !BeginOwner(ts)) {
    tree_.Uncharge(group, bytes);
    return;
  }
  const int64_t limit = SlotLimit(group);
  Pending p[2];
  int n = AddToSlot(ts, group, bytes, limit, p);
  EndOwner(ts);
  UnchargePending(p, n);
}

int64_t ChargeStocks::TakeSlots(ThreadStock* ts, uint32_t root,
                                uint32_t retire) const {
  int64_t total = 0;
  for (int s = 0; s < kStockSlots; ++s) {
    StockSlot& slot = ts->slots[s];
    // Acquire: pairs with AddToSlot's release (g's node is constructed).
    uint32_t g = slot.group.load(std::memory_order_acquire);
    if (g >= kMaxGroups) continue;  // empty or retired: holds no bytes
    if (g == retire) {
      // Relaxed: the owner is excluded by the busy/frozen handshake; its
      // next busy section is ordered after our release store of frozen.
      slot.group.store(kRetiredSlotBit | g, std::memory_order_relaxed);
    }
    if (root != kNoGroup && !tree_.IsInSubtree(g, root)) continue;
    // Relaxed: the owner is excluded by the busy/frozen handshake (or is us).
    int64_t b = slot.bytes.exchange(0, std::memory_order_relaxed);
    if (b > 0) {
      tree_.Uncharge(g, b);
      total += b;
    }
  }
  return total;
}

int64_t ChargeStocks::DrainOwn(ThreadStock* ts) const {
  if (ts == nullptr) return 0;
  // Relaxed: a hint, as in TryCharge.
  if (ts->frozen.load(std::memory_order_relaxed) == kStockRevoked) {
    ReturnOwnRevoked(ts);
  }
  if (!BeginOwner(ts)) return 0;
  Pending p[kStockSlots];
  int n = 0;
  for (int s = 0; s < kStockSlots; ++s) {
    StockSlot& slot = ts->slots[s];
    // Relaxed: inside the owner's busy section (charge_stock.h protocol).
    const uint32_t g = slot.group.load(std::memory_order_relaxed);
    if (g >= kMaxGroups) {
      // Empty, or retired by a destroy (no bytes): free for reuse.
      slot.group.store(kNoGroup, std::memory_order_relaxed);
      continue;
    }
    int64_t b = slot.bytes.load(std::memory_order_relaxed);
    if (b > 0) {
      p[n++] = {g, b};
      slot.bytes.store(0, std::memory_order_relaxed);
    }
  }
  EndOwner(ts);
  int64_t total = 0;
  for (int k = 0; k < n; ++k) {
    tree_.Uncharge(p[k].group, p[k].bytes);
    total += p[k].bytes;
  }
  return total;
}

int64_t ChargeStocks::DrainSubtree(uint32_t root, uint32_t retire) {
  SpinLockHolder h(&drain_lock_);
  bool any = false;
  ForEachStock([&](ThreadStock* ts) {
    bool holds = false;
    for (int s = 0; s < kStockSlots && !holds; ++s) {
      // Acquire: pairs with AddToSlot's release (g's node is constructed).
      uint32_t g = ts->slots[s].group.load(std::memory_order_acquire);
      // Racy by design: a slot installed after this scan was charged after
      // the drain began; the drain's caller retries its charge after us.
      // (A destroy's `retire`: a slot installed after the scan belongs to
      // a charge that resolved the group before it died; the owner's next
      // miss after that stock runs out moves it, thread_binding.h.)
      holds = g < kMaxGroups &&
              (g == retire ||
               (ts->slots[s].bytes.load(std::memory_order_relaxed) > 0 &&
                (root == kNoGroup || tree_.IsInSubtree(g, root))));
    }
    // The membarrier below orders the hold before every owner's next load
    // of frozen. A shared stock another process revokes is waited for
    // briefly: its bytes leave the job then, and ours once it is held.
    if (holds && Hold(ts, kStockFrozen, shared() ? kRevokeWaitNs : 0)) {
      any = true;
    }
  });
  if (!any) return 0;
  SysMembarrier();
  int64_t total = 0;
  ForEachStock([&](ThreadStock* ts) {
    // Relaxed: kStockFrozen is only set by us, under the drain lock.
    if (ts->frozen.load(std::memory_order_relaxed) != kStockFrozen) return;
    // Pairs with the owner's release store of busy = 0: its slot writes are
    // visible once we see 0.
    while (ts->busy.load(std::memory_order_acquire) != 0) sched_yield();
    total += TakeSlots(ts, root, retire);
    // Pairs with nothing stronger than the owner's next relaxed load; the
    // slots are already consistent (we are the only writer while frozen).
    ts->frozen.store(kStockThawed, std::memory_order_release);
  });
  return total;
}

template <typename Match>
int64_t ChargeStocks::SumStocked(Match match) const {
  int64_t total = 0;
  ForEachStock([&](ThreadStock* ts) {
    for (int s = 0; s < kStockSlots; ++s) {
      // Racy by design: a statistics snapshot. Acquire: pairs with
      // AddToSlot's release (match may read g's counter node).
      uint32_t g = ts->slots[s].group.load(std::memory_order_acquire);
      if (g < kMaxGroups && match(g)) {
        total += ts->slots[s].bytes.load(std::memory_order_relaxed);
      }
    }
  });
  return total;
}

int64_t ChargeStocks::LiveStocks() const {
  int64_t n = 0;
  // Every stock, the shared ones of a job member included (SumStocked
  // counts their bytes too, so stat.stock_bound must count them).
  ForEachStock([&](ThreadStock* ts) {
    // Racy by design: a statistics snapshot.
    if (ts->in_use.load(std::memory_order_relaxed) != 0) ++n;
  });
  return n;
}

int64_t ChargeStocks::StockedBytes(uint32_t group) const {
  return SumStocked([group](uint32_t g) { return g == group; });
}

int64_t ChargeStocks::StockedBytesInSubtree(uint32_t root) const {
  return SumStocked([&](uint32_t g) { return tree_.IsInSubtree(g, root); });
}

void ChargeStocks::AfterForkChild(ThreadStock* self) {
  ForkReset(drain_lock_);
  ForkReset(grow_lock_);
  // Single-threaded now. The shared stocks are the parent's. Each word is
  // written only when it changes (base/fork_locks.h).
  ChildStoreIfChanged(shared_count_, 0u);
  // Relaxed: single-threaded now.
  for (ThreadStock* ts = head_.load(std::memory_order_relaxed); ts != nullptr;
       ts = ts->next) {
    ChildStoreIfChanged(ts->busy, 0u);
    ChildStoreIfChanged(ts->frozen, 0u);
    if (ts == self || ts->in_use.load(std::memory_order_relaxed) == 0) continue;
    TakeSlots(ts, kNoGroup);
    ts->in_use.store(0, std::memory_order_relaxed);
  }
}

}  // namespace memgroup::internal
