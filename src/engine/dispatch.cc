// Binding and dispatch: BindThread, Alloc, Free, Realloc, ResizeInPlace and
// the size queries (UsableSize, GoodSize, OwnerOf), Purge and the decay of
// free pages (DecayFreePages, free_pages.h). Each request
// goes to the thread's front cache when it is for the bound group, to the
// other-group cache (other_cache.h) or the group's slabs for another group's
// small blocks, and to jemalloc for large ones: through thread.arena and the
// thread's bound tcache for the bound group, MALLOCX_ARENA and an explicit
// tcache for the others (tcache_slots.h); with the mimalloc engine, large
// blocks go to mimalloc_engine.h after the shared small-block paths and the
// shared pop of a cached large block (one branch per slow path). Owns t_bound.
//
// Must never: hand out a block outside the requested group (a block
// jemalloc serves from another arena is given back); pass MALLOCX_ARENA
// with the automatic tcache; give a slab region to jemalloc or a jemalloc
// block to the slabs; take a lock or make a call on a front-cache hit
// beyond the inline helpers of engine_internal.h.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/free_pages.h"
#include "engine/front_cache_internal.h"
#include "engine/jemalloc_private.h"
#include "engine/mimalloc_engine.h"
#include "engine/other_cache.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab.h"
#include "engine/tcache_slots.h"
#include "engine/transfer_cache.h"
#include "engine/warm_large.h"

