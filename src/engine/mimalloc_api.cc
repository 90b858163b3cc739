// Implements mimalloc_api.h and mi::Load (mimalloc_engine.h): loads
// libmimalloc.so.2 and fills the function table, whose entries, in a
// ThreadSanitizer build, serialize the calls into mimalloc for the
// sanitizer (with the fork functions of that lock, mimalloc_engine.h).
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
// mimalloc's lock-free lists and arena bitmaps. The sanitizer sees the
// program's accesses to the blocks, and the memset and memcpy calls
// mimalloc makes (intercepted: the sanitizer builds load it without
// RTLD_DEEPBIND), such as the memset clearing a reused segment's header
// inside the heap_malloc of whichever thread's block takes that segment
// next. So in a TSan build each entry of the table calls the library's
// function under one lock, g_call_lock (Serialized), as an instrumented
// allocator's own lock would: each call happens after every call before
// it, and the program's accesses to a block before its free, and
// mimalloc's intercepted writes in any call, come before what a later call
// does to that memory, and what the program does through the block that
// call hands out. Annotations around the calls are not enough without the
// lock: a call may reuse, and clear, memory that another thread's call
// frees while it runs (measured: with an acquire and a release on entry
// to and exit from every call instead of the lock, 4 of 60 runs of the
// mimalloc engine's TSan stress report such a race, docs/testing.md). The
// lock is a leaf (mimalloc calls nothing of the engine's), taken across
// fork after every other engine lock (PrepareApiFork). Not serialized:
// mimalloc's own thread-exit cleanup (its pthread key's destructor), which
// runs no call of the engine's. None of this exists outside TSan builds,
// where the table holds the library's functions and the fork functions do
// nothing.
#include "engine/mimalloc_api.h"

#include <dlfcn.h>

#include <cstdlib>

#include "base/fork_locks.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
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
// Held through every call into mimalloc (see SYNCHRONIZATION). The calls
// are off the fast path (slabs' blocks, large blocks), and the lock exists
// only in TSan builds.
constinit SpinLock g_call_lock;

// Calls the library's function of table entry `kEntry` under g_call_lock.
template <auto kEntry>
struct Serialized;
template <typename R, typename... A, R (*Api::*kEntry)(A...)>
struct Serialized<kEntry> {
  static R Call(A... args) {
    SpinLockHolder holder(&g_call_lock);
    return (g_lib.*kEntry)(args...);
  }
};

// Keeps the library's functions in g_lib and points every entry of `api`
// at its serialized call.
static_assert(sizeof(Api) == 8 * sizeof(void (*)()),
              "an entry of Api that SerializeCalls does not serialize");
void SerializeCalls(Api* api) {
  g_lib = *api;
  api->version = Serialized<&Api::version>::Call;
  api->manage_os_memory_ex = Serialized<&Api::manage_os_memory_ex>::Call;
  api->heap_new_in_arena = Serialized<&Api::heap_new_in_arena>::Call;
  api->heap_collect = Serialized<&Api::heap_collect>::Call;
  api->heap_malloc = Serialized<&Api::heap_malloc>::Call;
  api->heap_malloc_aligned_at = Serialized<&Api::heap_malloc_aligned_at>::Call;
  api->free = Serialized<&Api::free>::Call;
  api->usable_size = Serialized<&Api::usable_size>::Call;
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
  constexpr int kFlags = RTLD_NOW | RTLD_LOCAL | kDeepBind;
#ifdef MG_MIMALLOC_PATH
  // Where the build found it: opened by its path, the loader reads no
  // search path and no /etc/ld.so.cache (git --version under the engine
  // measured 1.6% faster). With LD_LIBRARY_PATH set, or the file gone, the
  // soname is searched as usual.
  if (getenv("LD_LIBRARY_PATH") == nullptr) {
    g_handle = dlopen(MG_MIMALLOC_PATH, kFlags);
  }
#endif
  if (g_handle == nullptr) g_handle = dlopen("libmimalloc.so.2", kFlags);
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
            Resolve("mi_heap_malloc_aligned_at", &api.heap_malloc_aligned_at) &&
            Resolve("mi_free", &api.free) &&
            Resolve("mi_usable_size", &api.usable_size);
  if (ok && api.version() < kMinVersion) {
    RawLog("engine: mimalloc: libmimalloc.so.2 is version %d; the engine"
           " needs %d or later", api.version(), kMinVersion);
    ok = false;
  }
  if (!ok) return false;  // The handle stays: nothing else is loaded again.
#ifdef MG_TSAN
  SerializeCalls(&api);
#endif
  g_api = api;
  return true;
}

void PrepareApiFork() {
#ifdef MG_TSAN
  ForkLock(g_call_lock);
#endif
}
void ParentApiFork() {
#ifdef MG_TSAN
  ForkUnlock(g_call_lock);
#endif
}
void ChildApiFork() {
#ifdef MG_TSAN
  ForkReset(g_call_lock);
#endif
}

}  // namespace memgroup::internal::engine::mi
