// The front cache's reuse of freed blocks, its group isolation, rebinding,
// large bins and their budget, and thread exit, purge and the recycling of
// an exited thread's cache (front_cache_test_util.h says what the front
// cache tests cover).
#include "front_cache_test_util.h"

#include "engine/tcache_slots.h"

namespace memgroup::internal {
namespace {

// ---------------------------------------------------------------------------
// Reuse and group isolation.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, FreedBlockIsReusedOnTheSameThread) {
  OnBoundThread(10, [] {
    FrontCache* fc = engine::ThreadFront();
    EXPECT_EQ(fc->group, 10u);
    EXPECT_EQ(fc->tag, MakeEntry(10, 0));
    for (size_t size : {size_t{1}, size_t{8}, size_t{48}, size_t{100},
                        size_t{1000}, size_t{4096}, size_t{8192},
                        size_t{14336}}) {
      void* p = engine::Alloc(10, size, 0, false);
      ASSERT_NE(p, nullptr);
      const uint32_t cls = ClassOfUsable(engine::UsableSize(p));
      ASSERT_NE(cls, 0u);
      ASSERT_LT(cls, kFrontFirstLarge);
      const uint16_t before = fc->bins[cls].count;
      FreeAsProgram(p, 10);
      EXPECT_EQ(fc->bins[cls].count, before + 1) << size;
      EXPECT_EQ(fc->bins[cls].head, p);
      EXPECT_EQ(engine::Alloc(10, size, 0, false), p) << size;
      EXPECT_EQ(fc->bins[cls].count, before);
      // A zeroed allocation after a free: same block, zeroed.
      memset(p, 0xee, size);
      FreeAsProgram(p, 10);
      void* q = engine::Alloc(10, size, 0, true);
      EXPECT_EQ(q, p) << size;
      const unsigned char* c = static_cast<const unsigned char*>(q);
      EXPECT_EQ(std::count(c, c + size, 0), static_cast<ptrdiff_t>(size));
      FreeAsProgram(q, 10);
    }
  });
}

// A refill from the slabs takes a page's worth of regions for the classes
// under 128 bytes and 32 for the others, at most half the bin: the largest
// refill each class sees once its first takes have grown (slab.h: a
// class's first takes are sized by what it took before).
TEST_F(FrontCacheTest, RefillTakesAPageOfTheSmallestClassesAnd32OfTheOthers) {
  constexpr uint32_t kG = 42;
  OnBoundThread(kG, [&] {
    FrontCache* fc = engine::ThreadFront();
    for (const auto& [size, want] :
         {std::pair<size_t, uint32_t>{16, 128}, {64, 64}, {96, 42},
          {256, 32}, {1024, 32}, {8192, 4}}) {
      const uint32_t cls = g_class_of_size8[(size + 7) >> 3];
      ASSERT_EQ(g_usable_of_class[cls], size);
      std::vector<void*> blocks;
      uint32_t largest = 0;
      for (int i = 0; i < 2000; ++i) {
        const bool refills = fc->bins[cls].count == 0;
        void* p = engine::Alloc(kG, size, 0, false);
        ASSERT_NE(p, nullptr);
        blocks.push_back(p);
        if (refills) largest = std::max(largest, fc->bins[cls].count + 1u);
      }
      EXPECT_EQ(largest, want) << size;
      for (void* p : blocks) FreeAsProgram(p, kG);
    }
  });
}

// Every small bin's list ends in nullptr after `count` blocks, so that its
// head is nullptr exactly when it is empty: malloc's fast path tests the
// head (BinTryPop). Checked after pops that refill from the slabs, frees
// past a bin's capacity (its older half goes to the group's transfer
// cache) and pops that refill from the transfer cache's batches.
TEST_F(FrontCacheTest, EveryBinListEndsInNullptr) {
  constexpr uint32_t kG = 47;  // below the mimalloc engine's 63 groups
  std::string bad;
  auto check = [&bad](const FrontCache* fc, const char* when) {
    for (uint32_t c = 1; c < kFrontFirstLarge; ++c) {
      const engine::FrontBin& b = fc->bins[c];
      const void* p = b.head;
      uint32_t n = 0;
      while (p != nullptr && n <= b.count) {
        p = *static_cast<void* const*>(p);
        ++n;
      }
      if (n != b.count || p != nullptr) {
        bad += std::string(when) + ": class " + std::to_string(c) + " holds " +
               std::to_string(n) + (p != nullptr ? "+" : "") + " for count " +
               std::to_string(b.count) + "\n";
      }
    }
  };
  OnBoundThread(kG, [&] {
    FrontCache* fc = engine::ThreadFront();
    for (size_t size : {size_t{16}, size_t{64}, size_t{256}, size_t{8192}}) {
      const uint32_t cls = g_class_of_size8[(size + 7) >> 3];
      const uint32_t cap = fc->bins[cls].cap;
      std::vector<void*> blocks;
      for (uint32_t i = 0; i < 3 * cap; ++i) {
        void* p = engine::Alloc(kG, size, 0, false);
        ASSERT_NE(p, nullptr);
        blocks.push_back(p);
      }
      check(fc, "after the refills from the slabs");
      for (void* p : blocks) FreeAsProgram(p, kG);  // Past the capacity.
      check(fc, "after the frees");
      blocks.clear();
      for (uint32_t i = 0; i < 3 * cap; ++i) {
        blocks.push_back(engine::Alloc(kG, size, 0, false));
        ASSERT_NE(blocks.back(), nullptr);
      }
      check(fc, "after the refills from the transfer cache");
      while (fc->bins[cls].count != 0) {
        blocks.push_back(engine::Alloc(kG, size, 0, false));
      }
      EXPECT_EQ(fc->bins[cls].head, nullptr) << size;
      for (void* p : blocks) FreeAsProgram(p, kG);
      check(fc, "at the end");
    }
  });
  EXPECT_EQ(bad, "");
}

TEST_F(FrontCacheTest, OtherGroupsBlocksNeverEnterTheCache) {
  constexpr uint32_t kA = 20, kB = 21;
  int mismatches = 0;
  OnBoundThread(kA, [&] {
    FrontCache* fc = engine::ThreadFront();
    std::set<void*> b_blocks;
    for (int round = 0; round < 3000; ++round) {
      const size_t size = 8 + static_cast<size_t>(round % 60) * 40 +
                          (round % 97 == 0 ? 300 * kKiB : 0);
      void* a = engine::Alloc(kA, size, 0, false);
      void* b = engine::Alloc(kB, size, 0, false);
      mismatches += a == nullptr || engine::OwnerOf(a) != kA;
      mismatches += b == nullptr || engine::OwnerOf(b) != kB;
      mismatches += PageEntry(a) != ExpectedEntry(a, kA);
      mismatches += PageEntry(b) != ExpectedEntry(b, kB);
      b_blocks.insert(b);
      if (round % 2 == 0) {
        FreeAsProgram(a, kA);
        FreeAsProgram(b, kB);
      } else {
        // As free() does: the owner from the owner table.
        FreeAsProgram(b, engine::OwnerOf(b));
        FreeAsProgram(a, engine::OwnerOf(a));
      }
      mismatches += InCache(fc, b);  // B's block never in A's cache
      void* a2 = engine::Alloc(kA, size, 0, round % 3 == 0);
      mismatches += engine::OwnerOf(a2) != kA;
      mismatches += b_blocks.count(a2) != 0;
      void* b2 = engine::Alloc(kB, size, 0, false);
      mismatches += engine::OwnerOf(b2) != kB;
      b_blocks.insert(b2);
      FreeAsProgram(a2, kA);
      FreeAsProgram(b2, kB);
    }
    // The cache holds only A's blocks, each with A's entry.
    for (uint32_t c = 1; c < kFrontClasses; ++c) {
      for (uint32_t i = 0; i < fc->bins[c].count; ++i) {
        void* p = BinBlock(fc->bins[c], i);
        mismatches += engine::OwnerOf(p) != kA;
        mismatches += PageEntry(p) != MakeEntry(kA, c);
      }
    }
    EXPECT_GT(CachedBlocks(fc), 0u);
  });
  EXPECT_EQ(mismatches, 0);
}

// A block of the bound group freed on a thread bound to another group goes
// to jemalloc, not into that thread's cache.
TEST_F(FrontCacheTest, CrossThreadFreeOfBoundGroupBlockIsNotCachedElsewhere) {
  constexpr uint32_t kA = 25, kB = 26;
  std::vector<void*> blocks;
  OnBoundThread(kA, [&] {
    for (int i = 0; i < 40; ++i) blocks.push_back(engine::Alloc(kA, 64, 0, false));
  });
  OnBoundThread(kB, [&] {
    FrontCache* fc = engine::ThreadFront();
    for (void* p : blocks) {
      FreeAsProgram(p, engine::OwnerOf(p));
      EXPECT_FALSE(InCache(fc, p));
    }
    EXPECT_EQ(CachedBlocks(fc), 0u);
    for (int i = 0; i < 40; ++i) {
      void* p = engine::Alloc(kB, 64, 0, false);
      EXPECT_EQ(engine::OwnerOf(p), kB);
      FreeAsProgram(p, kB);
    }
  });
}

// ---------------------------------------------------------------------------
// Rebinding.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, RebindFlushesTheCache) {
  constexpr uint32_t kA = 30, kB = 31;
  // 20 KiB: more blocks than the front cache keeps, the rest in the bound
  // tcache (jemalloc engine).
  const size_t sizes[] = {16, 64, 1000, 5000, 20 * kKiB, 256 * kKiB};
  ASSERT_TRUE(engine::EnsureGroup(kA));
  const uint64_t a_base = AllocatedBytes(kA);
  OnBoundThread(kA, [&] {
    FrontCache* fc = engine::ThreadFront();
    std::set<void*> a_blocks;
    for (size_t size : sizes) {
      void* ps[20];
      for (void*& p : ps) {
        p = engine::Alloc(kA, size, 0, false);
        a_blocks.insert(p);
      }
      for (void* p : ps) FreeAsProgram(p, kA);
    }
    ASSERT_GT(CachedBlocks(fc), 0u);
    ASSERT_GT(fc->large_bytes, 0u);
    ASSERT_GT(AllocatedBytes(kA), a_base);

    ASSERT_TRUE(engine::BindThread(kB));
    ASSERT_NE(engine::ThreadFront(), nullptr);
    fc = engine::ThreadFront();
    EXPECT_EQ(fc->group, kB);
    EXPECT_EQ(fc->tag, MakeEntry(kB, 0));
    EXPECT_EQ(CachedBlocks(fc), 0u);
    EXPECT_EQ(fc->large_bytes, 0u);
    // A's cached blocks (front cache and bound tcache) went back to A.
    EXPECT_EQ(AllocatedBytes(kA), a_base);
    // The old group's cached sizes now come from B.
    for (size_t size : sizes) {
      for (int i = 0; i < 20; ++i) {
        void* p = engine::Alloc(kB, size, 0, false);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(engine::OwnerOf(p), kB) << size;
        EXPECT_EQ(a_blocks.count(p), 0u);
        EXPECT_EQ(PageEntry(p), ExpectedEntry(p, kB));
        FreeAsProgram(p, kB);
      }
    }
    EXPECT_GT(CachedBlocks(fc), 0u);
    // A is now another group: its blocks bypass B's cache.
    const uint32_t cached = CachedBlocks(fc);
    for (size_t size : sizes) {
      void* p = engine::Alloc(kA, size, 0, false);
      EXPECT_EQ(engine::OwnerOf(p), kA);
      FreeAsProgram(p, kA);
      EXPECT_FALSE(InCache(fc, p));
    }
    EXPECT_EQ(CachedBlocks(fc), cached);
    // Back to A: B's blocks are flushed, A's sizes come from A.
    ASSERT_TRUE(engine::BindThread(kA));
    EXPECT_EQ(engine::ThreadFront()->group, kA);
    EXPECT_EQ(CachedBlocks(engine::ThreadFront()), 0u);
    for (size_t size : sizes) {
      void* p = engine::Alloc(kA, size, 0, false);
      EXPECT_EQ(engine::OwnerOf(p), kA);
      FreeAsProgram(p, kA);
    }
  });
}

