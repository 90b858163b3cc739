// Tests of the engine's slabs (src/engine/slab.{h,cc}): every small block is
// a slab region of its group with the right page-map entry and alignment;
// slabs fill, drain and go back to jemalloc; realloc moves into and out of
// the small classes; the statistics count regions, not slabs; and threads
// allocating and freeing one group's blocks across each other leave every
// bin at exactly zero; the transfer cache (transfer_cache.h) carries one
// thread's flushed regions to another thread's refill and gives everything
// back when drained.
//
// Every scenario runs on its own std::thread(s) and uses its own groups.
#include "engine/slab.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#include "engine/transfer_cache.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

using engine::ClassOfUsable;
using engine::g_usable_of_class;
using engine::kFrontFirstLarge;
using engine::slab::kSlabBytes;
using engine::slab::kSmallClasses;

constexpr size_t kKiB = size_t{1} << 10;

class SlabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InitEngineOnce();
    ASSERT_NE(g_usable_of_class[1], 0u) << "front cache (and slabs) disabled";
  }
};

using testing::OnBoundThread;

template <typename F>
void OnUnboundThread(F body) {
  std::thread t([&] {
    body();
    engine::ThreadExit();
  });
  t.join();
}

uint64_t TotalRegionsOut(uint32_t group) {
  uint64_t n = 0;
  for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
    n += engine::slab::RegionsOut(group, cls);
  }
  return n;
}

// Gives `regions` (of one group and class) back to the slab layer in one
// list, linked through their first words, in the vector's order.
void FreeAsOneList(uint32_t group, uint32_t cls,
                   const std::vector<void*>& regions) {
  for (size_t i = 0; i + 1 < regions.size(); ++i) {
    *static_cast<void**>(regions[i]) = regions[i + 1];
  }
  engine::slab::FreeBatch(group, cls, regions[0],
                          static_cast<uint32_t>(regions.size()));
}

TEST_F(SlabTest, SmallClassesAreTheFrontCacheClasses) {
  EXPECT_EQ(kSmallClasses + 1, kFrontFirstLarge);
  EXPECT_EQ(g_usable_of_class[kSmallClasses], 14 * kKiB);
  // Every small class fits at least four regions in a slab after its
  // header (its header and colour under 1 KiB, rounded up to a region;
  // out of line from 1 KiB on).
  EXPECT_GE((kSlabBytes - 4096) / g_usable_of_class[kSmallClasses], 4u);
}

