// The group registry: id -> group, names and the tree, generation-tagged ids,
// create/destroy with reparenting. Owns the
// flat PageCounter array and the per-thread charge stocks.
// Must never allocate through malloc (its memory comes from MetaMap) and never
// take its lock on the malloc fast path.
//
// Ids: GroupId = (generation << 32) | slot index. A slot's generation changes
// when its group is destroyed, so a stale id never reaches a new group.
// Destroying a group that still holds charges leaves its slot as a zombie:
// the counter node stays linked under its parent, so later uncharges of its
// blocks walk through the parent to the root (kernel obj_cgroup reparenting:
// the charge was already counted in every ancestor). A zombie slot is reused
// only once its usage reads 0 (nothing charged to it can still be freed, no
// stock holds bytes for it) and no thread is bound to it or to a destroyed
// descendant (`bound`, and the hierarchical PSI membership): a thread
// bound to a destroyed group keeps the slot, and with it the parent link it
// moves along on its next charge (thread_binding.h), and never sees another
// group in its place, and once the engine let go of the slot
// (`engine_held`: the jemalloc engine retires a destroyed group's arena and
// chunks when nothing of it is left, engine_init.cc). Creating a group takes
// the lowest reusable zombie slot among the first kReuseChecks zombies,
// else a slot never used, else any reusable zombie: O(1) while slots last.
#ifndef MEMGROUP_SRC_GROUP_REGISTRY_H_
#define MEMGROUP_SRC_GROUP_REGISTRY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/spinlock.h"
#include "counter/charge_stock.h"
#include "counter/counter_tree.h"
#include "group/errc.h"
#include "group/group_state.h"

namespace memgroup::internal {

using GroupId = uint64_t;
inline constexpr GroupId kInvalidGroupId = 0;

inline constexpr uint32_t IndexOf(GroupId id) {
  return static_cast<uint32_t>(id & 0xffffffffu);
}
inline constexpr uint32_t GenerationOf(GroupId id) {
  return static_cast<uint32_t>(id >> 32);
}
inline constexpr GroupId MakeGroupId(uint32_t index, uint32_t generation) {
  return (static_cast<uint64_t>(generation) << 32) | index;
}

enum class SlotState : uint32_t { kFree = 0, kLive = 1, kZombie = 2 };

struct GroupSlot {
  // kFree/kLive/kZombie. Written under the registry lock (release); read
  // lock-free by Resolve (acquire).
  std::atomic<uint32_t> state{0};
  // Odd while live. Bumped under the lock on create and destroy (release);
  // read by Resolve (acquire). Pairs so that a matching generation implies
  // the slot's fields are initialised.
  std::atomic<uint32_t> generation{0};
  // Tree links (indices), written under the lock.
  uint32_t parent = kNoParent;
  uint32_t first_child = kNoParent;
  uint32_t next_sibling = kNoParent;
  uint32_t nr_children = 0;
  // Threads whose charge binding names this slot (thread_binding.cc). Any
  // thread adds (relaxed) and removes (release); Create reads it under the
  // lock (acquire) before reusing a zombie slot.
  std::atomic<uint32_t> bound{0};
  // 1 while the engine holds state for the slot that a new group must not
  // inherit (the jemalloc engine's arena and chunks, until it retires them).
  // Set and cleared by the engine without the lock (release); read by Create
  // under the lock (acquire) before reusing a zombie slot.
  std::atomic<uint32_t> engine_held{0};
  // The next live group in this one's name bucket (index + 1, 0 ends it).
  // Under the lock.
  uint32_t hash_next = 0;
  char name[kMaxGroupName] = {};
};

// Zombie slots Create examines for reuse before it takes a fresh slot.
inline constexpr uint32_t kReuseChecks = 64;

class Registry {
 public:
  constexpr Registry() = default;

  // Maps the counter and slot arrays and creates the root group "/".
  // Idempotent. False if memory could not be mapped. Allocates: never.
  [[nodiscard]] bool Init();
  bool initialised() const {
    return initialised_.load(std::memory_order_acquire);
  }

  GroupId root() const { return MakeGroupId(kRootGroup, 1); }

