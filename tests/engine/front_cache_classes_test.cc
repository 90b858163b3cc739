// The front cache's class tables (against jemalloc's nallocx) and the page
// map entries and large-block start records of every block the engine
// hands out (front_cache_test_util.h says what the front cache tests cover).
#include "front_cache_test_util.h"

namespace memgroup::internal {
namespace {

// ---------------------------------------------------------------------------
// Class tables.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, ClassTablesAgreeWithJemalloc) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "reads jemalloc's mallctl";
  EXPECT_EQ(g_usable_of_class[0], 0u);
  unsigned nbins = 0;
  size_t len = sizeof(nbins);
  ASSERT_EQ(engine::Mallctl("arenas.nbins", &nbins, &len, nullptr, 0), 0);
  ASSERT_EQ(nbins + 1 + engine::kExtraClasses, kFrontFirstLarge);
  unsigned extras = 0;
  for (uint32_t c = 1; c < kFrontClasses; ++c) {
    if (c > 1) {
      EXPECT_GT(g_usable_of_class[c], g_usable_of_class[c - 1]) << c;
    }
    EXPECT_EQ(ClassOfUsable(g_usable_of_class[c]), c) << g_usable_of_class[c];
    if (IsExtraClass(g_usable_of_class[c])) {
      // One of memgroup's own: the midpoint between its neighbours, both
      // jemalloc's.
      ++extras;
      EXPECT_EQ(g_usable_of_class[c] * 2, g_usable_of_class[c - 1] + g_usable_of_class[c + 1]);
      EXPECT_EQ(engine::GoodSize(g_usable_of_class[c], 0), g_usable_of_class[c]) << c;
      EXPECT_EQ(engine::GoodSize(g_usable_of_class[c] + 1, 0), g_usable_of_class[c + 1]);
      continue;
    }
    // Otherwise jemalloc's class c - 1 - (extras below it).
    const unsigned j = c - 1 - extras;
    std::string name = j < nbins ? "arenas.bin." + std::to_string(j) + ".size"
                                 : "arenas.lextent." +
                                       std::to_string(j - nbins) + ".size";
    size_t je = 0;
    len = sizeof(je);
    ASSERT_EQ(engine::Mallctl(name.c_str(), &je, &len, nullptr, 0), 0) << name;
    EXPECT_EQ(g_usable_of_class[c], je) << c;
    EXPECT_EQ(mgje_nallocx(g_usable_of_class[c], 0), g_usable_of_class[c]) << c;
    EXPECT_EQ(engine::GoodSize(g_usable_of_class[c], 0), g_usable_of_class[c]) << c;
  }
  EXPECT_EQ(extras, engine::kExtraClasses);
  EXPECT_EQ(g_usable_of_class[kFrontClasses - 1], kFrontMaxBytes);
  EXPECT_EQ(g_usable_of_class[kFrontFirstLarge], 16 * kKiB);  // first large class
  EXPECT_EQ(ClassOfUsable(kFrontMaxBytes + 1), 0u);
  EXPECT_EQ(ClassOfUsable(5 * kMiB), 0u);  // jemalloc's next class: not held
  // Every small request finds the class it should get.
  int bad = 0;
  for (size_t n = 1; n <= kFrontSmallMax; ++n) {
    const size_t usable = g_usable_of_class[g_class_of_size8[(n + 7) >> 3]];
    if (usable != engine::GoodSize(n, 0) || usable != ExpectedClass(n)) {
      if (++bad < 10) {
        ADD_FAILURE() << "request " << n << ": table " << usable;
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(engine::GoodSize(0, 0), mgje_nallocx(1, 0));
}

// GoodSize's arithmetic (tables up to 8 KiB, four classes per doubling up to
// kFrontMaxBytes) against jemalloc's nallocx and the extra classes, for
// every size up to 5 MiB.
TEST_F(FrontCacheTest, GoodSizeMatchesNallocxUpTo5MiB) {
  int bad = 0;
  // The private jemalloc is not initialised in a mimalloc-engine process:
  // only the real blocks below.
  for (size_t n = 1; !testing::OnMimalloc() && n <= 5 * kMiB; ++n) {
    const size_t good = engine::GoodSize(n, 0);
    const size_t je = ExpectedClass(n);
    if (good != je) {
      if (++bad < 10) {
        ADD_FAILURE() << n << ": GoodSize " << good << " nallocx " << je;
      }
    }
  }
  EXPECT_EQ(bad, 0);
  // And against real blocks, around every class boundary up to 5 MiB.
  std::thread t([] {
    ASSERT_TRUE(engine::BindThread(10));
    for (uint32_t c = 1; c < kFrontClasses; ++c) {
      const size_t s = g_usable_of_class[c];
      for (size_t n : {s - 1, s, s + 1}) {
        for (uint32_t g : {10u, 11u}) {
          void* p = engine::Alloc(g, n, 0, false);
          ASSERT_NE(p, nullptr);
          EXPECT_EQ(engine::UsableSize(p), engine::GoodSize(n, 0)) << n;
          FreeAsProgram(p, g);
        }
      }
    }
    void* p = engine::Alloc(10, 5 * kMiB, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(engine::UsableSize(p), engine::GoodSize(5 * kMiB, 0));
    FreeAsProgram(p, 10);
    engine::ThreadExit();
  });
  t.join();
}

// ---------------------------------------------------------------------------
// Page map.
// ---------------------------------------------------------------------------

const size_t kSizes[] = {1,           8,          9,          48,
                         100,         1000,       4096,       8192,
                         8193,        14336,      14337,      16 * kKiB,
                         20000,       32 * kKiB,  40000,      256 * kKiB,
                         kMiB + 1,    3 * kMiB + kMiB / 2,    4 * kMiB - 1,
                         4 * kMiB,    4 * kMiB + 1,           5 * kMiB,
                         9 * kMiB};
const size_t kAligns[] = {0, 16, 64, 4096, 64 * kKiB};

// Allocates every (size, align, zero) in `group`, checks its page-map entry,
// frees it (plain and sized free alternately). Twice, so that the second
// round also sees blocks that came back through the front cache.
void CheckEntries(uint32_t group, int* bad) {
  for (int round = 0; round < 2; ++round) {
    for (size_t size : kSizes) {
      for (size_t align : kAligns) {
        for (bool zero : {false, true}) {
          void* p = engine::Alloc(group, size, align, zero);
          if (p == nullptr) {
            ++*bad;
            ADD_FAILURE() << size << " " << align;
            continue;
          }
          EXPECT_EQ(engine::OwnerOf(p), group) << size << " " << align;
          EXPECT_EQ(PageEntry(p), ExpectedEntry(p, group))
              << "size " << size << " align " << align << " zero " << zero
              << " usable " << engine::UsableSize(p);
          *bad += PageEntry(p) != ExpectedEntry(p, group);
          EXPECT_TRUE(StartRecorded(p))
              << "size " << size << " align " << align << " zero " << zero;
          *bad += !StartRecorded(p);
          if (zero) {
            const unsigned char* c = static_cast<const unsigned char*>(p);
            size_t n = size < 64 * kKiB ? size : 64 * kKiB;
            for (size_t i = 0; i < n; ++i) {
              if (c[i] != 0) {
                ADD_FAILURE() << "not zeroed: " << size << " at " << i;
                ++*bad;
                break;
              }
            }
          }
          memset(p, 0xcd, size < 64 * kKiB ? size : 64 * kKiB);
          FreeAsProgram(p, group);
        }
      }
    }
  }
}

TEST_F(FrontCacheTest, EveryBlockIsPublishedWithItsGroupAndClass) {
  int bad = 0;
  OnBoundThread(20, [&] {
    CheckEntries(20, &bad);  // the bound group: front cache path
    CheckEntries(21, &bad);  // another group from a bound thread
  });
  std::thread t([&] { CheckEntries(22, &bad); });  // never-bound thread
  t.join();
  EXPECT_EQ(bad, 0);
}

// The start map: a large block's record goes from live to freed once, in
// one compare-and-swap; a pointer that is not the block's start, or a
// second take, fails and reads what the report is made from.
TEST_F(FrontCacheTest, LargeStartRecordIsTakenOnce) {
  OnBoundThread(25, [&] {
    for (size_t size : {size_t{100} * kKiB, 4 * kMiB, 6 * kMiB}) {
      char* p = static_cast<char*>(engine::Alloc(25, size, 0, false));
      ASSERT_NE(p, nullptr);
      const uint16_t live =
          owner_table::StartRecordOf(reinterpret_cast<uintptr_t>(p));
      const uint16_t freed =
          static_cast<uint16_t>(live | owner_table::kStartFreed);
      EXPECT_EQ(owner_table::LargeStartRecord(p), live) << size;
      uint16_t found = 0;
      EXPECT_FALSE(owner_table::TakeLargeStart(p + 16, &found)) << size;
      EXPECT_EQ(found, live);
      EXPECT_TRUE(owner_table::TakeLargeStart(p, &found)) << size;
      EXPECT_EQ(owner_table::LargeStartRecord(p), freed);
      EXPECT_FALSE(owner_table::TakeLargeStart(p, &found)) << size;
      EXPECT_EQ(found, freed);
      FreeAsProgram(p, 25);
    }
  });
}

// Realloc (moved or in place) and ResizeInPlace republish the block with its
// new class.
void CheckReallocEntries(uint32_t owner) {
  const size_t steps[] = {10,       24,        100,      5000,     40000,
                          100000,   3 * kMiB,  12 * kMiB, 4 * kMiB, 4 * kMiB + 1,
                          2 * kMiB, 50,        20000,    1};
  void* p = engine::Alloc(owner, 10, 0, false);
  ASSERT_NE(p, nullptr);
  for (size_t size : steps) {
    const bool was_large = engine::UsableSize(p) >= 16 * kKiB;
    void* q = engine::Realloc(p, size, 0, owner);
    ASSERT_NE(q, nullptr) << size;
    EXPECT_EQ(engine::OwnerOf(q), owner);
    EXPECT_EQ(PageEntry(q), ExpectedEntry(q, owner))
        << "realloc to " << size << " usable " << engine::UsableSize(q);
    EXPECT_TRUE(StartRecorded(q)) << "realloc to " << size;
    // A large block that moved is recorded as freed at its old address.
    if (q != p && was_large) {
      EXPECT_EQ(owner_table::LargeStartRecord(p),
                owner_table::StartRecordOf(reinterpret_cast<uintptr_t>(p)) |
                    owner_table::kStartFreed)
          << "realloc to " << size;
    }
    p = q;
  }
  void* q = engine::Realloc(p, 100000, 64 * kKiB, owner);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(PageEntry(q), ExpectedEntry(q, owner));
  FreeAsProgram(q, owner);

  // In place, large -> smaller large class: the class changes.
  p = engine::Alloc(owner, 100000, 0, false);
  ASSERT_NE(p, nullptr);
  size_t usable = engine::ResizeInPlace(p, 50000, 0, 0, owner);
  EXPECT_EQ(usable, engine::UsableSize(p));
  EXPECT_EQ(usable, engine::GoodSize(50000, 0));  // a large shrink succeeds
  EXPECT_EQ(PageEntry(p), ExpectedEntry(p, owner)) << usable;
  EXPECT_EQ(PageEntry(p), MakeEntry(owner, ClassOfUsable(usable)));
  // Growing in place may or may not succeed; either way the entry matches.
  usable = engine::ResizeInPlace(p, 200000, 0, 0, owner);
  EXPECT_EQ(usable, engine::UsableSize(p));
  EXPECT_EQ(PageEntry(p), ExpectedEntry(p, owner)) << usable;
  FreeAsProgram(p, owner);

  // In place across kFrontMaxBytes: 5 MiB (not cached, class 0) shrunk to
  // 3 MiB (cached class).
  p = engine::Alloc(owner, 5 * kMiB, 0, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(PageEntry(p), MakeEntry(owner, 0));
  usable = engine::ResizeInPlace(p, 3 * kMiB, 0, 0, owner);
  EXPECT_EQ(usable, 3 * kMiB);
  EXPECT_EQ(PageEntry(p), MakeEntry(owner, ClassOfUsable(3 * kMiB)));
  EXPECT_NE(ClassOfUsable(3 * kMiB), 0u);
  FreeAsProgram(p, owner);
  // Realloc in place, 6 MiB -> 2 MiB (jemalloc shrinks large blocks in place).
  p = engine::Alloc(owner, 6 * kMiB, 0, false);
  ASSERT_NE(p, nullptr);
  q = engine::Realloc(p, 2 * kMiB, 0, owner);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(PageEntry(q), MakeEntry(owner, ClassOfUsable(2 * kMiB)));
  FreeAsProgram(q, owner);
}

TEST_F(FrontCacheTest, ReallocAndResizeInPlaceRepublish) {
  OnBoundThread(30, [] {
    CheckReallocEntries(30);  // bound
    CheckReallocEntries(31);  // other group
  });
  std::thread t([] { CheckReallocEntries(32); });  // never bound
  t.join();
}

// A block shrunk in place to a cacheable class is cached on free (its entry
// says so) and handed out again for that class.
TEST_F(FrontCacheTest, BlockShrunkInPlaceIsCachedUnderItsNewClass) {
  OnBoundThread(35, [] {
    FrontCache* fc = engine::ThreadFront();
    void* p = engine::Alloc(35, 5 * kMiB, 0, false);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(engine::ResizeInPlace(p, 3 * kMiB, 0, 0, 35), 3 * kMiB);
    FreeAsProgram(p, 35);
    const uint32_t cls = ClassOfUsable(3 * kMiB);
    EXPECT_EQ(fc->bins[cls].count, 1u);
    EXPECT_EQ(fc->large_bytes, 3 * kMiB);
    EXPECT_EQ(engine::Alloc(35, 3 * kMiB, 0, false), p);
    EXPECT_EQ(fc->large_bytes, 0u);
    FreeAsProgram(p, 35);
  });
}

}  // namespace
}  // namespace memgroup::internal