// A batch straight from the slab layer: distinct regions inside the group's
// chunks, published with (group, class), all in slabs of 64 KiB, region 0
// in the header's page; given back, the bin is empty again and at most one
// free slab stays.
TEST_F(SlabTest, BatchesComeFromPublishedSlabsAndGoBack) {
  constexpr uint32_t kG = 500;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  // A new group's bins hold no slab until the first batch.
  engine::slab::GroupSlabStats before{};
  engine::slab::Stats(kG, &before);
  EXPECT_EQ(before.slabs, 0u);
  for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
    const uint32_t size = g_usable_of_class[cls];
    // Enough regions for several slabs.
    const uint32_t want = static_cast<uint32_t>(3 * kSlabBytes / size) + 7;
    std::vector<void*> got;
    while (got.size() < want) {
      void* batch[64];
      uint32_t n = engine::slab::AllocBatch(kG, cls, batch, 64);
      ASSERT_GT(n, 0u);
      got.insert(got.end(), batch, batch + n);
    }
    std::vector<uintptr_t> sorted;
    for (void* p : got) {
      ASSERT_EQ(owner_table::OwnerOf(p), kG);
      ASSERT_EQ(owner_table::PageEntry(p), owner_table::MakeEntry(kG, cls));
      ASSERT_EQ(engine::UsableSize(p), size);
      // Regions lie at multiples of their size from the slab's start (what
      // free's inline test checks, OnRegionGrid), after the slab's header
      // and bitmap below 1 KiB; from 1 KiB on the header is out of line
      // and the regions fill the slab from its start.
      const uintptr_t a = reinterpret_cast<uintptr_t>(p);
      ASSERT_EQ((a & (kSlabBytes - 1)) % size, 0u) << cls;
      ASSERT_TRUE(engine::OnRegionGrid(p, engine::RegionMagic(size))) << cls;
      if (size < kKiB) {
        ASSERT_GE(a & (kSlabBytes - 1), 64u + 8u) << cls;
      }
      ASSERT_LE((a & (kSlabBytes - 1)) + size, kSlabBytes) << cls;
      memset(p, 0x5a, size);
      sorted.push_back(a);
    }
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i) {
      ASSERT_GE(sorted[i] - sorted[i - 1], size) << "overlapping regions";
    }
    // A slab's region 0 (its lowest, taken first) shares the header's page
    // whatever the slab's colour: a new slab's first take writes one page.
    for (size_t i = 0; i < sorted.size(); ++i) {
      const bool lowest_of_slab =
          i == 0 || (sorted[i] ^ sorted[i - 1]) >= kSlabBytes;
      if (lowest_of_slab && size < kKiB) {
        ASSERT_LT(sorted[i] & (kSlabBytes - 1), 4096u) << cls;
      }
    }
    EXPECT_EQ(engine::slab::RegionsOut(kG, cls), got.size());
    // Back in batches of up to 64.
    for (size_t i = 0; i < got.size(); i += 64) {
      FreeAsOneList(kG, cls,
                    std::vector<void*>(got.begin() + i,
                                       got.begin() + std::min<size_t>(
                                                         i + 64, got.size())));
    }
    EXPECT_EQ(engine::slab::RegionsOut(kG, cls), 0u);
  }
  engine::slab::GroupSlabStats st{};
  engine::slab::Stats(kG, &st);
  EXPECT_EQ(st.allocated_bytes, 0u);
  EXPECT_LE(st.slabs, kSmallClasses);  // one kept free slab per class at most
  EXPECT_EQ(st.slab_allocs - st.slab_frees, st.slabs);
  EXPECT_EQ(st.nmalloc, st.ndalloc);
  engine::slab::ReleaseEmpty(kG);
  engine::slab::Stats(kG, &st);
  EXPECT_EQ(st.slabs, 0u);
  EXPECT_EQ(st.slab_bytes, 0u);
}

// Whether the kernel maps pages in on madvise(MADV_POPULATE_WRITE) (Linux
// 5.14); without it the engine's takes leave their pages to the faults.
bool KernelPopulates() {
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  const bool ok = madvise(m, 4096, MADV_POPULATE_WRITE) == 0;
  munmap(m, 4096);
  return ok;
}

// Whether the page holding p is resident.
bool Resident(const void* p) {
  unsigned char v = 0;
  void* page = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) &
                                       ~uintptr_t{4095});
  return mincore(page, 4096, &v) == 0 && (v & 1) != 0;
}

// A class's first take in a group ends in the page of its first region,
// wherever the slab's colour put region 0: every class, 1 to a page's worth
// of regions, each whole in that page (one region if it cannot be). The
// second take goes on from there.
TEST_F(SlabTest, FirstTakeOfAClassStaysInTheFirstRegionsPage) {
  constexpr uint32_t kG = 516;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
    const size_t size = g_usable_of_class[cls];
    void* batch[64];
    const uint32_t n = engine::slab::AllocBatch(kG, cls, batch, 64);
    ASSERT_GT(n, 0u) << size;
    const uintptr_t first = reinterpret_cast<uintptr_t>(batch[0]);
    const uintptr_t page_end = (first | 4095) + 1;
    const uintptr_t end = reinterpret_cast<uintptr_t>(batch[n - 1]) + size;
    if (size <= 4096 - (first & 4095)) {
      EXPECT_LE(end, page_end) << size << " B: " << n << " regions";
      EXPECT_EQ(n, std::min<size_t>(64, (page_end - first) / size)) << size;
    } else {
      EXPECT_EQ(n, 1u) << size;
    }
    void* next[64];
    const uint32_t m = engine::slab::AllocBatch(kG, cls, next, 64);
    ASSERT_GT(m, 0u) << size;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(next[0]), end) << size;
    std::vector<void*> all(batch, batch + n);
    all.insert(all.end(), next, next + m);
    FreeAsOneList(kG, cls, all);
  }
}

