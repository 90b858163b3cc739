// mmap, mmap64, munmap, mremap and mprotect: forwarders over
// src/alloc/mmap_charge.h, which charges committed private anonymous
// mappings to the calling thread's group, tracks file-backed and shared
// ones, and makes the raw system calls (never libc's, whose mmap family
// this library replaces).
#include <stdarg.h>
#include <sys/mman.h>

#include "alloc/mmap_charge.h"
#include "base/macros.h"

using namespace memgroup::internal::alloc;

extern "C" {

MG_EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd,
                     off_t off) noexcept {
  return MapCharged(addr, len, prot, flags, fd, off);
}

MG_EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd,
                       off_t off) noexcept {
  return MapCharged(addr, len, prot, flags, fd, off);
}

MG_EXPORT int munmap(void* addr, size_t len) noexcept {
  return UnmapCharged(addr, len);
}

MG_EXPORT int mprotect(void* addr, size_t len, int prot) noexcept {
  return ProtectCharged(addr, len, prot);
}

MG_EXPORT void* mremap(void* old_addr, size_t old_len, size_t new_len,
                       int flags, ...) noexcept {
  void* new_addr = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  return RemapCharged(old_addr, old_len, new_len, flags, new_addr);
}

}  // extern "C"
