// stat.stock_bound (docs/architecture.md, "Stock error bound"): with 2 to 64
// threads allocating and freeing 1 MiB blocks in one group, the group's
// `current` exceeds the bytes its live blocks, its engine's free pages
// (stat.engine_free: freed blocks' pages its arena keeps, charged until
// reclaim or their decay) and the freed blocks the threads' caches keep
// (stat.engine_cached) hold by at most what the stocks hold, which stays
// within stat.stock_bound (threads x 256 KiB for one group), and everything
// returns to exactly 0 once the threads have freed their blocks and exited.
#include "memgroup/memgroup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

constexpr int64_t kMiB = 1024 * 1024;
constexpr int64_t kBatch = 256 * 1024;
constexpr int kBlocks = 8;  // per thread, 1 MiB each
constexpr int kKept = 3;    // of which each thread keeps this many

void Escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

// The value of `key` in `group`'s block of mg_stats_write, or -1.
int64_t StatOf(const std::string& group, const char* key) {
  int fd = memfd_create("stats", 0);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(0, mg_stats_write(fd));
  std::string text;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) text.append(buf, n);
  close(fd);
  const std::string head = "group " + group + "\n";
  size_t at = text.find(head);
  if (at == std::string::npos) return -1;
  const size_t end = text.find("\n\n", at);
  const std::string want = std::string("\n") + key + " ";
  size_t k = text.find(want, at);
  if (k == std::string::npos || k > end) return -1;
  return strtoll(text.c_str() + k + want.size(), nullptr, 10);
}

class Gate {
 public:
  void Arrive() {
    std::lock_guard<std::mutex> l(mu_);
    ++arrived_;
    cv_.notify_all();
  }
  void WaitArrived(int n) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return arrived_ >= n; });
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitOpen() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  bool open_ = false;
};

class StockBoundTest : public ::testing::TestWithParam<int> {};

TEST_P(StockBoundTest, CurrentWithinStockBoundOfLive) {
  const int nthreads = GetParam();
  const std::string name = "stock_bound_" + std::to_string(nthreads);
  mg_group_t g = 0;
  ASSERT_EQ(0, mg_group_create(mg_root(), name.c_str(), &g));
  Gate gate;
  std::vector<std::thread> threads;
  for (int t = 0; t < nthreads; ++t) {
    threads.emplace_back([&, t] {
      void* blocks[kBlocks];
      if (mg_thread_set_group(g) != 0) abort();
      for (int i = 0; i < kBlocks; ++i) {
        blocks[i] = malloc(kMiB);
        if (blocks[i] == nullptr) abort();
        memset(blocks[i], t, 4096);
        Escape(blocks[i]);
      }
      for (int i = kKept; i < kBlocks; ++i) free(blocks[i]);
      gate.Arrive();
      gate.WaitOpen();
      for (int i = 0; i < kKept; ++i) free(blocks[i]);
    });
  }
  gate.WaitArrived(nthreads);
  mg_stat_t st;
  ASSERT_EQ(0, mg_group_stat(g, &st));
  const int64_t live = int64_t{nthreads} * kKept * kMiB;
  const std::string path = "/" + name;
  const int64_t bound = StatOf(path, "stat.stock_bound");
  const int64_t stock = StatOf(path, "stat.stock");
  const int64_t current = StatOf(path, "current");
  const int64_t free_pages = StatOf(path, "stat.engine_free");
  const int64_t cached = StatOf(path, "stat.engine_cached");
  printf("%d threads: current - live %lld, free pages %lld, cached %lld, "
         "stock %lld, stock_bound %lld\n",
         nthreads, static_cast<long long>(current - live),
         static_cast<long long>(free_pages), static_cast<long long>(cached),
         static_cast<long long>(stock), static_cast<long long>(bound));
  // No charge lost, none beyond the stocks: the threads charged nothing
  // but their 1 MiB blocks, which are live, free pages of the arena or in
  // a thread's front cache (one each).
  ASSERT_GE(free_pages, 0);
  EXPECT_EQ(cached, int64_t{nthreads} * kMiB);
  EXPECT_GE(current, live);
  EXPECT_LE(current - live - free_pages - cached, stock);
  EXPECT_LE(stock, bound);
  // One group: each thread's stock holds one slot of it. The process's
  // other threads (main, the test runner) may hold stocks too.
  EXPECT_GE(bound, int64_t{nthreads} * kBatch);
  EXPECT_LE(bound, int64_t{nthreads + 4} * kBatch);
  gate.Open();
  for (std::thread& th : threads) th.join();
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  int64_t exact = -1;
  ASSERT_EQ(0, mg_group_current(g, 1, &exact));
  EXPECT_EQ(0, exact);
  ASSERT_EQ(0, mg_group_destroy(g));
}

INSTANTIATE_TEST_SUITE_P(Threads, StockBoundTest,
                         ::testing::Values(2, 4, 8, 16, 32, 64));

}  // namespace