// A take that crosses two or more pages no take crossed before maps them in
// at once, charged, before anything writes them (slab.cc, Populate); the
// slab's pages past the take stay unmapped. A class of 2 KiB, whose slabs
// start with region 0 (out-of-line header), in a new group: its takes grow
// from one page to several (BatchLimit).
TEST_F(SlabTest, TakeMapsInTheFreshPagesItCrossesAndNoOthers) {
  if (!KernelPopulates()) GTEST_SKIP() << "no MADV_POPULATE_WRITE";
  constexpr uint32_t kG = 513;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint32_t cls = ClassOfUsable(2 * kKiB);
  ASSERT_EQ(g_usable_of_class[cls], 2 * kKiB);
  std::vector<void*> got;
  bool saw_multi_page_take = false;
  while (got.size() < kSlabBytes / (2 * kKiB)) {
    void* batch[64];
    const uint32_t n = engine::slab::AllocBatch(kG, cls, batch, 64);
    ASSERT_GT(n, 0u);
    // Regions of one slab, in address order, nothing written to them.
    const char* lo = static_cast<char*>(batch[0]);
    const char* hi = static_cast<char*>(batch[n - 1]) + 2 * kKiB;
    const size_t pages = (hi - lo + 4095) / 4096;
    if (pages >= 2) {
      saw_multi_page_take = true;
      for (const char* q = lo; q < hi; q += 4096) {
        EXPECT_TRUE(Resident(q)) << "page " << (q - lo) / 4096 << " of "
                                 << pages;
      }
    }
    const uintptr_t slab_end =
        (reinterpret_cast<uintptr_t>(lo) | (kSlabBytes - 1)) + 1;
    if (reinterpret_cast<uintptr_t>(hi) < slab_end) {
      EXPECT_FALSE(Resident(hi)) << "a page past the take";
    }
    got.insert(got.end(), batch, batch + n);
  }
  EXPECT_TRUE(saw_multi_page_take);
  FreeAsOneList(kG, cls, got);
  EXPECT_EQ(engine::slab::RegionsOut(kG, cls), 0u);
}

// A take hands out a slab's lowest free regions, in address order, whatever
// the runs of free regions in its bitmap: a new slab's regions one after
// another; then, with a pattern given back (runs of 1 to 4 regions, and a
// run of 200 spanning whole bitmap words), takes of 7 get exactly those
// regions, lowest first, each once, and a run split by a take's end goes
// on in the next take.
TEST_F(SlabTest, TakesHandOutTheLowestFreeRegionsInAddressOrder) {
  constexpr uint32_t kG = 514;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  const uint32_t cls = 1;
  const uint32_t size = g_usable_of_class[cls];
  constexpr size_t kTaken = 2000;  // all in the group's first slab
  ASSERT_LT(kTaken * size, kSlabBytes - 4096);
  std::vector<void*> got;
  while (got.size() < kTaken) {
    void* batch[64];
    const uint32_t want =
        static_cast<uint32_t>(std::min<size_t>(64, kTaken - got.size()));
    const uint32_t n = engine::slab::AllocBatch(kG, cls, batch, want);
    ASSERT_GT(n, 0u);
    got.insert(got.end(), batch, batch + n);
  }
  for (size_t i = 1; i < got.size(); ++i) {
    ASSERT_EQ(static_cast<char*>(got[i]) - static_cast<char*>(got[i - 1]),
              static_cast<ptrdiff_t>(size))
        << "region " << i;
  }
  std::vector<void*> back;
  std::vector<void*> kept;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool in_pattern = i % 11 < (i / 11) % 5;  // runs of 0 to 4
    const bool in_long_run = i >= 700 && i < 900;
    (in_pattern || in_long_run ? back : kept).push_back(got[i]);
  }
  // Given back in another order than the address order.
  std::vector<void*> shuffled = back;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));
  FreeAsOneList(kG, cls, shuffled);
  EXPECT_EQ(engine::slab::RegionsOut(kG, cls), kept.size());
  std::vector<void*> again;
  while (again.size() < back.size()) {
    void* batch[7];
    const uint32_t want =
        static_cast<uint32_t>(std::min<size_t>(7, back.size() - again.size()));
    const uint32_t n = engine::slab::AllocBatch(kG, cls, batch, want);
    ASSERT_GT(n, 0u);
    ASSERT_LE(n, want);
    again.insert(again.end(), batch, batch + n);
  }
  EXPECT_EQ(again, back);
  kept.insert(kept.end(), again.begin(), again.end());
  FreeAsOneList(kG, cls, kept);
  EXPECT_EQ(engine::slab::RegionsOut(kG, cls), 0u);
}

