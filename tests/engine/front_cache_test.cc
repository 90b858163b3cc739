// Tests of the engine's front cache (src/engine/front_cache*.{h,cc}) and the
// page map it relies on (owner_table.h: PageEntry/PublishBlock/MakeEntry), as
// used by engine::Alloc/Free/Realloc/ResizeInPlace/BindThread/ThreadExit/
// Purge and the fork handlers (dispatch.cc, fork.cc).
//
// Every scenario runs on its own std::thread (the gtest thread is never
// bound) and uses its own groups, so the tests do not depend on each other
// even when the whole binary runs in one process.
#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "engine/engine.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

// The private jemalloc's nallocx (defined in the renamed archive mg_engine
// links): the reference GoodSize must agree with. Declared here rather than
// through engine/jemalloc_private.h, which only engine sources may include.
extern "C" size_t mgje_nallocx(size_t size, int flags) noexcept;

namespace memgroup::internal {
namespace {

using engine::ClassOfUsable;
using engine::FrontCache;
using engine::g_usable_of_class;
using engine::g_class_of_size8;
using engine::kFrontClasses;
using engine::kFrontFirstLarge;
using engine::kFrontLargeBudget;
using engine::kFrontMaxBytes;
using engine::kFrontSmallMax;
using owner_table::MakeEntry;
using owner_table::PageEntry;

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kMiB = size_t{1} << 20;

class FrontCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InitEngineOnce();
    // Every other test needs the front cache on (InitClasses succeeded).
    ASSERT_NE(g_usable_of_class[1], 0u) << "front cache disabled";
  }
};

using testing::OnBoundThread;

// memgroup's own classes: in (kExtraFrom, 2 * kExtraFrom], the midpoints
// between jemalloc's classes there (which are kExtraFrom / 4 apart).
bool IsExtraClass(size_t size) {
  return size > engine::kExtraFrom && size <= 2 * engine::kExtraFrom &&
         size % (engine::kExtraFrom / 4) == engine::kExtraFrom / 8;
}

// The class a request of `n` bytes (no alignment) gets: jemalloc's, or the
// extra class below it when `n` fits there.
size_t ExpectedClass(size_t n) {
  const size_t je = mgje_nallocx(n, 0);
  const size_t mid = je - engine::kExtraFrom / 8;
  return IsExtraClass(mid) && n <= mid ? mid : je;
}

// The page-map entry every block handed out must carry.
uint32_t ExpectedEntry(const void* p, uint32_t group) {
  return MakeEntry(group, ClassOfUsable(engine::UsableSize(p)));
}

// Whether a block handed out carries the start record it must: live at its
// own offset for a large block (16 KiB and more); small blocks have none.
bool StartRecorded(const void* p) {
  if (engine::UsableSize(p) < 16 * kKiB) return true;
  return owner_table::LargeStartRecord(p) ==
         owner_table::StartRecordOf(reinterpret_cast<uintptr_t>(p));
}

// Bytes the large bins of `fc` hold (each bin at most one block).
uint64_t HeldLargeBytes(const FrontCache* fc) {
  uint64_t sum = 0;
  for (uint32_t c = kFrontFirstLarge; c < kFrontClasses; ++c) {
    sum += uint64_t{fc->bins[c].count} * fc->bins[c].size;
  }
  return sum;
}

// The i-th block of a bin's list (0: the most recently freed).
void* BinBlock(const engine::FrontBin& b, uint32_t i) {
  void* p = b.head;
  for (uint32_t k = 0; k < i; ++k) p = *static_cast<void* const*>(p);
  return p;
}

bool InCache(const FrontCache* fc, const void* p) {
  for (uint32_t c = 1; c < kFrontClasses; ++c) {
    const engine::FrontBin& b = fc->bins[c];
    for (uint32_t i = 0; i < b.count; ++i) {
      if (BinBlock(b, i) == p) return true;
    }
  }
  return false;
}

uint32_t CachedBlocks(const FrontCache* fc) {
  uint32_t n = 0;
  for (uint32_t c = 1; c < kFrontClasses; ++c) n += fc->bins[c].count;
  return n;
}

uint64_t AllocatedBytes(uint32_t group) {
  EngineGroupStats s{};
  EXPECT_TRUE(engine::GroupStats(group, &s));
  return s.allocated_bytes;
}

std::map<uint64_t, uint64_t> Histogram(uint32_t group) {
  EngineSizeClass classes[256];
  size_t n = engine::GroupHistogram(group, classes, 256);
  std::map<uint64_t, uint64_t> m;
  for (size_t i = 0; i < n; ++i) m[classes[i].size] = classes[i].count;
  return m;
}

