// The C ABI at a group's max through libmemgroup.so (binary c_api_test):
// refusals, the new handler, OOM events, reclaim callbacks, protection,
// and the OOM policies (handler, wait, abort, kill).
#include "c_api_fixture.h"

namespace mg_capi_test {
namespace {

// --- At max: the OOM policies -----------------------------------------------

TEST_F(CApiTest, MallocAtMaxWithoutReclaimReturnsNullWithEnomem) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  void* small = nullptr;
  void* big = nullptr;
  void* zeroed = nullptr;
  int err_big = 0, err_zeroed = 0;
  {
    InGroup in(g);
    small = Touch(malloc(512 * kKiB), 512 * kKiB);
    errno = 0;
    big = malloc(768 * kKiB);
    err_big = errno;
    errno = 0;
    zeroed = calloc(768, kKiB);
    err_zeroed = errno;
  }
  EXPECT_NE(nullptr, small);
  EXPECT_EQ(nullptr, big);
  EXPECT_EQ(ENOMEM, err_big);
  EXPECT_EQ(nullptr, zeroed);
  EXPECT_EQ(ENOMEM, err_zeroed);
  free(small);
  free(big);
  free(zeroed);
  EXPECT_EQ(0, CurrentAfterReclaim(g));
}

int g_new_handler_calls = 0;
void CountingNewHandler() {
  ++g_new_handler_calls;
  std::set_new_handler(nullptr);
}

TEST_F(CApiTest, OperatorNewAtMaxCallsNewHandlerThenThrowsBadAlloc) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  g_new_handler_calls = 0;
  bool threw = false;
  void* p = nullptr;
  void* nothrow_p = reinterpret_cast<void*>(1);
  {
    InGroup in(g);
    std::set_new_handler(&CountingNewHandler);
    try {
      p = ::operator new(2 * kMiB);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    std::set_new_handler(nullptr);
    nothrow_p = ::operator new(2 * kMiB, std::nothrow);
  }
  EXPECT_TRUE(threw);
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(1, g_new_handler_calls);
  EXPECT_EQ(nullptr, nothrow_p);
  if (p != nullptr) ::operator delete(p);
  if (nothrow_p != nullptr) ::operator delete(nothrow_p);
}

TEST_F(CApiTest, OomEventsAndFailcntCountEachRefusedMalloc) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  constexpr int kN = 7;
  int nulls = 0;
  {
    InGroup in(g);
    for (int i = 0; i < kN; ++i) {
      void* p = malloc(2 * kMiB);
      if (p == nullptr) ++nulls;
      free(p);
    }
  }
  EXPECT_EQ(kN, nulls);
  mg_events_t e = Events(g);
  EXPECT_EQ(static_cast<uint64_t>(kN), e.oom);
  EXPECT_EQ(static_cast<uint64_t>(kN), e.max);
  EXPECT_EQ(0u, e.oom_kill);
  int64_t failcnt = -1;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt));
  EXPECT_EQ(kN, failcnt) << "failcnt should count refused charges";
}

// A nothrow operator new with no new_handler installed is one refused
// charge, like malloc: it must not try the charge a second time (each try
// runs the whole over-limit path: drain, reclaim callbacks, OOM policy).
TEST_F(CApiTest, NothrowNewWithoutHandlerIsOneRefusedCharge) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  std::set_new_handler(nullptr);
  void* plain = reinterpret_cast<void*>(1);
  void* aligned = reinterpret_cast<void*>(1);
  {
    InGroup in(g);
    plain = ::operator new(2 * kMiB, std::nothrow);
    aligned = ::operator new(2 * kMiB, std::align_val_t{64}, std::nothrow);
  }
  EXPECT_EQ(nullptr, plain);
  EXPECT_EQ(nullptr, aligned);
  int64_t failcnt = -1;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt));
  EXPECT_EQ(2, failcnt);
  EXPECT_EQ(2u, Events(g).max);
}

TEST_F(CApiTest, HierarchicalEventsIncludeDescendantsLocalOnlyTheGroup) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  ASSERT_EQ(0, mg_group_set_limit(child, MG_LIMIT_MAX, kMiB));
  {
    InGroup in(child);
    void* p = malloc(2 * kMiB);
    Escape(p);
    free(p);
  }
  EXPECT_EQ(1u, Events(child, 1).oom);
  EXPECT_EQ(1u, Events(child, 0).oom);
  EXPECT_EQ(0u, Events(parent, 1).oom);
  EXPECT_EQ(1u, Events(parent, 0).oom);
}

