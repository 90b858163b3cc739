// The per-group count of charged free pages (src/engine/free_pages.h) and
// the page charger's use of it (page_charge.h): keep, take, return,
// resynchronise, destroyed groups, a fork child's drop of the inherited
// counts, the decay scan (of counts and of the marks of uncounted dirty
// pages), and a slab charge that takes the free pages first. A fake charger records what the engine
// charges and uncharges. Its own executable: the charger is process-wide.
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "base/limits.h"
#include "base/sys.h"
#include "engine/free_pages.h"
#include "engine/page_charge.h"

namespace memgroup::internal::engine {
namespace {

struct Fake {
  int64_t charged = 0;
  int64_t uncharged = 0;
  int64_t last_charge = -1;
  bool refuse = false;
};
Fake g_fake;

bool FakeCharge(uint32_t, int64_t bytes) {
  g_fake.last_charge = bytes;
  if (g_fake.refuse) return false;
  g_fake.charged += bytes;
  return true;
}
void FakeUncharge(uint32_t, int64_t bytes) { g_fake.uncharged += bytes; }
bool FakeTryCharge(uint32_t group, int64_t bytes) {
  return FakeCharge(group, bytes);
}
constexpr PageCharger kFake{FakeCharge, FakeUncharge, FakeTryCharge};

class FreePagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetPageCharger(&kFake);
    g_fake = Fake{};
  }
  void TearDown() override {
    // Every test leaves its groups with nothing kept.
    for (uint32_t g = 1; g < 8; ++g) (void)ReturnFreePages(g);
    SetPageCharger(nullptr);
  }
};

TEST_F(FreePagesTest, KeepTakeReturn) {
  ASSERT_TRUE(KeepFreePages(1, 100));
  EXPECT_EQ(100, FreePagesOf(1));
  EXPECT_EQ(0, FreePagesOf(2));  // per group
  EXPECT_EQ(30, TakeFreePages(1, 30));
  EXPECT_EQ(70, FreePagesOf(1));
  EXPECT_EQ(70, TakeFreePages(1, 100));  // what is left
  EXPECT_EQ(0, TakeFreePages(1, 100));
  EXPECT_EQ(0, g_fake.uncharged);  // taking moves a charge, returns none
  ASSERT_TRUE(KeepFreePages(1, 50));
  const int64_t returned_before = ReturnedPagesOf(1);
  EXPECT_EQ(50, ReturnFreePages(1));
  EXPECT_EQ(50, g_fake.uncharged);
  EXPECT_EQ(0, FreePagesOf(1));
  EXPECT_EQ(returned_before + 50, ReturnedPagesOf(1));
  EXPECT_EQ(0, ReturnFreePages(1));
  EXPECT_FALSE(KeepFreePages(1, 0));
  EXPECT_FALSE(KeepFreePages(kMaxGroups, 10));
}

TEST_F(FreePagesTest, SyncDropsTheCountToTheArenasFigure) {
  ASSERT_TRUE(KeepFreePages(2, 100));
  EXPECT_EQ(40, SyncFreePages(2, 40));
  EXPECT_EQ(60, g_fake.uncharged);
  // A higher figure never raises the count (nothing is charged there).
  EXPECT_EQ(40, SyncFreePages(2, 80));
  EXPECT_EQ(60, g_fake.uncharged);
  EXPECT_EQ(40, FreePagesOf(2));
}

TEST_F(FreePagesTest, DestroyedGroupKeepsNothing) {
  SetFreePagesRetired(3, true);
  EXPECT_FALSE(KeepFreePages(3, 100));
  EXPECT_EQ(0, FreePagesOf(3));
  SetFreePagesRetired(3, false);
  EXPECT_TRUE(KeepFreePages(3, 100));
  EXPECT_EQ(100, FreePagesOf(3));
}

TEST_F(FreePagesTest, ChargePagesTakesFreePagesFirst) {
  ASSERT_TRUE(KeepFreePages(4, 65536));
  // Covered in full: nothing charged anew.
  ASSERT_TRUE(ChargePages(4, 65536));
  EXPECT_EQ(-1, g_fake.last_charge);
  EXPECT_EQ(0, FreePagesOf(4));
  // Partly covered: the rest is charged.
  ASSERT_TRUE(KeepFreePages(4, 16384));
  ASSERT_TRUE(ChargePages(4, 65536));
  EXPECT_EQ(49152, g_fake.last_charge);
  EXPECT_EQ(0, FreePagesOf(4));
  // Refused: the pages taken went with the refusal's purge, uncharged.
  ASSERT_TRUE(KeepFreePages(4, 16384));
  g_fake.refuse = true;
  EXPECT_FALSE(ChargePages(4, 65536));
  EXPECT_EQ(16384, g_fake.uncharged);
  EXPECT_EQ(0, FreePagesOf(4));
}

