// free, realloc and malloc_usable_size of pointers that are no live large
// block (16 KiB and more): an interior pointer or a block freed already
// aborts with a glibc-style line naming the call (docs/preload.md, "Invalid
// frees"), on either engine (the test names end in .jemalloc or .mimalloc);
// valid large blocks freed, resized and passed between threads are never
// reported. Built twice: `large_bad_free_test` calls src/alloc's entry
// points in library mode (every preset, the sanitizers included), and
// `large_bad_free_preload_test` (MG_BAD_FREE_PRELOAD) the process's malloc,
// which is libmemgroup.so's.
#include "memgroup/memgroup.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#ifndef MG_BAD_FREE_PRELOAD
#include "alloc/alloc_path.h"
#include "alloc/resize.h"
#include "alloc/slow_path.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#endif

namespace {

#ifdef MG_BAD_FREE_PRELOAD
void* Malloc(size_t n) { return malloc(n); }
void Free(void* p) { free(p); }
void* Realloc(void* p, size_t n) { return realloc(p, n); }
size_t Usable(void* p) { return malloc_usable_size(p); }
#else
namespace ma = memgroup::internal::alloc;
void* Malloc(size_t n) { return ma::AllocImpl(n, 0, false); }
void Free(void* p) { ma::FreeImpl(p); }
void* Realloc(void* p, size_t n) { return ma::Realloc(p, n); }
size_t Usable(void* p) { return ma::UsableSize(p); }
#endif

void Escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

// The line memgroup writes for `call` and `what` (a regex; the address
// differs in the child a death test runs).
std::string Report(const char* call, const char* what) {
  return std::string("memgroup: ") + call + "\\(\\): " + what +
         " 0x[0-9a-f]+\n";
}

// 100 KB and 4 MB (the largest class the thread caches hold), and 6 MiB
// (above them: the jemalloc engine's uncached path).
constexpr size_t kSizes[] = {100 * kKiB, 4 * kMiB, 6 * kMiB};

char* Block(size_t size) {
  char* p = static_cast<char*>(Malloc(size));
  EXPECT_NE(p, nullptr);
  Escape(p);
  return p;
}

// Each death test re-runs the binary (threadsafe style): the environment
// (MEMGROUP_ENGINE) reaches the child's library init.
class LargeBadFreeTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(LargeBadFreeTest, InteriorFreeAborts) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    EXPECT_EXIT(Free(p + 16), ::testing::KilledBySignal(SIGABRT),
                Report("free", "invalid pointer"));
    // Deeper in, past the first page.
    EXPECT_EXIT(Free(p + size / 2 + 16), ::testing::KilledBySignal(SIGABRT),
                Report("free", "invalid pointer"));
    Free(p);
  }
}

TEST_F(LargeBadFreeTest, DoubleFreeAborts) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    Free(p);
    EXPECT_EXIT(Free(p), ::testing::KilledBySignal(SIGABRT),
                Report("free", "double free"));
  }
}

TEST_F(LargeBadFreeTest, DoubleFreeFromAnotherThreadAborts) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    std::thread([p] { Free(p); }).join();
    EXPECT_EXIT(Free(p), ::testing::KilledBySignal(SIGABRT),
                Report("free", "double free"));
  }
}

// Two threads free the same block at the same instant: in check mode
// (MEMGROUP_CHECK=1, which takes the record with a compare-and-swap)
// exactly one of them frees it, the other reports. The default mode's
// plain load and store may let both pass (docs/preload.md, "Invalid
// frees").
TEST_F(LargeBadFreeTest, ConcurrentDoubleFreeAbortsInCheckMode) {
  // Read by the death tests' children at their init.
  setenv("MEMGROUP_CHECK", "1", 1);
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    EXPECT_EXIT(
        {
          char* p = Block(size);
          std::atomic<int> ready{0};
          auto racer = [&] {
            ready.fetch_add(1, std::memory_order_relaxed);
            while (ready.load(std::memory_order_relaxed) < 2) {
            }
            Free(p);
          };
          std::thread a(racer);
          std::thread b(racer);
          a.join();
          b.join();
        },
        ::testing::KilledBySignal(SIGABRT), Report("free", "double free"));
  }
  unsetenv("MEMGROUP_CHECK");
}

TEST_F(LargeBadFreeTest, InteriorReallocAborts) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    EXPECT_EXIT(Escape(Realloc(p + 16, size * 2)),
                ::testing::KilledBySignal(SIGABRT),
                Report("realloc", "invalid pointer"));
    EXPECT_EXIT(Escape(Realloc(p + 16, 100)),
                ::testing::KilledBySignal(SIGABRT),
                Report("realloc", "invalid pointer"));
    Free(p);
  }
}

