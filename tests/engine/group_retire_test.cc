// Tests of a destroyed group's retirement on the jemalloc engine
// (engine::ReleaseGroup, engine_init.cc): a group gets its arena on first
// use, gives back its arena, slabs and chunks once nothing of it is left,
// waits while a block of it is live, bound or cached in another thread, and
// its slot then serves a new group from reused chunks, and never while
// another thread purges or reads it (a reclaim's Purge, GroupStats).
// Library mode: the
// registry's groups are created and destroyed directly, nothing is charged
// (engine blocks only), so a destroyed group's usage reads 0.
#include <atomic>
#include <cstdint>
#include <thread>

#include "base/limits.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/owner_table.h"
#include "engine_test_support.h"
#include "group/registry.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

class GroupRetireTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::OnMimalloc()) GTEST_SKIP() << "the mimalloc engine keeps its arenas";
    testing::InitEngineOnce();
    ASSERT_TRUE(GlobalRegistry().Init());
  }
  uint32_t Create(const char* name, GroupId* id) {
    EXPECT_EQ(GlobalRegistry().Create(GlobalRegistry().root(), name, id),
              Errc::kOk);
    return IndexOf(*id);
  }
  static bool HasArena(uint32_t g) {
    EngineGroupStats st;
    return engine::GroupStats(g, &st);
  }
};

TEST_F(GroupRetireTest, ArenaOnFirstUseAndChunksBackAfterDestroy) {
  GroupId id;
  const uint32_t g = Create("retire-a", &id);
  EXPECT_FALSE(HasArena(g));  // Creating a group makes no arena.
  void* small = engine::Alloc(g, 100, 0, false);
  void* large = engine::Alloc(g, 300000, 0, false);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  EXPECT_EQ(engine::OwnerOf(small), g);
  EXPECT_EQ(engine::OwnerOf(large), g);
  EXPECT_TRUE(HasArena(g));
  engine::Free(small, g);
  engine::Free(large, g);
  const size_t free_before = owner_table::FreeChunks();
  ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
  engine::ReleaseGroup(g);
  EXPECT_FALSE(HasArena(g));  // Retired at once: nothing was left.
  EXPECT_GE(owner_table::FreeChunks(), free_before + 2);  // base + extents
  // The slot serves a new group, from the free chunks.
  GroupId id2;
  const uint32_t g2 = Create("retire-b", &id2);
  EXPECT_EQ(g2, g);
  void* p = engine::Alloc(g2, 300000, 0, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(engine::OwnerOf(p), g2);
  EXPECT_LT(owner_table::FreeChunks(), free_before + 2);
  engine::Free(p, g2);
  ASSERT_EQ(GlobalRegistry().Destroy(id2), Errc::kOk);
  engine::ReleaseGroup(g2);
  EXPECT_FALSE(HasArena(g2));
}

TEST_F(GroupRetireTest, WaitsForBlocksCachedInAnotherThread) {
  GroupId id;
  const uint32_t g = Create("retire-c", &id);
  std::atomic<int> step{0};
  void* p = nullptr;
  // Another thread takes a small block of g through its other-group cache
  // (which keeps the rest of the refill) and frees it there.
  std::thread t([&] {
    p = engine::Alloc(g, 64, 0, false);
    ASSERT_NE(p, nullptr);
    engine::Free(p, g);  // Back into that thread's cache, not the slab.
    step.store(1, std::memory_order_release);
    while (step.load(std::memory_order_acquire) != 2) std::this_thread::yield();
    engine::ThreadExit();  // Flushes its caches.
    step.store(3, std::memory_order_release);
  });
  while (step.load(std::memory_order_acquire) != 1) std::this_thread::yield();
  ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
  engine::ReleaseGroup(g);
  EXPECT_TRUE(HasArena(g));  // Regions of it sit in the other thread's cache.
  GroupId other;
  EXPECT_NE(Create("retire-d", &other), g);  // The slot is not reused yet.
  step.store(2, std::memory_order_release);
  while (step.load(std::memory_order_acquire) != 3) std::this_thread::yield();
  t.join();
  EXPECT_GE(engine::RetirePending(kMaxGroups), 1u);
  EXPECT_FALSE(HasArena(g));
  ASSERT_EQ(GlobalRegistry().Destroy(other), Errc::kOk);
  engine::ReleaseGroup(IndexOf(other));
}

TEST_F(GroupRetireTest, WaitsWhileABlockIsLive) {
  GroupId id;
  const uint32_t g = Create("retire-e", &id);
  void* p = engine::Alloc(g, 5000, 0, false);
  ASSERT_NE(p, nullptr);
  // Engine-only test: the registry sees no charge, so what keeps the group
  // is its slab region out of the bins.
  ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
  engine::ReleaseGroup(g);
  EXPECT_TRUE(HasArena(g));
  EXPECT_EQ(engine::OwnerOf(p), g);
  engine::Free(p, g);
  EXPECT_GE(engine::RetirePending(kMaxGroups), 1u);
  EXPECT_FALSE(HasArena(g));
}

TEST_F(GroupRetireTest, WaitsWhileAnotherThreadUsesItsArena) {
  GroupId id;
  const uint32_t g = Create("retire-f", &id);
  void* p = engine::Alloc(g, 300000, 0, false);
  ASSERT_NE(p, nullptr);
  engine::Free(p, g);
  // What a Purge or GroupStats of another thread holds while it runs.
  ASSERT_TRUE(engine::BeginGroupUse(g));
  ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
  engine::ReleaseGroup(g);
  EXPECT_TRUE(HasArena(g));  // Nothing of it is left, but it is in use.
  engine::EndGroupUse(g);
  EXPECT_GE(engine::RetirePending(kMaxGroups), 1u);
  EXPECT_FALSE(HasArena(g));
  // A retired group: nothing left to use.
  EXPECT_TRUE(engine::BeginGroupUse(g));
  engine::EndGroupUse(g);
}

// Purge and GroupStats of destroyed groups (what a refused charge's reclaim
// and the control agent do) race with their retirement in another thread:
// either the arena and bins stay while they run, or they find none.
TEST_F(GroupRetireTest, PurgeRacesWithRetirement) {
  constexpr int kRounds = 100;
  std::atomic<uint32_t> target{kNoGroup};
  std::atomic<bool> done{false};
  std::thread purger([&] {
    while (!done.load(std::memory_order_acquire)) {
      const uint32_t g = target.load(std::memory_order_acquire);
      if (g == kNoGroup) continue;
      engine::Purge(g);
      EngineGroupStats st;
      (void)engine::GroupStats(g, &st);
    }
    engine::ThreadExit();
  });
  for (int r = 0; r < kRounds; ++r) {
    GroupId id;
    const uint32_t g = Create("retire-race", &id);
    void* small = engine::Alloc(g, 64, 0, false);
    void* large = engine::Alloc(g, 300000, 0, false);
    ASSERT_NE(small, nullptr);
    ASSERT_NE(large, nullptr);
    engine::Free(small, g);
    engine::Free(large, g);
    target.store(g, std::memory_order_release);
    ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
    engine::ReleaseGroup(g);
    (void)engine::RetirePending(kMaxGroups);
  }
  done.store(true, std::memory_order_release);
  purger.join();
  // Every group retired once the purger stopped.
  (void)engine::RetirePending(kMaxGroups);
  EXPECT_FALSE(HasArena(target.load()));
}

}  // namespace
}  // namespace memgroup::internal
