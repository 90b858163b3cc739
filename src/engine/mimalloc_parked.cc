// The mimalloc engine's parked blocks (mimalloc_engine.h, ParkLarge): freed
// large blocks, and slabs' blocks the group no longer keeps, whose mimalloc
// block shares a mimalloc page with others, held by the engine with every
// page returned to the OS instead of going back to mimalloc, and handed
// out again for their class or for a slab (TakeParked, TakeParkedSlab);
// the per-(group slot, list) lists, their pages of records, and the lists'
// locks across fork. Owns the lists and their counts.
//
// Must never: allocate through malloc; write into a parked block (its pages
// are returned, and the next take relies on them reading zero); call out
// (madvise, MetaMap, MetaUnmap) with a list's lock held; hold a block in
// two places; hand a block of one group slot to another.
//
// SYNCHRONIZATION: each list (its pages of records) is under its spinlock,
// a leaf lock (nothing else is taken while it is held), taken by fork's
// prepare handler after every other engine lock. The count is changed
// under the lock and read without it as a hint (relaxed).
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/mimalloc_engine.h"
#include "engine/slab.h"

namespace memgroup::internal::engine::mi {
namespace {

// Lists of parked blocks: the large classes from kMinLargeBytes through
// kParkMaxBytes, four per doubling (LargeClass, mimalloc_large.cc), then
// the slabs' blocks.
inline constexpr uint32_t kParkLargeClasses = 12;
inline constexpr uint32_t kParkSlabList = kParkLargeClasses;
inline constexpr uint32_t kParkClasses = kParkLargeClasses + 1;

// One page of records (metadata memory), newest first: block[0..n) are
// parked blocks.
struct ParkedPage {
  ParkedPage* next;
  uint64_t n;
  void* block[(kPageSize - 16) / sizeof(void*)];
};
static_assert(sizeof(ParkedPage) == kPageSize);
inline constexpr uint64_t kPerPage = sizeof(ParkedPage::block) / sizeof(void*);

struct alignas(MG_CACHELINE) ParkedList {
  ParkedPage* top = nullptr;    // Under its lock (LockOf).
  ParkedPage* spare = nullptr;  // Under its lock: an empty page, or nullptr.
  // Parked blocks: written under lock, read without it (relaxed. Racy by
  // design: a hint for Take; a block parked just now is missed and
  // mimalloc serves the allocation instead).
  std::atomic<uint64_t> n{0};
};
// 63 x 13 x 64 bytes of zeroed data, touched per (group slot, list) used.
constinit ParkedList g_parked[kMiMaxGroups][kParkClasses];
// The lists' locks, apart from the lists and in one page: fork's handlers
// take and release every one of them, which writes their page in the
// parent and then copies it in both processes (with a lock in each list's
// line, 13 pages: 39 page faults a fork, most of them in a child about to
// exec).
alignas(kPageSize) constinit SpinLock
    g_park_lock[kMiMaxGroups * kParkClasses];
static_assert(sizeof(g_park_lock) <= kPageSize);

SpinLock& LockOf(const ParkedList& l) {
  return g_park_lock[&l - &g_parked[0][0]];
}

// The list index of a large class from kMinLargeBytes to kParkMaxBytes.
uint32_t ParkIndex(size_t usable) {
  const unsigned lg = 63u - static_cast<unsigned>(__builtin_clzl(usable));
  return (lg - 14u) * 4u + static_cast<uint32_t>((usable >> (lg - 2)) & 3u);
}
static_assert(kMinLargeBytes == size_t{1} << 14);

// Pushes `block` on `l` if its top page has room (or a spare page takes
// it), else leaves it and returns false. Under LockOf(l).
bool PushLocked(ParkedList& l, void* block) {
  ParkedPage* page = l.top;
  if (page == nullptr || page->n == kPerPage) {
    if (l.spare == nullptr) return false;
    page = l.spare;
    l.spare = nullptr;
    page->next = l.top;
    page->n = 0;
    l.top = page;
  }
  page->block[page->n++] = block;
  // Relaxed: see ParkedList::n (under the lock; read as a hint).
  l.n.store(l.n.load(std::memory_order_relaxed) + 1,
            std::memory_order_relaxed);
  return true;
}

// Returns the pages of `block` (`bytes`, page-aligned) to the OS and pushes
// it on `l`; false (its pages returned) when no metadata page is left.
bool Park(ParkedList& l, void* block, size_t bytes) {
  // Every page, the first one too: nothing is written into the block while
  // it is parked, so it costs no resident page and no charge, and it reads
  // zero when it is taken again. The raw syscall: memgroup's interposed
  // madvise would treat the range as a program mapping.
  const size_t whole = bytes & ~(kPageSize - 1);
  if (whole != 0) (void)SysMadvise(block, whole, MADV_DONTNEED);
  {
    SpinLockHolder holder(&LockOf(l));
    if (PushLocked(l, block)) return true;
  }
  // A page of records, mapped with no lock held; when another thread made
  // room meanwhile, it is kept as the spare (or unmapped: one spare only).
  auto* page = static_cast<ParkedPage*>(MetaMap(kPageSize));
  if (page == nullptr) return false;  // The caller frees it to mimalloc.
  bool parked;
  {
    SpinLockHolder holder(&LockOf(l));
    parked = PushLocked(l, block);
    if (!parked) {
      // The top page is full and there is no spare (PushLocked).
      l.spare = page;
      page = nullptr;
      parked = PushLocked(l, block);
    } else if (l.spare == nullptr) {
      l.spare = page;
      page = nullptr;
    }
  }
  if (page != nullptr) MetaUnmap(page, kPageSize);
  return parked;
}

// Pops a block of `l`, or nullptr.
void* Take(ParkedList& l) {
  // Relaxed: a hint (see ParkedList::n).
  if (l.n.load(std::memory_order_relaxed) == 0) return nullptr;
  ParkedPage* unmap = nullptr;
  void* block = nullptr;
  {
    SpinLockHolder holder(&LockOf(l));
    ParkedPage* page = l.top;
    if (page == nullptr) return nullptr;
    // A top page always holds a block: one emptied here is unlinked.
    block = page->block[--page->n];
    // Relaxed: see ParkedList::n (under the lock; read as a hint).
    l.n.store(l.n.load(std::memory_order_relaxed) - 1,
              std::memory_order_relaxed);
    if (page->n == 0) {
      l.top = page->next;
      if (l.spare == nullptr) {
        l.spare = page;
      } else {
        unmap = page;
      }
    }
  }
  if (unmap != nullptr) MetaUnmap(unmap, kPageSize);
  return block;
}

}  // namespace

bool ParkLarge(uint32_t group, void* block, size_t usable, size_t bytes) {
  if (group >= kMiMaxGroups || usable < kMinLargeBytes ||
      usable > kParkMaxBytes || bytes > kMiMediumMaxBytes ||
      (reinterpret_cast<uintptr_t>(block) & (kPageSize - 1)) != 0) {
    return false;
  }
  return Park(g_parked[group][ParkIndex(usable)], block, bytes);
}

void* TakeParked(uint32_t group, size_t usable) {
  if (group >= kMiMaxGroups || usable < kMinLargeBytes ||
      usable > kParkMaxBytes) {
    return nullptr;
  }
  return Take(g_parked[group][ParkIndex(usable)]);
}

bool ParkSlab(uint32_t group, void* mem) {
  if (group >= kMiMaxGroups) return false;
  return Park(g_parked[group][kParkSlabList], mem, slab::kSlabBytes);
}

void* TakeParkedSlab(uint32_t group) {
  if (group >= kMiMaxGroups) return nullptr;
  return Take(g_parked[group][kParkSlabList]);
}

void PrepareParkedFork() {
  for (SpinLock& lock : g_park_lock) ForkLock(lock);
}
void ParentParkedFork() {
  for (SpinLock& lock : g_park_lock) ForkUnlock(lock);
}
void ChildParkedFork() {
  for (SpinLock& lock : g_park_lock) ForkReset(lock);
}

}  // namespace memgroup::internal::engine::mi