namespace memgroup::internal::engine {

MG_TLS uint32_t t_bound = kNoGroup;

namespace {

// Frees a slab region of class `cls` of `owner`: into the front cache when
// the thread is bound to `owner`, into t_other when that holds `owner`,
// else straight back to its slab. Allocates: never.
void FreeSmall(void* p, uint32_t owner, uint32_t cls) {
  MG_DCHECK(owner_table::PageEntry(p) == owner_table::MakeEntry(owner, cls));
  FrontCache* fc = owner == t_bound ? ThreadFront() : OtherCache(owner);
  if (fc != nullptr) {
    (void)front::Push(fc, p, cls);  // Always room for a small block.
    return;
  }
  slab::FreeOne(owner, cls, p);
}

// A region of class `cls` of `group` for a thread whose front cache is not
// the group's (mg_malloc_in, a move in realloc, a thread without a cache),
// from its other-group cache or the group's bins. The group is held
// (BeginGroupUse) while its bins are used: a small take charges its slab
// pages only after it took its regions, so the group's usage alone does
// not keep a destroyed group's retirement (RetireGroup) from pooling the
// bins between this thread's lookup of them and its take, which would
// leave a live region in bins that no free can find. nullptr when the
// group's arena cannot be created or a retirement holds it (the group was
// destroyed).
void* AllocOtherSmall(uint32_t group, uint32_t cls) {
  if (ArenaOf(group) == 0 && !CreateArenaSlow(group)) return nullptr;
  if (!BeginGroupUse(group)) return nullptr;
  void* p = nullptr;
  // Retired before the hold: its arena index reads 0 (BeginGroupUse's
  // acquire), and nothing of it may be used.
  if (ArenaOf(group) != 0) {
    FrontCache* oc = group != t_bound ? OtherCache(group) : nullptr;
    if (oc != nullptr) {
      p = CachePop(oc, cls);
    } else {
      (void)slab::AllocBatch(group, cls, &p, 1);
    }
  }
  EndGroupUse(group);
  return p;
}

// A large block of class `cls` (a front-cache class) from the bound
// group's front cache `fc`, or nullptr. It comes with its charge
// (CacheLarge), so the charge the caller took for it goes back (AllocMiss
// pops before charging; this is the slow path's pop, after it). Both
// engines. Allocates: never.
void* PopCachedLarge(FrontCache* fc, uint32_t group, uint32_t cls) {
  void* p = FrontPop(fc, cls);
  if (p != nullptr) {
    UnchargePages(group, static_cast<int64_t>(g_usable_of_class[cls]));
  }
  return p;
}

// A block from `group`'s arena named explicitly (MALLOCX_ARENA with the
// thread's explicit tcache for the group, or none): every group but the
// bound one, and the bound group when its own paths failed. Allocates:
// never (through malloc); creates the arena on first use.
MG_NOINLINE void* AllocOther(uint32_t group, size_t size, size_t align,
                             bool zero) {
  if (MG_UNLIKELY(group >= kMaxGroups)) return nullptr;
  uint32_t ind = ArenaOf(group);
  if (MG_UNLIKELY(ind == 0)) {
    if (!CreateArenaSlow(group)) return nullptr;
    ind = ArenaOf(group);
  }
  int flags = MALLOCX_ARENA(JeArena(ind)) | TcacheFlags(group) |
              AlignFlags(align) | (zero ? MALLOCX_ZERO : 0);
  void* p = mgje_mallocx(size == 0 ? 1 : size, flags);
  if (MG_UNLIKELY(p != nullptr && owner_table::OwnerOf(p) != group)) {
    // jemalloc ignored the arena (its thread state was already cleaned up,
    // see thread_exit.cc): never hand out a block outside the group.
    mgje_dallocx(p, MALLOCX_TCACHE_NONE);
    return nullptr;
  }
  return p;
}

}  // namespace

bool BindThread(uint32_t group) {
  if (group >= kMaxGroups) return false;
  if (group == t_bound) return true;
  if (!EnsureGroup(group)) return false;
  // After ThreadExit the thread stays unbound: Alloc/Free of every group go
  // through MALLOCX_ARENA + MALLOCX_TCACHE_NONE, which is still correct.
  if (t_dead) return true;
  // The front cache holds only the previous bound group's blocks: back to
  // jemalloc (through the bound tcache, still the old group's) first.
  FrontCache* fc = ThreadFront();
  SetThreadFront(nullptr);
  if (fc != nullptr) front::Flush(fc);
  // The new group's blocks are cached in one place only.
  FlushOtherCacheOf(group);
  if (UsesMimalloc()) {
    // No thread.arena: the front cache is the only per-thread binding (the
    // thread's mimalloc heaps are per group, mimalloc_engine.h).
    t_bound = group;
    if (fc != nullptr) {
      front::SetGroup(fc, group);
    } else {
      fc = front::Acquire(group);
    }
    SetThreadFront(fc);
    return true;
  }
  unsigned ind = JeArena(ArenaOf(group));
  // A thread never bound allocates from arena 0 (narenas:1): its first
  // binding to the root group needs no mallctl (EnsureCtl).
  const bool set_arena = ind != 0 || t_bound != kNoGroup;
  if (set_arena &&
      (!EnsureCtl() ||
       mgje_mallctlbymib(g_mibs.thread_arena.v, g_mibs.thread_arena.len,
                         nullptr, nullptr, &ind, sizeof(ind)) != 0)) {
    // Still bound to the previous group; the cache is empty.
    SetThreadFront(fc);
    return false;
  }
  // The bound tcache holds only the previous bound group's blocks (a thread
  // never bound has none): return them to their arena before the first
  // allocation of the new group could hit them.
  FlushBoundTcache();
  t_bound = group;
  if (fc != nullptr) {
    front::SetGroup(fc, group);
  } else {
    fc = front::Acquire(group);  // nullptr: the thread runs without one.
  }
  SetThreadFront(fc);
  return true;
}

void* Alloc(uint32_t group, size_t size, size_t align, bool zero,
            size_t usable) {
  if (usable == 0) usable = GoodSize(size, align);
  const uint32_t cls = ClassOfUsable(usable);
  if (cls != 0 && cls < kFrontFirstLarge && align <= kPageSize) {
    // A small class: a slab region, aligned to `align` by its class
    // (slab.h). The bound group's come through the front cache.
    void* p = nullptr;
    FrontCache* fc = ThreadFront();
    if (group == t_bound && fc != nullptr) {
      p = CachePop(fc, cls);
    } else if (group < kMaxGroups) {
      p = AllocOtherSmall(group, cls);
    }
    if (p != nullptr && zero) memset(p, 0, size);
    return p;
  }
  if (UsesMimalloc()) {
    FrontCache* fc = ThreadFront();
    if (group == t_bound && fc != nullptr && cls != 0 && align <= 1) {
      void* p = PopCachedLarge(fc, group, cls);
      if (p != nullptr) {
        // The charge the caller gave back may have come from the group's
        // free pages, which its kept slabs stand for: as in AllocLarge.
        mi::TrimKept(group);
        if (zero) memset(p, 0, size);
        return p;
      }
    }
    return mi::AllocLarge(group, size, align, zero, usable);
  }
  if (MG_LIKELY(group == t_bound)) {
    // thread.arena is the group's arena; the front cache and the bound
    // tcache hold only this group's blocks.
    FrontCache* fc = ThreadFront();
    void* p = nullptr;
    if (MG_LIKELY(fc != nullptr && cls != 0 && align <= 1)) {
      p = PopCachedLarge(fc, group, cls);
      if (p != nullptr) {
        if (zero) memset(p, 0, size);  // A cached block is dirty.
      } else {
        p = front::RefillLarge(fc, cls, zero);
      }
      if (MG_LIKELY(p != nullptr)) {
        NoteLargeAlloc(group, usable);
        return p;
      }
    } else {
      p = mgje_mallocx(size == 0 ? 1 : size, BoundTcacheFlags(usable) |
                                                 AlignFlags(align) |
                                                 (zero ? MALLOCX_ZERO : 0));
    }
    if (MG_LIKELY(p != nullptr && owner_table::OwnerOf(p) == group)) {
      NoteLargeAlloc(group, usable);
      return Published(p, group, cls);
    }
    // Nothing, or a block of another arena (jemalloc's own reentrant
    // threads ignore thread.arena): ask the group's arena explicitly.
    if (p != nullptr) mgje_dallocx(p, MALLOCX_TCACHE_NONE);
  }
  void* p = AllocOther(group, size, align, zero);
  // warm_large.h's check when the block's charge came from the group's
  // free pages.
  if (p != nullptr) NoteLargeAlloc(group, usable);
  return Published(p, group, cls);
}

bool FreeKeepingCharge(void* p, uint32_t owner, size_t usable) {
  if (UsesMimalloc() && usable <= kFrontMaxBytes) return false;
  if (FreePagesPending()) (void)DecayFreePages();
  if (UsesMimalloc()) return mi::KeepFreedLarge(p, owner);
  if (!KeepFreePages(owner, static_cast<int64_t>(usable))) return false;
  Free(p, owner);
  return true;
}

void Free(void* p, uint32_t owner) {
  MG_DCHECK(owner < kMaxGroups);
  const uint32_t cls = ClassOf(p);
  if (IsSlabClass(cls)) {
    FreeSmall(p, owner, cls);
    return;
  }
  if (UsesMimalloc()) {
    // Its pages go back with its charge (the program's free first offers a
    // block of a front-cache class to the thread's cache: CacheLarge).
    mi::FreeLarge(p, owner);
    return;
  }
  if (cls == 0) {
    // Above the front cache's classes: an extent of its own, which stays
    // dirty in the arena; warm_large.h bounds those bytes.
    const size_t usable = mgje_sallocx(p, 0);
    mgje_dallocx(
        p, owner == t_bound ? BoundTcacheFlags(usable) : TcacheFlags(owner));
    NoteLargeFree(owner, usable);
    return;
  }
  // A front-cache class: to the arena as above (the program's free keeps
  // it in the thread's cache when there is room, with its charge:
  // CacheLarge, called by the alloc layer, which alone knows the charge).
  mgje_dallocx(p, MG_LIKELY(owner == t_bound)
                      ? BoundTcacheFlags(g_usable_of_class[cls])
                      : TcacheFlags(owner));
  NoteLargeFree(owner, g_usable_of_class[cls]);
}

void* Realloc(void* p, size_t size, size_t align, uint32_t owner) {
  MG_DCHECK(owner < kMaxGroups);
  if (size == 0) size = 1;
  // Slab regions never change size and jemalloc never holds a small block:
  // a move into or out of a small class is alloc, copy, free.
  const uint32_t old_cls = SmallClassOf(p);
  const size_t new_usable = GoodSize(size, align);
  const uint32_t new_cls = ClassOfUsable(new_usable);
  if (old_cls != 0 || (new_cls != 0 && new_cls < kFrontFirstLarge)) {
    if (old_cls != 0 && new_cls == old_cls) return p;
    const size_t old_usable = UsableSize(p);
    void* moved = Alloc(owner, size, align, false, new_usable);
    if (moved == nullptr) return nullptr;
    memcpy(moved, p, old_usable < size ? old_usable : size);
    // A large block is freed here, not through ReleaseLargeBlock: its
    // start record (checked live by the caller) goes to freed first.
    if (old_cls == 0 && LargeStartsKept()) owner_table::MarkLargeFreed(p);
    Free(p, owner);
    return moved;
  }
  if (UsesMimalloc()) return mi::ReallocLarge(p, size, align, owner, new_usable);
  // jemalloc frees p itself if it moves the block, and another thread may
  // then get its memory and record a block there: p's record goes to freed
  // before the call, and back to live if nothing moved (failure; in place,
  // Published below records it again).
  const bool kept = LargeStartsKept();
  if (kept) owner_table::MarkLargeFreed(p);
  void* q = nullptr;
  if (owner == t_bound) {
    // No arena flag: a moved block goes to the thread's arena, which is the
    // owner's; the bound tcache holds only the owner's blocks.
    q = mgje_rallocx(p, size, BoundTcacheFlags(new_usable) | AlignFlags(align));
  } else if (owner < kMaxGroups) {
    uint32_t ind = ArenaOf(owner);
    if (ind != 0) {  // Else not an engine block.
      q = mgje_rallocx(
          p, size,
          MALLOCX_ARENA(JeArena(ind)) | TcacheFlags(owner) | AlignFlags(align));
    }
  }
  // In place or moved, the block may have a new class.
  if (q != nullptr) {
    (void)Published(q, owner, ClassOfUsable(mgje_sallocx(q, 0)));
  } else if (kept) {
    owner_table::MarkLargeLive(p);  // Unchanged and still the caller's.
  }
  return q;
}

size_t ResizeInPlace(void* p, size_t size, size_t extra, size_t align,
                     uint32_t owner) {
  MG_DCHECK(owner < kMaxGroups);
  if (const uint32_t cls = SmallClassOf(p); cls != 0) {
    return g_usable_of_class[cls];  // A slab region keeps its class.
  }
  if (UsesMimalloc()) return mi::ResizeLargeInPlace(p, size, extra, align, owner);
  // In place: the block keeps its extent, hence its group, but a large block
  // may change class (never to a small one: jemalloc moves those).
  size_t usable = mgje_xallocx(p, size == 0 ? 1 : size, extra, AlignFlags(align));
  (void)Published(p, owner, ClassOfUsable(usable));
  return usable;
}

size_t UsableSize(const void* p) {
  if (const uint32_t cls = SmallClassOf(p); cls != 0) {
    return g_usable_of_class[cls];
  }
  if (UsesMimalloc()) return mi::LargeUsable(p);
  return mgje_sallocx(p, 0);
}

size_t BlockCharge(size_t usable, size_t align) {
  // Alloc's test: a small class with at most page alignment is a region.
  const uint32_t cls = ClassOfUsable(usable);
  return cls != 0 && cls < kFrontFirstLarge && align <= kPageSize ? 0 : usable;
}

size_t ChargeOfBlock(const void* p) {
  return SmallClassOf(p) != 0 ? 0 : UsableSize(p);
}

size_t GoodSize(size_t size, size_t align) {
  // The classes up to kFrontMaxBytes are known (checked by
  // front::InitClasses; the tables read 0 when it failed).
  if (align <= 1 && size <= kFrontMaxBytes) {
    if (size <= kFrontSmallMax) {
      size_t usable = g_usable_of_class[g_class_of_size8[(size + 7) >> 3]];
      if (MG_LIKELY(usable != 0)) return usable;
    } else if (MG_LIKELY(g_usable_of_class[1] != 0)) {
      // Above 8 KiB: four classes per doubling, (2^lg, 2^(lg+1)] in steps
      // of 2^(lg-2).
      const unsigned lg = 63u - static_cast<unsigned>(__builtin_clzl(size - 1));
      const size_t delta = size_t{1} << (lg - 2);
      return (size + delta - 1) & ~(delta - 1);
    }
  }
  if (UsesMimalloc()) return mi::GoodSize(size == 0 ? 1 : size, align);
  return mgje_nallocx(size == 0 ? 1 : size, AlignFlags(align));
}

uint32_t OwnerOf(const void* p) { return owner_table::OwnerOf(p); }

void SetGroupRetired(uint32_t group, bool retired) {
  slab::SetRetired(group, retired);
  SetFreePagesRetired(group, retired);
}

namespace {

// Purge's work while the group's arena and bins are held (BeginGroupUse).
void PurgeInUse(uint32_t group) {
  const uint32_t ind = ArenaOf(group);
  if (ind == 0) return;
  // Only the calling thread's caches can be flushed from here.
  if (group == t_bound) {
    if (FrontCache* fc = ThreadFront(); fc != nullptr) front::Flush(fc);
    if (!UsesMimalloc()) FlushBoundTcache();
  }
  FlushOtherCacheOf(group);
  // Batches other threads flushed, so that their slabs can go back too.
  transfer::Drain(group);
  slab::ReleaseEmpty(group);
  if (UsesMimalloc()) {
    mi::Purge(group);
    return;
  }
  FlushThreadTcacheOf(group);
  ArenaCtl(g_mibs.arena_purge, ind, nullptr, 0);
  // The arena's dirty pages are gone: their charge too (free_pages.h).
  (void)ReturnFreePages(group);
}

// The decay of a group whose free pages were idle (free_pages.h): its empty
// slabs and its arena's dirty pages go back to the OS, and their charge.
// Not the caches of the calling thread: it may be busy with the group's
// small blocks.
void DecayGroup(uint32_t group) {
  if (!UsesMimalloc() && !EnsureCtl()) return;  // For arena.<i>.purge.
  if (!BeginGroupUse(group)) return;
  const uint32_t ind = ArenaOf(group);
  if (ind != 0) {
    slab::ReleaseEmpty(group);
    if (UsesMimalloc()) {
      mi::ReturnKeptPages(group);  // Its kept slabs (mimalloc_engine.h).
    } else {
      ArenaCtl(g_mibs.arena_purge, ind, nullptr, 0);
      (void)ReturnFreePages(group);
    }
  }
  EndGroupUse(group);
}

}  // namespace

bool DecayFreePages() {
  // No clock read while no group keeps free pages.
  if (!FreePagesPending()) return false;
  return DecayDue(CoarseMonotonicMillis(), DecayGroup);
}

void Purge(uint32_t group) {
  if (group >= kMaxGroups) return;
  // For arena.<i>.purge.
  if (!UsesMimalloc() && ArenaOf(group) != 0 && !EnsureCtl()) return;
  // Any group, a destroyed one another thread may be retiring included:
  // its arena and bins stay while this runs, or it is left alone.
  if (!BeginGroupUse(group)) return;
  PurgeInUse(group);
  EndGroupUse(group);
}

}  // namespace memgroup::internal::engine
