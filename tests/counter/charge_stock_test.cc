#include "counter/charge_stock.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "tree_fixture.h"

namespace memgroup::internal {
namespace {

using testing::TreeFixture;

class ChargeStockTest : public ::testing::Test {
 protected:
  // root(0) -> a(1) -> b(2); root -> c(3), d(4), e(5), f(6)
  ChargeStockTest() : stocks_(f_.tree()) {
    f_.Add(0, kNoParent);
    f_.Add(1, 0);
    f_.Add(2, 1);
    for (uint32_t i = 3; i <= 6; ++i) f_.Add(i, 0);
    stocks_.Init();
    ts_ = stocks_.Acquire();
  }
  ~ChargeStockTest() override { stocks_.Release(ts_); }
  const CounterTree& t() { return f_.tree(); }

  TreeFixture f_;
  ChargeStocks stocks_;
  ThreadStock* ts_ = nullptr;
};

TEST_F(ChargeStockTest, MembarrierIsAvailable) {
  // The rest of the suite assumes stocks are on (the fallback is exercised
  // by DisabledStocksChargeDirectly).
  ASSERT_TRUE(stocks_.enabled());
}

TEST_F(ChargeStockTest, MissChargesABatchAndHitTouchesNoCounter) {
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 1000, &failed));
  EXPECT_EQ(t().Usage(2), kStockBatchBytes);
  EXPECT_EQ(t().Usage(0), kStockBatchBytes);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000);
  // Hits: no counter change.
  for (int k = 0; k < 10; ++k) ASSERT_TRUE(stocks_.Consume(ts_, 2, 1000));
  EXPECT_EQ(t().Usage(2), kStockBatchBytes);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 11000);
  // A consume larger than the stock misses without side effects.
  EXPECT_FALSE(stocks_.Consume(ts_, 2, kStockBatchBytes));
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 11000);
  // Another group misses.
  EXPECT_FALSE(stocks_.Consume(ts_, 1, 8));
}

TEST_F(ChargeStockTest, RefillOverTheBatchKeepsHalfABatchAndReturnsTheRest) {
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 100, &failed));
  ASSERT_TRUE(t().TryCharge(2, 1 << 20, &failed));  // a large direct charge
  // Free of the large block: the slot would exceed the batch, so it keeps
  // half a batch and everything else goes back to the counter.
  stocks_.Refill(ts_, 2, 1 << 20);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes / 2);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes / 2 + 100);
  // Below the batch again: small frees stay in the stock.
  stocks_.Refill(ts_, 2, 100);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes / 2 + 100);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes / 2 + 100);
  EXPECT_EQ(stocks_.DrainOwn(ts_), kStockBatchBytes / 2 + 100);
  EXPECT_EQ(t().Usage(0), 0);
}

TEST_F(ChargeStockTest, BatchShrinksNearMax) {
  EXPECT_EQ(stocks_.Batch(2), kStockBatchBytes);
  t().ExchangeMax(1, 1 << 20);  // ancestor limit counts
  EXPECT_EQ(stocks_.Batch(2), (1 << 20) / kBatchMarginDivisor);
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 1000, &failed));
  EXPECT_EQ(t().Usage(1), (1 << 20) / kBatchMarginDivisor);
  t().Charge(1, (1 << 20) - t().Usage(1));  // at max
  EXPECT_EQ(stocks_.Batch(2), 0);
}

// A drain in progress (frozen) or a reentrant call (busy: a signal handler
// interrupting the owner's own stock operation): refused, no side effect.
TEST_F(ChargeStockTest, RefillPrimaryRefusesWhenFrozenOrReentrant) {
  stocks_.SetPrimary(ts_, 2);
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 1000, &failed));
  // 1000 bytes would fit the slot (it holds batch - 1000).
  ts_->frozen.store(1);
  EXPECT_FALSE(stocks_.RefillPrimary(ts_, 2, 1000));
  EXPECT_EQ(ts_->busy.load(), 0u);  // the refused section was left
  ts_->frozen.store(0);
  ts_->busy.store(1);
  EXPECT_FALSE(stocks_.RefillPrimary(ts_, 2, 1000));
  ts_->busy.store(0);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes);
  // Refill falls back to a direct uncharge in the same situation.
  t().Charge(2, 4096);
  ts_->frozen.store(1);
  stocks_.Refill(ts_, 2, 4096);
  ts_->frozen.store(0);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes);
  EXPECT_TRUE(stocks_.RefillPrimary(ts_, 2, 1000));
  EXPECT_EQ(stocks_.DrainOwn(ts_), kStockBatchBytes);
  EXPECT_EQ(t().Usage(0), 0);
}

