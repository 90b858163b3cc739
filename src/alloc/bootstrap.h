// The bootstrap buffer: a static bump region that serves the initialising
// thread's own nested allocations while init runs. Its blocks never reach
// the engine and are never reused (a free of one does nothing).
// Must never: allocate, lock, be used by any thread but the initialising
// one. Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_BOOTSTRAP_H_
#define MEMGROUP_SRC_ALLOC_BOOTSTRAP_H_

#include <cstddef>

namespace memgroup::internal::alloc {

// nullptr with errno = ENOMEM when the buffer is exhausted.
void* BootstrapAlloc(size_t size, size_t align);
bool IsBootstrap(const void* p);
// The requested size of a bootstrap block.
size_t BootstrapSize(const void* p);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_BOOTSTRAP_H_
