// Concurrency stress of the counter, the stocks and the registry: threads
// charge and uncharge through their stocks while others drain, change limits
// and create/destroy groups. After quiescing, every counter must equal the
// sum of the charges still held, exactly, and read 0 after all uncharges.
// Runs under TSan in the `tsan` preset.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "group/registry.h"

namespace memgroup::internal {
namespace {

constexpr int kWorkers = 4;
#if defined(MG_SANITIZER_BUILD)
constexpr int kOpsPerWorker = 40000;
#else
constexpr int kOpsPerWorker = 400000;
#endif

struct Held {
  uint32_t group;
  int64_t bytes;
};

class CounterStressTest : public ::testing::Test {
 protected:
  CounterStressTest() : reg_(new Registry()) { EXPECT_TRUE(reg_->Init()); }
  GroupId Make(GroupId parent, const char* name) {
    GroupId id = kInvalidGroupId;
    EXPECT_EQ(reg_->Create(parent, name, &id), Errc::kOk);
    return id;
  }
  uint32_t Index(GroupId id) {
    uint32_t i = 0;
    EXPECT_EQ(reg_->Resolve(id, &i), Errc::kOk);
    return i;
  }
  std::unique_ptr<Registry> reg_;
};

TEST_F(CounterStressTest, QuiescedCountersAreExact) {
  GroupId a = Make(reg_->root(), "a");
  uint32_t leaves[3] = {Index(Make(a, "b")), Index(Make(a, "c")),
                        Index(Make(reg_->root(), "d"))};
  uint32_t ia = Index(a);
  CounterTree& t = reg_->tree();
  ChargeStocks& stocks = reg_->stocks();

  std::atomic<bool> stop{false};
  std::atomic<int64_t> refused{0};
  t.ExchangeMax(ia, 1 << 20);  // the limiter moves it between 1 and 8 MiB
  std::vector<std::vector<Held>> held(kWorkers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      ThreadStock* ts = stocks.Acquire();
      std::mt19937 rng(w + 1);
      std::vector<Held>& mine = held[w];
      mine.reserve(kOpsPerWorker);
      for (int k = 0; k < kOpsPerWorker; ++k) {
        if (!mine.empty() && (rng() % 5 < 2)) {  // 40% frees: usage grows
          size_t pick = rng() % mine.size();
          Held h = mine[pick];
          mine[pick] = mine.back();
          mine.pop_back();
          stocks.Refill(ts, h.group, h.bytes);
        } else {
          uint32_t g = leaves[rng() % 3];
          int64_t bytes = 16 + static_cast<int64_t>(rng() % 8192);
          if (rng() % 64 == 0) bytes *= 64;  // some large charges
          uint32_t failed;
          if (stocks.TryCharge(ts, g, bytes, &failed)) {
            mine.push_back({g, bytes});
          } else {
            refused.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
      stocks.Release(ts);  // thread exit drains the stock
    });
  }
  std::thread drainer([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      stocks.DrainSubtree(ia);
      stocks.DrainSubtree(kNoGroup);
      std::this_thread::yield();
    }
  });
  std::thread limiter([&] {
    int64_t limits[3] = {8 << 20, 2 << 20, 1 << 20};
    int k = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      t.ExchangeMax(ia, limits[k++ % 3]);
      std::this_thread::yield();
    }
    t.ExchangeMax(ia, kUnlimited);
  });
  std::thread churn([&] {
    // Groups created and destroyed concurrently elsewhere in the tree.
    int k = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      GroupId g;
      char name[32];
      snprintf(name, sizeof(name), "tmp%d", k++ % 8);
      if (reg_->Create(reg_->root(), name, &g) == Errc::kOk) {
        uint32_t gi;
        if (reg_->Resolve(g, &gi) == Errc::kOk) {
          uint32_t failed;
          ASSERT_TRUE(t.TryCharge(gi, 100, &failed));
          t.Uncharge(gi, 100);
        }
        ASSERT_EQ(reg_->Destroy(g), Errc::kOk);
      }
    }
  });
  for (auto& th : threads) th.join();
  stop.store(true);
  drainer.join();
  limiter.join();
  churn.join();

  int64_t sum[3] = {0, 0, 0};
  for (auto& v : held) {
    for (const Held& h : v) {
      for (int i = 0; i < 3; ++i) {
        if (h.group == leaves[i]) sum[i] += h.bytes;
      }
    }
  }
  EXPECT_EQ(stocks.DrainSubtree(kNoGroup), 0);  // exiting threads drained
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.Usage(leaves[i]), sum[i]) << i;
  EXPECT_EQ(t.Usage(ia), sum[0] + sum[1]);
  EXPECT_EQ(t.Usage(kRootGroup), sum[0] + sum[1] + sum[2]);
  EXPECT_GT(refused.load(), 0);  // the limit really bit
  EXPECT_GT(t.Failcnt(ia), 0);

  for (auto& v : held) {
    for (const Held& h : v) t.Uncharge(h.group, h.bytes);
  }
  for (uint32_t i = 0; i < kMaxGroups; ++i) {
    ASSERT_EQ(t.Usage(i), 0) << "node " << i;
    ASSERT_EQ(t.node(i).underflows.load(), 0u) << "node " << i;
  }
}

TEST_F(CounterStressTest, LimitIsNeverExceededBySuccessfulCharges) {
  // Many threads race small charges against a fixed max: every successful
  // charge fits, so quiesced usage <= max and refused + admitted == attempts.
  GroupId a = Make(reg_->root(), "a");
  uint32_t ia = Index(a);
  CounterTree& t = reg_->tree();
  ASSERT_EQ(t.ExchangeMax(ia, 1 << 20), kUnlimited);
  std::atomic<int64_t> admitted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&] {
      uint32_t failed;
      for (int k = 0; k < 20000; ++k) {
        if (t.TryCharge(ia, 1000, &failed)) {
          admitted.fetch_add(1000, std::memory_order_relaxed);
        } else {
          refused.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.Usage(ia), admitted.load());
  EXPECT_LE(t.Usage(ia), 1 << 20);
  EXPECT_EQ(t.Failcnt(ia), refused.load());
  EXPECT_EQ(t.Usage(ia), (1 << 20) / 1000 * 1000);
  t.Uncharge(ia, admitted.load());
  EXPECT_EQ(t.Usage(kRootGroup), 0);
}

}  // namespace
}  // namespace memgroup::internal
