// Implements thread_start.h.
//
// SYNCHRONIZATION
// - The record pool and free list are guarded by g_start_lock (a leaf lock,
//   never held across a call out).
// - g_real_pthread_create: relaxed; every racer stores the same value.
#include "alloc/thread_start.h"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "alloc/init.h"
#include "base/fork_locks.h"
#include "base/meta_alloc.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "group/thread_binding.h"

namespace memgroup::internal::alloc {
namespace {

struct StartRecord {
  void* (*fn)(void*);
  void* arg;
  uint32_t group;
  StartRecord* next_free;
};
constexpr size_t kStartRecords = 4096;
constinit SpinLock g_start_lock;
constinit StartRecord* g_start_pool = nullptr;  // guarded by g_start_lock
// Records of the pool never handed out yet: the pool is taken from the
// front, so that a process that starts one thread touches one page of it,
// not the 32 a linked list of all records would.
constinit size_t g_start_unused = 0;            // guarded by g_start_lock
constinit StartRecord* g_start_free = nullptr;  // guarded by g_start_lock

using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*,
                                void* (*)(void*), void*);
// Resolved lazily with dlsym(RTLD_NEXT) (does not allocate on glibc 2.36).
constinit std::atomic<PthreadCreateFn> g_real_pthread_create{nullptr};

void ReleaseStartRecord(StartRecord* r) {
  SpinLockHolder h(&g_start_lock);
  r->next_free = g_start_free;
  g_start_free = r;
}

void* StartTrampoline(void* arg) {
  StartRecord* r = static_cast<StartRecord*>(arg);
  void* (*fn)(void*) = r->fn;
  void* user_arg = r->arg;
  t_thread.inherited_group_plus1 = r->group + 1;
  ReleaseStartRecord(r);
  return fn(user_arg);
}

StartRecord* TakeStartRecord() {
  SpinLockHolder h(&g_start_lock);
  StartRecord* r = g_start_free;
  if (r != nullptr) {
    g_start_free = r->next_free;
    return r;
  }
  if (g_start_pool == nullptr) {
    g_start_pool =
        static_cast<StartRecord*>(MetaMap(kStartRecords * sizeof(StartRecord)));
    if (g_start_pool == nullptr) return nullptr;
    g_start_unused = kStartRecords;
  }
  if (g_start_unused == 0) return nullptr;
  return &g_start_pool[kStartRecords - g_start_unused--];
}

PthreadCreateFn RealPthreadCreate() {
  // Relaxed: every racer stores the same resolved address.
  PthreadCreateFn real = g_real_pthread_create.load(std::memory_order_relaxed);
  if (real == nullptr) {
    real = reinterpret_cast<PthreadCreateFn>(
        dlsym(RTLD_NEXT, "pthread_create"));
    if (real != nullptr) {
      // Relaxed: as above.
      g_real_pthread_create.store(real, std::memory_order_relaxed);
    }
  }
  return real;
}

}  // namespace

int CreateThread(pthread_t* thread, const pthread_attr_t* attr,
                 void* (*start)(void*), void* arg) {
  PthreadCreateFn real = RealPthreadCreate();
  if (real == nullptr) {
    RawLog("cannot resolve pthread_create");
    return EAGAIN;
  }
  StartRecord* r = EnsureInit() ? TakeStartRecord() : nullptr;
  if (r == nullptr) return real(thread, attr, start, arg);
  r->fn = start;
  r->arg = arg;
  r->group = t_thread.status == kThreadReady ? t_thread.group : kRootGroup;
  int rc = real(thread, attr, StartTrampoline, r);
  if (rc != 0) ReleaseStartRecord(r);
  return rc;
}

int CreateLibraryThread(pthread_t* thread, const pthread_attr_t* attr,
                        void* (*start)(void*), void* arg) {
  PthreadCreateFn real = RealPthreadCreate();
  if (real == nullptr) {
    RawLog("cannot resolve pthread_create");
    return EAGAIN;
  }
  return real(thread, attr, start, arg);
}

void StartPrepareFork() { ForkLock(g_start_lock); }
void StartParentFork() { ForkUnlock(g_start_lock); }
void StartChildFork() { ForkReset(g_start_lock); }

}  // namespace memgroup::internal::alloc