// ---------------------------------------------------------------------------
// Class tables.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, ClassTablesAgreeWithJemalloc) {
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
  for (size_t n = 1; n <= 5 * kMiB; ++n) {
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
    ASSERT_TRUE(engine::BindThread(200));
    for (uint32_t c = 1; c < kFrontClasses; ++c) {
      const size_t s = g_usable_of_class[c];
      for (size_t n : {s - 1, s, s + 1}) {
        for (uint32_t g : {200u, 201u}) {
          void* p = engine::Alloc(g, n, 0, false);
          ASSERT_NE(p, nullptr);
          EXPECT_EQ(engine::UsableSize(p), engine::GoodSize(n, 0)) << n;
          engine::Free(p, g);
        }
      }
    }
    void* p = engine::Alloc(200, 5 * kMiB, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(engine::UsableSize(p), engine::GoodSize(5 * kMiB, 0));
    engine::Free(p, 200);
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
          engine::Free(p, group);
        }
      }
    }
  }
}

TEST_F(FrontCacheTest, EveryBlockIsPublishedWithItsGroupAndClass) {
  int bad = 0;
  OnBoundThread(210, [&] {
    CheckEntries(210, &bad);  // the bound group: front cache path
    CheckEntries(211, &bad);  // another group from a bound thread
  });
  std::thread t([&] { CheckEntries(212, &bad); });  // never-bound thread
  t.join();
  EXPECT_EQ(bad, 0);
}

