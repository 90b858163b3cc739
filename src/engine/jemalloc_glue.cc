// Glue the renamed jemalloc objects link against (cmake/RenameJemalloc.cmake
// maps jemalloc's imports to these names): the options forced on our
// instance and the syscall, environment and math shims. The tsd key wrappers
// are in thread_exit.cc. Owns nothing else. The engine's CMakeLists.txt forces
// this object into every link (--undefined), since nothing but the archive
// refers to it. All hidden.
//
// Must never: allocate; call the libc functions it replaces (an interposing
// memgroup mmap would then see jemalloc's own mappings); touch errno except
// as libc would; call back into the engine.
#include <sys/mman.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdarg>
#include <cstddef>

#include "base/float_math.h"
#include "base/macros.h"
#include "base/sys.h"
#include "engine/jemalloc_private.h"

#define MG_JE_STR_(x) #x
#define MG_JE_STR(x) MG_JE_STR_(x)

extern "C" {

// Options forced on our jemalloc instance. jemalloc applies this string last
// (after the compiled-in defaults, `malloc_conf`, /etc/malloc.conf and
// MALLOC_CONF), so it wins over anything the user sets; in addition the
// environment and /etc/malloc.conf are never read at all (the
// secure_getenv/readlink wrappers below). abort_conf:false comes first so a
// bad key can never abort the program. tcache:false: no thread builds
// jemalloc's automatic tcache at its first call; each takes an explicit one
// for its bound group's blocks when it first needs it (tcache_slots.h).
// oversize_threshold (1 TiB) keeps
// jemalloc from purging a freed large extent at once: it stays dirty for the
// group's next large blocks, within warm_large.h's bound. dirty_decay_ms
// off (warm_large.h, kGroupArenaDirtyDecayMs) for every arena, arena 0
// included, which is the root group's (engine_init.cc): memgroup decays the
// groups' free pages (free_pages.h). trust_madvise: jemalloc does not probe
// at start whether MADV_DONTNEED zeroes pages (a page mapped, advised and
// unmapped in every process; memgroup's own page returns rely on it
// anyway).
MG_HIDDEN __attribute__((used)) const char*
    mgje_malloc_conf_2_conf_harder =
        "abort_conf:false,confirm_conf:false,abort:false,"
        "retain:true,narenas:1,percpu_arena:disabled,"
        "background_thread:false,dss:disabled,hpa:false,"
        "tcache:false,tcache_max:" MG_JE_STR(MG_JE_TCACHE_MAX)
        ",metadata_thp:disabled,"
        "junk:false,zero:false,prof:false,"
        "stats_print:false,stats_interval:-1,"
        "experimental_infallible_new:false,"
        "oversize_threshold:1099511627776,dirty_decay_ms:-1,muzzy_decay_ms:0,"
        "trust_madvise:true";

// jemalloc's pages.c calls mmap/munmap/madvise/mprotect by name; once
// memgroup exports an interposing mmap those calls would reach it. They are
// redirected here, to raw syscalls. errno is set as libc would.
// Allocates: never.
MG_HIDDEN void* mgje_sys_mmap(void* addr, size_t len, int prot, int flags,
                              int fd, off_t off) {
  return memgroup::internal::SysMmap(addr, len, prot, flags, fd, off);
}
MG_HIDDEN int mgje_sys_munmap(void* addr, size_t len) {
  return memgroup::internal::SysMunmap(addr, len);
}
MG_HIDDEN void* mgje_sys_mremap(void* old_addr, size_t old_len,
                                size_t new_len, int flags, ...) {
  void* new_addr = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  return memgroup::internal::SysMremap(old_addr, old_len, new_len, flags,
                                       new_addr);
}
MG_HIDDEN int mgje_sys_madvise(void* addr, size_t len, int advice) {
  return memgroup::internal::SysMadvise(addr, len, advice);
}
MG_HIDDEN int mgje_sys_mprotect(void* addr, size_t len, int prot) {
  return memgroup::internal::SysMprotect(addr, len, prot);
}
// jemalloc reads MALLOC_CONF with secure_getenv and /etc/malloc.conf with
// readlink, nothing else: our instance sees neither. Allocates: never.
MG_HIDDEN char* mgje_sys_secure_getenv(const char*) { return nullptr; }
MG_HIDDEN ssize_t mgje_sys_readlink(const char*, char*, size_t) {
  errno = ENOENT;
  return -1;
}

// jemalloc's heap profiler (prof.c, prof_data.c: never run, prof:false
// above) imports exp, log and round; ours keep libm.so.6 out of every
// process (base/float_math.h). Allocates: never.
MG_HIDDEN double mgje_sys_exp(double x) { return memgroup::internal::Exp(x); }
MG_HIDDEN double mgje_sys_log(double x) { return memgroup::internal::Log(x); }
MG_HIDDEN double mgje_sys_round(double x) {
  return memgroup::internal::Round(x);
}

}  // extern "C"