// For each small class that `want(size)` accepts, in a new group kG: takes
// regions until the group's first slab of the class has none left (a take
// hands out the lowest free first), runs body(cls, regions) on that slab's
// regions in address order, then gives back every region taken but the one
// body returns (given back by body itself), ending with none out.
template <typename Want, typename F>
void ForEachFirstSlab(uint32_t kG, Want want, F body) {
  ASSERT_TRUE(engine::EnsureGroup(kG));
  for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
    if (!want(g_usable_of_class[cls])) continue;
    std::vector<void*> got;
    std::vector<uintptr_t> first_slab;
    uintptr_t slab = 0;
    bool full = false;
    while (!full) {
      void* batch[64];
      const uint32_t n = engine::slab::AllocBatch(kG, cls, batch, 64);
      ASSERT_GT(n, 0u);
      for (uint32_t i = 0; i < n; ++i) {
        const uintptr_t a = reinterpret_cast<uintptr_t>(batch[i]);
        if (slab == 0) slab = a & ~(kSlabBytes - 1);
        if ((a & ~(kSlabBytes - 1)) == slab) {
          first_slab.push_back(a);
        } else {
          full = true;
        }
        got.push_back(batch[i]);
      }
    }
    ASSERT_TRUE(std::is_sorted(first_slab.begin(), first_slab.end()));
    const void* given_back = body(cls, first_slab);
    for (void* p : got) {
      if (p != given_back) engine::slab::FreeOne(kG, cls, p);
    }
    EXPECT_EQ(engine::slab::RegionsOut(kG, cls), 0u) << g_usable_of_class[cls];
  }
  engine::slab::ReleaseEmpty(kG);
}

// Below 1 KiB a slab starts with its bitmap and nothing else (its header is
// in its side slot, slab_meta.h): with every region of the group's first
// slab taken, giving back its fourth region sets bit 3 of the slab's first
// word, and no other.
TEST_F(SlabTest, BelowOneKiBASlabStartsWithItsBitmap) {
  ForEachFirstSlab(
      515, [](uint32_t size) { return size < kKiB; },
      [](uint32_t cls, const std::vector<uintptr_t>& regions) {
        const uint32_t size = g_usable_of_class[cls];
        EXPECT_GT(regions.size(), 4u) << size;
        const auto* word0 =
            reinterpret_cast<const uint64_t*>(regions[0] & ~(kSlabBytes - 1));
        EXPECT_EQ(*word0, 0u) << size;
        void* fourth = reinterpret_cast<void*>(regions[3]);
        engine::slab::FreeOne(515, cls, fourth);
        EXPECT_EQ(*word0, uint64_t{1} << 3) << size;
        return fourth;
      });
}

// A slab's region check (CheckRegion, which free's slow path and
// malloc_usable_size use) finds a region at every region's start and at no
// other of the slab's 65,536 offsets, for every small class: the index and
// the divisibility test share one multiply (slab_meta.h, RegionIndexAt).
TEST_F(SlabTest, RegionCheckKnowsEveryRegionStartAndNoOtherOffset) {
  ForEachFirstSlab(
      516, [](uint32_t) { return true; },
      [](uint32_t cls, const std::vector<uintptr_t>& regions) {
        const uintptr_t slab = regions[0] & ~(kSlabBytes - 1);
        size_t next = 0;  // the next region start
        uint32_t wrong = 0;
        for (uintptr_t off = 0; off < kSlabBytes; ++off) {
          const bool start =
              next < regions.size() && slab + off == regions[next];
          if (start) ++next;
          const auto state = engine::slab::CheckRegion(
              reinterpret_cast<void*>(slab + off), 516, cls,
              /*check_free=*/false);
          wrong += (state == engine::slab::RegionState::kHeld) != start;
        }
        EXPECT_EQ(next, regions.size());
        EXPECT_EQ(wrong, 0u) << "class " << cls << ", "
                             << g_usable_of_class[cls] << " bytes";
        return nullptr;
      });
}

