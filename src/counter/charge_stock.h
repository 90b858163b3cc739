// Per-thread charge stocks (the kernel's memcg_stock): bytes pre-charged to a
// group's counter and held by one thread, so that most charges and uncharges
// touch no shared cache line. Owns: the stock slots of every thread and the
// drain protocol. Must never allocate through malloc or block on the fast path.
//
// Protocol (an asymmetric Dekker handshake, as in userspace RCU):
//   owner  : busy=1; [compiler barrier]; if !frozen { read/modify slots }; busy=0 (release)
//   drainer: frozen=1; membarrier(); wait busy==0 (acquire); take slots; frozen=0
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) runs a full barrier on every
// thread of the process, so either the owner's load of `frozen` comes after it
// (sees 1 and leaves the stock alone) or the owner's store busy=1 is visible
// to the drainer, which then waits for busy=0. The owner's fast path therefore
// has no atomic read-modify-write and no fence. Without membarrier the stocks
// are disabled (every charge goes to the counter): slower, still exact.
//
// Error bound (documented in docs/architecture.md): after any stock operation
// a slot holds at most Batch(group) <= kStockBatchBytes, capped by margin /
// kBatchMarginDivisor; so a group's usage exceeds the bytes really charged
// by at most threads x kStockBatchBytes per group a thread holds stock for,
// and by at most threads x margin / kBatchMarginDivisor near max
// (StockBound). DrainSubtree makes
// the counter exact for a subtree before any reclaim or OOM decision.
//
// Shared stocks (a job member, counter/job_stock_area.h "Stock revocation"):
// SetSharedSource makes Acquire take every new stock from the job's shared
// stock area, so that another member can revoke the job's share of it.
// `frozen` then has more states: kStockFrozen (this process's drainer),
// kStockRevoking (another process's revoker holds it), kStockRevoked (the
// job levels at depth <= revoke_cut no longer count the slots' bytes; the
// owner returns them to its own counters, ReturnRevoked), and
// kStockReturning (the owner does so). Every state but kStockThawed makes
// BeginOwner fail, so the fast path is unchanged. A record is held by
// exactly one party at a time: states move by CAS only from kStockThawed
// or kStockRevoked.
//
// Retired slots: destroying a group drains it with `retire` set, which also
// rewrites every slot naming the group to kRetiredSlotBit | group. Such a
// slot matches no group, so its owner's ConsumePrimary/RefillPrimary fail
// and the owner takes its miss path (where it leaves the destroyed group);
// AddToSlot refuses to reinstall a retired group as the primary, and the
// owner's DrainOwn (rebinding) clears the mark.
#ifndef MEMGROUP_SRC_COUNTER_CHARGE_STOCK_H_
#define MEMGROUP_SRC_COUNTER_CHARGE_STOCK_H_

#include <atomic>
#include <cstdint>

#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "counter/counter_tree.h"

namespace memgroup::internal {

// Kernel MEMCG_CHARGE_BATCH: 64 pages.
inline constexpr int64_t kStockBatchBytes = 64 * 4096;
// Batch = min(kStockBatchBytes, margin / kBatchMarginDivisor).
inline constexpr int64_t kBatchMarginDivisor = 16;
// Groups a thread keeps stock for at once (kernel NR_MEMCG_STOCK is 7).
inline constexpr int kStockSlots = 4;
// A slot whose group was destroyed holds kRetiredSlotBit | group (see the
// file comment): above every group index and never kNoGroup, so it never
// matches.
inline constexpr uint32_t kRetiredSlotBit = 0x80000000u;
static_assert(kRetiredSlotBit >= kMaxGroups &&
              (kRetiredSlotBit | (kMaxGroups - 1)) != kNoGroup);

// ThreadStock::frozen (see the file comment).
inline constexpr uint32_t kStockThawed = 0;
inline constexpr uint32_t kStockFrozen = 1;
inline constexpr uint32_t kStockRevoking = 2;
inline constexpr uint32_t kStockRevoked = 3;
inline constexpr uint32_t kStockReturning = 4;

struct StockSlot {
  // Group index or kNoGroup. Written by the owner inside a busy section, or
  // by a drainer while the owner is frozen; read by both under the protocol.
  std::atomic<uint32_t> group{kNoGroup};
  // Pre-charged bytes. Same protocol as `group`.
  std::atomic<int64_t> bytes{0};
};

// One thread's stocks. Lives in metadata memory, linked into a global list,
// reused after its thread exits.
struct alignas(64) ThreadStock {
  // Owner sets 1 while touching slots. Read by drainers (acquire).
  std::atomic<uint32_t> busy{0};
  // A drainer sets 1 while it takes the slots. Read by the owner (relaxed,
  // ordered by membarrier).
  std::atomic<uint32_t> frozen{0};
  // 1 while a live thread owns this stock. CAS by a claiming thread (acquire),
  // cleared by the exiting owner (release).
  std::atomic<uint32_t> in_use{0};
  // Round-robin eviction cursor over slots 1..kStockSlots-1. Owner only.
  uint32_t next_evict = 0;
  // The owner's bound group: its stock always lives in slot 0, which the
  // inline fast paths check alone. Owner only.
  uint32_t primary = kNoGroup;
  StockSlot slots[kStockSlots];
  // Next stock in the global list. Written once before publication.
  // Unused (null) in a shared stock: the list of those is private
  // (ChargeStocks::shared_).
  ThreadStock* next = nullptr;
  // Revocation by another process (shared stocks only; file comment).
  // Written by the revoker while it holds the stock (kStockRevoking),
  // published by its release store of kStockRevoked; read by whoever takes
  // the stock from kStockRevoked (acquire CAS). revoke_cut: the deepest
  // job level (JobLink::depth) that no longer counts the slots' bytes.
  // revoker: the thread id holding kStockRevoking.
  std::atomic<int32_t> revoke_cut{-1};
  std::atomic<int32_t> revoker{0};
};
static_assert(sizeof(ThreadStock) == 128, "a job's stock area holds 31 per page");

class ChargeStocks {
 public:
  // Stocks per metadata chunk (16 KiB) of private stocks.
  static constexpr uint32_t kStocksPerChunk = 128;

