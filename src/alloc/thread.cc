// Implements thread.h.
//
// SYNCHRONIZATION
// - t_thread and the engine's per-thread caches are owner-only.
// - g_thread_key is written once by init, before the release store of
//   Ready that publishes it to every thread.
#include "alloc/thread.h"

#include <pthread.h>

#include "engine/engine.h"
#include "group/thread_binding.h"

namespace memgroup::internal::alloc {
namespace {

constinit pthread_key_t g_thread_key = 0;

// Thread exit: the charge binding (stock drained and released), then the
// engine's per-thread caches. Later allocations of the thread (other
// destructors) are charged directly.
void ThreadExitDestructor(void*) {
  TeardownThread();
  engine::ThreadExit();
}

bool BindEngine(uint32_t group) {
  // A non-null value makes glibc run the destructor at thread exit. For the
  // first 32 keys pthread_setspecific does not allocate.
  pthread_setspecific(g_thread_key, &t_thread);
  return engine::BindThread(group);
}

}  // namespace

bool CreateThreadExitKey() {
  return pthread_key_create(&g_thread_key, ThreadExitDestructor) == 0;
}

void PrepareThread() {
  if (t_thread.status != kThreadNew) return;
  SetupThread();
  (void)BindEngine(t_thread.group);
}

bool MoveThread(uint32_t group) {
  ThreadState& t = t_thread;
  if (t.status == kThreadNew) PrepareThread();
  if (t.group != group && !BindEngine(group)) return false;
  BindThreadGroup(group);
  return true;
}

uint32_t CurrentGroup() {
  ThreadState& t = t_thread;
  if (t.status == kThreadNew) PrepareThread();
  const uint32_t target = LiveBindingTarget();
  if (target != t.group) (void)MoveThread(target);
  return t.group;
}

uint32_t CallerGroup() {
  ThreadState& t = t_thread;
  if (t.status == kThreadNew) PrepareThread();
  return t.status == kThreadReady ? CurrentGroup() : t.group;
}

}  // namespace memgroup::internal::alloc