// From 1 KiB on, a slab's bitmap is in its header and its regions fill it
// from its start: every slab of a class holds kSlabBytes / size regions
// (the 4608-byte class 14, where jemalloc's 5 KiB class fits 12; the
// page-multiple classes 16 of 4 KiB, 8 of 8 KiB, 5 of 12 KiB).
TEST_F(SlabTest, FromOneKiBSlabsFillFromTheirStart) {
  constexpr uint32_t kG = 507;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
    const uint32_t size = g_usable_of_class[cls];
    if (size < kKiB) continue;
    std::vector<void*> got;
    std::map<uintptr_t, uint32_t> per_slab;
    while (per_slab.size() < 66) {
      void* batch[64];
      uint32_t n = engine::slab::AllocBatch(kG, cls, batch, 64);
      ASSERT_GT(n, 0u);
      for (uint32_t i = 0; i < n; ++i) {
        got.push_back(batch[i]);
        ++per_slab[reinterpret_cast<uintptr_t>(batch[i]) & ~(kSlabBytes - 1)];
      }
    }
    uint32_t most = 0;
    for (const auto& [base, n] : per_slab) most = std::max(most, n);
    uint32_t full = 0;
    for (const auto& [base, n] : per_slab) full += n == most;
    // All but the slab still being filled are full.
    EXPECT_GE(full, per_slab.size() - 1) << size;
    EXPECT_GE(most * size, kSlabBytes - size - 4 * kKiB) << size;
    if (size == 4608) {
      EXPECT_EQ(most, 14u);
    }
    EXPECT_EQ(most, kSlabBytes / size) << size;
    for (size_t i = 0; i < got.size(); ++i) {
      engine::slab::FreeOne(kG, cls, got[i]);
    }
    EXPECT_EQ(engine::slab::RegionsOut(kG, cls), 0u);
  }
  engine::slab::ReleaseEmpty(kG);
}

// free's inline region test (OnRegionGrid, front_cache.h) agrees with the
// remainder for every small class and every offset in a slab, whatever the
// pointer's high bits; a magic of 0 fails every pointer (check mode).
TEST(RegionGridTest, MatchesTheRemainderForEveryClassAndOffset) {
  testing::InitEngineOnce();
  ASSERT_EQ(engine::kRegionGridSpan, kSlabBytes);
  for (uint32_t cls = 1; cls <= kSmallClasses; ++cls) {
    const uint32_t size = g_usable_of_class[cls];
    const uint32_t magic = engine::RegionMagic(size);
    uint32_t mismatches = 0;
    for (uintptr_t n = 0; n < kSlabBytes; ++n) {
      for (uintptr_t high : {uintptr_t{0}, uintptr_t{0x7f3a12340000}}) {
        const void* p = reinterpret_cast<const void*>(high + n);
        mismatches += engine::OnRegionGrid(p, magic) != (n % size == 0);
      }
      mismatches += engine::OnRegionGrid(reinterpret_cast<const void*>(n), 0);
    }
    EXPECT_EQ(mismatches, 0u) << "class " << cls << ", " << size << " bytes";
  }
}

// Aligned small requests: the class GoodSize picks keeps every region at
// the alignment, whatever the slab's colour.
TEST_F(SlabTest, AlignedSmallRequestsAreAligned) {
  constexpr uint32_t kG = 501;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  for (bool bound : {false, true}) {
    auto body = [&] {
      for (size_t align = 16; align <= 4096; align <<= 1) {
        for (size_t size : {size_t{1}, size_t{24}, size_t{100}, size_t{640},
                            size_t{3000}, size_t{5000}, size_t{12000}}) {
          const size_t usable = engine::GoodSize(size, align);
          std::vector<void*> ps;
          // Across several slabs (new colours).
          for (int i = 0; i < 40; ++i) {
            void* p = engine::Alloc(kG, size, align, false);
            ASSERT_NE(p, nullptr);
            ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u)
                << size << " align " << align;
            ASSERT_EQ(engine::UsableSize(p), usable);
            ps.push_back(p);
          }
          for (void* p : ps) engine::Free(p, kG);
        }
      }
    };
    if (bound) {
      OnBoundThread(kG, body);
    } else {
      OnUnboundThread(body);
    }
  }
  EXPECT_EQ(TotalRegionsOut(kG), 0u);
}

// realloc into and out of the small classes keeps the bytes, the owner and
// the promised usable size (the engine tests' chain); within one class it
// does not move.
TEST_F(SlabTest, ReallocAcrossTheSmallClasses) {
  constexpr uint32_t kG = 502;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  OnBoundThread(kG, [&] {
    testing::CheckReallocChain(kG);
    void* p = engine::Alloc(kG, 40, 0, false);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(engine::GoodSize(33, 0), engine::GoodSize(40, 0));
    void* q = engine::Realloc(p, 33, 0, kG);
    EXPECT_EQ(q, p);
    engine::Free(q, kG);
  });
  EXPECT_EQ(TotalRegionsOut(kG), 0u);
}