// Everything a thread keeps (several slots, large frees trimmed to half a
// batch) is returned by DrainOwn: usage ends at exactly 0.
TEST_F(ChargeStockTest, DrainOwnReturnsEverySlot) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  stocks_.SetPrimary(ts_, 2);
  uint32_t failed;
  int64_t in_use = 0;
  for (int k = 0; k < 100; ++k) {
    ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 700, &failed));
    ASSERT_TRUE(stocks_.TryCharge(ts_, 3, 300, &failed));
    in_use += 700;
  }
  // Large blocks of various sizes, charged directly and freed.
  for (int64_t size : {3 * kMiB, kMiB, 2 * kMiB + 4096, int64_t{512} * 1024}) {
    t().Charge(2, size);
    stocks_.Refill(ts_, 2, size);
    EXPECT_LE(stocks_.StockedBytes(2), kStockBatchBytes);
  }
  stocks_.Refill(ts_, 3, 100 * 300);
  stocks_.Refill(ts_, 2, in_use);
  EXPECT_EQ(t().Usage(2), stocks_.StockedBytes(2));
  EXPECT_EQ(t().Usage(3), stocks_.StockedBytes(3));
  const int64_t stocked = stocks_.StockedBytes(2) + stocks_.StockedBytes(3);
  EXPECT_LE(stocks_.StockedBytes(2), kStockBatchBytes);
  EXPECT_EQ(stocks_.DrainOwn(ts_), stocked);
  EXPECT_EQ(stocks_.StockedBytes(2), 0);
  EXPECT_EQ(stocks_.StockedBytes(3), 0);
  EXPECT_EQ(t().Usage(2), 0);
  EXPECT_EQ(t().Usage(3), 0);
  EXPECT_EQ(t().Usage(0), 0);
  EXPECT_EQ(stocks_.DrainOwn(ts_), 0);
}

TEST_F(ChargeStockTest, RefusedBatchRetriesWithExactBytes) {
  t().ExchangeMax(2, 64 * 1024);
  uint32_t failed = 99;
  // Batch = 4 KiB here; fill to 60 KiB directly.
  t().Charge(2, 60 * 1024);
  // 3.5 KiB fits exactly but the 256-byte batch (margin 4K / 16) also fits.
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 3500, &failed));
  EXPECT_LE(t().Usage(2), 64 * 1024);
  // Now margin is tiny: a charge that fits only exactly still succeeds.
  int64_t margin = t().Margin(2);
  ASSERT_GT(margin, 0);
  stocks_.DrainOwn(ts_);
  margin = t().Margin(2);
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, margin, &failed));
  EXPECT_EQ(t().Usage(2), 64 * 1024);
  EXPECT_FALSE(stocks_.TryCharge(ts_, 2, 1, &failed));
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(t().Failcnt(2), 1);  // one refused charge, one failcnt
}

TEST_F(ChargeStockTest, SlotsAreEvictedRoundRobin) {
  stocks_.SetPrimary(ts_, 2);  // the bound group lives in slot 0
  uint32_t failed;
  for (uint32_t g : {2u, 3u, 4u, 5u}) {
    ASSERT_TRUE(stocks_.TryCharge(ts_, g, 10, &failed));
  }
  EXPECT_EQ(t().Usage(0), 4 * kStockBatchBytes);
  // A fifth group evicts one slot, uncharging it.
  ASSERT_TRUE(stocks_.TryCharge(ts_, 6, 10, &failed));
  // The evicted slot (batch - 10 bytes) went back; group 6 took a batch.
  EXPECT_EQ(t().Usage(0), 4 * kStockBatchBytes + 10);
  int64_t stocked = 0;
  for (uint32_t g = 2; g <= 6; ++g) stocked += stocks_.StockedBytes(g);
  EXPECT_EQ(stocked + 50, t().Usage(0));
  // The primary group's stock is never the one evicted.
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 10);
  EXPECT_TRUE(stocks_.ConsumePrimary(ts_, 2, 8));
  EXPECT_FALSE(stocks_.ConsumePrimary(ts_, 6, 8));  // not in slot 0
  EXPECT_TRUE(stocks_.Consume(ts_, 6, 8));           // but in a slot
}

TEST_F(ChargeStockTest, DrainSubtreeTakesOnlyTheSubtree) {
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 10, &failed));
  ASSERT_TRUE(stocks_.TryCharge(ts_, 3, 10, &failed));
  EXPECT_EQ(stocks_.DrainSubtree(1), kStockBatchBytes - 10);
  EXPECT_EQ(t().Usage(1), 10);
  EXPECT_EQ(t().Usage(3), kStockBatchBytes);
  EXPECT_EQ(stocks_.DrainSubtree(kNoGroup), kStockBatchBytes - 10);
  EXPECT_EQ(t().Usage(0), 20);
}

