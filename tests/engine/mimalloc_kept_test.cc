// The mimalloc engine's kept slabs (src/engine/mimalloc_kept.cc): a released
// slab's block stays with its group, its charge kept as the group's free
// pages, and is the group's next slab; the blocks and their charge go back
// on Purge and on the decay; a destroyed group keeps nothing; kept blocks
// whose charge a large block took go back. A fake page charger records what
// the engine charges and uncharges per group, and every group ends with as
// much uncharged as charged. Its own executable: the charger is
// process-wide; runs on the mimalloc engine only (CMake sets
// MEMGROUP_ENGINE).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "engine/engine.h"
#include "engine/free_pages.h"
#include "engine/mimalloc_engine.h"
#include "engine/page_charge.h"
#include "engine/slab.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

constexpr uint32_t kSlots = 64;
std::atomic<int64_t> g_charged[kSlots];
std::atomic<int64_t> g_uncharged[kSlots];

std::atomic<bool> g_refuse{false};

bool FakeCharge(uint32_t g, int64_t bytes) {
  if (g_refuse.load()) return false;
  if (g < kSlots) g_charged[g].fetch_add(bytes, std::memory_order_relaxed);
  return true;
}
void FakeUncharge(uint32_t g, int64_t bytes) {
  if (g < kSlots) g_uncharged[g].fetch_add(bytes, std::memory_order_relaxed);
}
constexpr engine::PageCharger kFake{FakeCharge, FakeUncharge, FakeCharge};

int64_t Charged(uint32_t g) { return g_charged[g].load(); }
int64_t Uncharged(uint32_t g) { return g_uncharged[g].load(); }

class MimallocKeptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::OnMimalloc()) GTEST_SKIP() << "the mimalloc engine's own";
    testing::InitEngineOnce();
    ASSERT_NE(engine::g_usable_of_class[1], 0u) << "slabs disabled";
    engine::SetPageCharger(&kFake);
  }
};

// On a thread bound to `group`: allocates enough 48-byte blocks for about
// 15 slabs, frees them, and exits (its front cache goes back to the slabs,
// which empty and are released). Returns the slabs' blocks.
std::set<uintptr_t> FillAndFree(uint32_t group) {
  std::set<uintptr_t> slabs;
  testing::OnBoundThread(group, [&] {
    std::vector<void*> ps;
    for (int i = 0; i < 20000; ++i) {
      void* p = engine::Alloc(group, 48, 0, false);
      ASSERT_NE(p, nullptr);
      ps.push_back(p);
      slabs.insert(reinterpret_cast<uintptr_t>(p) &
                   ~uintptr_t{engine::slab::kSlabBytes - 1});
    }
    for (void* p : ps) engine::Free(p, group);
  });
  return slabs;
}

// Group `g`, set up, with the slabs of FillAndFree kept: their charged
// bytes.
int64_t KeepSlabsOf(uint32_t g) {
  EXPECT_TRUE(engine::EnsureGroup(g));
  (void)FillAndFree(g);
  return engine::mi::KeptBytes(g);
}

TEST_F(MimallocKeptTest, ReleasedSlabsAreKeptChargedAndReused) {
  constexpr uint32_t kG = 40;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const std::set<uintptr_t> first = FillAndFree(kG);
  ASSERT_GT(first.size(), 4u);
  // Kept, charged: nothing was uncharged, and the group's free pages are
  // the kept blocks' charged pages.
  const int64_t kept = engine::mi::KeptBytes(kG);
  EXPECT_GT(kept, 0);
  EXPECT_EQ(kept, engine::FreePagesOf(kG));
  EXPECT_EQ(0, Uncharged(kG));
  // The next slabs are those blocks (all but at most two: the regions'
  // colouring may need one slab more, and the first thread's bin keeps its
  // one spare slab in that thread's shard, which the second thread's
  // shard does not take), their pages charged from the free pages.
  const int64_t before = Charged(kG);
  const std::set<uintptr_t> second = FillAndFree(kG);
  size_t reused = 0;
  for (uintptr_t b : second) reused += first.count(b);
  EXPECT_GE(reused + 2, second.size());
  EXPECT_LT(Charged(kG) - before, kept / 4);
  // Purge: every block and its charge goes back.
  engine::Purge(kG);
  EXPECT_EQ(0, engine::mi::KeptBytes(kG));
  EXPECT_EQ(0, engine::FreePagesOf(kG));
  EXPECT_EQ(Charged(kG), Uncharged(kG));
}

