// mg_group_stat's breakdown in library mode (mg_api over src/alloc, no
// interposition), on each engine (names end in .jemalloc or .mimalloc):
// `heap` is exactly the usable bytes of the group's live blocks, the
// charged free engine pages (freed large blocks' pages, released slabs) are
// `engine_free`, a freed large block a thread's cache keeps is
// `engine_cached`, and current = heap + mmap + explicit + stock +
// engine_free + engine_cached + engine_slack, the slack being the charged
// slab pages beyond their live regions (a few slabs here). The symbol
// mg_group_stat of programs built against the older, shorter mg_stat_t
// writes only that prefix.
#include "memgroup/memgroup.h"

#include <errno.h>
#include <sys/resource.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "alloc/alloc_path.h"
#include "alloc/slow_path.h"

namespace {

namespace ma = memgroup::internal::alloc;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kSlab = 64 * kKiB;

bool Mimalloc() {
  const char* e = getenv("MEMGROUP_ENGINE");
  return e != nullptr && strcmp(e, "mimalloc") == 0;
}

mg_group_t Create(const char* base) {
  static int n = 0;
  const std::string name =
      std::string(base) + "-" + std::to_string(getpid()) + "-" +
      std::to_string(++n);
  mg_group_t g = 0;
  EXPECT_EQ(0, mg_group_create(mg_root(), name.c_str(), &g));
  return g;
}

int64_t Usable(const void* p) {
  return static_cast<int64_t>(ma::UsableSize(p));
}

void* Alloc(size_t size) {
  void* p = ma::AllocImpl(size, 0, false);
  EXPECT_NE(p, nullptr);
  if (p != nullptr) memset(p, 1, size);
  return p;
}

// The stat after draining the subtree's stocks (an exact read of current).
mg_stat_t ExactStat(mg_group_t g) {
  int64_t cur = 0;
  EXPECT_EQ(0, mg_group_current(g, 1, &cur));
  mg_stat_t s;
  memset(&s, 0, sizeof(s));
  EXPECT_EQ(0, mg_group_stat(g, &s));
  return s;
}

void ExpectPartsAddUp(const mg_stat_t& s) {
  EXPECT_EQ(s.current, s.heap + s.mmap + s.explicit_bytes + s.stock +
                           s.engine_free + s.engine_cached + s.engine_slack)
      << "heap " << s.heap << " free " << s.engine_free << " cached "
      << s.engine_cached << " slack " << s.engine_slack;
  // The slack is the remainder, clamped at 0: not clamped here.
  EXPECT_LE(s.heap + s.engine_free + s.engine_cached,
            s.current - s.mmap - s.explicit_bytes - s.stock);
}

TEST(StatHeapTest, HeapIsTheLiveBlocksAndFreePagesAreEngineFree) {
  mg_group_t g = Create("heap");
  std::vector<void*> small_live;
  void* large_live[2] = {nullptr, nullptr};
  int64_t freed_large = 0;
  // On a thread of its own, so that its exit leaves no cache holding the
  // group's blocks; rebinding to the root flushes its front cache first.
  std::thread t([&] {
    ASSERT_EQ(0, mg_thread_set_group(g));
    // About 8 slabs of 256-byte regions; all but the first 100 freed, so
    // the later slabs empty and go back to the group (released slabs keep
    // their charge as free pages, one per bin stays as the spare).
    std::vector<void*> small;
    for (int i = 0; i < 2000; ++i) small.push_back(Alloc(256));
    large_live[0] = Alloc(1 * kMiB);
    large_live[1] = Alloc(300 * kKiB);
    void* gone[2] = {Alloc(1 * kMiB), Alloc(2 * kMiB)};
    for (size_t i = 100; i < small.size(); ++i) ma::FreeImpl(small[i]);
    small.resize(100);
    small_live = small;
    for (void* p : gone) {
      freed_large += Usable(p);
      ma::FreeImpl(p);
    }
    ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  });
  t.join();
  int64_t live = 0;
  for (void* p : small_live) live += Usable(p);
  for (void* p : large_live) live += Usable(p);
  const mg_stat_t s = ExactStat(g);
  EXPECT_EQ(s.heap, live);
  EXPECT_EQ(0, s.mmap);
  EXPECT_EQ(0, s.explicit_bytes);
  EXPECT_EQ(0, s.engine_cached);
  EXPECT_GT(s.engine_free, 0);  // released slabs, at least
  if (!Mimalloc()) {
    // jemalloc engine: a freed large block's pages stay in the group's
    // arena, charged (the mimalloc engine returns a 1 MiB one at once).
    EXPECT_GE(s.engine_free, freed_large);
  }
  // The slabs in use: the one holding the live regions and the spare.
  EXPECT_LE(s.engine_slack, 4 * kSlab);
  ExpectPartsAddUp(s);

  // Reclaim returns the free pages: heap stays, engine_free goes.
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  const mg_stat_t after = ExactStat(g);
  EXPECT_EQ(after.heap, live);
  EXPECT_EQ(0, after.engine_free);
  ExpectPartsAddUp(after);

  for (void* p : small_live) ma::FreeImpl(p);
  for (void* p : large_live) ma::FreeImpl(p);
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  const mg_stat_t none = ExactStat(g);
  EXPECT_EQ(0, none.heap);
  EXPECT_EQ(0, none.current);
  EXPECT_EQ(0, mg_group_destroy(g));
}

TEST(StatHeapTest, ALargeBlockAThreadsCacheKeepsIsEngineCached) {
  mg_group_t g = Create("cached");
  std::thread t([&] {
    ASSERT_EQ(0, mg_thread_set_group(g));
    void* live = Alloc(64 * kKiB);
    void* p = Alloc(1 * kMiB);
    const int64_t usable = Usable(p);
    ma::FreeImpl(p);  // kept by this thread's front cache, charged
    const mg_stat_t s = ExactStat(g);
    EXPECT_EQ(s.heap, Usable(live));
    EXPECT_EQ(s.engine_cached, usable);
    ExpectPartsAddUp(s);
    ASSERT_EQ(0, mg_thread_set_group(mg_root()));
    // Out of the cache: free pages (jemalloc) or returned (mimalloc).
    const mg_stat_t out = ExactStat(g);
    EXPECT_EQ(out.heap, Usable(live));
    EXPECT_EQ(0, out.engine_cached);
    EXPECT_EQ(out.engine_free, Mimalloc() ? 0 : usable);
    ExpectPartsAddUp(out);
    ma::FreeImpl(live);
  });
  t.join();
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  EXPECT_EQ(0, ExactStat(g).current);
  EXPECT_EQ(0, mg_group_destroy(g));
}

int64_t MinorFaults() {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

// A freed large block above the front cache's classes (4 MiB) stays with
// its group, resident and charged as engine_free, on both engines: the
// group's next block of its size reuses its pages without faulting them in
// again; reclaim returns it with its charge.
TEST(StatHeapTest, AFreedLargeBlockIsEngineFreeAndReusedWarm) {
  mg_group_t g = Create("warm");
  std::thread t([&] {
    ASSERT_EQ(0, mg_thread_set_group(g));
    constexpr size_t kSize = 8 * kMiB;
    void* p = Alloc(kSize);
    const int64_t usable = Usable(p);
    ma::FreeImpl(p);
    const mg_stat_t s = ExactStat(g);
    EXPECT_EQ(0, s.heap);
    EXPECT_GE(s.engine_free, usable);
    ExpectPartsAddUp(s);
    const int64_t before = MinorFaults();
    void* q = Alloc(kSize);  // every page written
    const int64_t faults = MinorFaults() - before;
    // 2048 pages: a block faulted in again takes about that many.
    EXPECT_LT(faults, 64) << "faults writing the block made again";
    const mg_stat_t again = ExactStat(g);
    EXPECT_EQ(again.heap, Usable(q));
    EXPECT_LE(again.engine_free, s.engine_free - usable);
    ExpectPartsAddUp(again);
    ma::FreeImpl(q);
    int64_t released = 0;
    ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
    EXPECT_GE(released, usable);
    const mg_stat_t none = ExactStat(g);
    EXPECT_EQ(0, none.engine_free);
    EXPECT_EQ(0, none.heap);
    ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  });
  t.join();
  EXPECT_EQ(0, ExactStat(g).current);
  EXPECT_EQ(0, mg_group_destroy(g));
}

// The kept block goes back before an OOM decision: a charge that fits only
// without it succeeds, and the block's charge is gone.
TEST(StatHeapTest, AFreedLargeBlockGoesBackBeforeAnOom) {
  mg_group_t g = Create("warm-oom");
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, 24 * kMiB));
  std::thread t([&] {
    ASSERT_EQ(0, mg_thread_set_group(g));
    void* p = Alloc(16 * kMiB);
    const int64_t usable = Usable(p);
    ma::FreeImpl(p);
    EXPECT_GE(ExactStat(g).engine_free, usable);
    ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  });
  t.join();
  EXPECT_EQ(0, mg_charge(g, 16 * kMiB));
  const mg_stat_t s = ExactStat(g);
  EXPECT_EQ(0, s.engine_free);
  EXPECT_EQ(16 * kMiB, s.explicit_bytes);
  EXPECT_EQ(0, mg_uncharge(g, 16 * kMiB));
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  EXPECT_EQ(0, ExactStat(g).current);
  EXPECT_EQ(0, mg_group_destroy(g));
}

