// All 20 operator new/delete forms. The only file of the malloc path built
// with exceptions: operator new runs the new_handler loop and then throws
// std::bad_alloc; the nothrow forms return nullptr. Deletes are free().
#include <cstddef>
#include <new>

#include "api/alloc_path.h"

using memgroup::internal::preload::AllocImpl;
using memgroup::internal::preload::FreeImpl;

namespace {

// Policy of the throwing forms (tcmalloc's cpp_throw_oom): retry through the
// program's new_handler, throw when there is none.
MG_NOINLINE void* NewSlow(size_t size, size_t align) {
  for (;;) {
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
    void* p = AllocImpl(size, align, false);
    if (p != nullptr) return p;
  }
}

// Nothrow forms: the same loop, but a throwing handler means failure.
MG_NOINLINE void* NewNothrowSlow(size_t size, size_t align) noexcept {
  try {
    return NewSlow(size, align);
  } catch (...) {
    return nullptr;
  }
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
