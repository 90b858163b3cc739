// /proc/<pid>/stat read raw (base/sys.h): a line's fields counted after
// the comm, which may hold spaces and parentheses, and ProcessThreadCount,
// the kernel's count of this process's threads, which the fork handlers
// read to take no lock when the forking thread is the only one left
// (base/fork_locks.h).
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "base/sys.h"

namespace memgroup::internal {
namespace {

std::string Field(const char* line, int field) {
  const char* b = nullptr;
  const char* e = nullptr;
  if (!ProcStatField(line, static_cast<long>(strlen(line)), field, &b, &e)) {
    return "<none>";
  }
  return std::string(b, e);
}

TEST(ProcStatTest, FieldsAreCountedAfterTheCommsLastParenthesis) {
  const char* line = "4242 (a) b (c ) S 17 4242 9 0 -1\n";
  EXPECT_EQ(Field(line, 3), "S");
  EXPECT_EQ(Field(line, 4), "17");
  EXPECT_EQ(Field(line, 8), "-1");
  EXPECT_EQ(Field(line, 9), "<none>");
  EXPECT_EQ(Field("4242 no comm S 17", 3), "<none>");
}

TEST(ProcStatTest, ThisProcessesLineNamesItsPid) {
  char buf[1024];
  const long n = ReadProcStat(0, buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(atol(buf), static_cast<long>(getpid()));
  char again[1024];
  ASSERT_GT(ReadProcStat(getpid(), again, sizeof(again)), 0);
  EXPECT_EQ(atol(again), static_cast<long>(getpid()));
  const char* b = nullptr;
  const char* e = nullptr;
  ASSERT_TRUE(ProcStatField(buf, n, 4, &b, &e));  // ppid
  EXPECT_EQ(std::string(b, e), std::to_string(getppid()));
}

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
  // A thread started and joined first: a runtime's own threads that the
  // first one starts (ThreadSanitizer's background thread) are counted
  // from here on.
  std::thread([] {}).join();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
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
