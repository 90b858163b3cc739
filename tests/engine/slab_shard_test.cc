// Tests of the slab shards (src/engine/slab_internal.h, slab.h ThreadShard):
// two threads of one group take their regions from slabs of their own, a
// thread's flushed batches wait in the transfer cache for that thread's
// refills, not another's, and regions freed by another thread go back to
// their own slabs, leaving every bin at zero.
#include <atomic>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/front_cache.h"
#include "engine/slab.h"
#include "engine/transfer_cache.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

using engine::slab::kSlabBytes;
using engine::slab::kSmallClasses;

constexpr int kBlocks = 4096;

class SlabShardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InitEngineOnce();
    if (engine::g_usable_of_class[1] == 0) GTEST_SKIP() << "no slabs";
    if (engine::CheckMode()) GTEST_SKIP() << "no transfer cache in check mode";
  }
};

uint64_t TotalRegionsOut(uint32_t group) {
  uint64_t n = 0;
  for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
    n += engine::slab::RegionsOut(group, cls);
  }
  return n;
}

uintptr_t SlabOf(const void* p) {
  return reinterpret_cast<uintptr_t>(p) & ~(uintptr_t{kSlabBytes} - 1);
}

// Waits until `phase` reads at least `want`.
void Await(const std::atomic<int>& phase, int want) {
  while (phase.load(std::memory_order_acquire) < want) {
    std::this_thread::yield();
  }
}

// Thread A allocates and frees 4,096 blocks of 64 bytes (its bin's flushes
// wait in the transfer cache); thread B of the same group then allocates
// 4,096: none of B's regions lies in a slab of A's, and A's batches are
// still there for A's next refills, which take them.
TEST_F(SlabShardTest, TwoThreadsOfAGroupKeepToSlabsOfTheirOwn) {
  constexpr uint32_t kG = 611;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  std::atomic<int> phase{0};
  std::set<uintptr_t> a_slabs;
  uint32_t a_shard = 0, b_shard = 0;
  uint64_t held_a = 0, held_after_b = 0, held_before_a2 = 0,
           held_after_a = 0;
  std::thread a([&] {
    ASSERT_TRUE(engine::BindThread(kG));
    std::vector<void*> blocks;
    for (int i = 0; i < kBlocks; ++i) {
      blocks.push_back(engine::Alloc(kG, 64, 0, false));
      a_slabs.insert(SlabOf(blocks.back()));
    }
    a_shard = engine::slab::ThreadShard();
    for (void* p : blocks) engine::Free(p, kG);
    held_a = engine::transfer::RegionsHeld(kG);
    phase.store(1, std::memory_order_release);
    Await(phase, 2);
    held_before_a2 = engine::transfer::RegionsHeld(kG);  // B's flushes too
    for (int i = 0; i < kBlocks; ++i) {
      blocks[i] = engine::Alloc(kG, 64, 0, false);
    }
    held_after_a = engine::transfer::RegionsHeld(kG);
    for (void* p : blocks) engine::Free(p, kG);
    phase.store(3, std::memory_order_release);
    engine::ThreadExit();
  });
  std::thread b([&] {
    ASSERT_TRUE(engine::BindThread(kG));
    Await(phase, 1);
    std::vector<void*> blocks;
    int in_a = 0;
    for (int i = 0; i < kBlocks; ++i) {
      blocks.push_back(engine::Alloc(kG, 64, 0, false));
      in_a += a_slabs.count(SlabOf(blocks.back())) != 0 ? 1 : 0;
    }
    b_shard = engine::slab::ThreadShard();
    held_after_b = engine::transfer::RegionsHeld(kG);
    EXPECT_EQ(in_a, 0) << "regions of B in A's slabs";
    // Freed by B: they go back to B's bins and slabs.
    for (void* p : blocks) engine::Free(p, kG);
    phase.store(2, std::memory_order_release);
    Await(phase, 3);  // Alive until A is done: an exit drains the cache.
    engine::ThreadExit();
  });
  a.join();
  b.join();
  EXPECT_NE(a_shard, b_shard);
  EXPECT_GT(held_a, 1000u) << "A's flushes held in the transfer cache";
  EXPECT_GE(held_after_b, held_a) << "B took A's batches";
  EXPECT_LE(held_after_a + held_a / 2, held_before_a2)
      << "A's refills did not take its batches";
  EXPECT_EQ(engine::transfer::RegionsHeld(kG), 0u);
  EXPECT_EQ(TotalRegionsOut(kG), 0u);
}

// Regions one thread allocated and another freed go back to the first
// thread's slabs (their shard), and the bins read zero.
TEST_F(SlabShardTest, RegionsFreedByAnotherThreadGoBackToTheirSlabs) {
  constexpr uint32_t kG = 612;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  std::vector<void*> blocks;
  testing::OnBoundThread(kG, [&] {
    for (int i = 0; i < kBlocks; ++i) {
      for (size_t size : {16, 200, 3000}) {
        blocks.push_back(engine::Alloc(kG, size, 0, false));
      }
    }
  });
  EXPECT_EQ(TotalRegionsOut(kG), blocks.size());
  engine::slab::GroupSlabStats before{};
  engine::slab::Stats(kG, &before);
  testing::OnBoundThread(kG, [&] {
    for (void* p : blocks) engine::Free(p, kG);
  });
  EXPECT_EQ(TotalRegionsOut(kG), 0u);
  engine::slab::GroupSlabStats after{};
  engine::slab::Stats(kG, &after);
  EXPECT_EQ(after.ndalloc - before.ndalloc, blocks.size());
  // The freeing thread made no slab of its own: every region went back
  // to the slabs the first thread's shard made.
  EXPECT_EQ(after.slab_allocs, before.slab_allocs);
}

}  // namespace
}  // namespace memgroup::internal
