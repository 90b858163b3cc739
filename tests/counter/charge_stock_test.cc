#include "counter/charge_stock.h"

#include <gtest/gtest.h>

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

// Refill's `extra` (the free of a large block the thread keeps cached): the
// primary slot may hold kStockBatchBytes + extra; above that it is trimmed to
// half of that limit and the rest is uncharged.
TEST_F(ChargeStockTest, RefillKeepsExtraForThePrimaryGroup) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  constexpr int64_t kLimit = kStockBatchBytes + kMiB;  // batch + extra
  stocks_.SetPrimary(ts_, 2);
  t().Charge(2, kMiB);  // a large block's direct charge
  stocks_.Refill(ts_, 2, kMiB, /*extra=*/kMiB);
  // Fits batch + extra: the whole charge stays in the stock.
  EXPECT_EQ(stocks_.StockedBytes(2), kMiB);
  EXPECT_EQ(t().Usage(2), kMiB);
  EXPECT_EQ(t().Usage(0), kMiB);
  // It lives in slot 0, the inline fast paths' slot.
  EXPECT_TRUE(stocks_.ConsumePrimary(ts_, 2, 4096));
  EXPECT_EQ(stocks_.StockedBytes(2), kMiB - 4096);
  EXPECT_EQ(t().Usage(2), kMiB);
  // The inline RefillPrimary knows only the batch: refused (no side effect).
  EXPECT_FALSE(stocks_.RefillPrimary(ts_, 2, 4096));
  EXPECT_EQ(stocks_.StockedBytes(2), kMiB - 4096);
  stocks_.Refill(ts_, 2, 4096, kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), kMiB);
  // Exactly at the limit: still kept whole.
  t().Charge(2, kLimit - kMiB);
  stocks_.Refill(ts_, 2, kLimit - kMiB, kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), kLimit);
  EXPECT_EQ(t().Usage(2), kLimit);
  // One byte over: trimmed to half the limit, the rest uncharged.
  t().Charge(2, 1);
  stocks_.Refill(ts_, 2, 1, kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), kLimit / 2);
  EXPECT_EQ(t().Usage(2), kLimit / 2);
  EXPECT_EQ(t().Usage(1), kLimit / 2);
  EXPECT_EQ(t().Usage(0), kLimit / 2);
  // The same free without extra uses the plain batch: trimmed to half a batch.
  t().Charge(2, kMiB);
  stocks_.Refill(ts_, 2, kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes / 2);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes / 2);
  EXPECT_EQ(stocks_.DrainOwn(ts_), kStockBatchBytes / 2);
  EXPECT_EQ(stocks_.StockedBytes(2), 0);
  EXPECT_EQ(t().Usage(0), 0);
}

TEST_F(ChargeStockTest, RefillExtraIsCappedAtStockExtraMax) {
  constexpr int64_t kLimit = kStockBatchBytes + kStockExtraMax;
  constexpr int64_t kHuge = int64_t{64} << 20;
  stocks_.SetPrimary(ts_, 2);
  t().Charge(2, kLimit);
  stocks_.Refill(ts_, 2, kLimit, /*extra=*/kHuge);
  EXPECT_EQ(stocks_.StockedBytes(2), kLimit);
  EXPECT_EQ(t().Usage(2), kLimit);
  // The cap is kStockExtraMax, not `extra`: one byte more trims the slot to
  // half of batch + kStockExtraMax.
  t().Charge(2, 1);
  stocks_.Refill(ts_, 2, 1, kHuge);
  EXPECT_EQ(stocks_.StockedBytes(2), kLimit / 2);
  EXPECT_EQ(t().Usage(2), kLimit / 2);
  // A single free larger than the cap: same trim.
  t().Charge(2, kHuge);
  stocks_.Refill(ts_, 2, kHuge, kHuge);
  EXPECT_EQ(stocks_.StockedBytes(2), kLimit / 2);
  EXPECT_EQ(t().Usage(2), kLimit / 2);
  EXPECT_EQ(stocks_.DrainOwn(ts_), kLimit / 2);
  EXPECT_EQ(t().Usage(0), 0);
}