// The layout of mg_stat_t before the engine figures: what a program built
// against that header passes to the symbol mg_group_stat.
struct OldStat {
  int64_t fields[12];  // current .. frees
  int64_t canary[3];   // the caller's memory after its struct
};

TEST(StatAbiTest, TheOldSymbolWritesTheOldStructOnly) {
  mg_group_t g = Create("abi");
  void* p = nullptr;
  std::thread t([&] {
    ASSERT_EQ(0, mg_thread_set_group(g));
    p = Alloc(1 * kMiB);
    ASSERT_EQ(0, mg_thread_set_group(mg_root()));
  });
  t.join();
  OldStat old;
  memset(&old, 0x5a, sizeof(old));
  // The parentheses call the symbol, as an older binary does, not the macro.
  ASSERT_EQ(0, (mg_group_stat)(g, reinterpret_cast<mg_stat_t*>(&old)));
  for (int64_t c : old.canary) EXPECT_EQ(c, 0x5a5a5a5a5a5a5a5a);
  EXPECT_EQ(old.fields[1], Usable(p));  // heap
  // Today's header passes the whole struct; a size short of `frees` is
  // refused.
  const mg_stat_t s = ExactStat(g);
  EXPECT_EQ(s.heap, Usable(p));
  ExpectPartsAddUp(s);
  mg_stat_t short_one;
  EXPECT_EQ(EINVAL,
            mg_group_stat_sized(g, &short_one, 12 * sizeof(int64_t) - 1));
  ma::FreeImpl(p);
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  EXPECT_EQ(0, mg_group_destroy(g));
}

}  // namespace
