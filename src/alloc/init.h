// Lazy initialisation of the library: an atomic state machine Uninit ->
// Initializing -> Ready (or Failed), run by the first call of any entry
// point (and by preload's constructor). Owns the order of process-wide
// setup: registry, engine, environment configuration, the root group's
// arena, the thread-exit key, the OOM report's engine part, fork handlers
// and the stats report at exit.
// Must never: allocate through malloc (it runs inside the first malloc of
// the process, possibly before any constructor), rely on constructor order.
// Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_INIT_H_
#define MEMGROUP_SRC_ALLOC_INIT_H_

namespace memgroup::internal::alloc {

// Lazy init from any first call. Returns true when the engine is ready. The
// initialising thread's own nested calls get false and are served from the
// bootstrap buffer (bootstrap.h); other threads wait for Ready. Aborts when
// initialisation fails. Allocates: never.
bool EnsureInit();

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_INIT_H_
