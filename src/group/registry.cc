// Implements registry.h. All mutation happens under one lock (slow path);
// Resolve and IdOf are lock-free. Allocates: never (MetaMap only).
#include "group/registry.h"

#include <cstring>
#include <new>

#include "base/check.h"
#include "base/meta_alloc.h"
#include "base/raw_log.h"
#include "group/job_member.h"

namespace memgroup::internal {
constinit Registry g_registry;

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

bool IsValidGroupName(const char* name, size_t* len) {
  if (name == nullptr) return false;
  size_t n = 0;
  while (name[n] != '\0') {
    if (!IsNameChar(name[n]) || n + 1 >= kMaxGroupName) return false;
    ++n;
  }
  if (n == 0) return false;
  if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
    return false;
  if (len != nullptr) *len = n;
  return true;
}

bool Registry::Init() {
  // Acquire pairs with the release store below: a true read sees the arrays.
  if (initialised_.load(std::memory_order_acquire)) return true;
  SpinLockHolder h(&lock_);
  if (initialised_.load(std::memory_order_relaxed)) return true;
  // One mapping: the slots' entries (state and record), indexed downward
  // from X, the counter tree from X, the name index. X lies 1 MiB into a
  // 2 MiB region, so that the root's entry and node, which every process
  // writes, lie in the two pages around X, under one page table. The extra
  // 2 MiB are address space only; the whole is a multiple of 2 MiB, which
  // the kernel places at a 2 MiB boundary, leaving the space below the
  // libraries mapped before it for those mapped after it (libmimalloc).
  constexpr size_t kEntries = sizeof(Entry) * kMaxGroups;
  constexpr size_t kNodes = sizeof(PageCounter) * kMaxGroups;
  constexpr size_t kNames = sizeof(uint32_t) * kNameBuckets;
  constexpr size_t kRegion = size_t{2} << 20;
  constexpr size_t kBytes =
      (kEntries + kNodes + kNames + 2 * kRegion - 1) & ~(kRegion - 1);
  static_assert(kNodes % alignof(uint32_t) == 0 &&
                (kRegion / 2) % alignof(Entry) == 0);
  char* map = static_cast<char*>(MetaMap(kBytes));
  if (map == nullptr) return false;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(map) + kEntries;
  const uintptr_t x =
      lo + ((kRegion / 2 - lo % kRegion) + kRegion) % kRegion;
  char* const nodes = reinterpret_cast<char*>(x);
  PageCounter* pc = reinterpret_cast<PageCounter*>(nodes);
  entries_end_ = reinterpret_cast<Entry*>(nodes);
  names_ = reinterpret_cast<uint32_t*>(nodes + kNodes);
  // Fresh anonymous memory is zero, which is a valid (empty, free) state
  // for every entry; only the root is constructed now, the others when a
  // group is created in them. Touching all 65,536 entries would cost every
  // process ~32 MiB of RSS and ~11,000 page faults at start.
  new (&pc[kRootGroup]) PageCounter();
  new (&SlotAt(kRootGroup)) GroupSlot();
  new (&StateAt(kRootGroup)) GroupState();
  tree_ = CounterTree(pc, kMaxGroups);
  // Before the stocks take their copy of the tree: the link is inactive
  // until the process joins a job (job_member.h).
  tree_.SetJobLink(JobLinkForTree());
  stocks_.BindTree(tree_);
  stocks_.Init();
  tree_.InitNode(kRootGroup, kNoParent);
  GroupSlot& root = SlotAt(kRootGroup);
  root.parent = kNoParent;
  // Relaxed: published by the release store of initialised_ below.
  root.generation.store(1, std::memory_order_relaxed);
  root.state.store(static_cast<uint32_t>(SlotState::kLive),
                   std::memory_order_relaxed);
  // Pairs with the acquire loads in Init/initialised().
  initialised_.store(true, std::memory_order_release);
  return true;
}

Errc Registry::Resolve(GroupId id, uint32_t* index) const {
  uint32_t i = IndexOf(id);
  if (id == kInvalidGroupId || i >= kMaxGroups || entries_end_ == nullptr)
    return Errc::kNotFound;
  const GroupSlot& s = SlotAt(i);
  // Pairs with the release stores in Create/Destroy.
  if (s.generation.load(std::memory_order_acquire) != GenerationOf(id) ||
      s.state.load(std::memory_order_acquire) !=
          static_cast<uint32_t>(SlotState::kLive)) {
    return Errc::kNotFound;
  }
  *index = i;
  return Errc::kOk;
}

GroupId Registry::IdOf(uint32_t index) const {
  if (index >= kMaxGroups || entries_end_ == nullptr) return kInvalidGroupId;
  const GroupSlot& s = SlotAt(index);
  // Pairs with the release stores in Create/Destroy. Destroy bumps the
  // generation (to an even value) before the state leaves kLive, so a read
  // racing with it could pair the old state with the new generation: the
  // generation is read around the state and must be odd (live) and stable.
  const uint32_t gen = s.generation.load(std::memory_order_acquire);
  if (s.state.load(std::memory_order_acquire) !=
          static_cast<uint32_t>(SlotState::kLive) ||
      (gen & 1) == 0 || s.generation.load(std::memory_order_acquire) != gen)
    return kInvalidGroupId;
  return MakeGroupId(index, gen);
}

bool Registry::IsLive(uint32_t index) const {
  return index < kMaxGroups && entries_end_ != nullptr &&
         // Pairs with the release stores in Create/Destroy.
         SlotAt(index).state.load(std::memory_order_acquire) ==
             static_cast<uint32_t>(SlotState::kLive);
}

uint32_t Registry::LiveAncestor(uint32_t index) const {
  uint32_t i = index;
  while (i != kNoParent && !IsLive(i)) i = tree_.Parent(i);
  return i == kNoParent ? kRootGroup : i;
}

uint32_t Registry::Bind(uint32_t index) {
  SpinLockHolder h(&lock_);
  // Relaxed: under the lock, which orders it with Create's check.
  SlotAt(index).bound.fetch_add(1, std::memory_order_relaxed);
  return GenerationOf(IdOf(index));
}

void Registry::Unbind(uint32_t index) {
  // Release: pairs with Create's acquire load; the unbinding thread's drain
  // and flush of what it held for the group happen before a reuse.
  SlotAt(index).bound.fetch_sub(1, std::memory_order_release);
}

void Registry::ResetBindingsAfterFork(uint32_t self) {
  if (entries_end_ == nullptr) return;
  // Only the slots ever used: reading all kMaxGroups would fault in the
  // zero page under every slot (about 1,400 faults per fork).
  // Each count written only when it changes (a page the child does not
  // write is one it does not copy).
  const uint32_t used = slots_past_root_.load(std::memory_order_relaxed) + 1;
  for (uint32_t i = 0; i < used; ++i) {
    ChildStoreIfChanged(SlotAt(i).bound, i == self ? 1u : 0u);
  }
  if (self >= used && self < kMaxGroups) {
    SlotAt(self).bound.store(1, std::memory_order_relaxed);
  }
}

uint32_t Registry::NameBucket(uint32_t parent, const char* name, size_t len) {
  // FNV-1a over the parent index and the name.
  uint32_t h = 2166136261u;
  for (int k = 0; k < 4; ++k) {
    h = (h ^ ((parent >> (8 * k)) & 0xff)) * 16777619u;
  }
  for (size_t k = 0; k < len; ++k) {
    h = (h ^ static_cast<unsigned char>(name[k])) * 16777619u;
  }
  return h % kNameBuckets;
}

uint32_t Registry::FindChildLocked(uint32_t parent, const char* name,
                                   size_t len) const {
  for (uint32_t c = names_[NameBucket(parent, name, len)]; c != 0;
       c = SlotAt(c - 1).hash_next) {
    const GroupSlot& s = SlotAt(c - 1);
    if (s.parent == parent &&
        s.state.load(std::memory_order_relaxed) ==
            static_cast<uint32_t>(SlotState::kLive) &&
        strncmp(s.name, name, len) == 0 && s.name[len] == '\0') {
      return c - 1;
    }
  }
  return kNoParent;
}

void Registry::IndexNameLocked(uint32_t index) {
  GroupSlot& s = SlotAt(index);
  uint32_t& head = names_[NameBucket(s.parent, s.name, strlen(s.name))];
  s.hash_next = head;
  head = index + 1;
}

void Registry::UnindexNameLocked(uint32_t index) {
  GroupSlot& s = SlotAt(index);
  uint32_t* link = &names_[NameBucket(s.parent, s.name, strlen(s.name))];
  while (*link != 0 && *link != index + 1) link = &SlotAt(*link - 1).hash_next;
  if (*link == index + 1) *link = s.hash_next;
  s.hash_next = 0;
}

Errc Registry::Create(GroupId parent_id, const char* name, GroupId* out) {
  size_t len = 0;
  if (!IsValidGroupName(name, &len)) return Errc::kInvalidArgument;
  SpinLockHolder h(&lock_);
  uint32_t parent;
  Errc e = Resolve(parent_id, &parent);
  if (e != Errc::kOk) return e;
  if (FindChildLocked(parent, name, len) != kNoParent)
    return Errc::kAlreadyExists;
  const uint32_t idx = PickSlotLocked();
  if (idx == kNoParent) return Errc::kResourceExhausted;
  GroupSlot& s = SlotAt(idx);
  if (s.state.load(std::memory_order_relaxed) ==
      static_cast<uint32_t>(SlotState::kZombie)) {
    SetZombieBitLocked(idx, false);
    UnlinkLocked(idx);
    StateAt(idx).Reset();
  } else {
    // First use of this slot: construct its entries in the zeroed memory.
    // Not the GroupSlot: its atomics (state, generation, bound) are read
    // lock-free by IsLive and Resolve for every index, this one included,
    // and constructing them would write them non-atomically under those
    // readers (a data race TSan reports); the zeroed mapping already holds
    // their initial 0, and the fields below are all assigned here.
    new (&tree_.node(idx)) PageCounter();
    new (&StateAt(idx)) GroupState();
  }
  tree_.InitNode(idx, parent);
  memcpy(s.name, name, len);
  s.name[len] = '\0';
  s.parent = parent;
  s.first_child = kNoParent;
  s.nr_children = 0;
  s.next_sibling = SlotAt(parent).first_child;
  SlotAt(parent).first_child = idx;
  SlotAt(parent).nr_children++;
  IndexNameLocked(idx);
  uint32_t gen = s.generation.load(std::memory_order_relaxed) + 1;
  if ((gen & 1) == 0) ++gen;  // odd while live
  // Release: pairs with Resolve's acquire loads; fields above are visible to
  // anyone who matches the new generation.
  s.generation.store(gen, std::memory_order_release);
  s.state.store(static_cast<uint32_t>(SlotState::kLive),
                std::memory_order_release);
  *out = MakeGroupId(idx, gen);
  return Errc::kOk;
}

uint32_t Registry::PickSlotLocked() {
  // Relaxed: under lock_, the only writer.
  const uint32_t used = slots_past_root_.load(std::memory_order_relaxed) + 1;
  const uint32_t words = (used + 63) / 64;
  // The lowest reusable zombie among the first kReuseChecks.
  uint32_t checked = 0;
  for (uint32_t w = 0; w < words && checked < kReuseChecks; ++w) {
    for (uint64_t bits = zombies_[w]; bits != 0 && checked < kReuseChecks;
         bits &= bits - 1, ++checked) {
      const uint32_t i = w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
      if (ZombieReusableLocked(i)) return i;
    }
  }
  if (used < kMaxGroups) {
    // Release: pairs with SlotLimit's acquire load (the slot itself is
    // published by its generation and state, as any other).
    slots_past_root_.store(used, std::memory_order_release);
    return used;
  }
  if (checked < kReuseChecks) return kNoParent;  // Every zombie was checked.
  // Every slot used: any reusable zombie.
  for (uint32_t w = 0; w < words; ++w) {
    for (uint64_t bits = zombies_[w]; bits != 0; bits &= bits - 1) {
      const uint32_t i = w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
      if (ZombieReusableLocked(i)) return i;
    }
  }
  return kNoParent;
}

bool Registry::EngineReleasable(uint32_t index) const {
  if (index == kRootGroup || index >= kMaxGroups || entries_end_ == nullptr) {
    return false;
  }
  SpinLockHolder h(&lock_);
  return SlotAt(index).state.load(std::memory_order_relaxed) ==
             static_cast<uint32_t>(SlotState::kZombie) &&
         ZombieReusableLocked(index, /*engine=*/false);
}

bool Registry::ZombieReusableLocked(uint32_t index, bool engine) const {
  if (tree_.Usage(index) != 0) return false;
  // Acquire: pairs with SetEngineHeld's release (the engine's teardown is
  // done before the slot is reused).
  if (engine &&
      SlotAt(index).engine_held.load(std::memory_order_acquire) != 0) {
    return false;
  }
  // Threads still bound to the destroyed group (`bound`, changed only under
  // this lock by Bind) or to a destroyed descendant (its hierarchical PSI
  // membership) leave it through its old ancestry on their next charge: the
  // slot must keep that ancestry until they did. Acquire on bound: pairs
  // with Unbind's release (see GroupSlot).
  if (SlotAt(index).bound.load(std::memory_order_acquire) != 0) return false;
  GroupState& st = StateAt(index);
  SpinLockHolder h(&st.psi_lock);
  return st.members == 0;
}

void Registry::UnlinkLocked(uint32_t index) {
  uint32_t parent = SlotAt(index).parent;
  if (parent == kNoParent) return;
  uint32_t* link = &SlotAt(parent).first_child;
  while (*link != kNoParent && *link != index)
    link = &SlotAt(*link).next_sibling;
  if (*link == index) {
    *link = SlotAt(index).next_sibling;
    SlotAt(parent).nr_children--;
  }
  SlotAt(index).next_sibling = kNoParent;
  SlotAt(index).parent = kNoParent;
}

Errc Registry::Destroy(GroupId id) {
  uint32_t idx;
  {
    SpinLockHolder h(&lock_);
    Errc e = Resolve(id, &idx);
    if (e != Errc::kOk) return e;
    if (idx == kRootGroup) return Errc::kFailedPrecondition;
    for (uint32_t c = SlotAt(idx).first_child; c != kNoParent;
         c = SlotAt(c).next_sibling) {
      if (SlotAt(c).state.load(std::memory_order_relaxed) ==
          static_cast<uint32_t>(SlotState::kLive))
        return Errc::kFailedPrecondition;
    }
    GroupSlot& s = SlotAt(idx);
    // Kernel offline: protection no longer applies.
    tree_.SetMin(idx, 0);
    tree_.SetLow(idx, 0);
    // Release: pairs with Resolve; the id is stale from here on.
    s.generation.store(s.generation.load(std::memory_order_relaxed) + 1,
                       std::memory_order_release);
    s.state.store(static_cast<uint32_t>(SlotState::kZombie),
                  std::memory_order_release);
    SetZombieBitLocked(idx, true);
    UnindexNameLocked(idx);
  }
  // Stocks held for the group go back now (outside the registry lock: the
  // drain takes its own lock), and its slots are marked retired: a thread
  // bound to it misses on its next stock operation, fast path included,
  // and moves to its live ancestor then (thread_binding.h). Its explicit
  // charges become the parent's.
  stocks_.DrainSubtree(idx, idx);
  ReparentExplicit(idx);
  return Errc::kOk;
}

void Registry::ReparentExplicit(uint32_t index) {
  // The parent is live: a group with live children cannot be destroyed.
  const uint32_t parent = tree_.Parent(index);
  // Relaxed: statistics of a group whose id is already stale (no mg_charge
  // or mg_uncharge resolves it any more).
  const int64_t bytes =
      StateAt(index).explicit_bytes.exchange(0, std::memory_order_relaxed);
  if (bytes <= 0 || parent == kNoParent) return;
  StateAt(parent).explicit_bytes.fetch_add(bytes, std::memory_order_relaxed);
  tree_.HandToParent(index, bytes);
}

Errc Registry::Lookup(const char* path, GroupId* out) const {
  if (path == nullptr) return Errc::kInvalidArgument;
  SpinLockHolder h(&lock_);
  uint32_t cur = kRootGroup;
  const char* p = path;
  while (*p != '\0') {
    while (*p == '/') ++p;
    if (*p == '\0') break;
    const char* end = p;
    while (*end != '\0' && *end != '/') ++end;
    size_t len = static_cast<size_t>(end - p);
    if (len >= kMaxGroupName) return Errc::kInvalidArgument;
    for (size_t k = 0; k < len; ++k) {
      if (!IsNameChar(p[k])) return Errc::kInvalidArgument;
    }
    uint32_t c = FindChildLocked(cur, p, len);
    if (c == kNoParent) return Errc::kNotFound;
    cur = c;
    p = end;
  }
  *out =
      MakeGroupId(cur, SlotAt(cur).generation.load(std::memory_order_relaxed));
  return Errc::kOk;
}

size_t Registry::Path(uint32_t index, char* buf, size_t cap) const {
  if (cap == 0) return 0;
  uint32_t chain[64];
  int depth = 0;
  for (uint32_t i = index; i != kRootGroup && i != kNoParent && depth < 64;
       i = tree_.Parent(i)) {
    chain[depth++] = i;
  }
  size_t n = 0;
  if (depth == 0) {
    return RawFormat(buf, cap, "/");
  }
  for (int d = depth - 1; d >= 0; --d) {
    n += RawFormat(buf + n, cap - n, "/%s", SlotAt(chain[d]).name);
    if (n + 1 >= cap) break;
  }
  return n;
}

void Registry::RaiseEvent(uint32_t index, Event e) {
  if (IsJobLevel(index)) {
    RaiseJobEvent(e, index);
    return;
  }
  // Relaxed: statistics, exact once quiesced.
  StateAt(index).events_local[e].fetch_add(1, std::memory_order_relaxed);
  for (uint32_t i = index; i != kNoParent; i = tree_.Parent(i)) {
    StateAt(i).events[e].fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace memgroup::internal
