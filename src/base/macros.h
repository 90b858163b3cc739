// Compiler macros used across memgroup. Owns: branch hints, inlining and
// visibility attributes. Must never include anything that allocates.
#ifndef MEMGROUP_SRC_BASE_MACROS_H_
#define MEMGROUP_SRC_BASE_MACROS_H_

#define MG_LIKELY(x) __builtin_expect(!!(x), 1)
#define MG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MG_NOINLINE __attribute__((noinline))
#define MG_COLD __attribute__((cold))
#define MG_ALWAYS_INLINE inline __attribute__((always_inline))
#define MG_EXPORT __attribute__((visibility("default")))
#define MG_HIDDEN __attribute__((visibility("hidden")))
// A large zero-initialised table (indexed by group, arena, callback...):
// placed in .lbss, after .bss, so that the tables do not scatter the small
// globals over many pages (each page a process touches is a page fault of
// its start-up: together the tables measured 25 of them).
#define MG_TABLE __attribute__((section(".lbss")))
// An MG_TABLE whose first page every process touches (the root group's
// entry, or the first record): placed in .lbss.hot, which the library's
// link script (preload/hot_tables.ld) puts between .data and .bss, so that
// these first pages share the 2 MiB regions .data and .bss already touch
// instead of each costing the kernel a page-table page of its own.
// Elsewhere (the static test programs) .lbss.hot is part of .lbss.
#define MG_TABLE_HOT __attribute__((section(".lbss.hot")))
// An MG_TABLE_HOT that only the jemalloc engine touches: placed after the
// others (.lbss.hot.jemalloc), so that the first pages a process of the
// mimalloc engine touches lie closer together.
#define MG_TABLE_HOT_JEMALLOC __attribute__((section(".lbss.hot.jemalloc")))
// Defined in a ThreadSanitizer build (gcc's __SANITIZE_THREAD__, clang's
// feature test), with the two annotations the code uses where it
// synchronizes through something the sanitizer cannot see.
#if defined(__SANITIZE_THREAD__)
#define MG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MG_TSAN 1
#endif
#endif
#ifdef MG_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif
#define MG_TLS __thread __attribute__((tls_model("initial-exec")))
#define MG_CACHELINE 64

#endif  // MEMGROUP_SRC_BASE_MACROS_H_
