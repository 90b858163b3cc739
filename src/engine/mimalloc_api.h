// The mimalloc library as the mimalloc engine uses it: a table of the
// mimalloc 2.0.9 functions the engine calls, filled by dlopen and dlsym
// when a process selects the engine (mimalloc_engine.h says why it is not
// linked). Owns the library handle and the table. Only the mimalloc engine's
// sources include it.
//
// Must never: be used before Load succeeded (the table is empty until then);
// load the library with RTLD_GLOBAL (its malloc would then interpose); call
// mimalloc other than through the table (in a ThreadSanitizer build the
// table's entries serialize the calls for the sanitizer: mimalloc_api.cc).
#ifndef MEMGROUP_SRC_ENGINE_MIMALLOC_API_H_
#define MEMGROUP_SRC_ENGINE_MIMALLOC_API_H_

#include <mimalloc.h>

#include <cstddef>

#include "base/macros.h"

namespace memgroup::internal::engine::mi {

struct Api {
  int (*version)();
  bool (*manage_os_memory_ex)(void* start, size_t size, bool is_committed,
                              bool is_large, bool is_zero, int numa_node,
                              bool exclusive, mi_arena_id_t* arena_id);
  mi_heap_t* (*heap_new_in_arena)(mi_arena_id_t arena_id);
  void (*heap_collect)(mi_heap_t* heap, bool force);
  void* (*heap_malloc)(mi_heap_t* heap, size_t size);
  void* (*heap_malloc_aligned_at)(mi_heap_t* heap, size_t size,
                                  size_t alignment, size_t offset);
  void (*free)(void* p);
  size_t (*usable_size)(const void* p);
};

// Written once by Load (under the engine lock, before the engine's init
// release store publishes it), read-only afterwards. In a ThreadSanitizer
// build each entry calls the library's function under one lock
// (mimalloc_api.cc); otherwise it is the library's function.
MG_HIDDEN extern constinit Api g_api;

}  // namespace memgroup::internal::engine::mi

#endif  // MEMGROUP_SRC_ENGINE_MIMALLOC_API_H_