// ResizeInPlace never changes a region's size.
TEST_F(SlabTest, ResizeInPlaceKeepsTheRegion) {
  constexpr uint32_t kG = 503;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  OnUnboundThread([&] {
    void* p = engine::Alloc(kG, 100, 0, false);
    const size_t usable = engine::UsableSize(p);
    EXPECT_EQ(engine::ResizeInPlace(p, 50, 0, 0, kG), usable);
    EXPECT_EQ(engine::ResizeInPlace(p, 5000, 0, 0, kG), usable);
    EXPECT_EQ(engine::UsableSize(p), usable);
    engine::Free(p, kG);
  });
}

// The group's statistics count live regions (not the slabs holding them),
// and the histogram lists them by class without the slabs' 64 KiB extents.
TEST_F(SlabTest, StatsCountRegions) {
  constexpr uint32_t kG = 504;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  std::vector<void*> ps;
  OnUnboundThread([&] {
    for (int i = 0; i < 300; ++i) ps.push_back(engine::Alloc(kG, 100, 0, false));
  });
  EngineGroupStats st{};
  ASSERT_TRUE(engine::GroupStats(kG, &st));
  EXPECT_EQ(st.allocated_bytes, 300 * engine::GoodSize(100, 0));
  EngineSizeClass hist[256];
  size_t n = engine::GroupHistogram(kG, hist, 256);
  bool found = false;
  for (size_t i = 0; i < n; ++i) {
    EXPECT_NE(hist[i].size, kSlabBytes) << "a slab listed as a block";
    if (hist[i].size == engine::GoodSize(100, 0)) {
      EXPECT_EQ(hist[i].count, 300u);
      found = true;
    }
  }
  EXPECT_TRUE(found);
  OnUnboundThread([&] {
    for (void* p : ps) engine::Free(p, kG);
  });
  ASSERT_TRUE(engine::GroupStats(kG, &st));
  EXPECT_EQ(st.allocated_bytes, 0u);
}

// Purge returns the bound thread's cached regions and every free slab.
TEST_F(SlabTest, PurgeReleasesFreeSlabs) {
  constexpr uint32_t kG = 505;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  OnBoundThread(kG, [&] {
    std::vector<void*> ps;
    for (int i = 0; i < 5000; ++i) ps.push_back(engine::Alloc(kG, 48, 0, false));
    for (void* p : ps) engine::Free(p, kG);
    engine::Purge(kG);
    engine::slab::GroupSlabStats st{};
    engine::slab::Stats(kG, &st);
    EXPECT_EQ(st.slabs, 0u);
    EXPECT_EQ(st.allocated_bytes, 0u);
  });
}

// A thread's small blocks of a group it is not bound to go through its
// second cache: held there after free (so the bin still counts them out),
// returned by Purge, by the cache moving to another group after enough
// operations there, and at thread exit.
TEST_F(SlabTest, OtherGroupCacheFollowsTheGroupInUse) {
  constexpr uint32_t kBound = 508, kB = 509, kC = 510;
  for (uint32_t g : {kBound, kB, kC}) ASSERT_TRUE(engine::EnsureGroup(g));
  const uint32_t cls = ClassOfUsable(engine::GoodSize(64, 0));
  OnBoundThread(kBound, [&] {
    std::vector<void*> ps;
    for (int i = 0; i < 20; ++i) ps.push_back(engine::Alloc(kB, 64, 0, false));
    for (void* p : ps) {
      ASSERT_EQ(engine::OwnerOf(p), kB);
      engine::Free(p, kB);
    }
    // Cached for the next allocation of kB, not back in the slabs.
    EXPECT_GT(engine::slab::RegionsOut(kB, cls), 0u);
    void* again = engine::Alloc(kB, 64, 0, false);
    EXPECT_NE(std::find(ps.begin(), ps.end(), again), ps.end());
    engine::Free(again, kB);
    engine::Purge(kB);
    EXPECT_EQ(engine::slab::RegionsOut(kB, cls), 0u);
    // Refill kB's cache again, then work in kC until the cache moves.
    for (int i = 0; i < 5; ++i) engine::Free(engine::Alloc(kB, 64, 0, false), kB);
    EXPECT_GT(engine::slab::RegionsOut(kB, cls), 0u);
    for (int i = 0; i < 200; ++i) engine::Free(engine::Alloc(kC, 64, 0, false), kC);
    EXPECT_EQ(engine::slab::RegionsOut(kB, cls), 0u);
    EXPECT_GT(engine::slab::RegionsOut(kC, cls), 0u);  // now cached for kC
  });
  // Thread exit returned kC's cached blocks.
  EXPECT_EQ(TotalRegionsOut(kB), 0u);
  EXPECT_EQ(TotalRegionsOut(kC), 0u);
  EXPECT_EQ(TotalRegionsOut(kBound), 0u);
}