// The jemalloc engine's bound tcache (tcache_slots.h): none until the thread
// hands jemalloc a block jemalloc caches (16 to 32 KiB beyond what the front
// cache keeps), then the blocks the front cache has no room for stay
// allocated in the group's arena, cached for the thread's next ones.
TEST_F(FrontCacheTest, BoundTcacheIsTakenOnFirstNeed) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "jemalloc only";
  constexpr uint32_t kG = 32;
  constexpr size_t kSize = 20 * kKiB;
  constexpr int kBlocks = 20;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint64_t base = AllocatedBytes(kG);
  OnBoundThread(kG, [&] {
    for (size_t size : {size_t{16}, size_t{5000}, 256 * kKiB, kMiB}) {
      void* ps[kBlocks];
      for (void*& p : ps) p = engine::Alloc(kG, size, 0, false);
      for (void* p : ps) FreeAsProgram(p, kG);
    }
    EXPECT_EQ(engine::t_bound_tc, 0) << "made without need";
    const uint64_t before = AllocatedBytes(kG);
    const uint32_t cached_before = CachedBlocks(engine::ThreadFront());
    void* ps[kBlocks];
    for (void*& p : ps) p = engine::Alloc(kG, kSize, 0, false);
    for (void* p : ps) FreeAsProgram(p, kG);
    EXPECT_NE(engine::t_bound_tc, 0);
    EXPECT_NE(engine::t_bound_tc, MALLOCX_TCACHE_NONE);
    const uint32_t in_front = CachedBlocks(engine::ThreadFront()) - cached_before;
    ASSERT_LT(in_front, static_cast<uint32_t>(kBlocks));
    // Those the front cache did not keep are cached too, not back in the
    // arena.
    EXPECT_EQ(AllocatedBytes(kG) - before, uint64_t{kBlocks} * kSize);
    engine::Purge(kG);
  });
  EXPECT_EQ(AllocatedBytes(kG), base);
}