TEST_F(CApiTest, ReclaimCallbackThatFreesCachedBlocksLetsTheAllocationSucceed) {
  mg_group_t g = Make();
  Cache cache;
  cache.Fill(g, 7, 128 * kKiB);  // 896 KiB cached
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  RegisterReclaim(g, &cache);
  void* p = nullptr;
  {
    InGroup in(g);
    p = Touch(malloc(300 * kKiB), 300 * kKiB);
  }
  ASSERT_NE(nullptr, p);
  EXPECT_GE(cache.calls.load(), 1);
  EXPECT_LT(cache.count.load(), 7);
  EXPECT_GE(cache.count.load(), 3) << "evicted far more than the shortfall";
  EXPECT_LE(Current(g), kMiB);
  mg_stat_t st = Stat(g);
  EXPECT_EQ(cache.calls.load(), st.reclaim_calls);
  EXPECT_EQ((7 - cache.count.load()) * 128 * kKiB, st.reclaimed);
  mg_events_t e = Events(g);
  EXPECT_GE(e.max, 1u);
  EXPECT_EQ(0u, e.oom);
  free(p);
}

TEST_F(CApiTest, ReclaimCallbackMayAllocateAndFree) {
  mg_group_t g = Make();
  struct Arg {
    Cache cache;
    int allocations_ok = 0;
  } arg;
  arg.cache.Fill(g, 6, 128 * kKiB);
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  int h = 0;
  ASSERT_EQ(0, mg_reclaim_register(
                   g,
                   [](mg_group_t, int64_t target, void* a) -> int64_t {
                     Arg* arg = static_cast<Arg*>(a);
                     void* scratch = malloc(256);  // nested: charged directly
                     if (scratch != nullptr) ++arg->allocations_ok;
                     Escape(scratch);
                     free(scratch);
                     return arg->cache.EvictUntil(target);
                   },
                   &arg, &h));
  reclaim_handles_.push_back(h);
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(512 * kKiB), 512 * kKiB);
  }
  EXPECT_NE(nullptr, p);
  EXPECT_GE(arg.allocations_ok, 1);
  free(p);
  arg.cache.Clear();
  EXPECT_EQ(0, CurrentAfterReclaim(g));
}

TEST_F(CApiTest, ReclaimCallbackThatReleasesNothingEndsInEnomem) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  Cache empty;
  RegisterReclaim(g, &empty);
  int err = 0;
  void* p = MallocInGroup(g, 2 * kMiB, &err);
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(ENOMEM, err);
  EXPECT_GE(empty.calls.load(), 1);
  EXPECT_LE(empty.calls.load(), 17) << "gives up after 16 rounds";
  EXPECT_EQ(1u, Events(g).oom);
}

TEST_F(CApiTest, MinProtectedGroupIsNeverAskedToReclaim) {
  ProtectedSiblings s;
  MakeProtectedSiblings(&s, MG_LIMIT_MIN);
  const mg_group_t worker = s.worker;
  Cache& gc = s.gc;
  Cache& oc = s.oc;
  void* p;
  {
    InGroup in(worker);
    p = Touch(malloc(256 * kKiB), 256 * kKiB);
  }
  EXPECT_NE(nullptr, p);
  EXPECT_EQ(0, gc.calls.load());
  EXPECT_EQ(4, gc.count.load());
  EXPECT_GE(oc.calls.load(), 1);
  // And when only the min-protected group could give, the charge fails.
  void* q;
  {
    InGroup in(worker);
    q = malloc(700 * kKiB);
  }
  EXPECT_EQ(nullptr, q);
  EXPECT_EQ(0, gc.calls.load());
  free(p);
  free(q);
}

TEST_F(CApiTest, LowProtectedGroupIsAskedOnlyWhenNothingElseGave) {
  ProtectedSiblings s;
  MakeProtectedSiblings(&s, MG_LIMIT_LOW);
  const mg_group_t guarded = s.guarded, worker = s.worker;
  Cache& gc = s.gc;
  Cache& oc = s.oc;
  // 1. The unprotected group can give: the low-protected one is spared.
  void* p;
  {
    InGroup in(worker);
    p = Touch(malloc(256 * kKiB), 256 * kKiB);
  }
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(0, gc.calls.load());
  EXPECT_GE(oc.calls.load(), 1);
  EXPECT_EQ(0u, Events(guarded).low);
  // 2. Empty the unprotected cache: now only the protected group can give,
  //    and is asked (raising its `low` event).
  oc.Clear();
  void* q;
  {
    InGroup in(worker);
    q = Touch(malloc(512 * kKiB), 512 * kKiB);
  }
  EXPECT_NE(nullptr, q);
  EXPECT_GE(gc.calls.load(), 1);
  EXPECT_LT(gc.count.load(), 4);
  EXPECT_GE(Events(guarded).low, 1u);
  free(p);
  free(q);
}

