// Implements transfer_cache.h: the per-group slot tables and the put, take
// and drain of batches.
#include "engine/transfer_cache.h"

#include <atomic>
#include <cstddef>

#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "engine/engine.h"
#include "engine/front_cache.h"
#include "engine/group_row.h"
#include "engine/slab.h"

namespace memgroup::internal::engine::transfer {
namespace {

// Batches one class may hold: a class of 16 bytes (batches of 128 regions,
// half a full bin: 2 KiB) fills them all, 254 KiB; larger classes stop at
// kBytesPerClass.
inline constexpr uint32_t kSlots = 127;
// Regions a class's slots may hold together, in bytes (at least one batch):
// bounds a group's transfer cache at 40 x 256 KiB, 10 MiB. What a producer
// that runs 4,096 64-byte blocks ahead of its consumer needs (the
// producer_consumer shape's ring, as callgrind runs it); 64 KiB measured
// 140 instructions a pair there against 79 (docs/perf.md).
inline constexpr uint64_t kBytesPerClass = 256 * 1024;
// A slot holds the batch's first region's address in its low 48 bits (user
// addresses on x86-64 and arm64 fit), the count in the next 8 and the
// shard of the first region's slab (slab.h, ShardOf) in the top 8.
inline constexpr unsigned kCountShift = 48;
inline constexpr unsigned kShardShift = 56;
inline constexpr uint64_t kAddressMask = (uint64_t{1} << kCountShift) - 1;

inline constexpr uint32_t kMaxCount = 0xff;

uint32_t CountOf(uint64_t v) {
  return static_cast<uint32_t>(v >> kCountShift) & kMaxCount;
}
uint32_t ShardOfSlot(uint64_t v) {
  return static_cast<uint32_t>(v >> kShardShift);
}

// The slots held in a class's head line, beside its lock and count.
inline constexpr uint32_t kHeadSlots = 7;

// One class's batches: a stack under a try-lock. A thread that finds the
// lock taken does without the transfer cache for that batch (the slabs
// take or give it), so no thread ever waits here, and a fork child whose
// lost thread held a lock only loses the use of that class's stack.
// The head line holds the stack's first kHeadSlots slots; the others are
// in the group's `more` area (SlotOf).
struct alignas(64) ClassBatches {
  // 0 free, 1 held: exchange(1, acquire) to take, store(0, release) to give
  // back; pairs with each other, ordering the fields below.
  std::atomic<uint32_t> lock;
  // Batches in the stack: written under the lock (relaxed: the lock orders
  // it), read under it, and by Take without it as a hint.
  std::atomic<uint32_t> count;
  uint64_t head[kHeadSlots];  // Under the lock.
};
static_assert(sizeof(ClassBatches) == 64, "one line per class");

}  // namespace

// The head lines of all classes side by side (41 lines, one page), then
// each class's further slots (15 lines per class): a process that puts a
// few batches per class touches one page of the table instead of one per
// four classes. No two classes share a line, as when each class's slots
// followed its head.
struct TransferGroup {
  ClassBatches cls[slab::kSmallClasses + 1];
  uint64_t more[slab::kSmallClasses + 1][kSlots - kHeadSlots];
};
static_assert((kSlots - kHeadSlots) * sizeof(uint64_t) % 64 == 0,
              "each class's further slots fill whole lines");
static_assert(sizeof(TransferGroup) == (slab::kSmallClasses + 1) * 1024,
              "16 lines per class");

namespace {

// Slot `k` (below kSlots) of class `cls`'s stack in `g`. Under its lock.
uint64_t& SlotOf(TransferGroup* g, uint32_t cls, uint32_t k) {
  return k < kHeadSlots ? g->cls[cls].head[k] : g->more[cls][k - kHeadSlots];
}

// One more than the highest group id with stacks (ChildFork's scan).
// Raised by MakeGroupSlots (relaxed fetch_max loop), read by ChildFork.
constinit std::atomic<uint32_t> g_groups_end{0};

// Each group id's stacks (its GroupRow's `transfer`, group_row.h), made at
// its first Put and kept (a later group of the same id finds them empty:
// the engine drains a group before retiring it). Written once per id by
// MakeGroupSlots' CAS from nullptr.
TransferGroup* GroupSlots(uint32_t group) {
  // Acquire: pairs with MakeGroupSlots' release CAS (the zeroed table).
  return g_group_rows[group].transfer.load(std::memory_order_acquire);
}

TransferGroup* MakeGroupSlots(uint32_t group) {
  auto* made = static_cast<TransferGroup*>(MetaMap(sizeof(TransferGroup)));
  if (made == nullptr) return nullptr;  // Zero-filled: every stack empty.
  TransferGroup* seen = nullptr;
  // Release: the table's zeroed memory is visible to whoever loads the
  // pointer (GroupSlots' acquire). Acquire on failure: the winner's table,
  // used below, is as visible.
  if (g_group_rows[group].transfer.compare_exchange_strong(
          seen, made, std::memory_order_release, std::memory_order_acquire)) {
    uint32_t end = g_groups_end.load(std::memory_order_relaxed);
    // Relaxed: only ChildFork reads it, in a child with one thread, after
    // fork, which orders everything this thread did before.
    while (end < group + 1 &&
           !g_groups_end.compare_exchange_weak(end, group + 1,
                                               std::memory_order_relaxed)) {
    }
    return made;
  }
  MetaUnmap(made, sizeof(TransferGroup));
  return seen;
}

bool TryLock(ClassBatches& c) {
  // Relaxed: a hint, so that a taken lock costs no write of its line.
  if (c.lock.load(std::memory_order_relaxed) != 0) return false;
  // Acquire: pairs with Unlock's release (the previous holder's writes).
  return c.lock.exchange(1, std::memory_order_acquire) == 0;
}
void Unlock(ClassBatches& c) {
  // Release: pairs with TryLock's acquire exchange.
  c.lock.store(0, std::memory_order_release);
}

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Takes the top batch of class `cls` in `g`, whose lock the caller holds:
// 0 if none.
uint64_t PopLocked(TransferGroup* g, uint32_t cls) {
  ClassBatches& c = g->cls[cls];
  // Relaxed: under the lock.
  const uint32_t n = c.count.load(std::memory_order_relaxed);
  if (n == 0) return 0;
  c.count.store(n - 1, std::memory_order_relaxed);
  return SlotOf(g, cls, n - 1);
}

// Takes the topmost batch of shard `shard` of class `cls` in `g` (the top
// batch moves into its slot), whose lock the caller holds: 0 if none.
uint64_t PopShardLocked(TransferGroup* g, uint32_t cls, uint32_t shard) {
  ClassBatches& c = g->cls[cls];
  // Relaxed: under the lock.
  const uint32_t n = c.count.load(std::memory_order_relaxed);
  for (uint32_t k = n; k-- > 0;) {
    const uint64_t v = SlotOf(g, cls, k);
    if (ShardOfSlot(v) != shard) continue;
    SlotOf(g, cls, k) = SlotOf(g, cls, n - 1);
    c.count.store(n - 1, std::memory_order_relaxed);
    return v;
  }
  return 0;
}

}  // namespace

bool Put(uint32_t group, uint32_t cls, void* head, uint32_t n) {
  const auto addr = reinterpret_cast<uint64_t>(head);
  if (group >= kMaxGroups || cls == 0 || cls > slab::kSmallClasses || n == 0 ||
      n > kMaxCount || (addr & ~kAddressMask) != 0 || CheckMode()) {
    return false;
  }
  TransferGroup* g = GroupSlots(group);
  if (MG_UNLIKELY(g == nullptr)) {
    g = MakeGroupSlots(group);
    if (g == nullptr) return false;
  }
  const uint64_t batch_bytes = uint64_t{n} * g_usable_of_class[cls];
  uint64_t slots = kBytesPerClass / batch_bytes;
  if (slots < 1) slots = 1;
  if (slots > kSlots) slots = kSlots;
  // Read before the lock: the first region's slab header, which the
  // putter holds (the region is out of its slab).
  const uint32_t shard = slab::ShardOf(head);
  ClassBatches& c = g->cls[cls];
  if (!TryLock(c)) return false;
  // Relaxed: under the lock.
  const uint32_t held = c.count.load(std::memory_order_relaxed);
  const bool room = held < slots;
  // The batch's links were written by this thread before; the lock's
  // release publishes them to the taker.
  if (room) {
    SlotOf(g, cls, held) = uint64_t{shard} << kShardShift |
                           uint64_t{n} << kCountShift | addr;
    c.count.store(held + 1, std::memory_order_relaxed);
  }
  Unlock(c);
  return room;
}

void* Take(uint32_t group, uint32_t cls, uint32_t shard, uint32_t* n) {
  if (group >= kMaxGroups || cls == 0 || cls > slab::kSmallClasses) {
    return nullptr;
  }
  TransferGroup* g = GroupSlots(group);
  if (g == nullptr) return nullptr;
  ClassBatches& c = g->cls[cls];
  // Relaxed, racy by design: an empty stack skips the lock; a stale read
  // only sends this refill to the slabs or into the lock for nothing.
  if (c.count.load(std::memory_order_relaxed) == 0 || !TryLock(c)) {
    return nullptr;
  }
  const uint64_t v = PopShardLocked(g, cls, shard);
  Unlock(c);
  if (v == 0) return nullptr;
  *n = CountOf(v);
  return reinterpret_cast<void*>(v & kAddressMask);
}

void Drain(uint32_t group) {
  if (group >= kMaxGroups) return;
  TransferGroup* g = GroupSlots(group);
  if (g == nullptr) return;
  for (uint32_t cls = 1; cls <= slab::kSmallClasses; ++cls) {
    ClassBatches& c = g->cls[cls];
    // Relaxed: an empty stack is skipped; a batch put after this load is
    // the putter's (a drain returns what was there when it ran).
    if (c.count.load(std::memory_order_relaxed) == 0) continue;
    for (;;) {
      // A drain must not skip a batch: it waits for the holder, whose hold
      // is a few instructions (no holder sleeps or allocates under it).
      while (!TryLock(c)) CpuRelax();
      const uint64_t v = PopLocked(g, cls);
      Unlock(c);
      if (v == 0) break;
      // Outside the lock: FreeBatch takes the bin's lock and may release a
      // slab to the arena.
      slab::FreeBatch(group, cls, reinterpret_cast<void*>(v & kAddressMask),
                      CountOf(v));
    }
  }
}

void ChildFork() {
  // Relaxed: this is the child's only thread.
  const uint32_t end = g_groups_end.load(std::memory_order_relaxed);
  for (uint32_t group = 0; group < end; ++group) {
    TransferGroup* g =
        g_group_rows[group].transfer.load(std::memory_order_relaxed);
    if (g == nullptr) continue;
    for (ClassBatches& c : g->cls) {
      // Relaxed: no other thread exists. A lock held at fork was held by a
      // thread the child does not have, maybe in the middle of a push:
      // its batches are dropped (leaked, like that thread's front cache).
      if (c.lock.load(std::memory_order_relaxed) == 0) continue;
      c.count.store(0, std::memory_order_relaxed);
      c.lock.store(0, std::memory_order_relaxed);
    }
  }
}

uint64_t RegionsHeld(uint32_t group) {
  if (group >= kMaxGroups) return 0;
  TransferGroup* g = GroupSlots(group);
  if (g == nullptr) return 0;
  uint64_t held = 0;
  for (uint32_t cls = 1; cls <= slab::kSmallClasses; ++cls) {
    ClassBatches& c = g->cls[cls];
    while (!TryLock(c)) CpuRelax();
    // Relaxed: under the lock.
    const uint32_t n = c.count.load(std::memory_order_relaxed);
    for (uint32_t k = 0; k < n; ++k) held += CountOf(SlotOf(g, cls, k));
    Unlock(c);
  }
  return held;
}

}  // namespace memgroup::internal::engine::transfer
