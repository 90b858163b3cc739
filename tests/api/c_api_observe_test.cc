// The C ABI's observation through libmemgroup.so (binary c_api_test):
// high, peak, thresholds, proactive reclaim, pressure, stat and the
// histogram, anonymous mmap, the stats file.
#include <sys/syscall.h>

#include "c_api_fixture.h"

namespace mg_capi_test {
namespace {

// --- high -------------------------------------------------------------------

TEST_F(CApiTest, HighNeverFailsButCountsHighEvents) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_HIGH, 4 * kMiB));
  std::vector<void*> blocks;
  blocks.reserve(8);
  {
    InGroup in(g);
    for (int i = 0; i < 5; ++i) blocks.push_back(Touch(malloc(kMiB), kMiB));
  }
  for (void* p : blocks) EXPECT_NE(nullptr, p);
  EXPECT_GE(Events(g).high, 1u);
  EXPECT_EQ(0u, Events(g).oom);
  for (void* p : blocks) free(p);
}

// --- Observation ------------------------------------------------------------

TEST_F(CApiTest, PeakRecordsTheHighestUsageAndResetSetsItToCurrent) {
  mg_group_t g = Make();
  void* big;
  {
    InGroup in(g);
    big = Touch(malloc(3 * kMiB), 3 * kMiB);
  }
  ASSERT_NE(nullptr, big);
  free(big);
  ASSERT_EQ(0, CurrentAfterReclaim(g));
  int64_t peak = -1;
  ASSERT_EQ(0, mg_group_peak(g, &peak));
  EXPECT_GE(peak, 3 * kMiB);
  void* small = mg_malloc_in(g, 256 * kKiB);
  ASSERT_NE(nullptr, small);
  const int64_t cur = Current(g);
  ASSERT_EQ(0, mg_group_reset_peak(g));
  ASSERT_EQ(0, mg_group_peak(g, &peak));
  EXPECT_EQ(cur, peak);
  free(small);
  ASSERT_EQ(0, mg_group_peak(g, &peak));
  EXPECT_EQ(cur, peak) << "peak does not fall with usage";
}

struct Crossing {
  int64_t threshold;
  int above;
};
struct Crossings {
  std::array<Crossing, 64> log{};
  std::atomic<int> n{0};
  static void Fn(mg_group_t, int64_t threshold, int above, void* arg) {
    Crossings* c = static_cast<Crossings*>(arg);
    int i = c->n++;
    if (i < 64) c->log[i] = {threshold, above};
  }
};

TEST_F(CApiTest, ThresholdFiresUpwardsAndDownwards) {
  mg_group_t g = Make();
  Crossings c;
  int h = 0;
  ASSERT_EQ(0, mg_threshold_register(g, kMiB, &Crossings::Fn, &c, &h));
  threshold_handles_.push_back(h);
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(2 * kMiB), 2 * kMiB);
  }
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(1, c.n.load());
  EXPECT_EQ(kMiB, c.log[0].threshold);
  EXPECT_EQ(1, c.log[0].above);
  free(p);
  CurrentAfterReclaim(g);  // free pages and stocks back: the real value
  ASSERT_EQ(2, c.n.load());
  EXPECT_EQ(kMiB, c.log[1].threshold);
  EXPECT_EQ(0, c.log[1].above);
  // Unregistered: no more calls.
  ASSERT_EQ(0, mg_threshold_unregister(h));
  threshold_handles_.clear();
  p = mg_malloc_in(g, 2 * kMiB);
  free(p);
  Current(g);
  EXPECT_EQ(2, c.n.load());
}

TEST_F(CApiTest, ExplicitChargesCrossThresholdsBothWays) {
  mg_group_t g = Make();
  Crossings c;
  int h = 0;
  ASSERT_EQ(0, mg_threshold_register(g, kMiB, &Crossings::Fn, &c, &h));
  threshold_handles_.push_back(h);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(0, mg_charge(g, 2 * kMiB));
    ASSERT_EQ(2 * i + 1, c.n.load()) << i;
    ASSERT_EQ(0, mg_uncharge(g, 2 * kMiB));  // reported at once
    ASSERT_EQ(2 * i + 2, c.n.load()) << i;
    EXPECT_EQ(1, c.log[2 * i].above);
    EXPECT_EQ(0, c.log[2 * i + 1].above);
  }
  ASSERT_EQ(0, mg_threshold_unregister(h));
  threshold_handles_.clear();
}

TEST_F(CApiTest, ThresholdOnAParentSeesChildUsage) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  Crossings c;
  int h = 0;
  ASSERT_EQ(0, mg_threshold_register(parent, 512 * kKiB, &Crossings::Fn, &c, &h));
  threshold_handles_.push_back(h);
  void* p = mg_malloc_in(child, kMiB);
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(1, c.n.load());
  EXPECT_EQ(1, c.log[0].above);
  free(p);
  CurrentAfterReclaim(parent);
  EXPECT_EQ(2, c.n.load());
  EXPECT_EQ(0, c.log[1].above);
}

