// New threads start in their creator's group: the pthread_create wrapper's
// logic (the exported symbol is preload's forwarder). Each new thread gets
// a start record (from metadata memory) naming its function, argument and
// the creator's group; a trampoline hands the group to the new thread's
// binding and frees the record.
// Must never: allocate through malloc, hold the record lock across the real
// pthread_create or the thread's function. Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_THREAD_START_H_
#define MEMGROUP_SRC_ALLOC_THREAD_START_H_

#include <pthread.h>

namespace memgroup::internal::alloc {

// pthread_create through the next definition (libc's), with the new thread
// started in the calling thread's group. EAGAIN when libc's pthread_create
// cannot be found.
int CreateThread(pthread_t* thread, const pthread_attr_t* attr,
                 void* (*start)(void*), void* arg);

// libc's pthread_create without a start record: the new thread starts in
// the root group (the library's own threads, which charge nothing of the
// program's). EAGAIN when libc's pthread_create cannot be found.
int CreateLibraryThread(pthread_t* thread, const pthread_attr_t* attr,
                        void* (*start)(void*), void* arg);

// fork(2): the record lock is held across fork (a leaf lock: taken first,
// released last) and reset in the child, which may create threads (its
// control agent) while a lost thread of the parent held it.
void StartPrepareFork();
void StartParentFork();
void StartChildFork();

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_THREAD_START_H_