TEST_F(CApiTest, MaxBelowCurrentUsageIsAllowedAndLaterChargesFailUntilFreed) {
  mg_group_t g = Make();
  void* held;
  {
    InGroup in(g);
    held = Touch(malloc(2 * kMiB), 2 * kMiB);
  }
  ASSERT_NE(nullptr, held);
  EXPECT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  int64_t max = 0;
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_MAX, &max));
  EXPECT_EQ(kMiB, max);
  // Nothing already allocated is invalidated.
  EXPECT_GE(Current(g), 2 * kMiB);
  memset(held, 1, 2 * kMiB);
  void* refused;
  void* refused_small;
  void* later;
  {
    InGroup in(g);
    refused = malloc(64 * kKiB);
    refused_small = malloc(64);
  }
  EXPECT_EQ(nullptr, refused);
  EXPECT_EQ(nullptr, refused_small);
  free(held);
  {
    InGroup in(g);
    later = Touch(malloc(64 * kKiB), 64 * kKiB);
  }
  EXPECT_NE(nullptr, later);
  free(later);
  EXPECT_EQ(0, CurrentAfterReclaim(g));
}

TEST_F(CApiTest, LoweringMaxRunsReclaimDownToTheNewLimit) {
  mg_group_t g = Make();
  Cache cache;
  cache.Fill(g, 16, 128 * kKiB);  // 2 MiB
  RegisterReclaim(g, &cache);
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  EXPECT_GE(cache.calls.load(), 1);
  EXPECT_LE(Current(g), kMiB);
}

TEST_F(CApiTest, HandlerPolicyRetryAfterFreeingSucceeds) {
  mg_group_t g = Make();
  struct Arg {
    void* victim = nullptr;
    int calls = 0;
  } arg;
  arg.victim = mg_malloc_in(g, 768 * kKiB);
  ASSERT_NE(nullptr, arg.victim);
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  ASSERT_EQ(0, mg_group_set_oom_handler(
                   g,
                   [](mg_group_t, int64_t, void* a) {
                     Arg* arg = static_cast<Arg*>(a);
                     ++arg->calls;
                     free(arg->victim);
                     arg->victim = nullptr;
                     return MG_OOM_RETRY;
                   },
                   &arg));
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(512 * kKiB), 512 * kKiB);
  }
  EXPECT_NE(nullptr, p);
  EXPECT_EQ(1, arg.calls);
  EXPECT_EQ(nullptr, arg.victim);
  EXPECT_EQ(1u, Events(g).oom);
  free(p);
  mg_group_set_oom_handler(g, nullptr, nullptr);
}

TEST_F(CApiTest, HandlerPolicyFailReturnsNullWithEnomem) {
  mg_group_t g = Make();
  int calls = 0;
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  ASSERT_EQ(0, mg_group_set_oom_handler(
                   g,
                   [](mg_group_t, int64_t bytes, void* a) {
                     *static_cast<int*>(a) += bytes >= 2 * kMiB ? 1 : 1000;
                     return MG_OOM_FAIL;
                   },
                   &calls));
  int err = 0;
  void* p = MallocInGroup(g, 2 * kMiB, &err);
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(ENOMEM, err);
  EXPECT_EQ(1, calls) << "called once, with the refused size";
  mg_group_set_oom_handler(g, nullptr, nullptr);
}

TEST_F(CApiTest, HandlerPolicyForceChargesOverTheLimit) {
  mg_group_t g = Make();
  int calls = 0;
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  ASSERT_EQ(0, mg_group_set_oom_handler(
                   g,
                   [](mg_group_t, int64_t, void* a) {
                     ++*static_cast<int*>(a);
                     return MG_OOM_FORCE;
                   },
                   &calls));
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(2 * kMiB), 2 * kMiB);
  }
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(1, calls);
  EXPECT_GE(Current(g), 2 * kMiB);
  EXPECT_GE(Events(g).max, 1u);
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(p, &owner));
  EXPECT_EQ(g, owner);
  free(p);
  EXPECT_EQ(0, CurrentAfterReclaim(g));
  mg_group_set_oom_handler(g, nullptr, nullptr);
}