// ---------------------------------------------------------------------------
// Large blocks.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, LargeBlockIsReused) {
  OnBoundThread(40, [] {
    FrontCache* fc = engine::ThreadFront();
    const uint32_t cls = ClassOfUsable(256 * kKiB);
    ASSERT_GE(cls, kFrontFirstLarge);
    void* p = engine::Alloc(40, 256 * kKiB, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(PageEntry(p), MakeEntry(40, cls));
    // Kept whole: its pages are not given back (the block's bytes after
    // the list's link survive), and counted as cached (stat.engine_cached).
    memset(p, 0x5a, 256 * kKiB);
    EXPECT_EQ(engine::CachedLargeOf(40), 0);
    FreeAsProgram(p, 40);
    EXPECT_EQ(fc->bins[cls].count, 1u);
    EXPECT_EQ(fc->large_bytes, 256 * kKiB);
    EXPECT_EQ(engine::CachedLargeOf(40), static_cast<int64_t>(256 * kKiB));
    EXPECT_EQ(engine::Alloc(40, 256 * kKiB, 0, false), p);
    EXPECT_EQ(fc->bins[cls].count, 0u);
    EXPECT_EQ(fc->large_bytes, 0u);
    EXPECT_EQ(engine::CachedLargeOf(40), 0);
    const unsigned char* bytes = static_cast<const unsigned char*>(p);
    EXPECT_EQ(std::count(bytes + sizeof(void*), bytes + 256 * kKiB, 0x5a),
              static_cast<ptrdiff_t>(256 * kKiB - sizeof(void*)));
    EXPECT_EQ(PageEntry(p), MakeEntry(40, cls));
    EXPECT_TRUE(StartRecorded(p));
    // Up to 512 KiB of blocks per large class, two of this one: a third
    // goes back to the engine.
    void* q = engine::Alloc(40, 224 * kKiB + 1, 0, false);  // same class
    ASSERT_EQ(ClassOfUsable(engine::UsableSize(q)), cls);
    void* r = engine::Alloc(40, 256 * kKiB, 0, false);
    FreeAsProgram(p, 40);
    FreeAsProgram(q, 40);
    FreeAsProgram(r, 40);
    EXPECT_EQ(fc->bins[cls].count, 2u);
    EXPECT_EQ(fc->bins[cls].head, q);
    EXPECT_FALSE(InCache(fc, r));
    EXPECT_EQ(fc->large_bytes, 512 * kKiB);
    EXPECT_EQ(engine::CachedLargeOf(40), static_cast<int64_t>(512 * kKiB));
    // Zeroed reuse of a dirty cached block (its first word is the bin's
    // link to p).
    memset(static_cast<char*>(q) + sizeof(void*), 0x77,
           256 * kKiB - sizeof(void*));
    void* z = engine::Alloc(40, 256 * kKiB, 0, true);
    EXPECT_EQ(z, q);
    const unsigned char* c = static_cast<const unsigned char*>(z);
    EXPECT_EQ(std::count(c, c + 256 * kKiB, 0),
              static_cast<ptrdiff_t>(256 * kKiB));
    FreeAsProgram(z, 40);
    // Blocks above kFrontMaxBytes are never cached.
    void* big = engine::Alloc(40, 5 * kMiB, 0, false);
    EXPECT_EQ(PageEntry(big), MakeEntry(40, 0));
    FreeAsProgram(big, 40);
    EXPECT_FALSE(InCache(fc, big));
    EXPECT_EQ(fc->large_bytes, 512 * kKiB);
  });
}