TEST_F(ChargeStockTest, RefillExtraIsCappedByTheMarginNearMax) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  stocks_.SetPrimary(ts_, 2);
  t().ExchangeMax(1, 16 * kMiB);  // an ancestor's max counts
  t().Charge(2, 8 * kMiB);
  // Margin 8 MiB -> room 512 KiB, below batch + extra (4.25 MiB).
  ASSERT_EQ(t().Margin(2), 8 * kMiB);
  constexpr int64_t kRoom = 8 * kMiB / kBatchMarginDivisor;
  // A free that fits the room is kept whole (room is read before the free
  // lands: margin 8 MiB).
  stocks_.Refill(ts_, 2, kRoom, /*extra=*/4 * kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), kRoom);
  EXPECT_EQ(t().Usage(2), 8 * kMiB);
  // Margin is still 8 MiB (stocked bytes stay charged): one more byte is over
  // the room, so the slot is trimmed to half the room, not half of
  // batch + extra.
  stocks_.Refill(ts_, 2, 1, 4 * kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), kRoom / 2);
  EXPECT_EQ(t().Usage(2), 8 * kMiB - kRoom / 2 - 1);
  EXPECT_EQ(t().Usage(1), 8 * kMiB - kRoom / 2 - 1);
  // A 1 MiB large-block free near max: kept at most half the room.
  const int64_t usage = t().Usage(2);
  const int64_t room = t().Margin(2) / kBatchMarginDivisor;
  ASSERT_LT(room, kStockBatchBytes + 4 * kMiB);
  stocks_.Refill(ts_, 2, kMiB, 4 * kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), room / 2);
  EXPECT_EQ(t().Usage(2), usage - kMiB - kRoom / 2 + room / 2);
  // At max the room is 0: nothing is kept.
  t().Charge(2, t().Margin(2));
  ASSERT_EQ(t().Margin(2), 0);
  const int64_t at_max = t().Usage(2);
  stocks_.Refill(ts_, 2, 4096, 4 * kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), 0);
  EXPECT_EQ(t().Usage(2), at_max - 4096 - room / 2);
  EXPECT_EQ(stocks_.DrainOwn(ts_), 0);
  t().Uncharge(2, t().Usage(2));
  EXPECT_EQ(t().Usage(0), 0);
}

TEST_F(ChargeStockTest, RefillExtraIsIgnoredForNonPrimaryGroups) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  // No primary yet: extra is ignored for every group.
  t().Charge(2, kMiB);
  stocks_.Refill(ts_, 2, kMiB, /*extra=*/kMiB);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes / 2);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes / 2);
  EXPECT_EQ(stocks_.DrainOwn(ts_), kStockBatchBytes / 2);
  // Primary 2: extra is ignored for group 3 (and for 2's parent 1).
  stocks_.SetPrimary(ts_, 2);
  t().Charge(3, kMiB);
  stocks_.Refill(ts_, 3, kMiB, kMiB);
  EXPECT_EQ(stocks_.StockedBytes(3), kStockBatchBytes / 2);
  EXPECT_EQ(t().Usage(3), kStockBatchBytes / 2);
  t().Charge(1, kMiB);
  stocks_.Refill(ts_, 1, kMiB, kMiB);
  EXPECT_EQ(stocks_.StockedBytes(1), kStockBatchBytes / 2);
  EXPECT_EQ(t().Usage(1), kStockBatchBytes / 2);
  // Neither took slot 0.
  EXPECT_FALSE(stocks_.ConsumePrimary(ts_, 3, 8));
  EXPECT_FALSE(stocks_.ConsumePrimary(ts_, 1, 8));
  EXPECT_TRUE(stocks_.Consume(ts_, 3, 8));
  EXPECT_EQ(t().Usage(0), kStockBatchBytes);  // a consume charges nothing
  EXPECT_EQ(stocks_.DrainOwn(ts_), kStockBatchBytes - 8);
  t().Uncharge(3, 8);
  EXPECT_EQ(t().Usage(0), 0);
}

