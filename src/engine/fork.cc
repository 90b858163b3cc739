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
// jemalloc's own fork handlers are not registered with libc: the private
// copy's pthread_atfork is redirected here (cmake/RenameJemalloc.cmake),
// which keeps them, and these handlers run them last in PrepareFork and
// first in ParentFork/ChildFork, so the order is: our PrepareFork
// (g_engine_lock) -> jemalloc's prefork (all its mutexes) -> fork ->
// jemalloc's postfork -> our Parent/ChildFork. No thread can then be inside
// an extent hook (hooks run under jemalloc mutexes), so the per-group
// spinlocks of group_arena.cc are free at fork time and need no handling.
// A process that has only ever had one thread takes none of these locks,
// jemalloc's included (base/fork_locks.h): jemalloc's handlers alone wrote
// about 25 pages per fork, copied on write between parent and child.
#include "base/fork_locks.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "engine/front_cache_internal.h"
#include "engine/mimalloc_engine.h"
#include "engine/page_charge.h"
#include "engine/slab.h"
#include "engine/transfer_cache.h"

namespace memgroup::internal::engine {

constinit uint16_t g_fork_tag = kFirstForkTag;

namespace {

// jemalloc's fork handlers, all three set by its initialisation, once,
// before any fork can reach PrepareFork (the jemalloc engine initialises
// jemalloc in Init; the mimalloc engine never does: then none). Plain:
// written once before the engine is published, then read only by the
// forking thread.
struct JemallocForkHandlers {
  void (*prepare)();
  void (*parent)();
  void (*child)();
};
constinit JemallocForkHandlers g_je_fork{};

bool JemallocHeld() {
  return ForkHoldsLocks() && g_je_fork.prepare != nullptr;
}

}  // namespace

void AdvanceForkEpoch() {
  g_fork_tag =
      static_cast<uint16_t>(kFirstForkTag | ((g_fork_tag + 1) & 0x3fff));
}

void PrepareFork() {
  ForkLock(g_engine_lock);
  front::PrepareFork();
  slab::PrepareFork();
  if (UsesMimalloc()) {
    mi::PrepareKeptFork();
    mi::PrepareParkedFork();
    mi::PrepareApiFork();
  }
  if (JemallocHeld()) g_je_fork.prepare();
}
void ParentFork() {
  if (JemallocHeld()) g_je_fork.parent();
  if (UsesMimalloc()) {
    mi::ParentApiFork();
    mi::ParentParkedFork();
    mi::ParentKeptFork();
  }
  slab::ParentFork();
  front::ParentFork();
  ForkUnlock(g_engine_lock);
}
// The child has one thread, the one that took the locks in PrepareFork.
void ChildFork() {
  if (JemallocHeld()) g_je_fork.child();
  AdvanceForkEpoch();
  if (UsesMimalloc()) {
    mi::ChildApiFork();
    mi::ChildParkedFork();
    mi::ChildKeptFork();
  }
  slab::ChildFork();
  front::ChildFork();
  transfer::ChildFork();
  ForkReset(g_engine_lock);
}

int64_t ChildForkDropInherited() {
  int64_t uncharged = 0;
  // The mimalloc engine's cached large blocks are set aside, their charge
  // left straight from the counters, not through the thread's stock, which
  // the caller would then drain (front_cache_internal.h). First: on the
  // jemalloc engine the blocks join the free pages count (still the
  // parent's charge), dropped below with the rest.
  if (FrontCache* fc = ThreadFront(); fc != nullptr) {
    if (UsesMimalloc()) {
      UnchargeInheritedPages(fc->group, front::SetAsideLarge(fc));
    } else {
      (void)front::ReturnLarge(fc);
    }
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

// jemalloc's pthread_atfork (cmake/RenameJemalloc.cmake): keeps its handlers
// for the ones above instead of registering them with libc.
extern "C" MG_HIDDEN int mgje_sys_pthread_atfork(void (*prepare)(),
                                                 void (*parent)(),
                                                 void (*child)()) {
  memgroup::internal::engine::g_je_fork = {prepare, parent, child};
  return 0;
}