  // `tree` is the counter the stocks are charged against.
  explicit constexpr ChargeStocks(CounterTree tree) : tree_(tree) {}
  // Points the stocks at a counter tree mapped after construction. Call
  // before any other method.
  void BindTree(CounterTree tree) { tree_ = tree; }

  // Enables stocks if membarrier is available. Idempotent. Allocates: never.
  void Init();

  // Shared stocks (file comment): from now on Acquire takes new stocks from
  // `fn`, which returns `*count` constructed ThreadStocks in shared memory
  // (or null: the thread then has no stock). Call before any stock is
  // acquired (init), or in a fork child after AfterForkChild.
  using SharedSourceFn = ThreadStock* (*)(uint32_t* count);
  void SetSharedSource(SharedSourceFn fn) { shared_source_ = fn; }
  bool shared() const { return shared_source_ != nullptr; }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }

  // Claims a stock for the calling thread (reusing an exited thread's).
  // Returns nullptr if metadata memory is exhausted. Allocates: never.
  ThreadStock* Acquire();
  // Drains `ts` and returns it to the free pool. Called by its owner at
  // thread exit. Allocates: never.
  void Release(ThreadStock* ts);

  // Takes `bytes` from the thread's stock of `group`. False (no side effect)
  // if the stock holds less, a drain is running, or the call is reentrant.
  // Allocates: never.
  MG_ALWAYS_INLINE bool Consume(ThreadStock* ts, uint32_t group,
                                int64_t bytes) const {
    return InOwnerSection(ts, [&] {
      StockSlot* slot = FindSlot(ts, group);
      return slot != nullptr && Take(slot, bytes);
    });
  }

  // Consume restricted to slot 0 (the bound group's): the malloc fast path.
  // Allocates: never.
  MG_ALWAYS_INLINE bool ConsumePrimary(ThreadStock* ts, uint32_t group,
                                       int64_t bytes) const {
    return InOwnerSection(ts, [&] {
      return ts->slots[0].group.load(std::memory_order_relaxed) == group &&
             Take(&ts->slots[0], bytes);
    });
  }

  // Refill restricted to slot 0: the free fast path for blocks of the bound
  // group. Allocates: never.
  MG_ALWAYS_INLINE bool RefillPrimary(ThreadStock* ts, uint32_t group,
                                      int64_t bytes) const {
    return InOwnerSection(ts, [&] {
      return ts->slots[0].group.load(std::memory_order_relaxed) == group &&
             Give(&ts->slots[0], bytes);
    });
  }

  // Makes `group` the owner's primary (slot 0) group. The caller drained the
  // stock first (rebinding drains). Allocates: never.
  void SetPrimary(ThreadStock* ts, uint32_t group) const {
    if (ts != nullptr) ts->primary = group;
  }

  // Takes `ts` for a drain: kStockThawed -> `hold`, or kStockRevoked ->
  // `hold` after returning the revoked bytes; waits up to `wait_ns` while
  // another process revokes it. False if it could not be held.
  // Allocates: never.
  bool Hold(ThreadStock* ts, uint32_t hold, int64_t wait_ns) const;

