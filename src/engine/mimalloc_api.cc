// Implements mimalloc_api.h and mi::Load (mimalloc_engine.h): loads
// libmimalloc.so.2 and fills the function table, whose entries, in a
// ThreadSanitizer build, order every call into mimalloc for the sanitizer.
//
// RTLD_LOCAL keeps mimalloc's malloc family out of the global scope (memgroup's
// stays the process's). RTLD_DEEPBIND makes the library's own references
// resolve to itself and its dependencies first: its `free` to its own, and
// its mmap, munmap and madvise to libc's instead of memgroup's interposed
// mmap family, which would otherwise charge mimalloc's metadata (its thread
// data and the default heap that holds the heaps) to the calling thread's
// group. The sanitizer runtimes refuse RTLD_DEEPBIND, so sanitizer builds
// load without it (their tests do not interpose mmap).
//
// dlopen allocates: Load runs inside memgroup's initialisation, where the
// initialising thread's allocations are served from the bootstrap area
// (src/alloc/bootstrap.h), and those blocks are never freed.
//
// SYNCHRONIZATION: the table is written once by Load, under the engine
// lock, and published by the engine's init release store. ThreadSanitizer
// cannot see mimalloc's own synchronization: the library is not
// instrumented, and memory one thread frees reaches another thread through
// mimalloc's lock-free lists and arena bitmaps. It sees the program's
// accesses to the blocks, and the memset and memcpy calls mimalloc makes
// (intercepted; the sanitizer builds load it without RTLD_DEEPBIND), such
// as the memset clearing a reused segment's header inside the heap_malloc
// of whichever thread's block takes that segment next. A TSan build's table
// therefore brackets every call (TsanCall): on entry an acquire and a
// release, on exit a release, all on one sync object. Each call then
// happens after every call that entered or left before it, as under one
// lock of an instrumented allocator: the program's accesses to a block
// before it is freed, and mimalloc's intercepted writes in any call, come
// before the accesses of a later call and of the program to the memory
// that call hands out. The acquire must precede the call, not follow its
// return: the clearing happens inside it (an acquire after heap_malloc
// returned left that memset unordered with the other thread's accesses of
// the segment, engine_thread_test's MemoryReusedByAnUnsynchronizedThread).
// One sync object, not one per address: mimalloc reuses a freed block's
// memory in blocks that start elsewhere (a reused segment, a coalesced
// span). The price is the sanitizer's view of two threads' accesses that
// each thread separates by a call into mimalloc: ordered, even when
// nothing else orders them. Not bracketed: mimalloc's own thread-exit
// cleanup (its pthread key's destructor), which no call of the engine runs.
// No-ops outside TSan builds: the table holds the library's functions.
#include "engine/mimalloc_api.h"

#include <dlfcn.h>

#include "base/raw_log.h"
#include "engine/mimalloc_engine.h"

namespace memgroup::internal::engine::mi {

constinit Api g_api{};

namespace {

// The version this engine was written and measured against (mimalloc.h's
// MI_MALLOC_VERSION): arenas by id, mi_heap_new_in_arena, 64 arenas.
inline constexpr int kMinVersion = 209;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int kDeepBind = 0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr int kDeepBind = 0;
#else
inline constexpr int kDeepBind = RTLD_DEEPBIND;
#endif
#else
inline constexpr int kDeepBind = RTLD_DEEPBIND;
#endif

constinit void* g_handle = nullptr;

#ifdef MG_TSAN
// The library's functions, which a TSan build's table calls (see
// SYNCHRONIZATION); written with it by Load.
constinit Api g_lib{};
// The sync object of every call into mimalloc.
char g_tsan_sync;

// One call into mimalloc, from construction to destruction (see
// SYNCHRONIZATION).
struct TsanCall {
  TsanCall() {
    __tsan_acquire(&g_tsan_sync);
    __tsan_release(&g_tsan_sync);
  }
  ~TsanCall() { __tsan_release(&g_tsan_sync); }
  TsanCall(const TsanCall&) = delete;
  TsanCall& operator=(const TsanCall&) = delete;
};

// Calls the library's function of table entry `kEntry` as one TsanCall.
template <auto kEntry>
struct Bracketed;
template <typename R, typename... A, R (*Api::*kEntry)(A...)>
struct Bracketed<kEntry> {
  static R Call(A... args) {
    TsanCall call;
    return (g_lib.*kEntry)(args...);
  }
};

// Keeps the library's functions in g_lib and points every entry of `api`
// at its bracketed call.
static_assert(sizeof(Api) == 10 * sizeof(void (*)()),
              "an entry of Api that BracketCalls does not bracket");
void BracketCalls(Api* api) {
  g_lib = *api;
  api->version = Bracketed<&Api::version>::Call;
  api->manage_os_memory_ex = Bracketed<&Api::manage_os_memory_ex>::Call;
  api->heap_new_in_arena = Bracketed<&Api::heap_new_in_arena>::Call;
  api->heap_collect = Bracketed<&Api::heap_collect>::Call;
  api->heap_malloc = Bracketed<&Api::heap_malloc>::Call;
  api->heap_zalloc = Bracketed<&Api::heap_zalloc>::Call;
  api->heap_malloc_aligned_at = Bracketed<&Api::heap_malloc_aligned_at>::Call;
  api->heap_zalloc_aligned_at = Bracketed<&Api::heap_zalloc_aligned_at>::Call;
  api->free = Bracketed<&Api::free>::Call;
  api->usable_size = Bracketed<&Api::usable_size>::Call;
}
#endif

template <typename F>
bool Resolve(const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(g_handle, name));
  if (*out == nullptr) {
    RawLog("engine: mimalloc: libmimalloc.so.2 has no %s", name);
    return false;
  }
  return true;
}

}  // namespace

bool Load() {
  if (g_handle != nullptr) return true;
  // Before mimalloc creates its own thread-exit key (at load).
  if (!PrepareHeapsKey()) {
    RawLog("engine: mimalloc: no pthread key left for the thread-exit hook");
    return false;
  }
  g_handle = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL | kDeepBind);
  if (g_handle == nullptr) {
    const char* why = dlerror();
    RawLog("engine: mimalloc: cannot load libmimalloc.so.2 (%s); install"
           " libmimalloc2.0 or use MEMGROUP_ENGINE=jemalloc",
           why != nullptr ? why : "unknown error");
    return false;
  }
  Api api{};
  bool ok = Resolve("mi_version", &api.version) &&
            Resolve("mi_manage_os_memory_ex", &api.manage_os_memory_ex) &&
            Resolve("mi_heap_new_in_arena", &api.heap_new_in_arena) &&
            Resolve("mi_heap_collect", &api.heap_collect) &&
            Resolve("mi_heap_malloc", &api.heap_malloc) &&
            Resolve("mi_heap_zalloc", &api.heap_zalloc) &&
            Resolve("mi_heap_malloc_aligned_at", &api.heap_malloc_aligned_at) &&
            Resolve("mi_heap_zalloc_aligned_at", &api.heap_zalloc_aligned_at) &&
            Resolve("mi_free", &api.free) &&
            Resolve("mi_usable_size", &api.usable_size);
  if (ok && api.version() < kMinVersion) {
    RawLog("engine: mimalloc: libmimalloc.so.2 is version %d; the engine"
           " needs %d or later", api.version(), kMinVersion);
    ok = false;
  }
  if (!ok) return false;  // The handle stays: nothing else is loaded again.
#ifdef MG_TSAN
  BracketCalls(&api);
#endif
  g_api = api;
  return true;
}

}  // namespace memgroup::internal::engine::mi
