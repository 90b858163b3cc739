// Shared setup of the engine test binaries (engine_test, front_cache_*_test):
// ThreadSanitizer options and the one-time engine initialisation (on the
// engine MEMGROUP_ENGINE names) with the fork handlers installed as preload
// installs them. Include from exactly one
// source file per test binary (it defines __tsan_default_options).
#ifndef MEMGROUP_TESTS_ENGINE_ENGINE_TEST_SUPPORT_H_
#define MEMGROUP_TESTS_ENGINE_ENGINE_TEST_SUPPORT_H_

#include <pthread.h>

#include <cstdlib>
#include <cstring>
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

// The engine the test binary runs on: MEMGROUP_ENGINE, as the library
// reads it (CTest registers the engine tests once per engine).
inline EngineChoice TestEngine() {
  EngineChoice choice = EngineChoice::kJemalloc;
  const char* v = getenv("MEMGROUP_ENGINE");
  if (v != nullptr) (void)ParseEngineName(v, &choice);
  return choice;
}
inline bool OnMimalloc() { return TestEngine() == EngineChoice::kMimalloc; }

// engine::Init once per process (on TestEngine()), then the fork handlers:
// after Init, as preload does, so that our prepare handler runs before
// jemalloc's (see fork.cc).
inline void InitEngineOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    engine::SelectEngine(TestEngine());
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
    ASSERT_TRUE(engine::ThreadFront() != nullptr || engine::g_usable_of_class[1] == 0);
    body();
    engine::ThreadExit();
  });
  t.join();
}

// realloc of one block of `owner` through small and large sizes (across
// the 14 KiB small/large edge both ways) and an aligned size: every step
// keeps the bytes and the owner and has the usable size GoodSize promises;
// then ResizeInPlace. Frees the block.
inline void CheckReallocChain(uint32_t owner) {
  constexpr size_t kMiB = size_t{1} << 20;
  const size_t steps[] = {10,       24,  100,   5000,  14 * 1024, 40000, 100000,
                          3 * kMiB, 12 * kMiB, 9000, 50, 20000, 1};
  void* p = engine::Alloc(owner, 10, 0, false);
  ASSERT_NE(p, nullptr);
  memset(p, 0x5a, 10);
  size_t valid = 10;
  for (size_t size : steps) {
    void* q = engine::Realloc(p, size, 0, owner);
    ASSERT_NE(q, nullptr) << size;
    EXPECT_EQ(engine::OwnerOf(q), owner) << size;
    EXPECT_EQ(engine::UsableSize(q), engine::GoodSize(size, 0)) << size;
    size_t keep = valid < size ? valid : size;
    const unsigned char* c = static_cast<const unsigned char*>(q);
    for (size_t i = 0; i < keep; ++i) ASSERT_EQ(c[i], 0x5a) << size << " " << i;
    memset(q, 0x5a, size);
    valid = size;
    p = q;
  }
  // Aligned realloc.
  void* q = engine::Realloc(p, 100000, 64 * 1024, owner);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % (64 * 1024), 0u);
  EXPECT_EQ(engine::OwnerOf(q), owner);
  // In place: never moves, never changes owner.
  size_t usable = engine::ResizeInPlace(q, 50000, 0, 64 * 1024, owner);
  EXPECT_GE(usable, 50000u);
  EXPECT_EQ(usable, engine::UsableSize(q));
  EXPECT_EQ(engine::OwnerOf(q), owner);
  engine::Free(q, owner);
}

// The fixture of the engine test binaries whose cases run on whichever
// engine MEMGROUP_ENGINE names (engine_test, engine_thread_test).
class EngineFixture : public ::testing::Test {
 protected:
  void SetUp() override { InitEngineOnce(); }
};

}  // namespace memgroup::internal::testing

#endif  // MEMGROUP_TESTS_ENGINE_ENGINE_TEST_SUPPORT_H_