// Threads bound to one group, threads bound elsewhere and unbound threads
// allocate blocks of the group and free each other's, through the front
// caches and straight into the slabs. Quiesced: every bin reads zero and
// the slab counts add up.
TEST_F(SlabTest, CrossThreadStressEndsAtZero) {
  constexpr uint32_t kG = 506;
  constexpr uint32_t kOther = 507;
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  constexpr int kPerRound = 400;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  ASSERT_TRUE(engine::EnsureGroup(kOther));
  // Each thread publishes a round's blocks into its own mailbox; the next
  // thread frees them.
  struct Mailbox {
    std::atomic<std::vector<void*>*> blocks{nullptr};
  };
  Mailbox boxes[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (t == 0 || t == 1) {
        ASSERT_TRUE(engine::BindThread(kG));
      } else if (t == 2) {
        ASSERT_TRUE(engine::BindThread(kOther));
      }
      std::mt19937 rng(static_cast<unsigned>(t) + 1);
      for (int r = 0; r < kRounds; ++r) {
        auto* mine = new std::vector<void*>();
        for (int i = 0; i < kPerRound; ++i) {
          size_t size = 1 + rng() % 2000;
          void* p = engine::Alloc(kG, size, 0, false);
          ASSERT_NE(p, nullptr);
          memset(p, t, size < 64 ? size : 64);
          mine->push_back(p);
        }
        // Hand over; wait until the previous hand-over was taken.
        std::vector<void*>* expected = nullptr;
        while (!boxes[t].blocks.compare_exchange_weak(
            expected, mine, std::memory_order_release,
            std::memory_order_relaxed)) {
          expected = nullptr;
          std::this_thread::yield();
        }
        // Free the neighbour's.
        Mailbox& in = boxes[(t + 1) % kThreads];
        std::vector<void*>* theirs = nullptr;
        while ((theirs = in.blocks.exchange(nullptr, std::memory_order_acquire)) ==
               nullptr) {
          std::this_thread::yield();
        }
        for (void* p : *theirs) engine::Free(p, kG);
        delete theirs;
      }
      engine::ThreadExit();
    });
  }
  for (auto& th : threads) th.join();
  // Nothing left in a mailbox: every thread took exactly kRounds hand-overs.
  for (auto& b : boxes) EXPECT_EQ(b.blocks.load(), nullptr);
  EXPECT_EQ(TotalRegionsOut(kG), 0u);
  engine::slab::GroupSlabStats st{};
  engine::slab::Stats(kG, &st);
  EXPECT_EQ(st.allocated_bytes, 0u);
  EXPECT_EQ(st.nmalloc, st.ndalloc);
  EXPECT_EQ(st.slab_allocs - st.slab_frees, st.slabs);
  EXPECT_EQ(TotalRegionsOut(kOther), 0u);
}

// Runs `steps` on a thread bound to `group`, one at a time when asked:
// run(i) runs steps[i] there and waits for it; the thread exits (which
// drains the group's transfer cache with its front cache) at Finish.
class BoundWorker {
 public:
  BoundWorker(uint32_t group, std::vector<std::function<void()>> steps)
      : steps_(std::move(steps)), thread_([this, group] {
          ASSERT_TRUE(engine::BindThread(group));
          for (;;) {
            int want;
            while ((want = next_.load(std::memory_order_acquire)) == done_) {
              std::this_thread::yield();
            }
            if (want < 0) break;
            steps_[static_cast<size_t>(want)]();
            done_ = want;
            finished_.store(want, std::memory_order_release);
          }
          engine::ThreadExit();
        }) {}
  void Run(int i) {
    next_.store(i, std::memory_order_release);
    while (finished_.load(std::memory_order_acquire) != i) {
      std::this_thread::yield();
    }
  }
  void Finish() {
    next_.store(-1, std::memory_order_release);
    thread_.join();
  }