TEST_F(FrontCacheTest, LargeBinsRespectTheBudget) {
  constexpr uint32_t kG = 45;
  OnBoundThread(kG, [] {
    FrontCache* fc = engine::ThreadFront();
    auto check = [fc](const char* when) {
      EXPECT_LE(fc->large_bytes, kFrontLargeBudget) << when;
      EXPECT_EQ(fc->large_bytes, HeldLargeBytes(fc)) << when;
      for (uint32_t c = kFrontFirstLarge; c < kFrontClasses; ++c) {
        EXPECT_LE(fc->bins[c].count, LargeBinCap(g_usable_of_class[c]))
            << when << " class " << c;
      }
    };
    auto held = [fc](size_t size) {
      return fc->bins[ClassOfUsable(size)].count;
    };
    void* b1 = engine::Alloc(kG, kMiB, 0, false);
    void* b2 = engine::Alloc(kG, 2 * kMiB, 0, false);
    void* b3 = engine::Alloc(kG, 3 * kMiB, 0, false);
    void* b4 = engine::Alloc(kG, 4 * kMiB, 0, false);
    void* s16 = engine::Alloc(kG, 16 * kKiB, 0, false);
    ASSERT_TRUE(b1 && b2 && b3 && b4 && s16);
    EXPECT_EQ(fc->large_bytes, 0u);
    FreeAsProgram(b1, kG);
    check("b1");
    EXPECT_EQ(fc->large_bytes, kMiB);
    FreeAsProgram(b2, kG);
    check("b2");
    EXPECT_EQ(fc->large_bytes, 3 * kMiB);
    FreeAsProgram(s16, kG);
    check("s16");
    EXPECT_EQ(fc->large_bytes, 3 * kMiB + 16 * kKiB);
    // 3 MiB more is over the budget: the largest held blocks go first (2 MiB,
    // then 1 MiB) until it fits.
    FreeAsProgram(b3, kG);
    check("b3");
    EXPECT_EQ(held(2 * kMiB), 0u);
    EXPECT_EQ(held(kMiB), 0u);
    EXPECT_EQ(held(16 * kKiB), 1u);
    EXPECT_EQ(held(3 * kMiB), 1u);
    EXPECT_EQ(fc->large_bytes, 3 * kMiB + 16 * kKiB);
    // 4 MiB (the whole budget): everything else goes.
    FreeAsProgram(b4, kG);
    check("b4");
    EXPECT_EQ(held(4 * kMiB), 1u);
    EXPECT_EQ(held(3 * kMiB), 0u);
    EXPECT_EQ(held(16 * kKiB), 0u);
    EXPECT_EQ(fc->large_bytes, kFrontLargeBudget);
    EXPECT_EQ(engine::Alloc(kG, 4 * kMiB, 0, false), b4);
    check("pop b4");
    EXPECT_EQ(fc->large_bytes, 0u);
    // Many frees of varied large classes.
    std::vector<void*> ps;
    for (int i = 0; i < 40; ++i) {
      size_t size = 16 * kKiB + static_cast<size_t>(i) * 97 * kKiB;
      ps.push_back(engine::Alloc(kG, size, 0, false));
    }
    ps.push_back(b4);
    for (void* p : ps) {
      FreeAsProgram(p, kG);
      check("varied");
    }
    EXPECT_GT(fc->large_bytes, 0u);
    // Purge flushes the calling thread's cache.
    EXPECT_EQ(engine::CachedLargeOf(kG), static_cast<int64_t>(fc->large_bytes));
    engine::Purge(kG);
    EXPECT_EQ(fc->large_bytes, 0u);
    EXPECT_EQ(CachedBlocks(fc), 0u);
    EXPECT_EQ(engine::CachedLargeOf(kG), 0);
  });
}