TEST_F(FreePagesTest, TookFreePagesFlagsATake) {
  (void)TookFreePages();
  EXPECT_EQ(0, TakeFreePages(5, 10));
  EXPECT_FALSE(TookFreePages());
  ASSERT_TRUE(KeepFreePages(5, 10));
  EXPECT_EQ(10, TakeFreePages(5, 10));
  EXPECT_TRUE(TookFreePages());
  EXPECT_FALSE(TookFreePages());  // cleared
}

// A fork child's handler: the inherited counts are uncharged and become
// the groups' inherited dirty pages, which only go down (to what a check
// finds beyond the count, to 0 with a purge) and are never charged.
TEST_F(FreePagesTest, DropInheritedFreePagesUnchargesAndRemembers) {
  ASSERT_TRUE(KeepFreePages(1, 100));
  ASSERT_TRUE(KeepFreePages(2, 50));
  EXPECT_EQ(150, DropInheritedFreePages());
  EXPECT_EQ(150, g_fake.uncharged);
  EXPECT_EQ(0, FreePagesOf(1));
  EXPECT_EQ(0, FreePagesOf(2));
  EXPECT_EQ(0, TakeFreePages(1, 100));  // nothing for the child's blocks
  EXPECT_EQ(100, InheritedDirtyPages(1, 1000));  // not raised
  EXPECT_EQ(40, InheritedDirtyPages(1, 40));     // the child reused some
  EXPECT_EQ(40, InheritedDirtyPages(1, 1000));   // and never up again
  EXPECT_EQ(0, InheritedDirtyPages(1, -5));
  EXPECT_EQ(50, InheritedDirtyPages(2, 50));
  (void)ReturnFreePages(2);  // the arena purged
  EXPECT_EQ(0, InheritedDirtyPages(2, 1000));
  EXPECT_EQ(150, g_fake.uncharged);  // a purge uncharges no inherited page
  EXPECT_EQ(0, DropInheritedFreePages());
}

std::vector<uint32_t> g_due;
void RecordDue(uint32_t group) {
  g_due.push_back(group);
  (void)ReturnFreePages(group);
}

TEST_F(FreePagesTest, DecayReturnsIdleFreePagesOnly) {
  // Both kept now; the scans below are told later times.
  const int64_t now = CoarseMonotonicMillis();
  g_due.clear();
  ASSERT_TRUE(KeepFreePages(6, 4096));
  ASSERT_TRUE(KeepFreePages(7, 4096));
  EXPECT_TRUE(DecayDue(now, RecordDue));  // sets the next scan
  EXPECT_TRUE(g_due.empty());
  // Within the tick: no scan.
  EXPECT_TRUE(DecayDue(now + kDecayTickMs / 2, RecordDue));
  EXPECT_TRUE(g_due.empty());
  // Past the tick but not the decay: both kept.
  EXPECT_TRUE(DecayDue(now + kDecayTickMs + 1, RecordDue));
  EXPECT_TRUE(g_due.empty());
  // Past the decay: both idle, both returned; nothing left.
  const int64_t later = now + kDecayMs + 3 * kDecayTickMs;
  EXPECT_FALSE(DecayDue(later, RecordDue));
  // 6 and 7 (and groups the tests above marked by their takes, when the
  // binary runs whole).
  std::erase_if(g_due, [](uint32_t g) { return g != 6 && g != 7; });
  EXPECT_EQ((std::vector<uint32_t>{6, 7}), g_due);
  EXPECT_EQ(0, FreePagesOf(6));
  EXPECT_EQ(0, FreePagesOf(7));
  EXPECT_EQ(8192, g_fake.uncharged);
}

// Dirty pages no count covers (NoteArenaDirtied, a take) bring the group
// to the decay once idle, with a count of 0, and once only. Told times far
// ahead of the marks' stamps (and of the scans of the test above).
TEST_F(FreePagesTest, DecayVisitsMarkedArenasWithoutCount) {
  const int64_t far = CoarseMonotonicMillis() + 1'000'000;
  g_due.clear();
  NoteArenaDirtied(3);
  ASSERT_TRUE(KeepFreePages(4, 4096));
  EXPECT_EQ(4096, TakeFreePages(4, 4096));  // count 0, marked by the take
  EXPECT_EQ(0, FreePagesOf(3));
  EXPECT_EQ(0, FreePagesOf(4));
  EXPECT_TRUE(FreePagesPending());
  EXPECT_FALSE(DecayDue(far, RecordDue));
  EXPECT_EQ((std::vector<uint32_t>{3, 4}), g_due);
  EXPECT_EQ(0, g_fake.uncharged);  // nothing counted, nothing uncharged
  // The marks were cleared: the next scan has nothing to do.
  g_due.clear();
  EXPECT_FALSE(DecayDue(far + kDecayTickMs, RecordDue));
  EXPECT_TRUE(g_due.empty());
  EXPECT_FALSE(FreePagesPending());
}

}  // namespace
}  // namespace memgroup::internal::engine