  // Creates `name` under `parent`. Names are 1..63 bytes of [A-Za-z0-9._-],
  // not "." or "..". Allocates: never.
  Errc Create(GroupId parent, const char* name, GroupId* out);
  // Looks up "/a/b" (or "a/b", relative to the root; "/" is the root).
  Errc Lookup(const char* path, GroupId* out) const;
  // Destroys a group with no children. Its stocks are drained; remaining
  // heap and mmap charges stay linked under the parent (see the file
  // comment); its explicit charges (mg_charge) become the parent's own, to
  // be uncharged through the parent.
  Errc Destroy(GroupId id);

  // Slot index of a live group, or kNotFound for a stale/unknown id.
  Errc Resolve(GroupId id, uint32_t* index) const;
  // Current id of a live slot index (kInvalidGroupId if not live).
  GroupId IdOf(uint32_t index) const;
  bool IsLive(uint32_t index) const;
  // Nearest live group at or above `index` (the root is always live).
  uint32_t LiveAncestor(uint32_t index) const;
  // A thread's binding starts / stops naming slot `index`. While bound > 0
  // the slot is not reused. Bind takes the registry lock, so that it and
  // Create's reuse are ordered, and returns the generation of the live
  // group in the slot then (0 if it is a zombie already: the thread moves
  // to its live ancestor on its next charge). Unbind comes after the thread
  // gave back everything it held for the group (stock drained, front cache
  // flushed); lock-free. Allocates: never.
  uint32_t Bind(uint32_t index);
  void Unbind(uint32_t index);
  // One past the highest slot index ever used: every live or zombie group
  // lies below it (loops over groups stop there). Allocates: never.
  uint32_t SlotLimit() const {
    // Acquire: pairs with Create's release store, so the slots below it
    // have been initialised.
    return slots_past_root_.load(std::memory_order_acquire) + 1;
  }
  // The engine holds (or released) state for slot `index`: see
  // GroupSlot::engine_held. Lock-free: the engine calls it under its own
  // lock, which comes after the registry lock. Allocates: never.
  void SetEngineHeld(uint32_t index, bool held) {
    // Before Init (engine tests without groups) there is no slot to mark.
    if (entries_end_ == nullptr || index >= kMaxGroups) return;
    // Release: the engine's teardown of the slot's state happens before a
    // Create that reads 0 (acquire) reuses the slot.
    SlotAt(index).engine_held.store(held ? 1 : 0, std::memory_order_release);
  }
  // Whether the engine may retire slot `index`'s state now: a destroyed
  // group (zombie) with nothing charged, no thread bound to it or below it.
  // Takes the lock. Allocates: never.
  bool EngineReleasable(uint32_t index) const;
  // Threads bound to slot `index` (racy snapshot; exact once quiesced).
  uint32_t BoundThreads(uint32_t index) const {
    // Relaxed: a statistics read.
    return SlotAt(index).bound.load(std::memory_order_relaxed);
  }
  // fork(2) child: only the calling thread survives; its binding (`self`,
  // or kNoGroup) is the only one left.
  void ResetBindingsAfterFork(uint32_t self);
  // Writes "/a/b" for a slot. Returns length. Allocates: never.
  size_t Path(uint32_t index, char* buf, size_t cap) const;
  // Visits live groups in pre-order under `index` (inclusive). Must not
  // call back into the registry's mutating functions. Allocates: never.
  template <typename F>
  void ForEachInSubtree(uint32_t index, F&& f) const {
    SpinLockHolder h(&lock_);
    VisitLocked</*zombies=*/false>(index, f);
  }
  // The same, destroyed descendants (zombies) included: what the subtree's
  // counter still holds for them (statistics). Allocates: never.
  template <typename F>
  void ForEachChargedInSubtree(uint32_t index, F&& f) const {
    SpinLockHolder h(&lock_);
    VisitLocked</*zombies=*/true>(index, f);
  }

  GroupState& state(uint32_t index) { return StateAt(index); }
  const GroupState& state(uint32_t index) const { return StateAt(index); }
  // Raises event `e` locally at `index` and hierarchically at it and every
  // ancestor, the root included (kernel memcg_memory_event: the root's
  // memory.events counts the whole process). Allocates: never.
  void RaiseEvent(uint32_t index, Event e);