// ---------------------------------------------------------------------------
// Thread exit, purge, recycling.
// ---------------------------------------------------------------------------

// Deterministic mixed load on the bound group: every block freed but `keep`,
// whose pointers are returned.
void Churn(uint32_t group, int ops, std::vector<void*>* keep) {
  uint32_t x = 12345;
  std::vector<void*> live;
  for (int i = 0; i < ops; ++i) {
    x = x * 1103515245 + 12345;
    const uint32_t r = x >> 8;
    if (r % 3 != 0 || live.empty()) {
      size_t size = r % 16 == 0 ? 16 * kKiB + (r >> 4) % (512 * kKiB)
                                : 1 + (r >> 4) % 3000;
      void* p = engine::Alloc(group, size, 0, (r >> 12) % 5 == 0);
      ASSERT_NE(p, nullptr);
      live.push_back(p);
    } else {
      size_t k = (r >> 4) % live.size();
      FreeAsProgram(live[k], group);
      live[k] = live.back();
      live.pop_back();
    }
  }
  for (size_t i = 0; i < live.size(); ++i) {
    if (keep != nullptr && i % 10 == 0) {
      keep->push_back(live[i]);
    } else {
      FreeAsProgram(live[i], group);
    }
  }
}

TEST_F(FrontCacheTest, ThreadExitReturnsCachedBlocksToTheArena) {
  constexpr uint32_t kG = 50;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint64_t base = AllocatedBytes(kG);
  const std::map<uint64_t, uint64_t> base_hist = Histogram(kG);
  std::vector<void*> keep;
  OnBoundThread(kG, [&] {
    Churn(kG, 20000, &keep);
    // The caches hold blocks: the arena counts them as allocated.
    EXPECT_GT(CachedBlocks(engine::ThreadFront()), 0u);
    uint64_t kept = 0;
    for (void* p : keep) kept += engine::UsableSize(p);
    EXPECT_GT(AllocatedBytes(kG), base + kept);
  });
  ASSERT_FALSE(keep.empty());
  uint64_t kept = 0;
  std::map<uint64_t, uint64_t> want = base_hist;
  for (void* p : keep) {
    kept += engine::UsableSize(p);
    // The mimalloc engine's histogram has the slab classes only.
    if (!testing::OnMimalloc() || engine::UsableSize(p) < 16 * kKiB) {
      ++want[engine::UsableSize(p)];
    }
  }
  // Only the blocks still in use remain out of the arena.
  EXPECT_EQ(AllocatedBytes(kG), base + kept);
  EXPECT_EQ(Histogram(kG), want);
  // Freed by another thread of the group, which then exits: back to base.
  OnBoundThread(kG, [&] {
    for (void* p : keep) FreeAsProgram(p, kG);
  });
  EXPECT_EQ(AllocatedBytes(kG), base);
  EXPECT_EQ(Histogram(kG), base_hist);
}

