// How slab pages are charged (src/engine/slab.h, docs/preload.md, "What a
// small process is charged"), in library mode (mg_api, no interposition),
// so that it runs in every preset: a group's charge for small blocks is the
// pages of its slabs up to the end of the highest region each has handed
// out, charged per batch as regions are first handed out; a refused charge
// hands out no region and changes nothing; giving the slabs back uncharges
// exactly what was charged.
//
// The expected charge is computed from what the group shows: a fresh
// group's first block of a class is region 0 of a new slab (its offset in
// the 64 KiB slab is where the slab's regions start), and the histogram
// counts the regions handed out of the slabs (to the caller and to the
// thread's cache), lowest first, so a class whose regions fit in one slab
// has handed out regions 0..count-1.
#include "memgroup/memgroup.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "alloc/alloc_path.h"
#include "alloc/slow_path.h"

namespace {

namespace ma = memgroup::internal::alloc;

constexpr uint64_t kSlab = 64 * 1024;
constexpr uint64_t kPage = 4096;

int64_t Current(mg_group_t g) {
  int64_t v = -1;
  EXPECT_EQ(0, mg_group_current(g, 1, &v));
  return v;
}

std::string Unique(const char* base) {
  static int n = 0;
  return std::string(base) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(++n);
}

mg_group_t Create(const std::string& name) {
  mg_group_t g = 0;
  EXPECT_EQ(0, mg_group_create(mg_root(), name.c_str(), &g));
  return g;
}

// Regions handed out of g's slabs, by class size.
std::map<uint64_t, uint64_t> RegionsOut(mg_group_t g) {
  mg_size_class_t h[128];
  size_t n = 0;
  EXPECT_EQ(0, mg_group_histogram(g, h, 128, &n));
  std::map<uint64_t, uint64_t> out;
  for (size_t i = 0; i < n; ++i) out[h[i].size] = h[i].count;
  return out;
}

// The pages a class's single slab has crossed: from its start through the
// end of region count-1, region 0 lying at `first` in the slab.
int64_t PagesCrossed(uint64_t first, uint64_t size, uint64_t count) {
  const uint64_t end = first + count * size;
  return static_cast<int64_t>((end + kPage - 1) / kPage * kPage);
}

// A group whose thread allocates `per_class` blocks of each size; the
// blocks, and region 0's offset per class (the class's first block).
struct Blocks {
  std::vector<void*> all;
  std::map<uint64_t, uint64_t> first_of_class;  // class size -> offset
};

// The sizes used: small classes with their header in the slab, a class
// straddling pages (3 KiB), the page-multiple classes whose header is out
// of line (4 and 12 KiB), and one of memgroup's own (4608).
const size_t kSizes[] = {16, 48, 100, 512, 1000, 3000, 4096, 4608, 12288};

void AllocSome(int per_class, Blocks* b) {
  for (size_t size : kSizes) {
    for (int i = 0; i < per_class; ++i) {
      void* p = ma::AllocImpl(size, 0, false);
      ASSERT_NE(nullptr, p) << size;
      memset(p, 0x5a, size);
      const size_t usable = ma::UsableSize(p);
      if (b->first_of_class.count(usable) == 0) {
        b->first_of_class[usable] = reinterpret_cast<uintptr_t>(p) % kSlab;
      }
      b->all.push_back(p);
    }
  }
}

// The blocks of `b` by class size.
std::map<uint64_t, uint64_t> Held(const Blocks& b) {
  std::map<uint64_t, uint64_t> held;
  for (void* p : b.all) ++held[ma::UsableSize(p)];
  return held;
}

int64_t Expected(mg_group_t g, const Blocks& b) {
  int64_t want = 0;
  for (const auto& [size, count] : RegionsOut(g)) {
    EXPECT_EQ(1u, b.first_of_class.count(size)) << size;
    EXPECT_LE(b.first_of_class.at(size) + count * size, kSlab)
        << "class " << size << ": one slab expected";
    want += PagesCrossed(b.first_of_class.at(size), size, count);
  }
  return want;
}

TEST(SlabChargeTest, SmallBlocksChargeThePagesTheirRegionsCross) {
  mg_group_t g = Create(Unique("pages"));
  ASSERT_EQ(0, mg_thread_set_group(g));
  Blocks b;
  AllocSome(3, &b);
  const int64_t want = Expected(g, b);
  EXPECT_EQ(want, Current(g));
  // A few blocks per class are charged far less than a slab per class.
  EXPECT_LT(want, static_cast<int64_t>(kSlab * std::size(kSizes) / 4));
  // More blocks of the same classes: the charge follows the regions.
  AllocSome(2, &b);
  EXPECT_EQ(Expected(g, b), Current(g));
  const int64_t held = Current(g);
  // Freed blocks stay charged while their slabs are held (each class's
  // slab is its spare once empty); reclaim gives the slabs back and their
  // charge with them, exactly.
  for (void* p : b.all) ma::FreeImpl(p);
  ASSERT_EQ(0, mg_thread_set_group(mg_root()));  // flushes the caches
  EXPECT_EQ(held, Current(g));
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  EXPECT_EQ(0, Current(g));
  EXPECT_EQ(0, mg_group_destroy(g));
}

TEST(SlabChargeTest, RefusedRefillHandsOutNothingAndLeaksNothing) {
  mg_group_t g = Create(Unique("refuse"));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_ENOMEM, 0));
  ASSERT_EQ(0, mg_thread_set_group(g));
  Blocks b;
  AllocSome(1, &b);
  const int64_t base = Current(g);
  ASSERT_EQ(Expected(g, b), base);
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, base));
  // Each class serves from the pages already charged until a refill needs
  // a new page: refused, with no region handed out and nothing charged.
  // (The refusal's reclaim returns this thread's cached regions to their
  // slabs, whose pages stay charged: the held blocks keep every slab.)
  int64_t failcnt_before = 0;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt_before));
  int refused = 0;
  for (size_t size : kSizes) {
    for (int i = 0; i < 5000; ++i) {
      errno = 0;
      void* p = ma::AllocImpl(size, 0, false);
      if (p == nullptr) {
        EXPECT_EQ(ENOMEM, errno);
        EXPECT_EQ(Held(b), RegionsOut(g)) << size;
        EXPECT_EQ(base, Current(g)) << size;
        ++refused;
        break;
      }
      memset(p, 0x5a, size);
      b.all.push_back(p);
      ASSERT_EQ(base, Current(g)) << size;
    }
  }
  EXPECT_EQ(refused, static_cast<int>(std::size(kSizes)));
  int64_t failcnt = 0;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt));
  EXPECT_GE(failcnt - failcnt_before, refused);
  // A class the group has no slab of: its new slab's first page is
  // refused too, and the slab stays, empty and uncharged.
  errno = 0;
  EXPECT_EQ(nullptr, ma::AllocImpl(200, 0, false));
  EXPECT_EQ(ENOMEM, errno);
  EXPECT_EQ(base, Current(g));
  EXPECT_EQ(Held(b), RegionsOut(g));
  // With room again, the next takes charge the pages the refused ones
  // crossed with their own: the charge is the pages crossed, as before.
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, INT64_MAX));
  const size_t more[] = {16, 100, 3000, 12288, 200};
  for (size_t size : more) {
    void* p = ma::AllocImpl(size, 0, false);
    ASSERT_NE(nullptr, p) << size;
    memset(p, 0x5a, size);
    if (b.first_of_class.count(ma::UsableSize(p)) == 0) {
      b.first_of_class[ma::UsableSize(p)] = reinterpret_cast<uintptr_t>(p) % kSlab;
    }
    b.all.push_back(p);
  }
  EXPECT_EQ(Expected(g, b), Current(g));
  for (void* p : b.all) ma::FreeImpl(p);
  ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  EXPECT_EQ(0, Current(g));
  EXPECT_EQ(0, mg_group_destroy(g));
}