  CounterTree& tree() { return tree_; }
  const CounterTree& tree() const { return tree_; }
  ChargeStocks& stocks() { return stocks_; }

  // fork(2): hold the lock across fork; the child resets it.
  void PrepareFork() { ForkLock(lock_); }
  void ParentFork() { ForkUnlock(lock_); }
  void ChildFork() { ForkReset(lock_); }

 private:
  template <bool kZombies, typename F>
  void VisitLocked(uint32_t index, F& f) const {
    f(index);
    for (uint32_t c = SlotAt(index).first_child; c != kNoParent;
         c = SlotAt(c).next_sibling) {
      const uint32_t st = SlotAt(c).state.load(std::memory_order_relaxed);
      if (st == static_cast<uint32_t>(SlotState::kLive) ||
          (kZombies && st == static_cast<uint32_t>(SlotState::kZombie))) {
        VisitLocked<kZombies>(c, f);
      }
    }
  }
  // The live child `name` (len bytes) of `parent`, or kNoParent: one name
  // bucket's walk (names_), not the parent's children.
  uint32_t FindChildLocked(uint32_t parent, const char* name, size_t len) const;
  static uint32_t NameBucket(uint32_t parent, const char* name, size_t len);
  // Live groups enter the name index at create and leave it at destroy.
  void IndexNameLocked(uint32_t index);
  void UnindexNameLocked(uint32_t index);
  void UnlinkLocked(uint32_t index);
  // Destroy's last step: the explicit charges of `index` become its
  // parent's (counter and statistics).
  void ReparentExplicit(uint32_t index);
  // A zombie slot may be reused: nothing charged to it, no thread bound to
  // it or below it, and (`engine`) the engine let go of it. Requires lock_.
  bool ZombieReusableLocked(uint32_t index, bool engine = true) const;
  // The slot Create takes: see the file comment. kNoParent if none.
  // Requires lock_.
  uint32_t PickSlotLocked();
  void SetZombieBitLocked(uint32_t index, bool zombie) {
    const uint64_t bit = uint64_t{1} << (index % 64);
    if (zombie) {
      zombies_[index / 64] |= bit;
    } else {
      zombies_[index / 64] &= ~bit;
    }
  }

  // Every member starts zero: the registry lies in .bss, its head (these
  // first members, what a process touches) in one page.
  mutable SpinLock lock_;
  std::atomic<bool> initialised_{false};
  // The highest slot index ever used (the root is slot 0, so one past it
  // is the number of slots used). Written under lock_ by Create (release);
  // read by SlotLimit (acquire) and by ResetBindingsAfterFork in a fork
  // child, whose parent held lock_ across the fork.
  std::atomic<uint32_t> slots_past_root_{0};
  // Each slot's state and link record, side by side. They run downward
  // from entries_end_ (slot i's is entries_end_[-1 - i]): their end is the
  // counter tree's start, so that the root's state, record and node lie in
  // two neighbouring pages of one page table (Init).
  struct Entry {
    GroupState state;
    GroupSlot slot;
  };
  Entry* entries_end_ = nullptr;
  // The state and the record of slot `index` (mutable through a const
  // registry, as through the pointer they are reached by).
  GroupState& StateAt(uint32_t index) const {
    return entries_end_[-1 - static_cast<ptrdiff_t>(index)].state;
  }
  GroupSlot& SlotAt(uint32_t index) const {
    return entries_end_[-1 - static_cast<ptrdiff_t>(index)].slot;
  }
  // The name index: kNameBuckets heads (index + 1, 0: empty) of chains
  // through GroupSlot::hash_next, keyed by (parent, name). Under lock_.
  static constexpr uint32_t kNameBuckets = kMaxGroups;
  uint32_t* names_ = nullptr;
  CounterTree tree_;
  ChargeStocks stocks_{CounterTree()};
  // One bit per zombie slot, under lock_ (8 KiB: last, apart from the head).
  uint64_t zombies_[kMaxGroups / 64] = {};
};

// The process-wide registry. constinit: usable before any constructor runs.
MG_HIDDEN extern constinit Registry g_registry;
MG_ALWAYS_INLINE Registry& GlobalRegistry() { return g_registry; }

// Validates a group name component. Allocates: never.
bool IsValidGroupName(const char* name, size_t* len);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_REGISTRY_H_