TEST_F(ChargeStockTest, DrainFromAnotherThreadWhileOwnerRuns) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> live{0};
  std::thread owner([&] {
    ThreadStock* ts = stocks_.Acquire();
    int64_t held = 0;
    uint32_t failed;
    while (!stop.load()) {
      for (int k = 0; k < 100; ++k) {
        ASSERT_TRUE(stocks_.TryCharge(ts, 2, 64, &failed));
        held += 64;
      }
      for (int k = 0; k < 100; ++k) {
        stocks_.Refill(ts, 2, 64);
        held -= 64;
      }
    }
    live.store(held);
    stocks_.Release(ts);
  });
  for (int k = 0; k < 2000; ++k) stocks_.DrainSubtree(1);
  stop.store(true);
  owner.join();
  EXPECT_EQ(live.load(), 0);
  EXPECT_EQ(stocks_.DrainSubtree(kNoGroup), 0);
  EXPECT_EQ(t().Usage(0), 0);
  EXPECT_EQ(t().Usage(2), 0);
}

TEST_F(ChargeStockTest, ErrorIsBoundedByThreadsTimesBatch) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::atomic<int64_t> in_use{0};
  std::atomic<int> done{0};
  std::atomic<bool> release{false};
  std::vector<ThreadStock*> stocks(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ThreadStock* ts = stocks_.Acquire();
      stocks[i] = ts;
      uint32_t failed;
      int64_t mine = 0;
      for (int k = 0; k < 5000; ++k) {
        int64_t n = 16 + (k * 37 + i) % 2000;
        ASSERT_TRUE(stocks_.TryCharge(ts, 2, n, &failed));
        mine += n;
        if (k % 3 == 0) {
          stocks_.Refill(ts, 2, n);
          mine -= n;
        }
      }
      in_use.fetch_add(mine);
      done.fetch_add(1);
      while (!release.load()) std::this_thread::yield();
      stocks_.Release(ts);
    });
  }
  while (done.load() < kThreads) std::this_thread::yield();
  int64_t excess = t().Usage(2) - in_use.load();
  EXPECT_GE(excess, 0);
  EXPECT_LE(excess, kThreads * kStockBatchBytes);
  EXPECT_EQ(excess, stocks_.StockedBytes(2));
  release.store(true);
  for (auto& th : threads) th.join();
  // Thread exit drained every stock: usage is exact.
  EXPECT_EQ(t().Usage(2), in_use.load());
  t().Uncharge(2, in_use.load());
  EXPECT_EQ(t().Usage(0), 0);
}

TEST_F(ChargeStockTest, DisabledStocksChargeDirectly) {
  stocks_.SetEnabledForTesting(false);
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 100, &failed));
  EXPECT_EQ(t().Usage(2), 100);
  stocks_.Refill(ts_, 2, 100);
  EXPECT_EQ(t().Usage(2), 0);
}

TEST_F(ChargeStockTest, NullStockChargesDirectly) {
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(nullptr, 2, 100, &failed));
  EXPECT_EQ(t().Usage(2), 100);
  stocks_.Refill(nullptr, 2, 100);
  EXPECT_EQ(t().Usage(2), 0);
}

TEST_F(ChargeStockTest, ReleasedStocksAreReused) {
  ThreadStock* a = stocks_.Acquire();
  stocks_.Release(a);
  ThreadStock* b = stocks_.Acquire();
  EXPECT_EQ(a, b);
  stocks_.Release(b);
}

// Stocks are constructed one per miss, in chunk order, so that a process of
// one thread writes one page of the chunk: the next stock acquired is the
// next one of the chunk (all of a chunk constructed at once were claimed
// from its last one down), and acquiring past a chunk maps another.
TEST_F(ChargeStockTest, StocksAreConstructedOnePerMiss) {
  std::vector<ThreadStock*> got;
  for (uint32_t k = 0; k < ChargeStocks::kStocksPerChunk + 2; ++k) {
    ThreadStock* s = stocks_.Acquire();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->primary, kNoGroup);
    EXPECT_EQ(s->slots[0].group.load(std::memory_order_relaxed), kNoGroup);
    got.push_back(s);
  }
  // The fixture holds the chunk's first stock.
  EXPECT_EQ(got[0], ts_ + 1);
  for (uint32_t k = 1; k + 1 < ChargeStocks::kStocksPerChunk; ++k) {
    EXPECT_EQ(got[k], got[k - 1] + 1) << k;
  }
  std::vector<ThreadStock*> sorted = got;
  sorted.push_back(ts_);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
  for (ThreadStock* s : got) stocks_.Release(s);
}

}  // namespace
}  // namespace memgroup::internal