// Threads allocating and freeing small blocks of many classes in one group
// near its max, refused now and then: every charge taken is given back.
TEST(SlabChargeTest, RefusalsUnderContentionEndExact) {
  mg_group_t g = Create(Unique("contend"));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_ENOMEM, 0));
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, 256 * 1024));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([g, t] {
      ASSERT_EQ(0, mg_thread_set_group(g));
      std::vector<void*> held;
      unsigned seed = 12345u + t;
      for (int i = 0; i < 20000; ++i) {
        seed = seed * 1103515245u + 12345u;
        const size_t size = kSizes[(seed >> 8) % std::size(kSizes)];
        if (held.size() < 128 && (seed >> 20) % 3 != 0) {
          void* p = ma::AllocImpl(size, 0, false);
          if (p != nullptr) {
            memset(p, 1, size);
            held.push_back(p);
          }
        } else if (!held.empty()) {
          ma::FreeImpl(held.back());
          held.pop_back();
        }
      }
      for (void* p : held) ma::FreeImpl(p);
      ASSERT_EQ(0, mg_thread_set_group(mg_root()));
    });
  }
  for (auto& th : threads) th.join();
  int64_t failcnt = 0;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt));
  EXPECT_GT(failcnt, 0) << "the max was never reached";
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  EXPECT_EQ(0, Current(g));
  EXPECT_EQ(0, mg_group_destroy(g));
}

}  // namespace