TEST_F(ChargeStockTest, RefillPrimaryExtraKeepsOrRefusesWithoutSideEffect) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  stocks_.SetPrimary(ts_, 2);
  // Slot 0 holds no group yet: refused, nothing changes.
  EXPECT_FALSE(stocks_.RefillPrimaryExtra(ts_, 2, 100, kMiB));
  EXPECT_EQ(stocks_.StockedBytes(2), 0);
  EXPECT_EQ(t().Usage(0), 0);
  // A miss installs group 2 in slot 0 with a batch.
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 1000, &failed));
  ASSERT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000);
  // Another group: slot 0 is not its slot.
  t().Charge(3, 4096);
  EXPECT_FALSE(stocks_.RefillPrimaryExtra(ts_, 3, 4096, kMiB));
  EXPECT_EQ(stocks_.StockedBytes(3), 0);
  EXPECT_EQ(t().Usage(3), 4096);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000);
  t().Uncharge(3, 4096);
  // A large block's free that fits batch + extra is kept.
  t().Charge(2, kMiB);
  EXPECT_TRUE(stocks_.RefillPrimaryExtra(ts_, 2, kMiB, kMiB));
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000 + kMiB);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes + kMiB);
  // One byte past batch + extra: refused, nothing changes.
  EXPECT_FALSE(stocks_.RefillPrimaryExtra(ts_, 2, 1001, kMiB));
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000 + kMiB);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes + kMiB);
  // Exactly batch + extra: kept (the 1000 bytes in use are freed).
  EXPECT_TRUE(stocks_.RefillPrimaryExtra(ts_, 2, 1000, kMiB));
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes + kMiB);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes + kMiB);
  // extra is capped at kStockExtraMax.
  t().Charge(2, kStockExtraMax - kMiB + 1);
  EXPECT_FALSE(stocks_.RefillPrimaryExtra(ts_, 2, kStockExtraMax - kMiB + 1,
                                          int64_t{64} << 20));
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes + kMiB);
  EXPECT_TRUE(stocks_.RefillPrimaryExtra(ts_, 2, kStockExtraMax - kMiB,
                                         int64_t{64} << 20));
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes + kStockExtraMax);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes + kStockExtraMax + 1);
  t().Uncharge(2, 1);
  EXPECT_EQ(stocks_.DrainOwn(ts_), kStockBatchBytes + kStockExtraMax);
  EXPECT_EQ(t().Usage(0), 0);
  // Near max the room (margin / kBatchMarginDivisor) caps it: margin 8 MiB
  // -> room 512 KiB.
  t().ExchangeMax(1, 16 * kMiB);
  t().Charge(2, 8 * kMiB);
  constexpr int64_t kRoom = 8 * kMiB / kBatchMarginDivisor;
  EXPECT_FALSE(stocks_.RefillPrimaryExtra(ts_, 2, kRoom + 1, 4 * kMiB));
  EXPECT_EQ(stocks_.StockedBytes(2), 0);
  EXPECT_EQ(t().Usage(2), 8 * kMiB);
  EXPECT_TRUE(stocks_.RefillPrimaryExtra(ts_, 2, kRoom, 4 * kMiB));
  EXPECT_EQ(stocks_.StockedBytes(2), kRoom);
  EXPECT_EQ(t().Usage(2), 8 * kMiB);
  EXPECT_EQ(stocks_.DrainOwn(ts_), kRoom);
  EXPECT_EQ(t().Usage(2), 8 * kMiB - kRoom);
  t().Uncharge(2, 8 * kMiB - kRoom);
  EXPECT_EQ(t().Usage(0), 0);
}

// A drain in progress (frozen) or a reentrant call (busy: a signal handler
// interrupting the owner's own stock operation): refused, no side effect.
TEST_F(ChargeStockTest, RefillPrimaryExtraRefusesWhenFrozenOrReentrant) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  stocks_.SetPrimary(ts_, 2);
  uint32_t failed;
  ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 1000, &failed));
  t().Charge(2, kMiB);
  ts_->frozen.store(1);
  EXPECT_FALSE(stocks_.RefillPrimaryExtra(ts_, 2, kMiB, kMiB));
  EXPECT_EQ(ts_->busy.load(), 0u);  // the refused section was left
  ts_->frozen.store(0);
  ts_->busy.store(1);
  EXPECT_FALSE(stocks_.RefillPrimaryExtra(ts_, 2, kMiB, kMiB));
  ts_->busy.store(0);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes + kMiB);
  // Refill falls back to a direct uncharge in the same situation.
  ts_->frozen.store(1);
  stocks_.Refill(ts_, 2, kMiB, kMiB);
  ts_->frozen.store(0);
  EXPECT_EQ(stocks_.StockedBytes(2), kStockBatchBytes - 1000);
  EXPECT_EQ(t().Usage(2), kStockBatchBytes);
  stocks_.Refill(ts_, 2, 1000, kMiB);
  EXPECT_EQ(stocks_.DrainOwn(ts_), kStockBatchBytes);
  EXPECT_EQ(t().Usage(0), 0);
}

// Everything a thread keeps (extra included, several slots) is returned by
// DrainOwn: usage ends at exactly 0.
TEST_F(ChargeStockTest, DrainOwnReturnsTheExtraToo) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  stocks_.SetPrimary(ts_, 2);
  uint32_t failed;
  int64_t in_use = 0;
  for (int k = 0; k < 100; ++k) {
    ASSERT_TRUE(stocks_.TryCharge(ts_, 2, 700, &failed));
    ASSERT_TRUE(stocks_.TryCharge(ts_, 3, 300, &failed));
    in_use += 700;
  }
  // Large blocks of various sizes, charged directly and freed with extra.
  for (int64_t size : {3 * kMiB, kMiB, 2 * kMiB + 4096, int64_t{512} * 1024}) {
    t().Charge(2, size);
    if (!stocks_.RefillPrimaryExtra(ts_, 2, size, size)) {
      stocks_.Refill(ts_, 2, size, size);
    }
    EXPECT_LE(stocks_.StockedBytes(2), kStockBatchBytes + kStockExtraMax);
  }
  stocks_.Refill(ts_, 3, 100 * 300, 4 * kMiB);
  stocks_.Refill(ts_, 2, in_use, 4 * kMiB);
  EXPECT_EQ(t().Usage(2), stocks_.StockedBytes(2));
  EXPECT_EQ(t().Usage(3), stocks_.StockedBytes(3));
  const int64_t stocked = stocks_.StockedBytes(2) + stocks_.StockedBytes(3);
  EXPECT_GT(stocks_.StockedBytes(2), kStockBatchBytes);  // the extra is kept
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

}  // namespace
}  // namespace memgroup::internal
