// Tests of a destroyed group's retirement on the jemalloc engine
// (engine::ReleaseGroup, engine_init.cc): a group gets its arena on first
// use; once nothing of it is left its slabs go back and its arena goes idle
// into the pool (arena_pool.h), its chunks tagged for nobody, and the next
// group that allocates takes it, its chunks tagged for that group; beyond
// the pool's bound the arena is destroyed and its chunks go back; a group
// waits while a block of it is live, bound or cached in another thread, and
// while another thread purges or reads it (a reclaim's Purge, GroupStats).
// Library mode: the
// registry's groups are created and destroyed directly, nothing is charged
// (engine blocks only), so a destroyed group's usage reads 0.
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>

#include <vector>

#include "base/limits.h"
#include "engine/arena_pool.h"
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
  static void* ChunkStart(size_t index) { return owner_table::ChunkAt(index); }
  static bool HasArena(uint32_t g) {
    EngineGroupStats st;
    return engine::GroupStats(g, &st);
  }
};

TEST_F(GroupRetireTest, ArenaOnFirstUseParkedAfterDestroyTakenByNextGroup) {
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
  EngineGroupStats st{};
  ASSERT_TRUE(engine::GroupStats(g, &st));
  const uint64_t mapped = st.mapped_bytes;
  EXPECT_GE(mapped, 2 * owner_table::kChunkBytes);  // base + extents
  const size_t small_chunk = owner_table::ChunkIndexOf(small);
  const size_t large_chunk = owner_table::ChunkIndexOf(large);
  engine::Free(small, g);
  engine::Free(large, g);
  const size_t free_before = owner_table::FreeChunks();
  const uint32_t idle_before = engine::IdleArenas();
  ASSERT_LT(idle_before, engine::kArenaPoolMax);
  ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
  engine::ReleaseGroup(g);
  EXPECT_FALSE(HasArena(g));  // Retired at once: nothing was left.
  // Parked: its chunks stay with the arena, tagged for nobody.
  EXPECT_EQ(engine::IdleArenas(), idle_before + 1);
  EXPECT_EQ(owner_table::FreeChunks(), free_before);
  EXPECT_EQ(engine::OwnerOf(small), kNoGroup);
  EXPECT_EQ(engine::OwnerOf(large), kNoGroup);
  // The slot serves a new group, which takes the idle arena: every chunk
  // of it is the new group's before anything is served from it, and no
  // chunk is claimed.
  GroupId id2;
  const uint32_t g2 = Create("retire-b", &id2);
  EXPECT_EQ(g2, g);
  void* p = engine::Alloc(g2, 300000, 0, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(engine::IdleArenas(), idle_before);
  EXPECT_EQ(engine::OwnerOf(p), g2);
  EXPECT_EQ(owner_table::OwnerOf(ChunkStart(small_chunk)), g2);
  EXPECT_EQ(owner_table::OwnerOf(ChunkStart(large_chunk)), g2);
  EXPECT_EQ(owner_table::FreeChunks(), free_before);
  ASSERT_TRUE(engine::GroupStats(g2, &st));
  EXPECT_EQ(st.mapped_bytes, mapped);  // The same chunks, none added.
  engine::Free(p, g2);
  ASSERT_EQ(GlobalRegistry().Destroy(id2), Errc::kOk);
  engine::ReleaseGroup(g2);
  EXPECT_FALSE(HasArena(g2));
  EXPECT_EQ(engine::IdleArenas(), idle_before + 1);
}

TEST_F(GroupRetireTest, ParkedArenaReturnedItsPages) {
  // A group is destroyed with 1 MiB of written large blocks and a slab
  // region live (the region keeps it from being retired: engine-only test,
  // nothing is charged). Freed afterwards, the large blocks stay dirty in
  // its arena (warm_large.h) until the group is retired and its arena
  // parked, which purges it. The next group's arena (the same one) starts
  // with none of those pages resident.
  GroupId id;
  const uint32_t g = Create("retire-pages", &id);
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) {
    void* b = engine::Alloc(g, 256 * 1024, 0, false);
    ASSERT_NE(b, nullptr);
    memset(b, 0x5a, 256 * 1024);
    blocks.push_back(b);
  }
  void* keep = engine::Alloc(g, 5000, 0, false);
  ASSERT_NE(keep, nullptr);
  ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
  engine::ReleaseGroup(g);
  ASSERT_TRUE(HasArena(g));
  for (void* b : blocks) engine::Free(b, g);
  engine::Free(keep, g);
  EXPECT_GE(engine::RetirePending(kMaxGroups), 1u);
  ASSERT_FALSE(HasArena(g));
  // The pages of every block are gone (mincore: not resident). A large
  // block may start inside its first page (jemalloc's cache-oblivious
  // offset): from that page on.
  for (void* b : blocks) {
    const uintptr_t page = reinterpret_cast<uintptr_t>(b) & ~uintptr_t{4095};
    unsigned char vec[65];
    ASSERT_EQ(mincore(reinterpret_cast<void*>(page), 65 * 4096, vec), 0);
    for (unsigned char v : vec) EXPECT_EQ(v & 1, 0);
  }
  GroupId id2;
  const uint32_t g2 = Create("retire-pages-2", &id2);
  void* p = engine::Alloc(g2, 256 * 1024, 0, true);  // Zeroed.
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(engine::OwnerOf(p), g2);
  const unsigned char* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < 256 * 1024; i += 4096) ASSERT_EQ(c[i], 0);
  engine::Free(p, g2);
  ASSERT_EQ(GlobalRegistry().Destroy(id2), Errc::kOk);
  engine::ReleaseGroup(g2);
}

