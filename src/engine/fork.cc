// The engine's fork(2) handlers (engine.h): the engine lock, the front
// cache list lock, every slab bin lock and, on the mimalloc engine, the
// kept slabs' and the parked blocks' locks and, in a ThreadSanitizer
// build, the lock of the calls into mimalloc (mimalloc_engine.h) across
// fork; in the child, the next fork epoch (fork_epoch.h) and the charges
// it inherited from its parent (ChildForkDropInherited, FreeInheritedLarge).
// Owns the process's fork tag.
//
// Must never: take a lock out of the order g_engine_lock -> front cache
// lock -> slab bin locks (engine_internal.h, slab.h) -> kept slab locks
// (mimalloc_kept.cc, leaves) -> parked block locks (mimalloc_parked.cc,
// leaves) -> the lock of the calls into mimalloc (TSan builds,
// mimalloc_api.cc, a leaf); reclaim in the child the caches of the
// threads it lost (front_cache_internal.h, ChildFork).
// The transfer cache's try-locks are not held across fork (no thread waits
// on them): the child resets those a lost thread held (transfer_cache.h).
//
// jemalloc registers its own pthread_atfork handlers during its
// initialisation (on its first call: the private copy has no library
// constructor, cmake/RenameJemalloc.cmake): that happens before Init()
// returns. Prepare handlers run in reverse registration order,
// so a caller that registers PrepareFork/ParentFork/ChildFork after Init()
// gets: our PrepareFork (g_engine_lock) -> jemalloc's prefork (all its
// mutexes) -> fork -> jemalloc's postfork -> our Parent/ChildFork. No thread
// can then be inside an extent hook (hooks run under jemalloc mutexes), so
// the per-group spinlocks of group_arena.cc are free at fork time and need
// no handling.
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "engine/front_cache_internal.h"
#include "engine/mimalloc_engine.h"
#include "engine/slab.h"
#include "engine/transfer_cache.h"

namespace memgroup::internal::engine {

constinit uint16_t g_fork_tag = kFirstForkTag;

void AdvanceForkEpoch() {
  g_fork_tag =
      static_cast<uint16_t>(kFirstForkTag | ((g_fork_tag + 1) & 0x3fff));
}

void PrepareFork() {
  g_engine_lock.Lock();
  front::PrepareFork();
  slab::PrepareFork();
  if (UsesMimalloc()) {
    mi::PrepareKeptFork();
    mi::PrepareParkedFork();
    mi::PrepareApiFork();
  }
}
void ParentFork() {
  if (UsesMimalloc()) {
    mi::ParentApiFork();
    mi::ParentParkedFork();
    mi::ParentKeptFork();
  }
  slab::ParentFork();
  front::ParentFork();
  g_engine_lock.Unlock();
}
// The child has one thread, the one that took the locks in PrepareFork.
void ChildFork() {
  AdvanceForkEpoch();
  if (UsesMimalloc()) {
    mi::ChildApiFork();
    mi::ChildParkedFork();
    mi::ChildKeptFork();
  }
  slab::ChildFork();
  front::ChildFork();
  transfer::ChildFork();
  g_engine_lock.ResetAfterFork();
}

int64_t ChildForkDropInherited() {
  int64_t uncharged = 0;
  // First: on the jemalloc engine the blocks join the free pages count
  // (still the parent's charge), dropped below with the rest.
  if (t_front != nullptr) {
    const int64_t cached = front::ReturnLarge(t_front);
    if (UsesMimalloc()) uncharged += cached;
  }
  // The free slabs kept charged (jemalloc engine; none with mimalloc).
  uncharged += slab::ChildDropInheritedSlabs();
  return uncharged + DropInheritedFreePages();
}

void NoteInheritedPages(uint32_t owner, size_t bytes) {
  // The mimalloc engine returns a freed large block's pages to the OS.
  if (KeepsFreePages()) {
    AddInheritedDirtyPages(owner, static_cast<int64_t>(bytes));
  }
}

void FreeInheritedLarge(void* p, uint32_t owner, size_t usable) {
  // Counted before the free: a dirty-page check the free runs
  // (warm_large.h) must not take them for pages nobody's charge covers.
  NoteInheritedPages(owner, usable);
  Free(p, owner);
}

}  // namespace memgroup::internal::engine
