#include "counter/counter_tree.h"

#include <gtest/gtest.h>

#include "tree_fixture.h"

namespace memgroup::internal {
namespace {

using testing::TreeFixture;

class CounterTreeTest : public ::testing::Test {
 protected:
  // root(0) -> a(1) -> b(2) -> c(3); root -> d(4)
  CounterTreeTest() {
    f_.Add(0, kNoParent);
    f_.Add(1, 0);
    f_.Add(2, 1);
    f_.Add(3, 2);
    f_.Add(4, 0);
  }
  const CounterTree& t() { return f_.tree(); }
  TreeFixture f_;
};

TEST_F(CounterTreeTest, NewNodesStartUnlimitedAndUnprotected) {
  EXPECT_EQ(t().Max(1), kUnlimited);
  EXPECT_EQ(t().High(1), kUnlimited);
  EXPECT_EQ(t().Low(1), 0);
  EXPECT_EQ(t().Min(1), 0);
  EXPECT_EQ(t().Usage(1), 0);
}

TEST_F(CounterTreeTest, TryChargeWalksToTheRoot) {
  uint32_t failed = 99;
  ASSERT_TRUE(t().TryCharge(3, 1000, &failed));
  EXPECT_EQ(failed, 99u);
  for (uint32_t i : {0u, 1u, 2u, 3u}) EXPECT_EQ(t().Usage(i), 1000) << i;
  EXPECT_EQ(t().Usage(4), 0);
  t().Uncharge(3, 1000);
  for (uint32_t i : {0u, 1u, 2u, 3u}) EXPECT_EQ(t().Usage(i), 0) << i;
}

TEST_F(CounterTreeTest, TryChargeAtAncestorLimitRollsBackChildren) {
  t().ExchangeMax(1, 5000);
  uint32_t failed = 99;
  ASSERT_TRUE(t().TryCharge(3, 4000, &failed));
  EXPECT_FALSE(t().TryCharge(3, 2000, &failed));
  EXPECT_EQ(failed, 1u);  // the ancestor refused
  EXPECT_EQ(t().Usage(3), 4000);
  EXPECT_EQ(t().Usage(2), 4000);
  EXPECT_EQ(t().Usage(1), 4000);
  EXPECT_EQ(t().Usage(0), 4000);
  EXPECT_EQ(t().Failcnt(1), 1);
  EXPECT_EQ(t().Failcnt(2), 0);
  EXPECT_EQ(t().Failcnt(3), 0);
  // Exactly at the limit is allowed.
  EXPECT_TRUE(t().TryCharge(3, 1000, &failed));
  EXPECT_EQ(t().Usage(1), 5000);
}

TEST_F(CounterTreeTest, TryChargeAtOwnLimitReportsItself) {
  t().ExchangeMax(3, 100);
  uint32_t failed = 99;
  EXPECT_FALSE(t().TryCharge(3, 101, &failed));
  EXPECT_EQ(failed, 3u);
  EXPECT_EQ(t().Usage(0), 0);
}

TEST_F(CounterTreeTest, RetriesCanBeLeftOutOfFailcnt) {
  t().ExchangeMax(2, 100);
  uint32_t failed;
  EXPECT_FALSE(t().TryCharge(3, 200, &failed, CountFailure::kNo));
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(t().Failcnt(2), 0);
  EXPECT_FALSE(t().TryCharge(3, 200, &failed));
  EXPECT_EQ(t().Failcnt(2), 1);
}

TEST_F(CounterTreeTest, ForcedChargeMayExceedMax) {
  t().ExchangeMax(2, 100);
  t().Charge(3, 500);
  EXPECT_EQ(t().Usage(2), 500);
  EXPECT_EQ(t().Usage(0), 500);
  uint32_t failed;
  EXPECT_FALSE(t().TryCharge(3, 1, &failed));
  EXPECT_EQ(failed, 2u);
}

TEST_F(CounterTreeTest, UnchargeClampsAtZeroAndReports) {
  t().Charge(3, 10);
  t().Uncharge(3, 30);
  EXPECT_EQ(t().Usage(3), 0);
  EXPECT_EQ(t().Usage(0), 0);
  EXPECT_EQ(t().node(3).underflows.load(), 1u);
  // A normal charge afterwards is intact.
  t().Charge(3, 5);
  EXPECT_EQ(t().Usage(0), 5);
}

TEST_F(CounterTreeTest, ExchangeMaxReturnsThePreviousMaxAndAdmitsUpToIt) {
  t().Charge(1, 1000);
  EXPECT_EQ(t().ExchangeMax(1, 1000), kUnlimited);
  EXPECT_EQ(t().Max(1), 1000);
  uint32_t failed = 99;
  EXPECT_FALSE(t().TryCharge(1, 1, &failed));  // usage == max: no room left
  EXPECT_EQ(failed, 1u);
  // Raising returns the limit it replaces and admits exactly up to the new one.
  EXPECT_EQ(t().ExchangeMax(1, 2000), 1000);
  EXPECT_TRUE(t().TryCharge(2, 1000, &failed));
  EXPECT_EQ(t().Usage(1), 2000);
  EXPECT_FALSE(t().TryCharge(2, 1, &failed));
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(t().ExchangeMax(1, kUnlimited), 2000);
  EXPECT_TRUE(t().TryCharge(2, 1, &failed));
}

TEST_F(CounterTreeTest, ExchangeMaxBelowUsageFailsLaterCharges) {
  t().Charge(1, 1000);
  EXPECT_EQ(t().ExchangeMax(1, 500), kUnlimited);
  uint32_t failed;
  EXPECT_FALSE(t().TryCharge(2, 1, &failed));
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(t().Usage(1), 1000);  // nothing already charged is invalidated
  t().Uncharge(1, 600);
  EXPECT_TRUE(t().TryCharge(2, 100, &failed));
  EXPECT_FALSE(t().TryCharge(2, 1, &failed));
}

TEST_F(CounterTreeTest, WatermarkAndPeakReset) {
  t().Charge(1, 700);
  t().Uncharge(1, 500);
  EXPECT_EQ(t().Watermark(1), 700);
  EXPECT_EQ(t().LocalWatermark(1), 700);
  t().ResetPeak(1);
  EXPECT_EQ(t().LocalWatermark(1), 200);
  EXPECT_EQ(t().Watermark(1), 700);
  t().Charge(1, 100);
  EXPECT_EQ(t().LocalWatermark(1), 300);
  EXPECT_EQ(t().Watermark(1), 700);
}

TEST_F(CounterTreeTest, MarginIsTheTightestAncestor) {
  t().ExchangeMax(1, 10000);
  t().ExchangeMax(3, 50000);
  t().Charge(4, 1);
  t().Charge(3, 4000);
  EXPECT_EQ(t().Margin(3), 6000);
  EXPECT_EQ(t().Margin(4), kUnlimited);
  t().Charge(2, 7000);
  EXPECT_EQ(t().Margin(3), 0);
}

TEST_F(CounterTreeTest, SubtreeMembership) {
  EXPECT_TRUE(t().IsInSubtree(3, 1));
  EXPECT_TRUE(t().IsInSubtree(3, 3));
  EXPECT_FALSE(t().IsInSubtree(4, 1));
  EXPECT_TRUE(t().IsInSubtree(4, 0));
}

TEST_F(CounterTreeTest, HighIsStoredButNeverRefuses) {
  t().SetHigh(1, 100);
  EXPECT_EQ(t().High(1), 100);
  uint32_t failed;
  EXPECT_TRUE(t().TryCharge(1, 1000, &failed));
}

class ProtectionTest : public ::testing::Test {
 protected:
  // The kernel selftest shape: R(0) -> P(1) -> {A(2), B(3), C(4), D(5)}.
  ProtectionTest() {
    f_.Add(0, kNoParent);
    f_.Add(1, 0);
    for (uint32_t i = 2; i <= 5; ++i) f_.Add(i, 1);
  }
  const CounterTree& t() { return f_.tree(); }
  void Walk(uint32_t root, bool recursive) {
    // Top-down, parents first.
    for (uint32_t i = 0; i <= 5; ++i) t().CalculateProtection(root, i, recursive);
  }
  TreeFixture f_;
};

TEST_F(ProtectionTest, DirectChildrenOfTheWalkRootGetTheirSettings) {
  t().SetMin(1, 300);
  t().SetLow(1, 400);
  t().Charge(2, 1000);
  Walk(0, false);
  EXPECT_EQ(t().EffectiveMin(1), 300);
  EXPECT_EQ(t().EffectiveLow(1), 400);
  EXPECT_FALSE(t().BelowMin(0, 1));
  EXPECT_FALSE(t().BelowMin(1, 1));  // the walk root is never protected
}

TEST_F(ProtectionTest, OvercommittedProtectionIsDistributedProportionally) {
  const int64_t M = 1 << 20;
  t().SetMin(1, 50 * M);
  t().SetMin(2, 75 * M);
  t().SetMin(3, 25 * M);
  t().SetMin(4, 0);
  t().SetMin(5, 500 * M);  // no usage: claims nothing
  t().Charge(2, 50 * M);
  t().Charge(3, 50 * M);
  t().Charge(4, 50 * M);
  EXPECT_EQ(t().node(1).children_min_usage.load(), 75 * M);
  Walk(0, false);
  EXPECT_EQ(t().EffectiveMin(1), 50 * M);
  // siblings_protected (75M) > parent_effective (50M): scale by 50/75.
  EXPECT_EQ(t().EffectiveMin(2), 50 * M * 50 / 75);
  EXPECT_EQ(t().EffectiveMin(3), 25 * M * 50 / 75);
  EXPECT_EQ(t().EffectiveMin(4), 0);
  EXPECT_FALSE(t().BelowMin(0, 2));
  EXPECT_FALSE(t().BelowMin(0, 4));
}

TEST_F(ProtectionTest, UnderCommittedChildrenKeepTheirProtectedUsage) {
  t().SetLow(1, 1000);
  t().SetLow(2, 300);
  t().SetLow(3, 5000);
  t().Charge(2, 200);
  t().Charge(3, 400);
  Walk(0, false);
  EXPECT_EQ(t().EffectiveLow(2), 200);  // min(usage, low)
  EXPECT_EQ(t().EffectiveLow(3), 400);
  EXPECT_TRUE(t().BelowLow(0, 2));
  EXPECT_TRUE(t().BelowLow(0, 3));
}

TEST_F(ProtectionTest, RecursiveProtectionHandsOutUnclaimedShare) {
  t().SetMin(1, 1000);
  t().Charge(2, 600);
  t().Charge(3, 200);
  Walk(0, true);
  // siblings_protected = 0; unclaimed 1000 split by unprotected usage 600:200
  // over parent usage 800.
  EXPECT_EQ(t().EffectiveMin(2), 750);
  EXPECT_EQ(t().EffectiveMin(3), 250);
  Walk(0, false);
  EXPECT_EQ(t().EffectiveMin(2), 0);
  EXPECT_EQ(t().EffectiveMin(3), 0);
}

TEST_F(ProtectionTest, ProtectedUsageFollowsUncharge) {
  t().SetMin(2, 500);
  t().Charge(2, 800);
  EXPECT_EQ(t().node(2).min_usage.load(), 500);
  EXPECT_EQ(t().node(1).children_min_usage.load(), 500);
  t().Uncharge(2, 600);
  EXPECT_EQ(t().node(2).min_usage.load(), 200);
  EXPECT_EQ(t().node(1).children_min_usage.load(), 200);
  t().SetMin(2, 0);
  EXPECT_EQ(t().node(1).children_min_usage.load(), 0);
}

}  // namespace
}  // namespace memgroup::internal
