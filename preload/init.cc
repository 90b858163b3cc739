// The process-start entry points: a constructor that initialises the
// library before main (and starts a job member's control agent), the
// __libc_start_main wrapper (the library learns when the program's main
// begins) and the pthread_create wrapper (a new thread starts in its
// creator's group). Forwarders over src/alloc.
#include <pthread.h>

#include "alloc/control_agent.h"
#include "alloc/init.h"
#include "alloc/start_main.h"
#include "alloc/thread_start.h"
#include "base/macros.h"

// Runs EnsureInit before main even in programs that never allocate first, so
// that a malformed MEMGROUP_* variable always stops the program before main.
// A job member then starts its control agent (alloc/control_agent.h).
__attribute__((constructor(101))) static void MemgroupEarlyInit() {
  if (memgroup::internal::alloc::EnsureInit()) {
    memgroup::internal::alloc::StartControlAgent();
  }
}

extern "C" MG_EXPORT int pthread_create(pthread_t* thread,
                                        const pthread_attr_t* attr,
                                        void* (*start)(void*), void* arg) {
  return memgroup::internal::alloc::CreateThread(thread, attr, start, arg);
}

// The program's _start calls this instead of glibc's (this library comes
// first in the search order, preloaded or linked).
extern "C" MG_EXPORT int __libc_start_main(
    memgroup::internal::alloc::MainFn main, int argc, char** argv,
    void (*init)(), void (*fini)(), void (*rtld_fini)(), void* stack_end) {
  return memgroup::internal::alloc::StartMain(main, argc, argv, init, fini,
                                              rtld_fini, stack_end);
}
