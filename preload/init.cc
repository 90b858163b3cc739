// The process-start entry points: a constructor that initialises the
// library before main (and starts a job member's control agent), and the
// pthread_create wrapper (a new thread starts in its creator's group).
// Forwarders over src/alloc.
#include <pthread.h>

#include "alloc/control_agent.h"
#include "alloc/init.h"
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