TEST_F(CApiTest, ProactiveReclaimReportsReleasedBytes) {
  mg_group_t g = Make();
  Cache cache;
  cache.Fill(g, 16, 64 * kKiB);  // 1 MiB
  RegisterReclaim(g, &cache);
  const int64_t before = Current(g);
  int64_t released = -1;
  ASSERT_EQ(0, mg_group_reclaim(g, 256 * kKiB, &released));
  EXPECT_GE(released, 256 * kKiB);
  EXPECT_LE(released, 256 * kKiB + 64 * kKiB);
  EXPECT_EQ((16 - cache.count.load()) * 64 * kKiB, released);
  EXPECT_EQ(before - released, Current(g));
  // Asking for more than there is releases what there is.
  ASSERT_EQ(0, mg_group_reclaim(g, 100 * kMiB, &released));
  EXPECT_EQ(0, cache.count.load());
  EXPECT_EQ(0, Current(g));
  // No pressure: no events.
  EXPECT_EQ(0u, Events(g).max);
  EXPECT_EQ(0u, Events(g).oom);
}

TEST_F(CApiTest, ProactiveReclaimWithoutCallbacksReleasesNothing) {
  mg_group_t g = Make();
  int64_t released = -1;
  ASSERT_EQ(0, mg_group_reclaim(g, kMiB, &released));
  EXPECT_EQ(0, released);
}

TEST_F(CApiTest, ProactiveReclaimReachesDescendants) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  Cache cache;
  cache.Fill(child, 8, 64 * kKiB);
  RegisterReclaim(child, &cache);
  int64_t released = -1;
  ASSERT_EQ(0, mg_group_reclaim(parent, 128 * kKiB, &released));
  EXPECT_GE(released, 128 * kKiB);
  EXPECT_GE(cache.calls.load(), 1);
}

TEST_F(CApiTest, PressureCallbackFiresWhenReclaimFallsShort) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  Cache empty;
  RegisterReclaim(g, &empty);
  struct Arg {
    std::atomic<int> calls{0};
    std::atomic<int> worst{0};
  } arg;
  int h = 0;
  ASSERT_EQ(0, mg_pressure_register(
                   g, MG_PRESSURE_MEDIUM,
                   [](mg_group_t, int level, void* a) {
                     Arg* arg = static_cast<Arg*>(a);
                     arg->calls++;
                     if (level > arg->worst) arg->worst = level;
                   },
                   &arg, &h));
  void* p;
  {
    InGroup in(g);
    p = malloc(2 * kMiB);
  }
  EXPECT_EQ(nullptr, p);
  EXPECT_GE(arg.calls.load(), 1);
  EXPECT_EQ(MG_PRESSURE_CRITICAL, arg.worst.load());
  EXPECT_EQ(0, mg_pressure_unregister(h));
}

TEST_F(CApiTest, StatHeapMatchesLiveBlocks) {
  mg_group_t g = Make();
  std::vector<void*> blocks;
  blocks.reserve(100);
  {
    InGroup in(g);
    for (int i = 0; i < 100; ++i) {
      blocks.push_back(Touch(malloc(10 * kKiB), 10 * kKiB));
    }
  }
  int64_t live = 0;
  for (void* p : blocks) live += Usable(p);
  mg_stat_t st = Stat(g);
  // stat.heap is the live blocks' bytes (and the regions in this thread's
  // cache); `current` charges the pages of their slabs that regions have
  // crossed (6 regions of 10 KiB a 64 KiB slab: 17 slabs for 100 blocks,
  // each with under 8 KiB charged beyond its regions: its header and
  // colour before region 0, under 4 KiB, and the tail of its last page).
  EXPECT_GE(st.heap, live);
  EXPECT_LE(st.heap, live + 64 * kKiB);
  EXPECT_EQ(0, st.mmap);
  EXPECT_EQ(0, st.explicit_bytes);
  EXPECT_EQ(0, st.stock);  // drained by the exact read
  const int64_t slabs = st.current - st.mmap - st.explicit_bytes - st.stock;
  EXPECT_EQ(0, slabs % (4 * kKiB));
  EXPECT_GE(slabs, st.heap);
  EXPECT_LE(slabs, st.heap + 17 * 8 * kKiB);
  for (void* p : blocks) free(p);
  // This thread's cache for g held the last freed blocks: reclaim flushes it.
  EXPECT_EQ(0, CurrentAfterReclaim(g));
  st = Stat(g);
  EXPECT_EQ(0, st.heap);
  EXPECT_EQ(0, st.current);
}

