// Tests of the jemalloc engine's chunks of slabs and free-slab lists
// (src/engine/slab_chunks.h): a class's released slabs serve the group's
// other classes with their charge kept, reclaim returns them with their
// charge, and a program that frees its small and large blocks and builds
// them again takes no new pages (with one jemalloc block per slab, the new
// slabs were cut from the freed large blocks' dirty extents and the large
// blocks took fresh pages). A fake charger records what the engine charges
// and uncharges: its own executable, the charger is process-wide.
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/engine.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"
#include "engine/slab.h"
#include "engine/slab_chunks.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

using engine::g_usable_of_class;
using engine::slab::kSlabBytes;

// The net charge of every group, as the engine charges and uncharges it.
int64_t g_net[kMaxGroups];
bool Charge(uint32_t group, int64_t bytes) {
  g_net[group] += bytes;
  return true;
}
void Uncharge(uint32_t group, int64_t bytes) { g_net[group] -= bytes; }
constexpr engine::PageCharger kCharger{Charge, Uncharge, Charge};

class SlabChunkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InitEngineOnce();
    ASSERT_NE(g_usable_of_class[1], 0u) << "front cache (and slabs) disabled";
    engine::SetPageCharger(&kCharger);
  }
  void TearDown() override { engine::SetPageCharger(nullptr); }
};

engine::slab::GroupSlabStats StatsOf(uint32_t group) {
  engine::slab::GroupSlabStats st{};
  engine::slab::Stats(group, &st);
  return st;
}

// Takes `bytes` of regions of class `cls` of `group` straight from its slabs.
std::vector<void*> Take(uint32_t group, uint32_t cls, size_t bytes) {
  std::vector<void*> got;
  while (got.size() * g_usable_of_class[cls] < bytes) {
    void* batch[64];
    const uint32_t n = engine::slab::AllocBatch(group, cls, batch, 64);
    EXPECT_GT(n, 0u);
    if (n == 0) break;
    got.insert(got.end(), batch, batch + n);
  }
  return got;
}
void GiveBack(uint32_t group, uint32_t cls, const std::vector<void*>& ps) {
  for (void* p : ps) engine::slab::FreeOne(group, cls, p);
}

TEST_F(SlabChunkTest, ReleasedSlabsServeAnotherClassWithTheirCharge) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "the jemalloc engine's chunks";
  constexpr uint32_t kG = 530;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint32_t a = engine::ClassOfUsable(engine::GoodSize(64, 0));
  const uint32_t b = engine::ClassOfUsable(engine::GoodSize(512, 0));
  std::vector<void*> as = Take(kG, a, 4 << 20);
  const int64_t charged = g_net[kG];
  EXPECT_GE(charged, int64_t{4} << 20);
  GiveBack(kG, a, as);
  // Every slab but the bin's spare one is a free slab, still charged.
  engine::slab::GroupSlabStats st = StatsOf(kG);
  EXPECT_EQ(g_net[kG], charged);
  EXPECT_EQ(st.slabs, 1u);
  EXPECT_GE(st.free_slab_bytes + kSlabBytes, static_cast<uint64_t>(charged));
  const uint64_t chunks = st.chunk_allocs;
  // Another class's slabs are those: no chunk taken, and nothing more
  // charged but the pages the last slab of class a had not reached.
  std::vector<void*> bs = Take(kG, b, 3 << 20);
  st = StatsOf(kG);
  EXPECT_EQ(st.chunk_allocs, chunks);
  EXPECT_GE(g_net[kG], charged);
  EXPECT_LT(g_net[kG] - charged, static_cast<int64_t>(kSlabBytes));
  for (void* p : bs) {
    EXPECT_EQ(owner_table::OwnerOf(p), kG);
    EXPECT_EQ(owner_table::PageEntry(p), owner_table::MakeEntry(kG, b));
  }
  GiveBack(kG, b, bs);
  // Reclaim: the free slabs' pages go back with their charge, to 0.
  engine::slab::ReleaseEmpty(kG);
  st = StatsOf(kG);
  EXPECT_EQ(g_net[kG], 0);
  EXPECT_EQ(st.free_slab_bytes, 0u);
  EXPECT_EQ(st.slabs, 0u);
  EXPECT_EQ(st.free_slabs, st.chunks * engine::slab::kChunkSlabs);
  // A purged slab is taken again with nothing charged: its pages are new.
  bs = Take(kG, b, 64 << 10);
  EXPECT_EQ(static_cast<uint8_t*>(bs.back())[8], 0);
  GiveBack(kG, b, bs);
  engine::slab::ReleaseEmpty(kG);
  EXPECT_EQ(g_net[kG], 0);
}

