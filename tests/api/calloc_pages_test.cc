// calloc of large blocks in library mode (mg_api over src/alloc, no
// interposition), on each engine (names end in .jemalloc or .mimalloc): the
// block reads zero whether its memory is fresh, cached, kept or parked, and
// a fresh block costs no page faults beyond the pages of the request (the
// jemalloc engine lets jemalloc skip the pages it knows read zero; the
// mimalloc engine clears the requested bytes itself, where mimalloc's own
// zeroing cleared its whole block, up to half as much again).
#include "memgroup/memgroup.h"

#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "alloc/alloc_path.h"
#include "alloc/slow_path.h"

namespace {

namespace ma = memgroup::internal::alloc;

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr size_t kPage = 4096;

// A sanitizer's shadow memory adds its own page faults to every write
// (gcc defines __SANITIZE_*; clang answers the feature test).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MG_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MG_TEST_SANITIZED 1
#endif
#endif
#ifdef MG_TEST_SANITIZED
constexpr bool kCountsFaults = false;
#else
constexpr bool kCountsFaults = true;
#endif

bool Mimalloc() {
  const char* e = getenv("MEMGROUP_ENGINE");
  return e != nullptr && strcmp(e, "mimalloc") == 0;
}

mg_group_t Create(const char* base) {
  static int n = 0;
  const std::string name = std::string(base) + "-" +
                           std::to_string(getpid()) + "-" +
                           std::to_string(++n);
  mg_group_t g = 0;
  EXPECT_EQ(0, mg_group_create(mg_root(), name.c_str(), &g));
  return g;
}

int64_t ThreadFaults() {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

// The first byte that is not zero, or -1.
int64_t FirstNonZero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i) {
    if (b[i] != 0) return static_cast<int64_t>(i);
  }
  return -1;
}

// Runs `body` on a thread bound to a new group, then checks that the group
// reads 0 once everything is freed and reclaimed.
template <typename F>
void InNewGroup(const char* name, F body) {
  mg_group_t g = Create(name);
  std::thread t([&] {
    ASSERT_EQ(0, mg_thread_set_group(g));
    body();
    int64_t released = 0;
    ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
    ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  });
  t.join();
  int64_t cur = -1;
  EXPECT_EQ(0, mg_group_current(g, 1, &cur));
  EXPECT_EQ(0, cur);
  EXPECT_EQ(0, mg_group_destroy(g));
}

// A 1 MiB calloc in a group's fresh memory: on the jemalloc engine jemalloc
// knows its pages read zero and touches almost none of them; on the
// mimalloc engine the request's 256 pages are cleared (mimalloc's zalloc
// cleared its 1.5 MiB block: 383 faults).
TEST(CallocPagesTest, AFreshLargeCallocFaultsNoMoreThanItsPages) {
  InNewGroup("fresh", [] {
    constexpr size_t kSize = 1 * kMiB;
    void* warm = ma::AllocImpl(64, 0, false);  // the group's start-up
    ASSERT_NE(warm, nullptr);
    const int64_t before = ThreadFaults();
    void* p = ma::ZeroedAllocImpl(kSize);
    const int64_t faults = ThreadFaults() - before;
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(-1, FirstNonZero(p, kSize));
    if (kCountsFaults) {
      const int64_t pages = kSize / kPage;
      EXPECT_LE(faults, Mimalloc() ? pages + 16 : 16)
          << "page faults of one fresh 1 MiB calloc";
    }
    ma::FreeImpl(p);
    ma::FreeImpl(warm);
  });
}

// A block made again from a freed, written one reads zero: a front-cache
// class (1 MiB: the thread's cache, or the engine's cached or parked
// blocks) and one above them (8 MiB: the group's kept block on both
// engines, reused resident, so its pages are not faulted in again).
TEST(CallocPagesTest, ACallocFromAFreedWrittenBlockReadsZero) {
  InNewGroup("reused", [] {
    for (size_t size : {64 * kKiB, 1 * kMiB, 8 * kMiB}) {
      for (int round = 0; round < 3; ++round) {
        void* p = ma::AllocImpl(size, 0, false);
        ASSERT_NE(p, nullptr);
        memset(p, 0xab, ma::UsableSize(p));
        ma::FreeImpl(p);
        const int64_t before = ThreadFaults();
        void* q = ma::ZeroedAllocImpl(size);
        const int64_t faults = ThreadFaults() - before;
        ASSERT_NE(q, nullptr);
        EXPECT_EQ(-1, FirstNonZero(q, size)) << size << " bytes, round "
                                             << round;
        if (kCountsFaults && size == 8 * kMiB) {
          EXPECT_LT(faults, 64) << "an 8 MiB calloc after an 8 MiB free";
        }
        ma::FreeImpl(q);
      }
    }
  });
}

}  // namespace