 private:
  std::vector<std::function<void()>> steps_;
  std::atomic<int> next_{-2};
  std::atomic<int> finished_{-2};
  int done_ = -2;  // The worker's own.
  std::thread thread_;
};

// A consumer's flushes of a producer's 64-byte blocks reach the producer's
// next refills through the transfer cache, not the slabs; the cache holds
// at most 256 KiB of the class, and the threads' exits give every region
// back.
TEST_F(SlabTest, TransferCacheCarriesFlushedRegionsToAnotherThread) {
  if (engine::CheckMode()) GTEST_SKIP() << "no transfer cache in check mode";
  constexpr uint32_t kG = 511;
  constexpr int kBlocks = 8192;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  std::vector<void*> blocks;
  engine::slab::GroupSlabStats before{}, after{};
  uint64_t held_after_free = 0;
  BoundWorker producer(kG, {
      [&] {
        for (int i = 0; i < kBlocks; ++i) {
          blocks.push_back(engine::Alloc(kG, 64, 0, false));
        }
      },
      [&] {
        engine::slab::Stats(kG, &before);
        for (int i = 0; i < kBlocks; ++i) {
          blocks.push_back(engine::Alloc(kG, 64, 0, false));
        }
        engine::slab::Stats(kG, &after);
      },
      [&] {
        for (void* p : blocks) engine::Free(p, kG);
        blocks.clear();
      },
  });
  BoundWorker consumer(kG, {[&] {
    for (void* p : blocks) engine::Free(p, kG);
    blocks.clear();
    held_after_free = engine::transfer::RegionsHeld(kG);
  }});
  producer.Run(0);
  consumer.Run(0);
  // 256 KiB of 64-byte regions, in batches of 32: 4,064 of them (127
  // batches), the rest back in the slabs.
  EXPECT_GT(held_after_free, 4000u);
  EXPECT_LE(held_after_free * 64, 256 * kKiB);
  producer.Run(1);
  // The producer's refills took the held regions before the slabs'.
  EXPECT_LE(after.nmalloc - before.nmalloc, kBlocks - held_after_free + 64);
  EXPECT_EQ(engine::transfer::RegionsHeld(kG), 0u);
  producer.Run(2);
  consumer.Finish();
  producer.Finish();
  EXPECT_EQ(engine::transfer::RegionsHeld(kG), 0u);
  EXPECT_EQ(TotalRegionsOut(kG), 0u);
}

// Purge, from any thread, returns the regions the transfer cache holds.
TEST_F(SlabTest, PurgeDrainsTheTransferCache) {
  if (engine::CheckMode()) GTEST_SKIP() << "no transfer cache in check mode";
  constexpr uint32_t kG = 512;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  std::vector<void*> blocks;
  BoundWorker producer(kG, {[&] {
    for (int i = 0; i < 2000; ++i) blocks.push_back(engine::Alloc(kG, 200, 0, false));
  }});
  uint32_t cap = 0;
  BoundWorker consumer(kG, {[&] {
    for (void* p : blocks) engine::Free(p, kG);
    blocks.clear();
    cap = engine::ThreadFront()->bins[engine::g_class_of_size8[(200 + 7) >> 3]].cap;
  }});
  producer.Run(0);
  consumer.Run(0);
  ASSERT_GT(cap, 64u);  // A bin of 208-byte blocks holds up to 256.
  const uint64_t held = engine::transfer::RegionsHeld(kG);
  EXPECT_GT(held, 0u);
  // Only the consumer's bin (at most its capacity), what the producer's
  // last refill left in its bin (less than a refill's 32: where the
  // refills' batches end depends on how many regions a slab holds) and the
  // held regions.
  EXPECT_LE(TotalRegionsOut(kG), held + cap + 32);
  engine::Purge(kG);  // From this thread, bound to neither.
  EXPECT_EQ(engine::transfer::RegionsHeld(kG), 0u);
  EXPECT_LE(TotalRegionsOut(kG), cap + 32u);
  consumer.Finish();
  producer.Finish();
  EXPECT_EQ(TotalRegionsOut(kG), 0u);
}

}  // namespace
}  // namespace memgroup::internal