TEST_F(LargeBadFreeTest, ReallocOfAFreedBlockAborts) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    Free(p);
    EXPECT_EXIT(Escape(Realloc(p, size * 2)),
                ::testing::KilledBySignal(SIGABRT),
                Report("realloc", "double free"));
  }
}

TEST_F(LargeBadFreeTest, UsableSizeOfAnInteriorPointerAborts) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    EXPECT_GE(Usable(p), size);
    EXPECT_EXIT(Escape(reinterpret_cast<void*>(Usable(p + 16))),
                ::testing::KilledBySignal(SIGABRT),
                Report("malloc_usable_size", "invalid pointer"));
    Free(p);
  }
}

// A block that realloc moved is freed: its old address is reported.
TEST_F(LargeBadFreeTest, FreeOfTheAddressReallocMovedAborts) {
  for (size_t size : kSizes) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    char* keep = Block(size);  // in the way of growth in place, likely
    char* q = static_cast<char*>(Realloc(p, size * 3));
    ASSERT_NE(q, nullptr);
    if (q != p) {
      EXPECT_EXIT(Free(p), ::testing::KilledBySignal(SIGABRT),
                  Report("free", "double free"));
    }
    Free(q);
    Free(keep);
  }
}

// A large block on pages a slab of small blocks held before: a pointer to
// one of its interior pages is reported like any other interior pointer
// (a released slab takes its page-map entries with it, owner_table.h; with
// a stale entry naming the slab's class, the free was taken for a region's
// and the page went into the thread's cache). The slabs: 16 of 64-byte
// regions in a group of the test's own, all freed, flushed from the
// thread's cache (moving to the root) and reclaimed; then 100 KiB blocks in
// the group until one covers a former slab page past its first page (with
// the jemalloc engine, whose groups keep their free slabs, none does: a
// page of a free slab then).
constexpr size_t kPage = 4096;
constexpr size_t kSlab = 64 * kKiB;
constexpr int kSmallBlocks = 16 * 1024;  // 16 slabs of 64-byte regions
constexpr int kMaxLarge = 64;
// Static: in the preload build, nothing of the test's own is allocated
// while the thread is in the group.
char* g_small[kSmallBlocks];
char* g_slabs[kSmallBlocks];
char* g_large[kMaxLarge];

TEST_F(LargeBadFreeTest, InteriorFreeOnFormerSlabPagesAborts) {
  const std::string name = "former-slab-" + std::to_string(getpid());
  mg_group_t g = 0;
  ASSERT_EQ(0, mg_group_create(mg_root(), name.c_str(), &g));
  ASSERT_EQ(0, mg_thread_set_group(g));
  int nslabs = 0;
  for (int i = 0; i < kSmallBlocks; ++i) {
    g_small[i] = Block(64);
    char* base = reinterpret_cast<char*>(
        reinterpret_cast<uintptr_t>(g_small[i]) & ~(kSlab - 1));
    if (nslabs == 0 || g_slabs[nslabs - 1] != base) g_slabs[nslabs++] = base;
  }
  for (int i = 0; i < kSmallBlocks; ++i) Free(g_small[i]);
  ASSERT_EQ(0, mg_thread_set_group(mg_root()));  // flushes the thread's cache
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  ASSERT_EQ(0, mg_thread_set_group(g));
  auto in_former_slab = [&](const char* q) {
    for (int s = 0; s < nslabs; ++s) {
      if (q >= g_slabs[s] && q < g_slabs[s] + kSlab) return true;
    }
    return false;
  };
  const size_t size = 100 * kKiB;
  char* interior = nullptr;
  int nlarge = 0;
  while (interior == nullptr && nlarge < kMaxLarge) {
    char* p = Block(size);
    g_large[nlarge++] = p;
    // Pages past the one p starts in.
    char* q = reinterpret_cast<char*>(
        (reinterpret_cast<uintptr_t>(p) & ~(kPage - 1)) + kPage);
    for (; q + kPage <= p + size; q += kPage) {
      if (in_former_slab(q)) {
        interior = q;
        break;
      }
    }
  }
  if (interior == nullptr && nslabs > 1) {
    // The jemalloc engine's group keeps its released slabs' memory for its
    // next slabs (src/engine/slab_chunks.h), so no large block lands there:
    // a page of a free slab (in no block) must be reported the same way.
    interior = g_slabs[1] + kPage;
  }
  ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  ASSERT_NE(interior, nullptr)
      << nlarge << " blocks of " << size << " bytes, none on the " << nslabs
      << " former slabs";
#ifndef MG_BAD_FREE_PRELOAD
  namespace ot = memgroup::internal::owner_table;
  const uint32_t cls = ot::PageEntry(interior) &
                       ((1u << ot::kEntryGroupShift) - 1);
  EXPECT_TRUE(cls == 0 || cls >= memgroup::internal::engine::kFrontFirstLarge)
      << "the page map names slab class " << cls << " for a large block's page";
#endif
  // Freed from the group, whose thread cache would take a region of it.
  EXPECT_EXIT(
      {
        mg_thread_set_group(g);
        Free(interior);
      },
      ::testing::KilledBySignal(SIGABRT), Report("free", "invalid pointer"));
  for (int i = 0; i < nlarge; ++i) Free(g_large[i]);
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  int64_t current = -1;
  ASSERT_EQ(0, mg_group_current(g, 1, &current));
  EXPECT_EQ(current, 0);
  EXPECT_EQ(0, mg_group_destroy(g));
}