TEST_F(GroupRetireTest, BeyondThePoolArenasAreDestroyedAndChunksGoBack) {
  // More groups retired at once than the pool keeps: the pool fills up to
  // its bound, and the others' arenas are destroyed, their chunks back on
  // the free list.
  const int n = static_cast<int>(engine::kArenaPoolMax) + 4;
  std::vector<GroupId> ids(n);
  std::vector<uint32_t> gs(n);
  for (int i = 0; i < n; ++i) {
    char name[32];
    snprintf(name, sizeof(name), "pool-%d", i);
    gs[i] = Create(name, &ids[i]);
    void* p = engine::Alloc(gs[i], 300000, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(engine::OwnerOf(p), gs[i]);
    engine::Free(p, gs[i]);
  }
  const size_t free_before = owner_table::FreeChunks();
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(GlobalRegistry().Destroy(ids[i]), Errc::kOk);
    engine::ReleaseGroup(gs[i]);
    EXPECT_FALSE(HasArena(gs[i]));
  }
  EXPECT_EQ(engine::IdleArenas(), engine::kArenaPoolMax);
  // At least the 4 destroyed arenas' base and extent chunks.
  EXPECT_GE(owner_table::FreeChunks(), free_before + 8);
  // New groups take the idle arenas first.
  for (int i = 0; i < n; ++i) {
    char name[32];
    snprintf(name, sizeof(name), "pool-again-%d", i);
    gs[i] = Create(name, &ids[i]);
    void* p = engine::Alloc(gs[i], 64, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(engine::OwnerOf(p), gs[i]);
    engine::Free(p, gs[i]);
    if (i < static_cast<int>(engine::kArenaPoolMax)) {
      EXPECT_EQ(engine::IdleArenas(), engine::kArenaPoolMax - 1 - i);
    }
  }
  EXPECT_EQ(engine::IdleArenas(), 0u);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(GlobalRegistry().Destroy(ids[i]), Errc::kOk);
    engine::ReleaseGroup(gs[i]);
  }
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
  const uint32_t idle_before = engine::IdleArenas();
  ASSERT_LT(idle_before, engine::kArenaPoolMax);
  // Engine-only test: the registry sees no charge, so what keeps the group
  // is its slab region out of the bins.
  ASSERT_EQ(GlobalRegistry().Destroy(id), Errc::kOk);
  engine::ReleaseGroup(g);
  EXPECT_TRUE(HasArena(g));
  EXPECT_EQ(engine::IdleArenas(), idle_before);  // Not parked while live.
  EXPECT_EQ(engine::OwnerOf(p), g);
  engine::Free(p, g);
  EXPECT_GE(engine::RetirePending(kMaxGroups), 1u);
  EXPECT_FALSE(HasArena(g));
  EXPECT_EQ(engine::IdleArenas(), idle_before + 1);
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
