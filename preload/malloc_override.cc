// The malloc family and jemalloc's extended API, as thin forwarders over
// alloc_path.h (snmalloc's override/malloc.cc shape), plus the slow paths
// they share with operator new and the C ABI. Every entry point is noexcept,
// sets errno = ENOMEM only on failure and never allocates through itself.
#include <errno.h>
#include <malloc.h>
#include <unistd.h>

#include <cstring>

#include "api/alloc_path.h"
#include "base/check.h"
#include "base/raw_log.h"
#include "base/sys.h"
#include "engine/jemalloc_flags.h"

namespace memgroup::internal::preload {

void* AllocSlow(size_t size, size_t align, bool zero) {
  if (MG_UNLIKELY(!EnsureInit())) {
    // The initialising thread's own nested call.
    void* p = BootstrapAlloc(size, align);
    if (p != nullptr && zero) memset(p, 0, size);
    return p;
  }
  ThreadState& t = t_thread;
  if (t.status == kThreadNew) SetupThread();
  uint32_t group = t.status == kThreadReady ? CurrentGroupSlow() : t.group;
  return AllocInGroup(group, size, align, zero);
}

void* AllocInGroup(uint32_t group, size_t size, size_t align, bool zero) {
  size_t usable = engine::GoodSize(size, align);
  if (usable == 0 || usable > static_cast<size_t>(INT64_MAX)) {
    errno = ENOMEM;
    return nullptr;
  }
  int saved = errno;
  if (ChargeSlow(group, static_cast<int64_t>(usable), ChargeKind::kHeap) !=
      ChargeResult::kOk) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = engine::Alloc(group, size, align, zero, usable);
  if (p == nullptr) {
    UnchargeSlow(group, static_cast<int64_t>(usable));
    errno = ENOMEM;
    return nullptr;
  }
  errno = saved;
  return p;
}

void* AllocMiss(size_t size, size_t align, bool zero) {
  ThreadState& t = t_thread;
  ThreadStock* ts = t.stock;
  if (MG_LIKELY(ts != nullptr)) {
    size_t usable = engine::GoodSize(size, align);
    if (usable != 0 && usable <= static_cast<size_t>(INT64_MAX) &&
        GlobalRegistry().stocks().ConsumePrimary(
            ts, t.group, static_cast<int64_t>(usable))) {
      // Charged. A cached block of the class first (the inline path takes
      // only small classes): large blocks come back here.
      engine::FrontCache* fc = engine::t_front;
      if (fc != nullptr && fc->group == t.group && align == 0) {
        const uint32_t cls = engine::ClassOfUsable(usable);
        if (cls != 0) {
          void* p = engine::FrontPop(fc, cls);
          if (p != nullptr) {
            if (zero) memset(p, 0, size);
            return p;
          }
        }
      }
      void* p = engine::Alloc(t.group, size, align, zero, usable);
      if (MG_LIKELY(p != nullptr)) return p;
      UnchargeSlow(t.group, static_cast<int64_t>(usable));
      errno = ENOMEM;
      return nullptr;
    }
  }
  return AllocSlow(size, align, zero);
}

void FreeMiss(void* p) {
  if (p == nullptr) return;
  // A published block of a front-cache class: group and size from the page
  // map. Anything else (over 4 MiB, foreign, or no front cache: the class
  // table reads 0 then): the owner table and the engine.
  const uint32_t entry = owner_table::PageEntry(p);
  uint32_t cls = entry & ((1u << owner_table::kEntryGroupShift) - 1);
  uint32_t owner = entry >> owner_table::kEntryGroupShift;
  size_t usable = engine::g_usable_of_class[cls];
  if (usable == 0) {
    cls = 0;
    owner = owner_table::OwnerOf(p);
    if (MG_UNLIKELY(owner == kNoGroup)) {
      FreeForeign(p);
      return;
    }
    usable = engine::UsableSize(p);
  }
  MG_DCHECK(owner == owner_table::OwnerOf(p));
  ThreadStock* ts = t_thread.stock;
  engine::FrontCache* fc = engine::t_front;
  if (cls >= engine::kFrontFirstLarge && fc != nullptr && fc->group == owner) {
    // A large block of the bound group: it stays in the front cache (here,
    // or in engine::Free, which makes room by evicting other large blocks,
    // unless its class already holds one), and its charge may stay in the
    // stock for the next allocation of that size (bounded, see Refill).
    const int64_t extra = static_cast<int64_t>(engine::kFrontLargeBudget);
    if (!engine::FrontPushLarge(fc, p, cls)) engine::Free(p, owner);
    if (ts == nullptr || !GlobalRegistry().stocks().RefillPrimaryExtra(
                             ts, owner, static_cast<int64_t>(usable), extra)) {
      UnchargeSlow(owner, static_cast<int64_t>(usable), extra);
    }
    return;
  }
  engine::Free(p, owner);
  if (MG_LIKELY(ts != nullptr && GlobalRegistry().stocks().RefillPrimary(
                                     ts, owner, static_cast<int64_t>(usable)))) {
    return;
  }
  UnchargeSlow(owner, static_cast<int64_t>(usable));
}

void FreeForeign(void* p) {
  // Bootstrap blocks are never reused; anything else was not allocated by
  // memgroup (another allocator, or memory from before the preload) and is
  // left alone rather than handed to an engine that does not own it.
  (void)p;
}

size_t UsableSizeImpl(const void* p) {
  if (p == nullptr) return 0;
  if (owner_table::OwnerOf(p) != kNoGroup) return engine::UsableSize(p);
  if (IsBootstrap(p)) return BootstrapSize(p);
  return 0;
}

void* ReallocImpl(void* p, size_t size) {
  if (p == nullptr) return AllocImpl(size, 0, false);
  uint32_t owner = owner_table::OwnerOf(p);
  if (MG_UNLIKELY(owner == kNoGroup)) {
    if (!IsBootstrap(p)) {
      // Not ours and of unknown size: refuse rather than guess.
      errno = ENOMEM;
      return nullptr;
    }
    size_t old = BootstrapSize(p);
    void* q = AllocImpl(size == 0 ? 1 : size, 0, false);
    if (q != nullptr) memcpy(q, p, old < size ? old : size);
    return q;
  }
  if (size == 0) {
    // glibc semantics: realloc(p, 0) frees p and returns NULL.
    FreeImpl(p);
    return nullptr;
  }
  size_t old_usable = engine::UsableSize(p);
  size_t new_usable = engine::GoodSize(size, 0);
  if (new_usable == 0 || new_usable > static_cast<size_t>(INT64_MAX)) {
    errno = ENOMEM;
    return nullptr;
  }
  if (new_usable == old_usable) return p;
  int saved = errno;
  // realloc keeps the block in its owner group: charge the growth there.
  int64_t grow = static_cast<int64_t>(new_usable) -
                 static_cast<int64_t>(old_usable);
  if (grow > 0 &&
      ChargeSlow(owner, grow, ChargeKind::kHeap) != ChargeResult::kOk) {
    errno = ENOMEM;
    return nullptr;
  }
  void* q = engine::Realloc(p, size, 0, owner);
  if (q == nullptr) {
    if (grow > 0) UnchargeSlow(owner, grow);
    errno = ENOMEM;
    return nullptr;
  }
  // Settle on what the engine really holds now.
  int64_t actual = static_cast<int64_t>(engine::UsableSize(q));
  int64_t charged = static_cast<int64_t>(grow > 0 ? new_usable : old_usable);
  if (actual < charged) {
    UnchargeSlow(owner, charged - actual);
  } else if (actual > charged) {
    GlobalRegistry().tree().Charge(owner, actual - charged);
  }
  errno = saved;
  return q;
}

}  // namespace memgroup::internal::preload

