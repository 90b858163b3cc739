// Declarations of memgroup's private, renamed jemalloc (`mgje_*`, built by
// cmake/EmbedJemalloc.cmake from Debian's libjemalloc_pic.a) and the types and
// flag macros of <jemalloc/jemalloc.h>. Owns nothing; only engine sources may
// include it. Must never be included by code that also wants the system
// jemalloc's names: JEMALLOC_NO_RENAME keeps the header from #defining
// malloc/free/... to jemalloc names.
//
// The declarations are hidden so that the compiler emits direct calls (no
// PLT) and the linker makes the definitions hidden too.
#ifndef MEMGROUP_SRC_ENGINE_JEMALLOC_PRIVATE_H_
#define MEMGROUP_SRC_ENGINE_JEMALLOC_PRIVATE_H_

// The largest block jemalloc's tcaches cache (its tcache_max, forced by
// jemalloc_glue.cc; tcache_slots.h's kTcacheMaxBytes).
#define MG_JE_TCACHE_MAX 32768

#define JEMALLOC_NO_RENAME
#include <jemalloc/jemalloc.h>

// The four internals declared below are jemalloc 5.3's (Debian 12's
// libjemalloc-dev 5.3.0): another version may change or drop them, so the
// build stops here rather than call them with the wrong signatures.
#if JEMALLOC_VERSION_MAJOR != 5 || JEMALLOC_VERSION_MINOR != 3
#error "memgroup's jemalloc engine needs jemalloc 5.3 (jemalloc_private.h declares four of its internals)"
#endif

#include <cstddef>

extern "C" {
#pragma GCC visibility push(hidden)
void* mgje_malloc(size_t size) noexcept;
void* mgje_calloc(size_t num, size_t size) noexcept;
void mgje_free(void* p) noexcept;
void* mgje_mallocx(size_t size, int flags) noexcept;
void* mgje_rallocx(void* p, size_t size, int flags) noexcept;
size_t mgje_xallocx(void* p, size_t size, size_t extra, int flags) noexcept;
size_t mgje_sallocx(const void* p, int flags) noexcept;
void mgje_dallocx(void* p, int flags) noexcept;
void mgje_sdallocx(void* p, size_t size, int flags) noexcept;
size_t mgje_nallocx(size_t size, int flags) noexcept;
int mgje_mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp,
                 size_t newlen) noexcept;
int mgje_mallctlnametomib(const char* name, size_t* mibp,
                          size_t* miblenp) noexcept;
int mgje_mallctlbymib(const size_t* mib, size_t miblen, void* oldp,
                      size_t* oldlenp, void* newp, size_t newlen) noexcept;
void mgje_malloc_stats_print(void (*write_cb)(void*, const char*),
                             void* cbopaque, const char* opts) noexcept;

// Four of jemalloc's internals (its `je_` private namespace, hidden in the
// archive), which the engine's Init uses instead of mallctl, whose first
// use builds jemalloc's control interface and its statistics blocks
// (engine_init.cc, TakeArenaZero): jemalloc 5.3's declarations, with its
// tsd_t and arena_t opaque. EngineTest.RootGroupLivesInArenaZero reads
// their effect back through mallctl.
// atomic_p_t arenas[MALLOCX_ARENA_LIMIT]: each arena, set when it is made.
extern void* je_arenas[];
// opt.retain.
extern bool je_opt_retain;
// arena.<i>.extent_hooks's write: returns the old hooks. `tsd` may be null.
extent_hooks_t* je_arena_set_extent_hooks(void* tsd, void* arena,
                                          extent_hooks_t* hooks) noexcept;
// arena.<i>.retain_grow_limit: true on error. `tsd` may be null.
bool je_arena_retain_grow_limit_get_set(void* tsd, void* arena,
                                        size_t* old_limit,
                                        size_t* new_limit) noexcept;
#pragma GCC visibility pop
}  // extern "C"

#endif  // MEMGROUP_SRC_ENGINE_JEMALLOC_PRIVATE_H_