TEST_F(SlabChunkTest, ADestroyedGroupKeepsNoFreeSlab) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "the jemalloc engine's chunks";
  constexpr uint32_t kG = 531;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint32_t a = engine::ClassOfUsable(engine::GoodSize(96, 0));
  std::vector<void*> as = Take(kG, a, 2 << 20);
  EXPECT_GT(g_net[kG], 0);
  engine::slab::SetRetired(kG, true);
  GiveBack(kG, a, as);
  EXPECT_EQ(g_net[kG], 0);
  EXPECT_EQ(StatsOf(kG).free_slab_bytes, 0u);
  engine::slab::SetRetired(kG, false);
}

// compare_allocators.sh's python workload in small: per round, 200,000
// entries of three small blocks and a table of pointers that doubles as
// it grows (freed blocks of 32 KiB to 8 MiB), then all freed. Every round
// after the first builds from the freed pages of the one before: the
// arena's resident pages at each round's peak stay within a table of the
// first round's.
TEST_F(SlabChunkTest, RebuildingTakesNoNewPages) {
  constexpr uint32_t kG = 532;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  constexpr int kRounds = 4;
  uint64_t peak[kRounds] = {};
  testing::OnBoundThread(kG, [&] {
    for (int r = 0; r < kRounds; ++r) {
      std::vector<void*> small;
      size_t cap = 4096;
      void** table = static_cast<void**>(
          engine::Alloc(kG, cap * sizeof(void*), 0, false));
      ASSERT_NE(table, nullptr);
      size_t n = 0;
      for (int i = 0; i < 200000; ++i) {
        for (size_t size : {48, 64, 232}) {
          void* p = engine::Alloc(kG, size, 0, false);
          ASSERT_NE(p, nullptr);
          memset(p, 1, size);
          if (n == cap) {
            void** t = static_cast<void**>(
                engine::Alloc(kG, 2 * cap * sizeof(void*), 0, false));
            ASSERT_NE(t, nullptr);
            memcpy(t, table, cap * sizeof(void*));
            engine::Free(table, kG);
            table = t;
            cap *= 2;
          }
          table[n++] = p;
        }
      }
      EngineGroupStats st{};
      ASSERT_TRUE(engine::GroupStats(kG, &st));
      peak[r] = st.resident_bytes;
      for (size_t k = 0; k < n; ++k) engine::Free(table[k], kG);
      engine::Free(table, kG);
    }
  });
  // A later round may put its largest table (8 MiB) in fresh pages: its
  // smaller predecessors were cut out of the previous largest table's
  // freed extent, as they would be with jemalloc alone. Measured (resident
  // MiB at the four peaks): 84.4, 92.4, 92.4, 92.4; with one jemalloc block
  // per slab 89.5, 168.0, 89.7, 103.7.
  for (int r = 1; r < kRounds; ++r) {
    EXPECT_LE(peak[r], peak[0] + (size_t{10} << 20))
        << "round " << r << " (first: " << peak[0] << ")";
  }
  engine::Purge(kG);
}

}  // namespace
}  // namespace memgroup::internal
