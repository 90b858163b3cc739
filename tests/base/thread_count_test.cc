// ProcessThreadCount (base/sys.h): the kernel's count of this process's
// threads, which the fork handlers read to take no lock when the forking
// thread is the only one left (base/fork_locks.h).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "base/sys.h"

namespace memgroup::internal {
namespace {

// The kernel wakes pthread_join before it stops counting the thread: wait
// for the count to settle.
int CountOnceSettledAt(int want) {
  int n = ProcessThreadCount();
  for (int i = 0; i < 2000 && n != want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    n = ProcessThreadCount();
  }
  return n;
}

TEST(ProcessThreadCountTest, CountsLiveThreadsAndForgetsJoinedOnes) {
  const int before = ProcessThreadCount();
  ASSERT_GE(before, 1);
  std::atomic<bool> go{false};
  std::thread a([&] {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  });
  std::thread b([&] {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  });
  EXPECT_EQ(ProcessThreadCount(), before + 2);
  go.store(true, std::memory_order_release);
  a.join();
  b.join();
  EXPECT_EQ(CountOnceSettledAt(before), before);
}

}  // namespace
}  // namespace memgroup::internal
