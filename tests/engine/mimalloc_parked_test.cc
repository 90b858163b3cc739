// The mimalloc engine's parked blocks (src/engine/mimalloc_parked.cc): a
// freed large block of 16 to 112 KiB is kept by the engine with every page
// returned to the OS (its first page too, which mimalloc's free would
// write), and is the group's next block of its class, reading zero; blocks
// of another class or group do not take it; threads parking and taking
// blocks of one class concurrently never get one block twice; a slab's
// block is parked the same way for the group's next slab; slabs come from
// mimalloc four to a block, the three waiting ones untouched. Runs on the
// mimalloc engine only (CMake sets MEMGROUP_ENGINE).
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "engine/engine.h"
#include "engine/mimalloc_engine.h"
#include "engine/slab.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

class MimallocParkedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::OnMimalloc()) GTEST_SKIP() << "the mimalloc engine's own";
    testing::InitEngineOnce();
  }
};

// Resident pages of the mimalloc block of large block p (its header's page
// through `bytes` after p).
int ResidentPages(void* p, size_t bytes) {
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
  const uintptr_t hi =
      (reinterpret_cast<uintptr_t>(p) + bytes + 4095) & ~uintptr_t{4095};
  std::vector<unsigned char> vec((hi - lo) / 4096);
  EXPECT_EQ(mincore(reinterpret_cast<void*>(lo), hi - lo, vec.data()), 0);
  int n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

TEST_F(MimallocParkedTest, FreedBlockReturnsEveryPageAndIsNextOfItsClass) {
  constexpr uint32_t kGroup = 5;
  ASSERT_TRUE(engine::EnsureGroup(kGroup));
  constexpr size_t kBytes = 20 << 10;
  std::vector<void*> ps;
  for (int i = 0; i < 8; ++i) {
    void* p = engine::Alloc(kGroup, kBytes, 0, false);
    ASSERT_NE(p, nullptr);
    memset(p, 0xab, kBytes);
    ps.push_back(p);
  }
  // Its neighbours live: mimalloc's free would keep its first page.
  engine::Free(ps[3], kGroup);
  EXPECT_EQ(ResidentPages(ps[3], kBytes), 0);
  EXPECT_GT(ResidentPages(ps[2], kBytes), 0);
  // Another class and another group do not take it.
  engine::Free(ps[4], kGroup);
  void* other = engine::Alloc(kGroup, 32 << 10, 0, false);
  ASSERT_NE(other, nullptr);
  EXPECT_NE(other, ps[4]);
  EXPECT_NE(other, ps[3]);
  ASSERT_TRUE(engine::EnsureGroup(kGroup + 1));
  void* elsewhere = engine::Alloc(kGroup + 1, kBytes, 0, false);
  ASSERT_NE(elsewhere, nullptr);
  EXPECT_NE(elsewhere, ps[4]);
  EXPECT_NE(elsewhere, ps[3]);
  // Its class takes them, the last parked first, reading zero.
  void* again = engine::Alloc(kGroup, kBytes, 0, true);
  EXPECT_EQ(again, ps[4]);
  void* again2 = engine::Alloc(kGroup, kBytes, 0, false);
  EXPECT_EQ(again2, ps[3]);
  const auto* bytes = static_cast<const unsigned char*>(again2);
  bool zero = true;
  for (size_t i = 0; i < kBytes; ++i) zero = zero && bytes[i] == 0;
  EXPECT_TRUE(zero);
  EXPECT_EQ(engine::UsableSize(again2), kBytes);
  engine::Free(other, kGroup);
  engine::Free(elsewhere, kGroup + 1);
  for (void* p : ps) engine::Free(p, kGroup);
}

TEST_F(MimallocParkedTest, BlocksAboveTheSharedPagesAreNotParked) {
  constexpr uint32_t kGroup = 7;
  ASSERT_TRUE(engine::EnsureGroup(kGroup));
  // 112 KiB is parked (a 128 KiB mimalloc block with its header), 128 KiB
  // is not (a mimalloc page of its own, freed to mimalloc).
  void* parked = engine::Alloc(kGroup, engine::mi::kParkMaxBytes, 0, false);
  ASSERT_NE(parked, nullptr);
  memset(parked, 1, engine::mi::kParkMaxBytes);
  engine::Free(parked, kGroup);
  EXPECT_EQ(ResidentPages(parked, engine::mi::kParkMaxBytes), 0);
  EXPECT_EQ(engine::Alloc(kGroup, engine::mi::kParkMaxBytes, 0, false),
            parked);
  engine::Free(parked, kGroup);
  void* alone = engine::Alloc(kGroup, 128 << 10, 0, false);
  ASSERT_NE(alone, nullptr);
  memset(alone, 1, 128 << 10);
  engine::Free(alone, kGroup);
  // mimalloc's free wrote its link: the first page is resident again.
  EXPECT_GT(ResidentPages(alone, 128 << 10), 0);
}

TEST_F(MimallocParkedTest, FreedSlabBlockIsParkedForTheNextSlab) {
  constexpr uint32_t kGroup = 11;
  ASSERT_TRUE(engine::EnsureGroup(kGroup));
  void* a = engine::mi::SlabAlloc(kGroup);
  void* b = engine::mi::SlabAlloc(kGroup);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  memset(a, 1, engine::slab::kSlabBytes);
  memset(b, 1, engine::slab::kSlabBytes);
  // b, its neighbour, lives: mimalloc's free would keep a's first page.
  engine::mi::SlabFree(kGroup, a);
  EXPECT_EQ(ResidentPages(a, engine::slab::kSlabBytes - 1), 0);
  EXPECT_EQ(engine::mi::SlabAlloc(kGroup), a);
  EXPECT_EQ(static_cast<const unsigned char*>(a)[0], 0);
  engine::mi::SlabFree(kGroup, a);
  engine::mi::SlabFree(kGroup, b);
}

TEST_F(MimallocParkedTest, SlabsComeFourToABlockTheOthersUntouched) {
  constexpr uint32_t kGroup = 12;
  ASSERT_TRUE(engine::EnsureGroup(kGroup));
  constexpr size_t kSlab = engine::slab::kSlabBytes;
  void* a = engine::mi::SlabAlloc(kGroup);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % kSlab, 0u);
  // mimalloc wrote nothing into the three slabs after it (a 64 KiB block of
  // a medium page has it link the first words of the blocks ahead).
  EXPECT_EQ(ResidentPages(static_cast<char*>(a) + kSlab, 3 * kSlab - 1), 0);
  std::vector<void*> next;
  for (int i = 1; i < 4; ++i) {
    void* s = engine::mi::SlabAlloc(kGroup);
    EXPECT_EQ(s, static_cast<char*>(a) + i * kSlab);
    next.push_back(s);
  }
  // A new block for the fifth.
  void* e = engine::mi::SlabAlloc(kGroup);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(engine::OwnerOf(e), kGroup);
  engine::mi::SlabFree(kGroup, e);
  for (void* s : next) engine::mi::SlabFree(kGroup, s);
  engine::mi::SlabFree(kGroup, a);
}

TEST_F(MimallocParkedTest, ConcurrentParkAndTakeNeverShareABlock) {
  constexpr uint32_t kGroup = 9;
  ASSERT_TRUE(engine::EnsureGroup(kGroup));
  constexpr size_t kBytes = 24 << 10;
  constexpr int kThreads = 4, kRounds = 2000, kHeld = 3;
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        void* ps[kHeld];
        for (void*& p : ps) {
          p = engine::Alloc(kGroup, kBytes, 0, false);
          if (p == nullptr) {
            bad.fetch_add(1);
            return;
          }
          // First and last word: the pages a parked block returned.
          static_cast<uint64_t*>(p)[0] = t + 1;
          static_cast<uint64_t*>(p)[kBytes / 8 - 1] = t + 1;
        }
        std::this_thread::yield();
        for (void* p : ps) {
          if (static_cast<uint64_t*>(p)[0] != static_cast<uint64_t>(t + 1) ||
              static_cast<uint64_t*>(p)[kBytes / 8 - 1] !=
                  static_cast<uint64_t>(t + 1)) {
            bad.fetch_add(1);
          }
          engine::Free(p, kGroup);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace memgroup::internal