  // Charges `bytes` to `group` through the stock: consume; on a miss charge a
  // batch (retrying with exactly `bytes` if the batch is refused) and keep the
  // surplus. On refusal *failed is the refusing level. `ts` may be nullptr
  // (no stock: direct charge). Allocates: never.
  [[nodiscard]] bool TryCharge(ThreadStock* ts, uint32_t group, int64_t bytes,
                               uint32_t* failed) const;

  // Returns `bytes` of `group` to the thread's stock; when the slot would
  // exceed the group's batch, it is trimmed to half the batch and the rest
  // is uncharged (hysteresis: the following frees hit the stock again).
  // `ts` may be nullptr (direct uncharge). Allocates: never.
  void Refill(ThreadStock* ts, uint32_t group, int64_t bytes) const;

  // The current batch for `group`: kStockBatchBytes, shrinking near max.
  int64_t Batch(uint32_t group) const { return SlotLimit(group); }

  // Uncharges every stock of every thread held for a group in the subtree
  // of `root` (kNoGroup = all groups). Safe against the owners running
  // concurrently; serialised with other drains. `retire` (a destroyed
  // group, or kNoGroup): every slot naming it, empty or not, is also marked
  // retired (see the file comment). Returns bytes drained.
  // Allocates: never.
  int64_t DrainSubtree(uint32_t root, uint32_t retire = kNoGroup);

  // Drains the calling thread's own stock and clears its retired marks
  // (owner only). Allocates: never.
  int64_t DrainOwn(ThreadStock* ts) const;

  // Bytes currently held in stocks for exactly `group` (racy snapshot).
  int64_t StockedBytes(uint32_t group) const;
  // Bytes held in stocks for `root` and its descendants (racy snapshot; one
  // walk of the stock list).
  int64_t StockedBytesInSubtree(uint32_t root) const;

  // Threads holding a stock now, the shared stocks of a job member included
  // (racy snapshot; one walk of the stocks). Allocates: never.
  int64_t LiveStocks() const;

  // The bound on what stocks hold for a subtree of `groups` groups whose
  // top is `root` (stat.stock_bound): each live stock holds at most
  // min(groups, kStockSlots) slots of it, each at most Batch(root) (a
  // descendant's batch is never larger) as of its owner's last stock
  // operation. Allocates: never.
  int64_t StockBound(uint32_t root, int64_t groups) const {
    if (!enabled()) return 0;
    const int64_t slots = groups < kStockSlots ? groups : kStockSlots;
    return LiveStocks() * slots * Batch(root);
  }

  // Test hook: forces stocks on/off (off drains nothing; call DrainSubtree).
  void SetEnabledForTesting(bool on) {
    enabled_.store(on, std::memory_order_relaxed);
  }

  // fork(2): hold the stock locks across fork (after the registry lock).
  // Shared stocks are emptied and stay frozen across fork (the child sees
  // the same memory: it must find them empty and unchanging).
  void PrepareFork() {
    ForkLock(drain_lock_);
    ForkLock(grow_lock_);
    if (shared()) FreezeSharedForFork();
  }
  void ParentFork() {
    if (shared()) ThawShared();
    ForkUnlock(grow_lock_);
    ForkUnlock(drain_lock_);
  }

  // After fork in the child: only the calling thread survives. Releases every
  // other thread's stock (draining it) and resets the drain lock. Shared
  // stocks are the parent's (PrepareFork emptied and froze them): the child
  // forgets them without a write, and the caller acquires a new stock for
  // its thread.
  void AfterForkChild(ThreadStock* self);

  const CounterTree& tree() const { return tree_; }