TEST_F(CApiTest, AnonymousMmapIsChargedAndMunmapUnchargesAlsoPartially) {
  mg_group_t g = Make();
  void* m;
  {
    InGroup in(g);
    m = mmap(nullptr, kMiB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  ASSERT_NE(MAP_FAILED, m);
  memset(m, 7, kMiB);
  mg_stat_t st = Stat(g);
  EXPECT_EQ(kMiB, st.mmap);
  EXPECT_EQ(kMiB, st.current);
  // Unmapped from the root group: still uncharges the group that was charged.
  ASSERT_EQ(0, munmap(static_cast<char*>(m) + kMiB / 2, kMiB / 2));
  st = Stat(g);
  EXPECT_EQ(kMiB / 2, st.mmap);
  EXPECT_EQ(kMiB / 2, st.current);
  ASSERT_EQ(0, munmap(m, kMiB / 2));
  st = Stat(g);
  EXPECT_EQ(0, st.mmap);
  EXPECT_EQ(0, st.current);
}

// A mapping unmapped behind the interposed munmap's back (a raw system
// call) keeps its charge until a new mapping takes its addresses: that
// mapping's range is found taken, the stale charge is released, and the
// group holds the new mapping's charge alone, not both.
TEST_F(CApiTest, NewMappingOverAStaleRangeReleasesItsCharge) {
  mg_group_t g = Make();
  void* m;
  void* again;
  {
    InGroup in(g);
    m = mmap(nullptr, kMiB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(MAP_FAILED, m);
    ASSERT_EQ(0, syscall(SYS_munmap, m, kMiB));
    EXPECT_EQ(kMiB, Stat(g).current);
    again = mmap(m, kMiB, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  }
  ASSERT_EQ(m, again);
  mg_stat_t st = Stat(g);
  EXPECT_EQ(kMiB, st.current);
  EXPECT_EQ(kMiB, st.mmap);
  ASSERT_EQ(0, munmap(again, kMiB));
  st = Stat(g);
  EXPECT_EQ(0, st.current);
  EXPECT_EQ(0, st.mmap);
}

TEST_F(CApiTest, AnonymousMmapAboveMaxFailsWithEnomem) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  void* m;
  int err;
  {
    InGroup in(g);
    errno = 0;
    m = mmap(nullptr, 2 * kMiB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    err = errno;
  }
  EXPECT_EQ(MAP_FAILED, m);
  EXPECT_EQ(ENOMEM, err);
  if (m != MAP_FAILED) munmap(m, 2 * kMiB);
}

TEST_F(CApiTest, StatsWriteListsTheGroup) {
  mg_group_t g = Make();
  char path[128];
  ASSERT_EQ(0, mg_group_path(g, path, sizeof(path)));
  int fds[2];
  ASSERT_EQ(0, pipe(fds));
  ASSERT_EQ(0, mg_stats_write(fds[1]));
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fds[0]);
  EXPECT_NE(std::string::npos, out.find(std::string("group ") + path + "\n"));
}

TEST_F(CApiTest, StatCountsAllocsFreesAndHistogramShowsLiveClasses) {
  mg_group_t g = Make();
  void* blocks[100];
  ASSERT_EQ(0, mg_thread_set_group(g));
  for (void*& b : blocks) b = malloc(200);  // size class 224
  ASSERT_EQ(0, mg_thread_set_group(root_));
  mg_stat_t st;
  ASSERT_EQ(0, mg_group_stat(g, &st));
  EXPECT_GE(st.allocs, 100);
  EXPECT_GE(st.heap, 100 * 224);
  mg_size_class_t classes[64];
  size_t n = 0;
  ASSERT_EQ(0, mg_group_histogram(g, classes, 64, &n));
  uint64_t live224 = 0;
  for (size_t i = 0; i < n; ++i) {
    if (classes[i].size == 224) live224 = classes[i].count;
    if (i > 0) {
      EXPECT_LT(classes[i - 1].size, classes[i].size);
    }
  }
  EXPECT_GE(live224, 100u);
  // Free them on a thread that then exits: its caches are flushed at exit,
  // so the engine has counted every free and no block is held out any more.
  std::thread freer([&] {
    for (void* b : blocks) free(b);
  });
  freer.join();
  ASSERT_EQ(0, mg_group_stat(g, &st));
  EXPECT_GE(st.frees, 100);
  ASSERT_EQ(0, mg_group_histogram(g, classes, 64, &n));
  for (size_t i = 0; i < n; ++i) {
    if (classes[i].size == 224) {
      EXPECT_LT(classes[i].count, live224);
    }
  }
  // The freed blocks' slab is the 224-byte bin's spare until reclaim.
  EXPECT_EQ(0, CurrentAfterReclaim(g));
  EXPECT_EQ(EINVAL, mg_group_histogram(g, nullptr, 4, &n));
}

}  // namespace
}  // namespace mg_capi_test