TEST_F(MimallocKeptTest, DecayReturnsKeptSlabs) {
  constexpr uint32_t kG = 41;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  (void)FillAndFree(kG);
  ASSERT_GT(engine::mi::KeptBytes(kG), 0);
  // Idle past the decay: the scan (once per tick) returns them.
  std::this_thread::sleep_for(
      std::chrono::milliseconds(engine::kDecayMs + engine::kDecayTickMs));
  for (int i = 0; i < 30 && engine::FreePagesOf(kG) != 0; ++i) {
    (void)engine::DecayFreePages();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(0, engine::mi::KeptBytes(kG));
  EXPECT_EQ(0, engine::FreePagesOf(kG));
  EXPECT_EQ(Charged(kG), Uncharged(kG));
}

TEST_F(MimallocKeptTest, DestroyedGroupKeepsNothing) {
  constexpr uint32_t kG = 42;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  engine::SetGroupRetired(kG, true);
  (void)FillAndFree(kG);
  EXPECT_EQ(0, engine::mi::KeptBytes(kG));
  EXPECT_EQ(0, engine::FreePagesOf(kG));
  EXPECT_GT(Charged(kG), 0);
  EXPECT_EQ(Charged(kG), Uncharged(kG));
  engine::SetGroupRetired(kG, false);
}

TEST_F(MimallocKeptTest, KeptSlabsTheFreePagesNoLongerCover) {
  constexpr uint32_t kG = 43;
  const int64_t kept = KeepSlabsOf(kG);
  ASSERT_GT(kept, 4 * static_cast<int64_t>(engine::slab::kSlabBytes));
  // A large block's charge taken from the free pages (as the allocation
  // layer's slow path does): the kept blocks it no longer covers are
  // charged again, the limits allowing it, and stay.
  int64_t taken = engine::TakeFreePages(kG, kept / 2);
  ASSERT_EQ(kept / 2, taken);
  const int64_t before = Charged(kG);
  void* p = engine::Alloc(kG, size_t{1} << 20, 0, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(kept, engine::mi::KeptBytes(kG));
  EXPECT_EQ(kept, engine::FreePagesOf(kG));
  EXPECT_EQ(kept / 2, Charged(kG) - before);
  engine::Free(p, kG);
  // Refused: they go back to the OS until the free pages cover the rest.
  taken += engine::TakeFreePages(kG, kept / 4);
  g_refuse.store(true);
  p = engine::Alloc(kG, size_t{1} << 20, 0, false);
  g_refuse.store(false);
  ASSERT_NE(p, nullptr);
  EXPECT_LE(engine::mi::KeptBytes(kG), engine::FreePagesOf(kG));
  EXPECT_LT(engine::mi::KeptBytes(kG), kept);
  EXPECT_GT(engine::mi::KeptBytes(kG), 0);
  engine::Free(p, kG);
  // The charges taken belong to the large blocks: uncharged with them here.
  engine::UnchargePages(kG, taken);
  engine::Purge(kG);
  EXPECT_EQ(0, engine::mi::KeptBytes(kG));
  EXPECT_EQ(Charged(kG), Uncharged(kG));
}

// A fork child's kept slabs are its parent's charge (the child's handler
// drops the inherited count): a trim neither charges them again nor
// returns them for that, and the child's next slabs in them are charged
// as fresh.
TEST_F(MimallocKeptTest, InheritedKeptSlabsAreNotChargedToTheChild) {
  constexpr uint32_t kG = 44;
  const int64_t kept = KeepSlabsOf(kG);
  ASSERT_GT(kept, 4 * static_cast<int64_t>(engine::slab::kSlabBytes));
  const int64_t uncharged = Uncharged(kG);
  ASSERT_GE(engine::DropInheritedFreePages(), kept);
  EXPECT_EQ(kept, Uncharged(kG) - uncharged);
  EXPECT_EQ(0, engine::FreePagesOf(kG));
  // A large block's slow path trims: nothing charged, every block stays.
  const int64_t before = Charged(kG);
  void* p = engine::Alloc(kG, size_t{1} << 20, 0, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(before, Charged(kG));
  EXPECT_EQ(kept, engine::mi::KeptBytes(kG));
  engine::Free(p, kG);
  // The next slabs take the kept blocks and charge their pages anew.
  (void)FillAndFree(kG);
  EXPECT_GT(Charged(kG) - before, kept / 2);
  engine::Purge(kG);
  EXPECT_EQ(0, engine::mi::KeptBytes(kG));
  EXPECT_EQ(Charged(kG), Uncharged(kG));
}

}  // namespace
}  // namespace memgroup::internal