// Valid blocks: resized across the small/large boundary and between large
// classes, with their contents, then freed; none is reported.
TEST_F(LargeBadFreeTest, ValidResizesAndFreesPass) {
  for (size_t n : kSizes) {
    SCOPED_TRACE(n);
    char* p = Block(n);
    memset(p, 0x5a, 64);
    for (size_t size : {n * 2, n / 2, size_t{100}, n, size_t{20000}, n + 1}) {
      p = static_cast<char*>(Realloc(p, size));
      ASSERT_NE(p, nullptr);
      ASSERT_GE(Usable(p), size);
      for (int i = 0; i < 64; ++i) ASSERT_EQ(p[i], 0x5a);
    }
    Free(p);
    // The same memory, handed out again, is live again.
    char* again = Block(n);
    EXPECT_GE(Usable(again), n);
    Free(again);
  }
}

// Large blocks of random sizes passed between threads and groups through a
// shared array: each is freed (or grown or shrunk, then freed) by whichever
// thread takes it. Nothing is reported, every group ends at 0 once its
// free slabs are reclaimed.
TEST(LargeFreeStressTest, CrossThreadFreesPass) {
  mg_group_t groups[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const std::string name = "large-free-" + std::to_string(getpid()) + "-" +
                             std::to_string(i);
    ASSERT_EQ(0, mg_group_create(mg_root(), name.c_str(), &groups[i]));
  }
  constexpr int kThreads = 4;
  constexpr int kSlots = 64;
  const char* env = getenv("MG_LARGE_FREE_OPS");
  const int ops = env != nullptr ? atoi(env) : 4000;
  std::atomic<void*> slots[kSlots];
  for (auto& s : slots) s.store(nullptr, std::memory_order_relaxed);
  auto worker = [&](int id) {
    mg_thread_set_group(groups[id % 2]);
    std::mt19937_64 rng(static_cast<uint64_t>(id) * 7919 + 1);
    for (int i = 0; i < ops; ++i) {
      const uint64_t r = rng();
      // 16 KiB to 1 MiB mostly, up to 6 MiB now and then, some small ones.
      size_t size = r % 32 == 0   ? 16 * kKiB + r % (6 * kMiB)
                    : r % 16 == 1 ? 8 + r % 4000
                                  : 16 * kKiB + r % kMiB;
      char* p = static_cast<char*>(Malloc(size));
      if (p == nullptr) continue;
      p[0] = static_cast<char>(id);
      p[size - 1] = static_cast<char>(id);
      void* old =
          slots[(r >> 20) % kSlots].exchange(p, std::memory_order_acq_rel);
      if (old == nullptr) continue;
      char* q = static_cast<char*>(old);
      const size_t usable = Usable(q);
      if ((r >> 40) % 4 == 0) {
        const size_t to = (r >> 44) % 2 == 0 ? usable * 2 : usable / 3 + 1;
        q = static_cast<char*>(Realloc(q, to));
        if (q == nullptr) {
          Free(old);
          continue;
        }
      }
      Free(q);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  for (auto& s : slots) Free(s.exchange(nullptr, std::memory_order_relaxed));
  for (mg_group_t g : groups) {
    // The slabs of the small blocks stay charged while their pages are
    // kept (docs/preload.md): reclaim gives them back, then 0 is exact.
    int64_t released = -1;
    ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
    int64_t current = -1;
    ASSERT_EQ(0, mg_group_current(g, 1, &current));
    EXPECT_EQ(current, 0);
    EXPECT_EQ(0, mg_group_destroy(g));
  }
}

}  // namespace
