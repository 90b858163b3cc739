// All 20 operator new/delete forms. Built without exceptions and linked
// without libstdc++, like the rest of the library: a C program under the
// preload then loads no C++ runtime (loading libstdc++ measured 0.4-0.5 ms
// of every exec). The C++ runtime's
// behaviour at failure still holds, through the program's own runtime,
// looked up when a request fails:
//   - operator new runs the program's new_handler loop, then throws through
//     the runtime's std::__throw_bad_alloc (our frames carry unwind tables
//     and need no cleanup, so the exception passes through them);
//   - the nothrow forms call the runtime's own nothrow operator new, which
//     calls the throwing form (ours, interposed) inside a try block: a
//     handler that throws makes them return nullptr, as the standard says.
// Deletes are free().
#include <dlfcn.h>
#include <stdlib.h>

#include <atomic>
#include <cstddef>
#include <new>

#include "alloc/alloc_path.h"
#include "base/raw_log.h"

using memgroup::internal::RawLog;
using memgroup::internal::alloc::AllocImpl;
using memgroup::internal::alloc::FreeImpl;

namespace {

// The C++ runtime symbols the failure paths need, by mangled name.
enum CxxSym : int {
  kGetNewHandler,   // std::get_new_handler()
  kThrowBadAlloc,   // std::__throw_bad_alloc()
  kNothrowNew,      // operator new(size_t, const std::nothrow_t&)
  kNothrowNewAligned,  // operator new(size_t, align_val_t, const nothrow_t&)
  kCxxSyms
};
constexpr const char* kCxxSymNames[kCxxSyms] = {
    "_ZSt15get_new_handlerv", "_ZSt17__throw_bad_allocv",
    "_ZnwmRKSt9nothrow_t", "_ZnwmSt11align_val_tRKSt9nothrow_t"};
// Found addresses, cached; nullptr until found (a runtime may be loaded
// later). Relaxed: every racer stores the same value, and the function it
// points to was loaded before dlsym could return it.
constinit std::atomic<void*> g_cxx_syms[kCxxSyms] = {};

// The program's C++ runtime's definition of `sym`: the next one after this
// library in the global scope (this library defines the nothrow forms
// itself), else one in a libstdc++ loaded only locally (a C host that
// dlopens a C++ plugin with RTLD_LOCAL). nullptr when no C++ runtime is
// loaded. Called only when an allocation has failed.
void* CxxSymbol(CxxSym sym) {
  void* f = g_cxx_syms[sym].load(std::memory_order_relaxed);
  if (f != nullptr) return f;
  f = dlsym(RTLD_NEXT, kCxxSymNames[sym]);
  if (f == nullptr) {
    if (void* h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD)) {
      f = dlsym(h, kCxxSymNames[sym]);
      dlclose(h);  // NOLOAD took a reference; the plugin holds its own.
    }
  }
  if (f != nullptr) g_cxx_syms[sym].store(f, std::memory_order_relaxed);
  return f;
}

std::new_handler GetNewHandler() {
  auto get = reinterpret_cast<std::new_handler (*)() noexcept>(
      CxxSymbol(kGetNewHandler));
  return get != nullptr ? get() : nullptr;
}

[[noreturn]] MG_NOINLINE void ThrowBadAlloc() {
  auto do_throw = reinterpret_cast<void (*)()>(CxxSymbol(kThrowBadAlloc));
  if (do_throw != nullptr) do_throw();  // Does not return.
  RawLog("operator new failed and no C++ runtime is loaded to throw "
         "std::bad_alloc; aborting");
  abort();
}

// Policy of the throwing forms (tcmalloc's cpp_throw_oom): retry through the
// program's new_handler, throw when there is none.
MG_NOINLINE void* NewSlow(size_t size, size_t align) {
  for (;;) {
    std::new_handler handler = GetNewHandler();
    if (handler == nullptr) ThrowBadAlloc();
    handler();
    void* p = AllocImpl(size, align, false);
    if (p != nullptr) return p;
  }
}

// Nothrow forms. With no new_handler (or no C++ runtime) the request has
// failed: nullptr, after one refused charge, as for malloc. With a handler,
// the runtime's nothrow operator new, around our throwing one, so that a
// handler that throws makes the result nullptr; that path tries the charge
// once more before the handler's first call.
// (A tag of our own: std::nothrow lives in libstdc++.)
constexpr std::nothrow_t kNothrow{};
MG_NOINLINE void* NewNothrowSlow(size_t size, size_t align) noexcept {
  if (GetNewHandler() == nullptr) return nullptr;
  if (align == 0) {
    auto f = reinterpret_cast<void* (*)(size_t, const std::nothrow_t&) noexcept>(
        CxxSymbol(kNothrowNew));
    return f != nullptr ? f(size, kNothrow) : nullptr;
  }
  auto f = reinterpret_cast<void* (*)(size_t, std::align_val_t,
                                      const std::nothrow_t&) noexcept>(
      CxxSymbol(kNothrowNewAligned));
  return f != nullptr ? f(size, std::align_val_t{align}, kNothrow) : nullptr;
}

MG_ALWAYS_INLINE void* New(size_t size, size_t align) {
  void* p = AllocImpl(size, align, false);
  if (MG_LIKELY(p != nullptr)) return p;
  return NewSlow(size, align);
}

MG_ALWAYS_INLINE void* NewNothrow(size_t size, size_t align) noexcept {
  void* p = AllocImpl(size, align, false);
  if (MG_LIKELY(p != nullptr)) return p;
  return NewNothrowSlow(size, align);
}

size_t Align(std::align_val_t a) { return static_cast<size_t>(a); }

}  // namespace

MG_EXPORT void* operator new(size_t n) { return New(n, 0); }
MG_EXPORT void* operator new[](size_t n) { return New(n, 0); }
MG_EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept {
  return NewNothrow(n, 0);
}
MG_EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  return NewNothrow(n, 0);
}
MG_EXPORT void* operator new(size_t n, std::align_val_t a) {
  return New(n, Align(a));
}
MG_EXPORT void* operator new[](size_t n, std::align_val_t a) {
  return New(n, Align(a));
}
MG_EXPORT void* operator new(size_t n, std::align_val_t a,
                             const std::nothrow_t&) noexcept {
  return NewNothrow(n, Align(a));
}
MG_EXPORT void* operator new[](size_t n, std::align_val_t a,
                               const std::nothrow_t&) noexcept {
  return NewNothrow(n, Align(a));
}

MG_EXPORT void operator delete(void* p) noexcept { FreeImpl(p); }
MG_EXPORT void operator delete[](void* p) noexcept { FreeImpl(p); }
// The size is not needed: the page map knows the block's class.
MG_EXPORT void operator delete(void* p, size_t) noexcept { FreeImpl(p); }
MG_EXPORT void operator delete[](void* p, size_t) noexcept { FreeImpl(p); }
MG_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept {
  FreeImpl(p);
}
MG_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept {
  FreeImpl(p);
}
MG_EXPORT void operator delete(void* p, std::align_val_t) noexcept {
  FreeImpl(p);
}
MG_EXPORT void operator delete[](void* p, std::align_val_t) noexcept {
  FreeImpl(p);
}
MG_EXPORT void operator delete(void* p, size_t, std::align_val_t) noexcept {
  FreeImpl(p);
}
MG_EXPORT void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  FreeImpl(p);
}
MG_EXPORT void operator delete(void* p, std::align_val_t,
                               const std::nothrow_t&) noexcept {
  FreeImpl(p);
}
MG_EXPORT void operator delete[](void* p, std::align_val_t,
                                 const std::nothrow_t&) noexcept {
  FreeImpl(p);
}
