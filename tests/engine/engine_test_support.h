// Shared setup of the engine test binaries (engine_test, front_cache_test):
// ThreadSanitizer options and the one-time engine initialisation with the
// fork handlers installed as preload installs them. Include from exactly one
// source file per test binary (it defines __tsan_default_options).
#ifndef MEMGROUP_TESTS_ENGINE_ENGINE_TEST_SUPPORT_H_
#define MEMGROUP_TESTS_ENGINE_ENGINE_TEST_SUPPORT_H_

#include <pthread.h>

#include <mutex>
#include <thread>

#include "engine/engine.h"
#include "engine/front_cache.h"
#include "gtest/gtest.h"

#if defined(__SANITIZE_THREAD__)
#define MG_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MG_TEST_TSAN 1
#endif
#endif

#ifdef MG_TEST_TSAN
// TSan's lock-order ("deadlock") detector tracks at most 64 mutexes held at
// once by one thread (sanitizer_deadlock_detector.h:67, DeadlockDetectorTLS::
// addLock, CHECK n_all_locks_ < 64). jemalloc's prefork handler takes every
// mutex of every arena at once (hundreds even with one arena), so the first
// fork() of a TSan process that initialised the engine fails that CHECK, and
// the CHECK's own stack unwind then deadlocks inside TSan (measured:
// ForkWithConcurrentAllocation hangs in je_malloc_mutex_prefork ->
// MutexPostLock -> CheckFailed). Only the deadlock detector is switched off:
// race detection stays on. TSAN_OPTIONS still overrides this default.
extern "C" const char* __tsan_default_options() { return "detect_deadlocks=0"; }
#endif

namespace memgroup::internal::testing {

// engine::Init once per process, then the fork handlers: after Init, as
// preload does, so that our prepare handler runs before jemalloc's (see
// jemalloc_engine.cc, FORK).
inline void InitEngineOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    ASSERT_TRUE(engine::Init());
    ASSERT_EQ(pthread_atfork(engine::PrepareFork, engine::ParentFork,
                             engine::ChildFork),
              0);
  });
}

// Runs `body` on a new thread bound to `group` (with a front cache, unless
// the class tables are disabled), then calls ThreadExit as the thread-exit
// hook would.
template <typename F>
void OnBoundThread(uint32_t group, F body) {
  std::thread t([&] {
    ASSERT_TRUE(engine::BindThread(group));
    ASSERT_TRUE(engine::t_front != nullptr || engine::g_class_size[1] == 0);
    body();
    engine::ThreadExit();
  });
  t.join();
}

}  // namespace memgroup::internal::testing

#endif  // MEMGROUP_TESTS_ENGINE_ENGINE_TEST_SUPPORT_H_
