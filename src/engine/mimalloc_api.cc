// Implements mimalloc_api.h and mi::Load (mimalloc_engine.h): loads
// libmimalloc.so.2 and fills the function table.
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
  g_api = api;
  return true;
}

}  // namespace memgroup::internal::engine::mi