using namespace memgroup::internal;
using namespace memgroup::internal::preload;

namespace {

bool IsPowerOfTwo(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

size_t PageRound(size_t n, bool* overflow) {
  if (n > SIZE_MAX - kPageSize) {
    *overflow = true;
    return 0;
  }
  return (n + kPageSize - 1) & ~(kPageSize - 1);
}

}  // namespace

extern "C" {

// malloc and free start on a cache line: left where the linker put them,
// the same instructions measured 5% apart in BM_MallocFree64 between two
// builds (docs/perf.md, "Slabs").
__attribute__((aligned(64))) MG_EXPORT void* malloc(size_t size) noexcept {
  return AllocImpl(size, 0, false);
}

__attribute__((aligned(64))) MG_EXPORT void free(void* p) noexcept {
  FreeImpl(p);
}

MG_EXPORT void cfree(void* p) noexcept { FreeImpl(p); }

MG_EXPORT void* calloc(size_t n, size_t size) noexcept {
  size_t total;
  if (MG_UNLIKELY(__builtin_mul_overflow(n, size, &total))) {
    errno = ENOMEM;
    return nullptr;
  }
  if (MG_LIKELY(total <= engine::kFrontSmallMax)) {
    // Small: malloc's fast path, then clear (a cached block is dirty anyway).
    // Larger requests keep the engine's zeroing, which skips fresh pages.
    void* p = AllocImpl(total, 0, false);
    if (MG_LIKELY(p != nullptr)) memset(p, 0, total);
    return p;
  }
  return AllocImpl(total, 0, true);
}

MG_EXPORT void* realloc(void* p, size_t size) noexcept {
  return ReallocImpl(p, size);
}

MG_EXPORT void* reallocarray(void* p, size_t n, size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return ReallocImpl(p, total);
}

MG_EXPORT int posix_memalign(void** out, size_t align, size_t size) noexcept {
  if (!IsPowerOfTwo(align) || align % sizeof(void*) != 0) return EINVAL;
  int saved = errno;
  void* p = AllocImpl(size, align, false);
  if (p == nullptr) {
    errno = saved;
    return ENOMEM;
  }
  *out = p;
  return 0;
}

MG_EXPORT void* aligned_alloc(size_t align, size_t size) noexcept {
  if (!IsPowerOfTwo(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return AllocImpl(size, align, false);
}

MG_EXPORT void* memalign(size_t align, size_t size) noexcept {
  if (!IsPowerOfTwo(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return AllocImpl(size, align, false);
}

MG_EXPORT void* valloc(size_t size) noexcept {
  return AllocImpl(size, kPageSize, false);
}

MG_EXPORT void* pvalloc(size_t size) noexcept {
  bool overflow = false;
  size_t rounded = PageRound(size == 0 ? 1 : size, &overflow);
  if (overflow) {
    errno = ENOMEM;
    return nullptr;
  }
  return AllocImpl(rounded, kPageSize, false);
}

MG_EXPORT size_t malloc_usable_size(void* p) noexcept {
  return UsableSizeImpl(p);
}

// glibc's internal aliases, which some programs call directly.
MG_EXPORT void* __libc_malloc(size_t size) noexcept { return malloc(size); }
MG_EXPORT void __libc_free(void* p) noexcept { FreeImpl(p); }
MG_EXPORT void* __libc_calloc(size_t n, size_t s) noexcept {
  return calloc(n, s);
}
MG_EXPORT void* __libc_realloc(void* p, size_t s) noexcept {
  return ReallocImpl(p, s);
}
MG_EXPORT void* __libc_memalign(size_t a, size_t s) noexcept {
  return memalign(a, s);
}

// --- jemalloc's extended API, charged like the rest ------------------------

MG_EXPORT void* mallocx(size_t size, int flags) noexcept {
  if (size == 0) return nullptr;  // undefined in jemalloc; refuse
  return AllocImpl(size, MgMallocxAlign(flags), (flags & MG_MALLOCX_ZERO) != 0);
}

MG_EXPORT void* rallocx(void* p, size_t size, int flags) noexcept {
  if (size == 0 || MgMallocxAlign(flags) != 0 || (flags & MG_MALLOCX_ZERO)) {
    // Aligned or zeroing reallocation: allocate, copy, free (charged the
    // same way as realloc, in the calling thread's group).
    if (size == 0) return nullptr;
    void* q = AllocImpl(size, MgMallocxAlign(flags),
                        (flags & MG_MALLOCX_ZERO) != 0);
    if (q == nullptr) return nullptr;
    size_t old = UsableSizeImpl(p);
    memcpy(q, p, old < size ? old : size);
    FreeImpl(p);
    return q;
  }
  return ReallocImpl(p, size);
}

MG_EXPORT size_t xallocx(void* p, size_t size, size_t extra,
                         int flags) noexcept {
  uint32_t owner = owner_table::OwnerOf(p);
  if (owner == kNoGroup) return UsableSizeImpl(p);
  size_t old = engine::UsableSize(p);
  size_t want = engine::GoodSize(size + extra < size ? size : size + extra,
                                 MgMallocxAlign(flags));
  // Charge the most it could grow to up front; settle afterwards.
  int64_t grow = want > old ? static_cast<int64_t>(want - old) : 0;
  if (grow > 0 &&
      ChargeSlow(owner, grow, ChargeKind::kHeap) != ChargeResult::kOk) {
    grow = 0;
    extra = 0;
    size = old;  // stay as is: cannot grow within the limit
  }
  size_t now = engine::ResizeInPlace(p, size, extra, MgMallocxAlign(flags),
                                     owner);
  int64_t delta = static_cast<int64_t>(now) - static_cast<int64_t>(old) - grow;
  if (delta < 0) {
    UnchargeSlow(owner, -delta);
  } else if (delta > 0) {
    GlobalRegistry().tree().Charge(owner, delta);
  }
  return now;
}

MG_EXPORT size_t sallocx(const void* p, int) noexcept {
  return UsableSizeImpl(p);
}

MG_EXPORT void dallocx(void* p, int) noexcept { FreeImpl(p); }

MG_EXPORT void sdallocx(void* p, size_t, int) noexcept { FreeImpl(p); }

MG_EXPORT size_t nallocx(size_t size, int flags) noexcept {
  if (!EnsureInit()) return 0;
  return engine::GoodSize(size, MgMallocxAlign(flags));
}

MG_EXPORT int mallctl(const char* name, void* oldp, size_t* oldlenp,
                      void* newp, size_t newlen) noexcept {
  if (!EnsureInit()) return EAGAIN;
  return engine::Mallctl(name, oldp, oldlenp, newp, newlen);
}

MG_EXPORT int mallctlnametomib(const char* name, size_t* mibp,
                               size_t* miblenp) noexcept {
  if (!EnsureInit()) return EAGAIN;
  return engine::MallctlNameToMib(name, mibp, miblenp);
}

MG_EXPORT int mallctlbymib(const size_t* mib, size_t miblen, void* oldp,
                           size_t* oldlenp, void* newp,
                           size_t newlen) noexcept {
  if (!EnsureInit()) return EAGAIN;
  return engine::MallctlByMib(mib, miblen, oldp, oldlenp, newp, newlen);
}

MG_EXPORT void malloc_stats_print(void (*write_cb)(void*, const char*),
                                  void* cbopaque, const char* opts) noexcept {
  if (!EnsureInit()) return;
  engine::MallocStatsPrint(write_cb, cbopaque, opts);
}

}  // extern "C"