TEST_F(FrontCacheTest, PurgeFlushesTheCallingThreadsCache) {
  constexpr uint32_t kG = 55;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint64_t base = AllocatedBytes(kG);
  OnBoundThread(kG, [&] {
    Churn(kG, 5000, nullptr);
    ASSERT_GT(CachedBlocks(engine::ThreadFront()), 0u);
    engine::Purge(kG);
    EXPECT_EQ(CachedBlocks(engine::ThreadFront()), 0u);
    EXPECT_EQ(engine::ThreadFront()->large_bytes, 0u);
    EXPECT_EQ(engine::ThreadFront()->group, kG);
    EXPECT_EQ(AllocatedBytes(kG), base);
    // Still usable afterwards.
    void* p = engine::Alloc(kG, 64, 0, false);
    EXPECT_EQ(engine::OwnerOf(p), kG);
    FreeAsProgram(p, kG);
    EXPECT_EQ(engine::Alloc(kG, 64, 0, false), p);
    FreeAsProgram(p, kG);
  });
}

TEST_F(FrontCacheTest, ExitedThreadsCacheIsRecycledEmpty) {
  FrontCache* first = nullptr;
  OnBoundThread(60, [&] {
    first = engine::ThreadFront();
    Churn(60, 2000, nullptr);
  });
  ASSERT_NE(first, nullptr);
  OnBoundThread(61, [&] {
    // The free list is LIFO and no other thread exits meanwhile.
    EXPECT_EQ(engine::ThreadFront(), first);
    EXPECT_EQ(engine::ThreadFront()->group, 61u);
    EXPECT_EQ(engine::ThreadFront()->tag, MakeEntry(61, 0));
    EXPECT_EQ(CachedBlocks(engine::ThreadFront()), 0u);
    EXPECT_EQ(engine::ThreadFront()->large_bytes, 0u);
    void* p = engine::Alloc(61, 100, 0, false);
    EXPECT_EQ(engine::OwnerOf(p), 61u);
    FreeAsProgram(p, 61);
  });
  // After ThreadExit the thread has no cache and still allocates correctly.
  std::thread t([] {
    ASSERT_TRUE(engine::BindThread(62));
    engine::ThreadExit();
    EXPECT_EQ(engine::ThreadFront(), nullptr);
    void* p = engine::Alloc(62, 100, 0, false);
    EXPECT_EQ(engine::OwnerOf(p), 62u);
    EXPECT_EQ(PageEntry(p), ExpectedEntry(p, 62));
    FreeAsProgram(p, 62);
  });
  t.join();
}

}  // namespace
}  // namespace memgroup::internal
