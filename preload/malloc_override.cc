// The malloc family and jemalloc's extended API: forwarders over src/alloc
// (snmalloc's override/malloc.cc shape). Each entry point checks only its
// own arguments (overflow, alignment, EINVAL) and forwards; the charge, the
// engine and the settlement live in src/alloc. Every entry point is
// noexcept, sets errno = ENOMEM only on failure and never allocates through
// itself.
#include <errno.h>
#include <malloc.h>


#include "alloc/alloc_path.h"
#include "alloc/init.h"
#include "alloc/resize.h"
#include "alloc/slow_path.h"
#include "base/sys.h"
#include "engine/jemalloc_flags.h"

using namespace memgroup::internal;
using namespace memgroup::internal::alloc;

namespace {

bool IsPowerOfTwo(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

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
  return ZeroedAllocImpl(total);
}

MG_EXPORT void* realloc(void* p, size_t size) noexcept {
  return Realloc(p, size);
}

MG_EXPORT void* reallocarray(void* p, size_t n, size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return Realloc(p, total);
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
  if (size == 0) size = 1;
  if (size > SIZE_MAX - kPageSize) {
    errno = ENOMEM;
    return nullptr;
  }
  return AllocImpl((size + kPageSize - 1) & ~(kPageSize - 1), kPageSize,
                   false);
}

MG_EXPORT size_t malloc_usable_size(void* p) noexcept {
  return UsableSize(p);
}

// glibc's internal aliases, which some programs call directly.
MG_EXPORT void* __libc_malloc(size_t size) noexcept { return malloc(size); }
MG_EXPORT void __libc_free(void* p) noexcept { FreeImpl(p); }
MG_EXPORT void* __libc_calloc(size_t n, size_t s) noexcept {
  return calloc(n, s);
}
MG_EXPORT void* __libc_realloc(void* p, size_t s) noexcept {
  return Realloc(p, s);
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
  if (size == 0) return nullptr;  // undefined in jemalloc; refuse
  if (MgMallocxAlign(flags) != 0 || (flags & MG_MALLOCX_ZERO) != 0) {
    // Aligned or zeroing: a new block in the calling thread's group.
    return ReallocMove(p, size, MgMallocxAlign(flags),
                       (flags & MG_MALLOCX_ZERO) != 0);
  }
  return Realloc(p, size);
}

MG_EXPORT size_t xallocx(void* p, size_t size, size_t extra,
                         int flags) noexcept {
  return ResizeInPlace(p, size, extra, MgMallocxAlign(flags));
}

MG_EXPORT size_t sallocx(const void* p, int) noexcept { return UsableSize(p); }

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