 private:
  // Enters the owner's busy section (see the file comment): false if the
  // call is reentrant (we interrupted our own stock operation: a signal
  // handler) or a drain has the stock frozen. Allocates: never.
  MG_ALWAYS_INLINE static bool BeginOwner(ThreadStock* ts) {
    // Owner-only read: busy is only written by this thread.
    if (ts->busy.load(std::memory_order_relaxed) != 0) return false;
    ts->busy.store(1, std::memory_order_relaxed);
    // Compiler barrier: the store above must be emitted before the load of
    // frozen. The CPU-level ordering is supplied by the drainer's membarrier.
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (ts->frozen.load(std::memory_order_relaxed) != 0) {
      EndOwner(ts);
      return false;
    }
    return true;
  }
  MG_ALWAYS_INLINE static void EndOwner(ThreadStock* ts) {
    // Pairs with DrainSubtree's acquire load of busy: our slot writes are
    // visible to a drainer that sees busy == 0.
    ts->busy.store(0, std::memory_order_release);
  }
  // Runs `f` inside the owner's busy section; false without running it when
  // BeginOwner refuses. Allocates: never.
  template <typename F>
  MG_ALWAYS_INLINE static bool InOwnerSection(ThreadStock* ts, F&& f) {
    if (!BeginOwner(ts)) return false;
    bool ok = f();
    EndOwner(ts);
    return ok;
  }
  // Inside an owner section. Allocates: never.
  MG_ALWAYS_INLINE static StockSlot* FindSlot(ThreadStock* ts, uint32_t group) {
    for (int s = 0; s < kStockSlots; ++s) {
      if (ts->slots[s].group.load(std::memory_order_relaxed) == group) {
        return &ts->slots[s];
      }
    }
    return nullptr;
  }
  MG_ALWAYS_INLINE static bool Take(StockSlot* slot, int64_t bytes) {
    int64_t have = slot->bytes.load(std::memory_order_relaxed);
    if (have < bytes) return false;
    slot->bytes.store(have - bytes, std::memory_order_relaxed);
    return true;
  }
  MG_ALWAYS_INLINE static bool Give(StockSlot* slot, int64_t bytes,
                                     int64_t limit = kStockBatchBytes) {
    int64_t now = slot->bytes.load(std::memory_order_relaxed) + bytes;
    if (now > limit) return false;
    slot->bytes.store(now, std::memory_order_relaxed);
    return true;
  }

  // What a slot may hold: kStockBatchBytes, never above margin /
  // kBatchMarginDivisor. Reads the counter, no RMW. Allocates: never.
  int64_t SlotLimit(uint32_t group) const;

  struct Pending {
    uint32_t group;
    int64_t bytes;
  };
  // Adds `bytes` to the slot for `group`, installing it first (slot 0 for
  // the primary group, else an empty slot or a round-robin eviction) and
  // trimming it to half of `batch` when it would exceed `batch`. What must
  // be uncharged (the excess, an evicted slot's bytes) is returned in
  // out[0..n) for the caller to uncharge after EndOwner. Call inside the
  // owner's busy section (BeginOwner succeeded). Allocates: never.
  int AddToSlot(ThreadStock* ts, uint32_t group, int64_t bytes, int64_t batch,
                Pending out[2]) const;
  void UnchargePending(const Pending* p, int n) const;
  ThreadStock* AcquireShared();
  // Returns a revoked stock's bytes to this process's counters (the local
  // groups and the job levels deeper than revoke_cut) and empties its
  // slots. The caller holds it (taken from kStockRevoked).
  void ReturnRevoked(ThreadStock* ts) const;
  // The owner's slow path: returns its own stock if it was revoked.
  void ReturnOwnRevoked(ThreadStock* ts) const;
  // Calls f(ts) for every stock: the private list, then the shared ones.
  template <typename F>
  void ForEachStock(F f) const;
  void FreezeSharedForFork();
  void ThawShared();
  int64_t TakeSlots(ThreadStock* ts, uint32_t root,
                    uint32_t retire = kNoGroup) const;
  // Bytes held in every thread's slots whose group satisfies `match` (racy
  // snapshot). Allocates: never.
  template <typename Match>
  int64_t SumStocked(Match match) const;

  CounterTree tree_;
  // Set once by Init. Relaxed: a stale false only disables the fast path.
  std::atomic<bool> enabled_{false};
  std::atomic<bool> initialised_{false};
  // Head of the list of all ThreadStocks ever created. Pushed by Acquire
  // (CAS, release); walked by drainers (acquire).
  std::atomic<ThreadStock*> head_{nullptr};
  // Serialises DrainSubtree calls (kernel: percpu_charge_mutex).
  SpinLock drain_lock_;
  // Serialises growth of the stock list.
  SpinLock grow_lock_;
  // The metadata chunk (kStocksPerChunk stocks) that Acquire constructs
  // stocks in, one per miss, and how many it has constructed: under
  // grow_lock_.
  ThreadStock* grow_chunk_ = nullptr;
  uint32_t grow_used_ = 0;
  // Shared stocks: where they come from, and the chunks taken so far
  // (private: the shared memory holds no link). Chunks are appended under
  // grow_lock_; shared_count_ is published with release after the entry.
  static constexpr uint32_t kMaxSharedChunks = 1024;
  struct SharedChunk {
    ThreadStock* first;
    uint32_t count;
  };
  // Written at init (published by init's release of Ready) or in a fork
  // child (one thread); read by Acquire.
  SharedSourceFn shared_source_ = nullptr;
  std::atomic<uint32_t> shared_count_{0};
  SharedChunk shared_[kMaxSharedChunks] = {};
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_CHARGE_STOCK_H_