// The start map: a large block's record goes from live to freed once, in
// one compare-and-swap; a pointer that is not the block's start, or a
// second take, fails and reads what the report is made from.
TEST_F(FrontCacheTest, LargeStartRecordIsTakenOnce) {
  OnBoundThread(215, [&] {
    for (size_t size : {size_t{100} * kKiB, 4 * kMiB, 6 * kMiB}) {
      char* p = static_cast<char*>(engine::Alloc(215, size, 0, false));
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
      engine::Free(p, 215);
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
  engine::Free(q, owner);

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
  engine::Free(p, owner);

  // In place across kFrontMaxBytes: 5 MiB (not cached, class 0) shrunk to
  // 3 MiB (cached class).
  p = engine::Alloc(owner, 5 * kMiB, 0, false);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(PageEntry(p), MakeEntry(owner, 0));
  usable = engine::ResizeInPlace(p, 3 * kMiB, 0, 0, owner);
  EXPECT_EQ(usable, 3 * kMiB);
  EXPECT_EQ(PageEntry(p), MakeEntry(owner, ClassOfUsable(3 * kMiB)));
  EXPECT_NE(ClassOfUsable(3 * kMiB), 0u);
  engine::Free(p, owner);
  // Realloc in place, 6 MiB -> 2 MiB (jemalloc shrinks large blocks in place).
  p = engine::Alloc(owner, 6 * kMiB, 0, false);
  ASSERT_NE(p, nullptr);
  q = engine::Realloc(p, 2 * kMiB, 0, owner);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(PageEntry(q), MakeEntry(owner, ClassOfUsable(2 * kMiB)));
  engine::Free(q, owner);
}

TEST_F(FrontCacheTest, ReallocAndResizeInPlaceRepublish) {
  OnBoundThread(220, [] {
    CheckReallocEntries(220);  // bound
    CheckReallocEntries(221);  // other group
  });
  std::thread t([] { CheckReallocEntries(222); });  // never bound
  t.join();
}

// A block shrunk in place to a cacheable class is cached on free (its entry
// says so) and handed out again for that class.
TEST_F(FrontCacheTest, BlockShrunkInPlaceIsCachedUnderItsNewClass) {
  OnBoundThread(225, [] {
    FrontCache* fc = engine::t_front;
    void* p = engine::Alloc(225, 5 * kMiB, 0, false);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(engine::ResizeInPlace(p, 3 * kMiB, 0, 0, 225), 3 * kMiB);
    engine::Free(p, 225);
    const uint32_t cls = ClassOfUsable(3 * kMiB);
    EXPECT_EQ(fc->bins[cls].count, 1u);
    EXPECT_EQ(fc->large_bytes, 3 * kMiB);
    EXPECT_EQ(engine::Alloc(225, 3 * kMiB, 0, false), p);
    EXPECT_EQ(fc->large_bytes, 0u);
    engine::Free(p, 225);
  });
}

// ---------------------------------------------------------------------------
// Reuse and group isolation.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, FreedBlockIsReusedOnTheSameThread) {
  OnBoundThread(230, [] {
    FrontCache* fc = engine::t_front;
    EXPECT_EQ(fc->group, 230u);
    EXPECT_EQ(fc->tag, MakeEntry(230, 0));
    for (size_t size : {size_t{1}, size_t{8}, size_t{48}, size_t{100},
                        size_t{1000}, size_t{4096}, size_t{8192},
                        size_t{14336}}) {
      void* p = engine::Alloc(230, size, 0, false);
      ASSERT_NE(p, nullptr);
      const uint32_t cls = ClassOfUsable(engine::UsableSize(p));
      ASSERT_NE(cls, 0u);
      ASSERT_LT(cls, kFrontFirstLarge);
      const uint16_t before = fc->bins[cls].count;
      engine::Free(p, 230);
      EXPECT_EQ(fc->bins[cls].count, before + 1) << size;
      EXPECT_EQ(fc->bins[cls].head, p);
      EXPECT_EQ(engine::Alloc(230, size, 0, false), p) << size;
      EXPECT_EQ(fc->bins[cls].count, before);
      // A zeroed allocation after a free: same block, zeroed.
      memset(p, 0xee, size);
      engine::Free(p, 230);
      void* q = engine::Alloc(230, size, 0, true);
      EXPECT_EQ(q, p) << size;
      const unsigned char* c = static_cast<const unsigned char*>(q);
      EXPECT_EQ(std::count(c, c + size, 0), static_cast<ptrdiff_t>(size));
      engine::Free(q, 230);
    }
  });
}

TEST_F(FrontCacheTest, OtherGroupsBlocksNeverEnterTheCache) {
  constexpr uint32_t kA = 240, kB = 241;
  int mismatches = 0;
  OnBoundThread(kA, [&] {
    FrontCache* fc = engine::t_front;
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
        engine::Free(a, kA);
        engine::Free(b, kB);
      } else {
        // As free() does: the owner from the owner table.
        engine::Free(b, engine::OwnerOf(b));
        engine::Free(a, engine::OwnerOf(a));
      }
      mismatches += InCache(fc, b);  // B's block never in A's cache
      void* a2 = engine::Alloc(kA, size, 0, round % 3 == 0);
      mismatches += engine::OwnerOf(a2) != kA;
      mismatches += b_blocks.count(a2) != 0;
      void* b2 = engine::Alloc(kB, size, 0, false);
      mismatches += engine::OwnerOf(b2) != kB;
      b_blocks.insert(b2);
      engine::Free(a2, kA);
      engine::Free(b2, kB);
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
  constexpr uint32_t kA = 245, kB = 246;
  std::vector<void*> blocks;
  OnBoundThread(kA, [&] {
    for (int i = 0; i < 40; ++i) blocks.push_back(engine::Alloc(kA, 64, 0, false));
  });
  OnBoundThread(kB, [&] {
    FrontCache* fc = engine::t_front;
    for (void* p : blocks) {
      engine::Free(p, engine::OwnerOf(p));
      EXPECT_FALSE(InCache(fc, p));
    }
    EXPECT_EQ(CachedBlocks(fc), 0u);
    for (int i = 0; i < 40; ++i) {
      void* p = engine::Alloc(kB, 64, 0, false);
      EXPECT_EQ(engine::OwnerOf(p), kB);
      engine::Free(p, kB);
    }
  });
}

// ---------------------------------------------------------------------------
// Rebinding.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, RebindFlushesTheCache) {
  constexpr uint32_t kA = 250, kB = 251;
  const size_t sizes[] = {16, 64, 1000, 5000, 256 * kKiB};
  ASSERT_TRUE(engine::EnsureGroup(kA));
  const uint64_t a_base = AllocatedBytes(kA);
  OnBoundThread(kA, [&] {
    FrontCache* fc = engine::t_front;
    std::set<void*> a_blocks;
    for (size_t size : sizes) {
      void* ps[20];
      for (void*& p : ps) {
        p = engine::Alloc(kA, size, 0, false);
        a_blocks.insert(p);
      }
      for (void* p : ps) engine::Free(p, kA);
    }
    ASSERT_GT(CachedBlocks(fc), 0u);
    ASSERT_GT(fc->large_bytes, 0u);
    ASSERT_GT(AllocatedBytes(kA), a_base);

    ASSERT_TRUE(engine::BindThread(kB));
    ASSERT_NE(engine::t_front, nullptr);
    fc = engine::t_front;
    EXPECT_EQ(fc->group, kB);
    EXPECT_EQ(fc->tag, MakeEntry(kB, 0));
    EXPECT_EQ(CachedBlocks(fc), 0u);
    EXPECT_EQ(fc->large_bytes, 0u);
    // A's cached blocks (front cache and jemalloc's tcache) went back to A.
    EXPECT_EQ(AllocatedBytes(kA), a_base);
    // The old group's cached sizes now come from B.
    for (size_t size : sizes) {
      for (int i = 0; i < 20; ++i) {
        void* p = engine::Alloc(kB, size, 0, false);
        ASSERT_NE(p, nullptr);
        EXPECT_EQ(engine::OwnerOf(p), kB) << size;
        EXPECT_EQ(a_blocks.count(p), 0u);
        EXPECT_EQ(PageEntry(p), ExpectedEntry(p, kB));
        engine::Free(p, kB);
      }
    }
    EXPECT_GT(CachedBlocks(fc), 0u);
    // A is now another group: its blocks bypass B's cache.
    const uint32_t cached = CachedBlocks(fc);
    for (size_t size : sizes) {
      void* p = engine::Alloc(kA, size, 0, false);
      EXPECT_EQ(engine::OwnerOf(p), kA);
      engine::Free(p, kA);
      EXPECT_FALSE(InCache(fc, p));
    }
    EXPECT_EQ(CachedBlocks(fc), cached);
    // Back to A: B's blocks are flushed, A's sizes come from A.
    ASSERT_TRUE(engine::BindThread(kA));
    EXPECT_EQ(engine::t_front->group, kA);
    EXPECT_EQ(CachedBlocks(engine::t_front), 0u);
    for (size_t size : sizes) {
      void* p = engine::Alloc(kA, size, 0, false);
      EXPECT_EQ(engine::OwnerOf(p), kA);
      engine::Free(p, kA);
    }
  });
}

// ---------------------------------------------------------------------------
// Large blocks.
// ---------------------------------------------------------------------------

TEST_F(FrontCacheTest, LargeBlockIsReused) {
  OnBoundThread(260, [] {
    FrontCache* fc = engine::t_front;
    const uint32_t cls = ClassOfUsable(256 * kKiB);
    ASSERT_GE(cls, kFrontFirstLarge);
    void* p = engine::Alloc(260, 256 * kKiB, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(PageEntry(p), MakeEntry(260, cls));
    engine::Free(p, 260);
    EXPECT_EQ(fc->bins[cls].count, 1u);
    EXPECT_EQ(fc->large_bytes, 256 * kKiB);
    EXPECT_EQ(engine::Alloc(260, 256 * kKiB, 0, false), p);
    EXPECT_EQ(fc->bins[cls].count, 0u);
    EXPECT_EQ(fc->large_bytes, 0u);
    // One block per large class: a second one goes back to jemalloc.
    void* q = engine::Alloc(260, 224 * kKiB + 1, 0, false);  // same class
    ASSERT_EQ(ClassOfUsable(engine::UsableSize(q)), cls);
    engine::Free(p, 260);
    engine::Free(q, 260);
    EXPECT_EQ(fc->bins[cls].count, 1u);
    EXPECT_EQ(fc->bins[cls].head, p);
    EXPECT_EQ(fc->large_bytes, 256 * kKiB);
    // Zeroed reuse of a dirty cached block.
    memset(p, 0x77, 256 * kKiB);
    void* z = engine::Alloc(260, 256 * kKiB, 0, true);
    EXPECT_EQ(z, p);
    const unsigned char* c = static_cast<const unsigned char*>(z);
    EXPECT_EQ(std::count(c, c + 256 * kKiB, 0),
              static_cast<ptrdiff_t>(256 * kKiB));
    engine::Free(z, 260);
    // Blocks above kFrontMaxBytes are never cached.
    void* big = engine::Alloc(260, 5 * kMiB, 0, false);
    EXPECT_EQ(PageEntry(big), MakeEntry(260, 0));
    engine::Free(big, 260);
    EXPECT_FALSE(InCache(fc, big));
    EXPECT_EQ(fc->large_bytes, 256 * kKiB);
  });
}

TEST_F(FrontCacheTest, LargeBinsRespectTheBudget) {
  constexpr uint32_t kG = 265;
  OnBoundThread(kG, [] {
    FrontCache* fc = engine::t_front;
    auto check = [fc](const char* when) {
      EXPECT_LE(fc->large_bytes, kFrontLargeBudget) << when;
      EXPECT_EQ(fc->large_bytes, HeldLargeBytes(fc)) << when;
      for (uint32_t c = kFrontFirstLarge; c < kFrontClasses; ++c) {
        EXPECT_LE(fc->bins[c].count, 1u) << when << " class " << c;
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
    engine::Free(b1, kG);
    check("b1");
    EXPECT_EQ(fc->large_bytes, kMiB);
    engine::Free(b2, kG);
    check("b2");
    EXPECT_EQ(fc->large_bytes, 3 * kMiB);
    engine::Free(s16, kG);
    check("s16");
    EXPECT_EQ(fc->large_bytes, 3 * kMiB + 16 * kKiB);
    // 3 MiB more is over the budget: the largest held blocks go first (2 MiB,
    // then 1 MiB) until it fits.
    engine::Free(b3, kG);
    check("b3");
    EXPECT_EQ(held(2 * kMiB), 0u);
    EXPECT_EQ(held(kMiB), 0u);
    EXPECT_EQ(held(16 * kKiB), 1u);
    EXPECT_EQ(held(3 * kMiB), 1u);
    EXPECT_EQ(fc->large_bytes, 3 * kMiB + 16 * kKiB);
    // 4 MiB (the whole budget): everything else goes.
    engine::Free(b4, kG);
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
      engine::Free(p, kG);
      check("varied");
    }
    EXPECT_GT(fc->large_bytes, 0u);
    // Purge flushes the calling thread's cache.
    engine::Purge(kG);
    EXPECT_EQ(fc->large_bytes, 0u);
    EXPECT_EQ(CachedBlocks(fc), 0u);
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
      engine::Free(live[k], group);
      live[k] = live.back();
      live.pop_back();
    }
  }
  for (size_t i = 0; i < live.size(); ++i) {
    if (keep != nullptr && i % 10 == 0) {
      keep->push_back(live[i]);
    } else {
      engine::Free(live[i], group);
    }
  }
}

TEST_F(FrontCacheTest, ThreadExitReturnsCachedBlocksToTheArena) {
  constexpr uint32_t kG = 270;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint64_t base = AllocatedBytes(kG);
  const std::map<uint64_t, uint64_t> base_hist = Histogram(kG);
  std::vector<void*> keep;
  OnBoundThread(kG, [&] {
    Churn(kG, 20000, &keep);
    // The caches hold blocks: the arena counts them as allocated.
    EXPECT_GT(CachedBlocks(engine::t_front), 0u);
    uint64_t kept = 0;
    for (void* p : keep) kept += engine::UsableSize(p);
    EXPECT_GT(AllocatedBytes(kG), base + kept);
  });
  ASSERT_FALSE(keep.empty());
  uint64_t kept = 0;
  std::map<uint64_t, uint64_t> want = base_hist;
  for (void* p : keep) {
    kept += engine::UsableSize(p);
    ++want[engine::UsableSize(p)];
  }
  // Only the blocks still in use remain out of the arena.
  EXPECT_EQ(AllocatedBytes(kG), base + kept);
  EXPECT_EQ(Histogram(kG), want);
  // Freed by another thread of the group, which then exits: back to base.
  OnBoundThread(kG, [&] {
    for (void* p : keep) engine::Free(p, kG);
  });
  EXPECT_EQ(AllocatedBytes(kG), base);
  EXPECT_EQ(Histogram(kG), base_hist);
}

TEST_F(FrontCacheTest, PurgeFlushesTheCallingThreadsCache) {
  constexpr uint32_t kG = 275;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint64_t base = AllocatedBytes(kG);
  OnBoundThread(kG, [&] {
    Churn(kG, 5000, nullptr);
    ASSERT_GT(CachedBlocks(engine::t_front), 0u);
    engine::Purge(kG);
    EXPECT_EQ(CachedBlocks(engine::t_front), 0u);
    EXPECT_EQ(engine::t_front->large_bytes, 0u);
    EXPECT_EQ(engine::t_front->group, kG);
    EXPECT_EQ(AllocatedBytes(kG), base);
    // Still usable afterwards.
    void* p = engine::Alloc(kG, 64, 0, false);
    EXPECT_EQ(engine::OwnerOf(p), kG);
    engine::Free(p, kG);
    EXPECT_EQ(engine::Alloc(kG, 64, 0, false), p);
    engine::Free(p, kG);
  });
}

TEST_F(FrontCacheTest, ExitedThreadsCacheIsRecycledEmpty) {
  FrontCache* first = nullptr;
  OnBoundThread(280, [&] {
    first = engine::t_front;
    Churn(280, 2000, nullptr);
  });
  ASSERT_NE(first, nullptr);
  OnBoundThread(281, [&] {
    // The free list is LIFO and no other thread exits meanwhile.
    EXPECT_EQ(engine::t_front, first);
    EXPECT_EQ(engine::t_front->group, 281u);
    EXPECT_EQ(engine::t_front->tag, MakeEntry(281, 0));
    EXPECT_EQ(CachedBlocks(engine::t_front), 0u);
    EXPECT_EQ(engine::t_front->large_bytes, 0u);
    void* p = engine::Alloc(281, 100, 0, false);
    EXPECT_EQ(engine::OwnerOf(p), 281u);
    engine::Free(p, 281);
  });
  // After ThreadExit the thread has no cache and still allocates correctly.
  std::thread t([] {
    ASSERT_TRUE(engine::BindThread(282));
    engine::ThreadExit();
    EXPECT_EQ(engine::t_front, nullptr);
    void* p = engine::Alloc(282, 100, 0, false);
    EXPECT_EQ(engine::OwnerOf(p), 282u);
    EXPECT_EQ(PageEntry(p), ExpectedEntry(p, 282));
    engine::Free(p, 282);
  });
  t.join();
}

// ---------------------------------------------------------------------------
// fork(2).
// ---------------------------------------------------------------------------

// Reports a failed check in a fork child on stderr (no allocation: a stack
// buffer and write(2)) and returns its non-zero code.
int ChildFail(int code, const char* what, uint32_t group, size_t size,
              const void* p) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "fork child: check %d (%s) failed: group %u size %zu p %p "
                   "owner %u entry %#x expected %#x\n",
                   code, what, group, size, p,
                   p != nullptr ? engine::OwnerOf(p) : kNoGroup,
                   p != nullptr ? PageEntry(p) : 0u,
                   p != nullptr ? ExpectedEntry(p, group) : 0u);
  if (n > 0) (void)!write(2, buf, static_cast<size_t>(n));
  return code;
}

// The child runs this and exits with the code of the first failed check
// (0: all passed).
int ChildAllocates(uint32_t group) {
  const size_t sizes[] = {8, 48, 4000, 5000, 256 * kKiB, kMiB, 3 * kMiB,
                          5 * kMiB};
  auto use = [&](uint32_t g, int code) {
    for (size_t size : sizes) {
      void* p = engine::Alloc(g, size, 0, false);
      if (p == nullptr) return ChildFail(code, "alloc", g, size, p);
      if (engine::OwnerOf(p) != g) return ChildFail(code + 1, "owner", g, size, p);
      if (PageEntry(p) != ExpectedEntry(p, g)) {
        return ChildFail(code + 2, "page entry", g, size, p);
      }
      memset(p, 1, size);
      engine::Free(p, g);
    }
    return 0;
  };
  int rc = 0;
  if ((rc = use(group, 10)) != 0) return rc;      // unbound: other-group path
  if ((rc = use(group + 1, 20)) != 0) return rc;
  if (!engine::BindThread(group)) return ChildFail(30, "bind", group, 0, nullptr);
  FrontCache* fc = engine::t_front;
  if (fc == nullptr || fc->group != group) {
    return ChildFail(31, "t_front", group, 0, nullptr);
  }
  if ((rc = use(group, 40)) != 0) return rc;      // bound: front cache path
  if ((rc = use(group + 1, 50)) != 0) return rc;
  // Reuse through the child's own cache.
  for (size_t size : sizes) {
    if (ClassOfUsable(engine::GoodSize(size, 0)) == 0) continue;
    void* p = engine::Alloc(group, size, 0, false);
    engine::Free(p, group);
    void* q = engine::Alloc(group, size, 0, false);
    if (q != p) return ChildFail(60, "reuse", group, size, q);
    engine::Free(q, group);
  }
  engine::ThreadExit();
  return 0;
}

// A thread holding blocks in its front cache at fork: in the child, the
// other thread does not exist; its cache is left alone (fork may have caught
// it mid-update, see ForkDuringAnotherThreadsFlushFreesNothingTwice), so its
// blocks stay allocated in the child, and the child allocates normally.
TEST_F(FrontCacheTest, ForkChildLeavesOtherThreadsCacheAlone) {
  constexpr uint32_t kG = 290;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  ASSERT_TRUE(engine::EnsureGroup(kG + 1));
  const uint64_t base = AllocatedBytes(kG);
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false};
  uint64_t held = 0;
  std::thread holder([&] {
    ASSERT_TRUE(engine::BindThread(kG));
    for (size_t size : {size_t{48}, size_t{4000}, 256 * kKiB, kMiB}) {
      void* ps[16];
      const int n = size > 16 * kKiB ? 1 : 16;
      for (int i = 0; i < n; ++i) ps[i] = engine::Alloc(kG, size, 0, false);
      for (int i = 0; i < n; ++i) engine::Free(ps[i], kG);
    }
    // Only the front cache holds blocks of kG now.
    EXPECT_EQ(engine::Mallctl("thread.tcache.flush", nullptr, nullptr,
                              nullptr, 0),
              0);
    const FrontCache* fc = engine::t_front;
    for (uint32_t c = 1; c < kFrontClasses; ++c) {
      held += uint64_t{fc->bins[c].count} * fc->bins[c].size;
    }
    ready.store(1, std::memory_order_release);
    while (!stop.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    engine::ThreadExit();
  });
  while (ready.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  ASSERT_GT(held, 0u);
  ASSERT_EQ(AllocatedBytes(kG), base + held);
  for (int i = 0; i < 3; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The holder's cached blocks are neither freed nor reused.
      EngineGroupStats s{};
      int bad = engine::GroupStats(kG, &s) ? 0 : 1;
      bad += s.allocated_bytes != base + held;
      if (bad != 0) _exit(ChildFail(1, "allocated_bytes", kG, 0, nullptr));
      _exit(ChildAllocates(kG));
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "fork " << i;
    // The parent's holder still owns its blocks.
    EXPECT_EQ(AllocatedBytes(kG), base + held);
  }
  stop.store(true, std::memory_order_release);
  holder.join();
  EXPECT_EQ(AllocatedBytes(kG), base);
}

// jemalloc's experimental dalloc hook (include/jemalloc/internal/hook.h of
// jemalloc 5.3, private ABI, installed with mallctl
// "experimental.hooks.install"): called on the freeing thread before every
// deallocation, outside jemalloc's locks.
struct JeHooks {
  void (*alloc_hook)(void*, int, void*, uintptr_t, uintptr_t*);
  void (*dalloc_hook)(void* extra, int type, void* address, uintptr_t* args);
  void (*expand_hook)(void*, int, void*, size_t, size_t, uintptr_t,
                      uintptr_t*);
  void* extra;
};

// The thread the hook pauses, the frees it has seen since it was armed, and
// the handshake with the forking thread.
std::atomic<pthread_t> g_pause_thread{};
std::atomic<bool> g_pause_armed{false};
std::atomic<int> g_pause_frees{0};
std::atomic<bool> g_paused{false};
std::atomic<bool> g_resume{false};

void PauseOnSecondFree(void*, int, void*, uintptr_t*) {
  if (!g_pause_armed.load() || !pthread_equal(g_pause_thread.load(), pthread_self())) {
    return;
  }
  if (g_pause_frees.fetch_add(1) != 1) return;  // the second free: pause
  g_paused.store(true);
  while (!g_resume.load()) sched_yield();
}

// Regression test: threads update their front caches with plain stores and
// nothing orders that with fork() (the fast paths take no lock), so a thread
// forked in the middle of a flush (rebind, Purge, exit) or of front::Push
// (large eviction, half flush of a full small bin) has returned some blocks
// while its bin still lists them. A child that reclaimed the lost threads'
// caches freed those blocks a second time (SIGSEGV in
// large_dalloc_prep_impl for large blocks); front::ChildFork therefore
// leaves them alone. Here the owner is paused (deterministically, by a
// jemalloc dalloc hook) inside engine::Purge -> front::Flush after the
// first of its cached large blocks went back to jemalloc and before the
// next one did (small blocks go to the slabs, which jemalloc's hooks do not
// see); its automatic tcache is disabled so that these frees reach the arena
// at once. Expected: the child's arena counts exactly what the parent's did
// at fork (nothing freed twice).
TEST_F(FrontCacheTest, ForkDuringAnotherThreadsFlushFreesNothingTwice) {
  constexpr uint32_t kG = 300;
  constexpr size_t kSize = 48;
  // Three large classes, one cached block each, flushed in this order.
  constexpr size_t kLarge[] = {20 * kKiB, 24 * kKiB, 28 * kKiB};
  ASSERT_TRUE(engine::EnsureGroup(kG));
  // A few blocks in use, so that the arena's count has room below it.
  std::vector<void*> live;
  OnBoundThread(kG, [&] {
    for (int i = 0; i < 4; ++i) live.push_back(engine::Alloc(kG, kSize, 0, false));
  });
  const uint64_t base = AllocatedBytes(kG);
  ASSERT_EQ(base, 4 * kSize);

  JeHooks hooks{nullptr, PauseOnSecondFree, nullptr, nullptr};
  void* handle = nullptr;
  size_t hlen = sizeof(handle);
  ASSERT_EQ(engine::Mallctl("experimental.hooks.install", &handle, &hlen,
                            &hooks, sizeof(hooks)),
            0);
  g_pause_frees = 0;
  g_paused = false;
  g_resume = false;
  std::atomic<uint32_t> cached{0};
  std::thread owner([&] {
    ASSERT_TRUE(engine::BindThread(kG));
    bool off = false;
    ASSERT_EQ(engine::Mallctl("thread.tcache.enabled", nullptr, nullptr, &off,
                              sizeof(off)),
              0);
    void* ps[3];
    for (int i = 0; i < 3; ++i) ps[i] = engine::Alloc(kG, kLarge[i], 0, false);
    for (void* p : ps) engine::Free(p, kG);
    cached.store(CachedBlocks(engine::t_front));
    ASSERT_EQ(cached.load(), 3u);
    g_pause_thread.store(pthread_self());
    g_pause_armed.store(true);
    engine::Purge(kG);  // FlushAll: paused on its second mgje_free
    g_pause_armed.store(false);
    EXPECT_EQ(CachedBlocks(engine::t_front), 0u);
    engine::ThreadExit();
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!g_paused.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  if (!g_paused.load()) {
    g_resume.store(true);
    owner.join();
    (void)engine::Mallctl("experimental.hooks.remove", nullptr, nullptr,
                          &handle, sizeof(handle));
    FAIL() << "the dalloc hook never paused the owner";
  }
  // The owner sits between two frees: the first large block is back in the
  // arena, the cache still lists all three.
  const uint64_t parent_before = AllocatedBytes(kG);
  EXPECT_EQ(parent_before, base + kLarge[1] + kLarge[2]);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // ChildFork ran and left the owner's cache alone.
    EngineGroupStats s{};
    int rc = engine::GroupStats(kG, &s) ? 0 : 2;
    if (rc == 0 && s.allocated_bytes != parent_before) {
      char buf[160];
      int n = snprintf(buf, sizeof(buf),
                       "fork child: allocated_bytes %llu, expected %llu "
                       "(block(s) freed twice)\n",
                       static_cast<unsigned long long>(s.allocated_bytes),
                       static_cast<unsigned long long>(parent_before));
      if (n > 0) (void)!write(2, buf, static_cast<size_t>(n));
      rc = 1;
    }
    _exit(rc);
  }
  g_resume.store(true);
  owner.join();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "the fork child freed blocks the paused owner had already returned "
         "(parent had "
      << parent_before << " allocated bytes in the group at fork, base "
      << base << ")";
  ASSERT_EQ(engine::Mallctl("experimental.hooks.remove", nullptr, nullptr,
                            &handle, sizeof(handle)),
            0);
  // The parent is consistent: only `live` is allocated.
  EXPECT_EQ(AllocatedBytes(kG), base);
  OnBoundThread(kG, [&] {
    for (void* p : live) engine::Free(p, kG);
  });
  EXPECT_EQ(AllocatedBytes(kG), 0u);
}

// The ForkWithConcurrentAllocation pattern (engine_test.cc) with threads
// whose front caches churn the sizes the child then uses, including large
// evictions (a 3 MiB free while holding 1 MiB and 256 KiB blocks).
TEST_F(FrontCacheTest, ForkWithConcurrentFrontCacheUse) {
  constexpr uint32_t kG = 295;
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&stop, &started, i] {
      ASSERT_TRUE(engine::BindThread(kG + i));
      started.fetch_add(1);
      const size_t sizes[] = {8, 48, 4000, 5000, 256 * kKiB, kMiB, 3 * kMiB};
      void* held[8] = {};
      uint32_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        uint32_t g = kG + i;
        size_t size = sizes[n % 7];
        void* p = engine::Alloc(g, size, 0, n % 11 == 0);
        uint32_t slot = n % 8;
        if (held[slot] != nullptr) engine::Free(held[slot], g);
        held[slot] = p;
        if (n % 5 == 0) {  // the other worker's group: not cached here
          void* q = engine::Alloc(kG + 1 - i, size, 0, false);
          engine::Free(q, kG + 1 - i);
        }
        ++n;
      }
      for (void* p : held) {
        if (p != nullptr) engine::Free(p, kG + i);
      }
      engine::ThreadExit();
    });
  }
  while (started.load() < 2) std::this_thread::yield();
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(ChildAllocates(kG));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "fork " << i << ": exit code "
        << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ", signal "
        << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace memgroup::internal