TEST_F(CApiTest, HandlerPolicyWithoutHandlerFails) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  void* p;
  {
    InGroup in(g);
    p = malloc(2 * kMiB);
  }
  EXPECT_EQ(nullptr, p);
}

// A thread of `g` that allocates `bytes` and records how long it took.
struct Waiter {
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  void* block = nullptr;
  int64_t blocked_ms = -1;
  std::thread thread;

  Waiter(mg_group_t g, size_t bytes) {
    thread = std::thread([this, g, bytes] {
      mg_thread_set_group(g);
      started = true;
      auto t0 = Clock::now();
      block = malloc(bytes);
      blocked_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       Clock::now() - t0).count();
      Touch(block, block ? bytes : 0);
      done = true;
    });
  }
};

TEST_F(CApiTest, WaitPolicyResumesWhenAnotherThreadFrees) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, 20000));
  void* held = mg_malloc_in(g, 768 * kKiB);
  ASSERT_NE(nullptr, held);
  mg_pressure_t before;
  ASSERT_EQ(0, mg_group_pressure(g, &before));
  Waiter w(g, 512 * kKiB);
  while (!w.started.load()) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(w.done.load()) << "should be waiting at the limit";
  free(held);
  w.thread.join();
  EXPECT_NE(nullptr, w.block);
  EXPECT_GE(w.blocked_ms, 250);
  EXPECT_LT(w.blocked_ms, 10000);
  mg_stat_t st = Stat(g);
  EXPECT_GE(st.oom_wait_usec, 250000);
  mg_pressure_t after;
  ASSERT_EQ(0, mg_group_pressure(g, &after));
  EXPECT_GE(after.some_total_usec, before.some_total_usec + 250000);
  EXPECT_EQ(1u, Events(g).oom);
  free(w.block);
}

TEST_F(CApiTest, WaitPolicyResumesWhenTheLimitIsRaised) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, -1));
  void* held = mg_malloc_in(g, 768 * kKiB);
  ASSERT_NE(nullptr, held);
  Waiter w(g, 512 * kKiB);
  while (!w.started.load()) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(w.done.load()) << "should be waiting at the limit";
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, 2 * kMiB));
  w.thread.join();
  EXPECT_NE(nullptr, w.block);
  EXPECT_GE(w.blocked_ms, 250);
  EXPECT_LT(w.blocked_ms, 10000);
  free(w.block);
  free(held);
}

TEST_F(CApiTest, WaitPolicyFallsBackToEnomemAfterTheTimeout) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, 200));
  int err = 0;
  auto t0 = Clock::now();
  void* p = MallocInGroup(g, 2 * kMiB, &err);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                Clock::now() - t0).count();
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(ENOMEM, err);
  EXPECT_GE(ms, 190);
  EXPECT_LT(ms, 5000);
  mg_pressure_t pr;
  ASSERT_EQ(0, mg_group_pressure(g, &pr));
  EXPECT_GE(pr.some_total_usec, 190000u);
  EXPECT_GE(Stat(g).oom_wait_usec, 190000);
}

// The child half of the policy death tests: a group `name` limited to
// 1 MiB with `policy`, then a 2 MiB malloc, which must not return.
[[noreturn]] void OverLimitInChild(const char* name, mg_oom_policy_t policy) {
  mg_group_t g = 0;
  if (mg_group_create(mg_root(), name, &g) != 0) _exit(3);
  mg_group_set_limit(g, MG_LIMIT_MAX, kMiB);
  mg_group_set_oom_policy(g, policy, -1);
  mg_thread_set_group(g);
  void* p = malloc(2 * kMiB);
  Escape(p);
  _exit(p == nullptr ? 4 : 5);  // survived: wrong
}

TEST(CApiDeathTest, AbortPolicyReportsAndAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(OverLimitInChild("dies-abort", MG_OOM_ABORT),
              ::testing::KilledBySignal(SIGABRT),
              "out of memory in group /dies-abort");
}

TEST(CApiDeathTest, KillPolicyReportsAndSigkills) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(OverLimitInChild("dies-kill", MG_OOM_KILL),
              ::testing::KilledBySignal(SIGKILL),
              "out of memory in group /dies-kill");
}

}  // namespace
}  // namespace mg_capi_test
