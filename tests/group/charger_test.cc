// The charge slow path against the real counter, stocks and registry (no
// engine), modelled on the kernel's memcg selftests
// (tools/testing/selftests/cgroup/test_memcontrol.c). Runs in the release,
// TSan and ASan builds.
#include "group/charger.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "group/fault_injection.h"
#include "group/oom_handler.h"
#include "group/oom_policy.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/thresholds.h"

namespace memgroup::internal {
namespace {

constexpr int64_t K = 1024;
constexpr int64_t M = 1024 * 1024;

class ChargerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(GlobalRegistry().Init()); }
  void SetUp() override { SetupThread(); }
  Registry& reg() { return GlobalRegistry(); }
  CounterTree& tree() { return reg().tree(); }

  uint32_t Make(uint32_t parent, const std::string& name) {
    GroupId id;
    EXPECT_EQ(reg().Create(reg().IdOf(parent), name.c_str(), &id), Errc::kOk);
    return IndexOf(id);
  }
  // A unique group under the root for this test.
  uint32_t MakeTop() {
    static int n = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return Make(kRootGroup, std::string(info->name()).substr(0, 40) + "_" +
                                std::to_string(n++));
  }
  int64_t Exact(uint32_t g) {
    DrainSubtree(g);
    return tree().Usage(g);
  }
  uint64_t Events(uint32_t g, Event e) { return reg().state(g).events[e].load(); }
  uint64_t LocalEvents(uint32_t g, Event e) {
    return reg().state(g).events_local[e].load();
  }
  // What the charging allocator does on a slow path: follow the thread's
  // group to the live group it should be charged to.
  uint32_t MoveToLiveGroup() {
    BindThreadGroup(LiveBindingTarget());
    return t_thread.group;
  }
  ChargeResult Charge(uint32_t g, int64_t bytes) {
    return ChargeSlow(g, bytes, ChargeKind::kExplicit);
  }
};

TEST_F(ChargerTest, CurrentTracksChargesThroughTheStock) {
  uint32_t g = MakeTop();
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(ChargeSlow(g, K, ChargeKind::kHeap), ChargeResult::kOk);
  }
  EXPECT_GE(tree().Usage(g), 1000 * K);
  EXPECT_LE(tree().Usage(g), 1000 * K + kStockBatchBytes);
  EXPECT_EQ(Exact(g), 1000 * K);
  for (int i = 0; i < 1000; ++i) UnchargeSlow(g, K);
  EXPECT_EQ(Exact(g), 0);
}

TEST_F(ChargerTest, MaxWithoutCallbacksFailsAndCountsEvents) {
  uint32_t p = MakeTop();
  uint32_t g = Make(p, "leaf");
  tree().ExchangeMax(p, 1 * M);
  ASSERT_EQ(Charge(g, 900 * K), ChargeResult::kOk);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Charge(g, 200 * K), ChargeResult::kOverLimit);
  }
  // The refusing level is the parent: its events count, the leaf's do not.
  EXPECT_EQ(LocalEvents(p, kEventMax), 5u);
  EXPECT_EQ(LocalEvents(p, kEventOom), 5u);
  EXPECT_EQ(LocalEvents(g, kEventOom), 0u);
  EXPECT_EQ(tree().Failcnt(p), 5);  // one per refused charge
  EXPECT_EQ(tree().Failcnt(g), 0);
  EXPECT_EQ(Exact(g), 900 * K);  // nothing of the refused charges remains
  tree().Uncharge(g, 900 * K);
  EXPECT_EQ(Exact(p), 0);
}

struct Cache {
  uint32_t group;
  std::atomic<int64_t> held{0};
  std::atomic<int> calls{0};
};

int64_t ShrinkCache(GroupId, int64_t target, void* arg) {
  auto* c = static_cast<Cache*>(arg);
  c->calls.fetch_add(1);
  int64_t give = c->held.load() < target ? c->held.load() : target;
  c->held.fetch_sub(give);
  GlobalRegistry().tree().Uncharge(c->group, give);
  return give;
}

TEST_F(ChargerTest, MaxWithCallbackReclaimsAndSucceeds) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 1 * M);
  Cache cache{g};
  ASSERT_EQ(Charge(g, 900 * K), ChargeResult::kOk);
  cache.held = 900 * K;
  int handle;
  ASSERT_EQ(RegisterReclaimer(g, ShrinkCache, &cache, &handle), Errc::kOk);
  ASSERT_EQ(Charge(g, 300 * K), ChargeResult::kOk);
  EXPECT_GE(cache.calls.load(), 1);
  // Exactly the shortfall: usage + request - max.
  EXPECT_EQ(cache.held.load(), 900 * K - (1200 * K - M));
  EXPECT_EQ(Exact(g), 1 * M);
  EXPECT_EQ(LocalEvents(g, kEventMax), 1u);
  EXPECT_EQ(LocalEvents(g, kEventOom), 0u);
  EXPECT_EQ(reg().state(g).reclaimed_bytes.load(), 1200 * K - M);
  ASSERT_EQ(UnregisterReclaimer(handle), Errc::kOk);
  tree().Uncharge(g, 300 * K + cache.held.load());
  EXPECT_EQ(Exact(g), 0);
}

TEST_F(ChargerTest, ReclaimOfAParentReachesItsChildren) {
  uint32_t p = MakeTop();
  uint32_t a = Make(p, "a");
  uint32_t b = Make(p, "b");
  tree().ExchangeMax(p, 1 * M);
  Cache cache{a};
  ASSERT_EQ(Charge(a, 800 * K), ChargeResult::kOk);
  cache.held = 800 * K;
  int handle;
  ASSERT_EQ(RegisterReclaimer(a, ShrinkCache, &cache, &handle), Errc::kOk);
  // b's charge is refused at p; a's cache gives.
  ASSERT_EQ(Charge(b, 500 * K), ChargeResult::kOk);
  EXPECT_EQ(cache.held.load(), 800 * K - (1300 * K - M));
  ASSERT_EQ(UnregisterReclaimer(handle), Errc::kOk);
  tree().Uncharge(a, cache.held.load());
  tree().Uncharge(b, 500 * K);
  EXPECT_EQ(Exact(p), 0);
}

TEST_F(ChargerTest, GroupsWithinMinAreNeverAsked) {
  uint32_t p = MakeTop();
  uint32_t a = Make(p, "a");
  uint32_t b = Make(p, "b");
  uint32_t c = Make(p, "c");
  tree().ExchangeMax(p, 1 * M);
  tree().SetMin(a, 600 * K);
  Cache ca{a}, cb{b};
  ASSERT_EQ(Charge(a, 500 * K), ChargeResult::kOk);
  ASSERT_EQ(Charge(b, 500 * K), ChargeResult::kOk);
  ca.held = 500 * K;
  cb.held = 500 * K;
  int ha, hb;
  ASSERT_EQ(RegisterReclaimer(a, ShrinkCache, &ca, &ha), Errc::kOk);
  ASSERT_EQ(RegisterReclaimer(b, ShrinkCache, &cb, &hb), Errc::kOk);
  ASSERT_EQ(Charge(c, 300 * K), ChargeResult::kOk);
  EXPECT_EQ(ca.calls.load(), 0);  // protected by min
  EXPECT_EQ(cb.held.load(), 500 * K - (1300 * K - M));
  // Nothing but a is left to give: the charge fails instead of touching a.
  EXPECT_EQ(Charge(c, 400 * K), ChargeResult::kOverLimit);
  EXPECT_EQ(ca.calls.load(), 0);
  EXPECT_EQ(ca.held.load(), 500 * K);
  ASSERT_EQ(UnregisterReclaimer(ha), Errc::kOk);
  ASSERT_EQ(UnregisterReclaimer(hb), Errc::kOk);
  tree().Uncharge(a, ca.held.load());
  tree().Uncharge(b, cb.held.load());
  tree().Uncharge(c, 300 * K);
  EXPECT_EQ(Exact(p), 0);
}

TEST_F(ChargerTest, GroupsWithinLowAreAskedOnlyWhenNothingElseGives) {
  uint32_t p = MakeTop();
  uint32_t a = Make(p, "a");
  uint32_t b = Make(p, "b");
  uint32_t c = Make(p, "c");
  tree().ExchangeMax(p, 1 * M);
  tree().SetLow(a, 600 * K);
  Cache ca{a}, cb{b};
  ASSERT_EQ(Charge(a, 500 * K), ChargeResult::kOk);
  ASSERT_EQ(Charge(b, 300 * K), ChargeResult::kOk);
  ca.held = 500 * K;
  cb.held = 300 * K;
  int ha, hb;
  ASSERT_EQ(RegisterReclaimer(a, ShrinkCache, &ca, &ha), Errc::kOk);
  ASSERT_EQ(RegisterReclaimer(b, ShrinkCache, &cb, &hb), Errc::kOk);
  ASSERT_EQ(Charge(c, 400 * K), ChargeResult::kOk);  // b alone can give
  EXPECT_EQ(ca.calls.load(), 0);
  EXPECT_EQ(LocalEvents(a, kEventLow), 0u);
  EXPECT_GT(cb.calls.load(), 0);
  tree().Uncharge(b, cb.held.load());
  tree().Charge(c, cb.held.load());  // b's rest moves out of reach
  cb.held = 0;                        // b has nothing more
  ASSERT_EQ(Charge(c, 200 * K), ChargeResult::kOk);  // only a can give now
  EXPECT_GE(ca.calls.load(), 1);
  EXPECT_GE(LocalEvents(a, kEventLow), 1u);
  ASSERT_EQ(UnregisterReclaimer(ha), Errc::kOk);
  ASSERT_EQ(UnregisterReclaimer(hb), Errc::kOk);
  for (uint32_t g : {a, b, c}) tree().Uncharge(g, Exact(g));
  EXPECT_EQ(Exact(p), 0);
}

int64_t AllocatingReclaimer(GroupId id, int64_t, void* arg) {
  auto* calls = static_cast<std::atomic<int>*>(arg);
  calls->fetch_add(1);
  uint32_t g = IndexOf(id);
  // A nested charge from inside reclaim goes straight to the counter and
  // never re-enters reclaim (the charge is over the limit, so it fails).
  EXPECT_EQ(ChargeSlow(g, 10 * M, ChargeKind::kExplicit),
            ChargeResult::kOverLimit);
  EXPECT_EQ(ChargeSlow(g, 1, ChargeKind::kHeap), ChargeResult::kOverLimit);
  return 0;
}

TEST_F(ChargerTest, ReclaimerThatAllocatesIsChargedDirectlyAndNotReentered) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 1 * M);
  ASSERT_EQ(Charge(g, 1 * M), ChargeResult::kOk);
  std::atomic<int> calls{0};
  int h;
  ASSERT_EQ(RegisterReclaimer(g, AllocatingReclaimer, &calls, &h), Errc::kOk);
  EXPECT_EQ(Charge(g, 1), ChargeResult::kOverLimit);
  // 16 rounds without progress, one call each; never nested.
  EXPECT_EQ(calls.load(), 16);
  ASSERT_EQ(UnregisterReclaimer(h), Errc::kOk);
  tree().Uncharge(g, 1 * M);
}

TEST_F(ChargerTest, HighThrottlesButNeverFails) {
  uint32_t g = MakeTop();
  tree().SetHigh(g, 1 * M);
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 24; ++i) {
    ASSERT_EQ(Charge(g, 64 * K), ChargeResult::kOk);  // up to 1.5 MiB
  }
  double secs = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(LocalEvents(g, kEventHigh), 0u);
  EXPECT_EQ(LocalEvents(g, kEventOom), 0u);
  EXPECT_GT(reg().state(g).throttled_ns.load(), 0);
  EXPECT_LT(secs, 10.0);
  Pressure pr;
  ReadPressure(g, &pr);
  EXPECT_GT(pr.some_total_us, 0u);
  tree().Uncharge(g, 24 * 64 * K);
}

TEST_F(ChargerTest, WaitResumesWhenTheLimitIsRaised) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 5 * M);
  reg().state(g).oom_policy.store(static_cast<uint32_t>(OomPolicy::kWait));
  ASSERT_EQ(Charge(g, 5 * M), ChargeResult::kOk);
  std::atomic<int> done{0};
  std::thread waiter([&] {
    SetupThread();
    done = Charge(g, 1 * M) == ChargeResult::kOk ? 1 : 2;
    TeardownThread();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(done.load(), 0);  // paused at the limit
  tree().ExchangeMax(g, 10 * M);
  NotifyLimitChanged(g);
  waiter.join();
  EXPECT_EQ(done.load(), 1);
  EXPECT_GE(reg().state(g).oom_wait_ns_total.load(), 150 * 1000 * 1000);
  EXPECT_EQ(Exact(g), 6 * M);
  tree().Uncharge(g, 6 * M);
}

TEST_F(ChargerTest, WaitResumesWhenAnotherThreadFrees) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 2 * M);
  reg().state(g).oom_policy.store(static_cast<uint32_t>(OomPolicy::kWait));
  ASSERT_EQ(Charge(g, 2 * M), ChargeResult::kOk);
  std::atomic<int> done{0};
  std::thread waiter([&] {
    SetupThread();
    done = Charge(g, 1 * M) == ChargeResult::kOk ? 1 : 2;
    TeardownThread();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(done.load(), 0);
  UnchargeSlow(g, 1 * M);  // a free elsewhere
  waiter.join();
  EXPECT_EQ(done.load(), 1);
  EXPECT_EQ(Exact(g), 2 * M);
  tree().Uncharge(g, 2 * M);
}

TEST_F(ChargerTest, WaitFallsBackToEnomemAfterTheTimeout) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 1 * M);
  reg().state(g).oom_policy.store(static_cast<uint32_t>(OomPolicy::kWait));
  reg().state(g).oom_wait_ns.store(100 * 1000 * 1000);
  ASSERT_EQ(Charge(g, 1 * M), ChargeResult::kOk);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Charge(g, 1), ChargeResult::kOverLimit);
  double secs = std::chrono::duration<double>(
                    std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(secs, 0.09);
  EXPECT_LT(secs, 5.0);
  tree().Uncharge(g, 1 * M);
}

struct HandlerState {
  int verdict;
  int calls = 0;
  uint32_t group = 0;
  int64_t free_on_retry = 0;
};

int Handler(GroupId, int64_t, void* arg) {
  auto* s = static_cast<HandlerState*>(arg);
  ++s->calls;
  if (s->verdict == kOomRetry && s->free_on_retry > 0) {
    GlobalRegistry().tree().Uncharge(s->group, s->free_on_retry);
    s->free_on_retry = 0;
  }
  return s->verdict;
}

TEST_F(ChargerTest, HandlerPolicyRetriesFailsOrForces) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 1 * M);
  reg().state(g).oom_policy.store(static_cast<uint32_t>(OomPolicy::kHandler));
  ASSERT_EQ(Charge(g, 1 * M), ChargeResult::kOk);

  HandlerState fail{kOomFail};
  ASSERT_EQ(SetOomHandler(g, Handler, &fail), Errc::kOk);
  EXPECT_EQ(Charge(g, K), ChargeResult::kOverLimit);
  EXPECT_EQ(fail.calls, 1);

  HandlerState retry{kOomRetry, 0, g, 512 * K};
  ASSERT_EQ(SetOomHandler(g, Handler, &retry), Errc::kOk);
  EXPECT_EQ(Charge(g, K), ChargeResult::kOk);
  EXPECT_EQ(retry.calls, 1);

  HandlerState force{kOomForce};
  ASSERT_EQ(SetOomHandler(g, Handler, &force), Errc::kOk);
  uint64_t max_events = LocalEvents(g, kEventMax);
  EXPECT_EQ(Charge(g, 1 * M), ChargeResult::kOk);
  EXPECT_EQ(Exact(g), 1 * M - 512 * K + K + 1 * M);  // over max, by choice
  EXPECT_EQ(LocalEvents(g, kEventMax), max_events + 2);  // refusal + force
  ASSERT_EQ(SetOomHandler(g, nullptr, nullptr), Errc::kOk);
  tree().Uncharge(g, Exact(g));
}

TEST_F(ChargerTest, EventsAreHierarchicalAndLocal) {
  uint32_t p = MakeTop();
  uint32_t c = Make(p, "c");
  tree().ExchangeMax(c, 100 * K);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Charge(c, 200 * K), ChargeResult::kOverLimit);
  }
  EXPECT_EQ(LocalEvents(c, kEventOom), 3u);
  EXPECT_EQ(Events(c, kEventOom), 3u);
  EXPECT_EQ(LocalEvents(p, kEventOom), 0u);
  EXPECT_EQ(Events(p, kEventOom), 3u);
}

TEST_F(ChargerTest, DestroyedGroupReparentsAndItsFreesReachZero) {
  uint32_t p = MakeTop();
  uint32_t c = Make(p, "c");
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(ChargeSlow(c, 10 * K, ChargeKind::kHeap), ChargeResult::kOk);
  }
  ASSERT_EQ(reg().Destroy(reg().IdOf(c)), Errc::kOk);
  EXPECT_EQ(tree().Usage(p), 100 * K);  // stocks drained, charges stay
  for (int i = 0; i < 10; ++i) UnchargeSlow(c, 10 * K);
  EXPECT_EQ(Exact(p), 0);
  EXPECT_EQ(Exact(c), 0);
}

struct Crossings {
  int up = 0, down = 0;
};
void OnThreshold(GroupId, int64_t, int above, void* arg) {
  auto* c = static_cast<Crossings*>(arg);
  (above ? c->up : c->down)++;
}

TEST_F(ChargerTest, ThresholdsFireInBothDirections) {
  uint32_t g = MakeTop();
  Crossings x;
  int h;
  ASSERT_EQ(RegisterThreshold(g, 1 * M, OnThreshold, &x, &h), Errc::kOk);
  ASSERT_EQ(Charge(g, 600 * K), ChargeResult::kOk);
  EXPECT_EQ(x.up, 0);
  ASSERT_EQ(Charge(g, 600 * K), ChargeResult::kOk);
  EXPECT_EQ(x.up, 1);
  ASSERT_EQ(Charge(g, 10 * K), ChargeResult::kOk);
  EXPECT_EQ(x.up, 1);  // still above: no new crossing
  UnchargeSlow(g, 1210 * K);
  DrainSubtree(g);
  CheckThresholds(g);
  EXPECT_EQ(x.down, 1);
  ASSERT_EQ(UnregisterThreshold(h), Errc::kOk);
}

// The crossings each group publishes to its job's group table
// (group_state.h): one per callback call, on the group the callback is
// registered on, with the last threshold each way.
struct Levels {
  int calls[4] = {};
};
void OnLevel(GroupId, int level, void* arg) {
  static_cast<Levels*>(arg)->calls[level]++;
}
int64_t ReleaseNothing(GroupId, int64_t, void*) { return 0; }

TEST_F(ChargerTest, CrossingsCountEveryCallbackCall) {
  uint32_t g = MakeTop();
  uint32_t child = Make(g, "child");
  GroupState& st = reg().state(g);
  EXPECT_EQ(st.threshold_last[0].load(), -1);
  EXPECT_EQ(st.threshold_last[1].load(), -1);
  Crossings x;
  int h1, h2, h3, h4;
  ASSERT_EQ(RegisterThreshold(g, 1 * M, OnThreshold, &x, &h1), Errc::kOk);
  ASSERT_EQ(RegisterThreshold(g, 3 * M, OnThreshold, &x, &h2), Errc::kOk);
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(Charge(child, 2 * M), ChargeResult::kOk);  // above 1M
    UnchargeSlow(child, 2 * M);
    DrainSubtree(g);
    CheckThresholds(child);  // below 1M
  }
  ASSERT_EQ(Charge(child, 4 * M), ChargeResult::kOk);  // above 1M and 3M
  EXPECT_EQ(x.up, 52);
  EXPECT_EQ(x.down, 50);
  EXPECT_EQ(st.crossings[kCrossThresholdAbove].load(), 52u);
  EXPECT_EQ(st.crossings[kCrossThresholdBelow].load(), 50u);
  EXPECT_EQ(st.threshold_last[1].load(), 1 * M);
  const int64_t above = st.threshold_last[0].load();
  EXPECT_TRUE(above == 1 * M || above == 3 * M) << above;
  // The child registered nothing: nothing counted there.
  for (uint32_t k = 0; k < kNumCrossings; ++k) {
    EXPECT_EQ(reg().state(child).crossings[k].load(), 0u) << k;
  }
  // Pressure levels: every reclaim round of g's subtree that reaches a
  // callback's level is one call, counted at the level it reports. A
  // reclaimer that releases nothing: critical.
  Levels lv;
  ASSERT_EQ(RegisterPressureCallback(g, 1, OnLevel, &lv, &h3), Errc::kOk);
  ASSERT_EQ(RegisterReclaimer(child, ReleaseNothing, nullptr, &h4), Errc::kOk);
  EXPECT_EQ(ProactiveReclaim(child, 1 * M), 0);
  EXPECT_GE(lv.calls[3], 1);
  EXPECT_EQ(st.crossings[kCrossPressureCritical].load(),
            static_cast<uint64_t>(lv.calls[3]));
  EXPECT_EQ(st.crossings[kCrossPressureLow].load(),
            static_cast<uint64_t>(lv.calls[1]));
  EXPECT_EQ(st.crossings[kCrossPressureMedium].load(),
            static_cast<uint64_t>(lv.calls[2]));
  ASSERT_EQ(UnregisterReclaimer(h4), Errc::kOk);
  ASSERT_EQ(UnregisterPressureCallback(h3), Errc::kOk);
  ASSERT_EQ(UnregisterThreshold(h1), Errc::kOk);
  ASSERT_EQ(UnregisterThreshold(h2), Errc::kOk);
  UnchargeSlow(child, 4 * M);
  EXPECT_EQ(Exact(g), 0);
}

TEST_F(ChargerTest, ProactiveReclaimReportsWhatWasReleased) {
  uint32_t g = MakeTop();
  Cache cache{g};
  ASSERT_EQ(Charge(g, 4 * M), ChargeResult::kOk);
  cache.held = 4 * M;
  int h;
  ASSERT_EQ(RegisterReclaimer(g, ShrinkCache, &cache, &h), Errc::kOk);
  EXPECT_EQ(ProactiveReclaim(g, 3 * M), 3 * M);
  EXPECT_EQ(Exact(g), 1 * M);
  EXPECT_EQ(ProactiveReclaim(g, 5 * M), 1 * M);  // all it had
  ASSERT_EQ(UnregisterReclaimer(h), Errc::kOk);
}

TEST_F(ChargerTest, FaultInjectionFailsAllocationChargesWithoutAnOomEvent) {
  uint32_t g = MakeTop();
  SetFaultProbability(1.0);
  EXPECT_EQ(ChargeSlow(g, 1, ChargeKind::kHeap), ChargeResult::kOverLimit);
  EXPECT_EQ(ChargeSlow(g, 4096, ChargeKind::kMmap), ChargeResult::kOverLimit);
  // Explicit charges are not allocation calls: never faulted.
  EXPECT_EQ(ChargeSlow(g, 1, ChargeKind::kExplicit), ChargeResult::kOk);
  SetFaultProbability(0.0);
  EXPECT_EQ(ChargeSlow(g, 1, ChargeKind::kHeap), ChargeResult::kOk);
  DrainSubtree(g);
  tree().Uncharge(g, 2);
  EXPECT_EQ(reg().state(g).faults_injected.load(), 2u);
  EXPECT_EQ(reg().state(g).events_local[kEventOom].load(), 0u);
  EXPECT_EQ(reg().state(g).events_local[kEventMax].load(), 0u);
}

TEST_F(ChargerTest, FaultDrawsRepeatWithTheSameSeed) {
  auto draws = [](uint64_t seed) {
    SetFaultSeed(seed);
    SetFaultProbability(0.5);
    uint64_t bits = 0;
    // A fresh thread: its generator is seeded on its first draw.
    std::thread([&] {
      for (int i = 0; i < 64; ++i) bits |= uint64_t{FaultInjected()} << i;
    }).join();
    SetFaultProbability(0.0);
    return bits;
  };
  // Threads are numbered in the order of their first draw, so two runs
  // compare through the per-position sequences: same seed, same position.
  uint64_t a = draws(42);
  uint64_t b = draws(43);
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, ~uint64_t{0});
  EXPECT_NE(a, b);
}

using ChargerDeathTest = ChargerTest;

TEST_F(ChargerDeathTest, AbortPolicyReportsAndAborts) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 1 * M);
  reg().state(g).oom_policy.store(static_cast<uint32_t>(OomPolicy::kAbort));
  EXPECT_DEATH((void)Charge(g, 2 * M),
               "out of memory in group /AbortPolicy.*2097152 bytes.*max "
               "1048576.*policy abort(.|\n)*top groups by usage");
}

TEST_F(ChargerDeathTest, KillPolicyKillsTheProcess) {
  uint32_t g = MakeTop();
  tree().ExchangeMax(g, 1 * M);
  reg().state(g).oom_policy.store(static_cast<uint32_t>(OomPolicy::kKill));
  EXPECT_EXIT((void)Charge(g, 2 * M), ::testing::KilledBySignal(SIGKILL),
              "policy kill");
}

}  // namespace
}  // namespace memgroup::internal

namespace memgroup::internal {
namespace {

TEST_F(ChargerTest, DestroyedSlotIsNotReusedWhileAThreadIsBoundToIt) {
  uint32_t g = MakeTop();
  BindThreadGroup(g);
  EXPECT_EQ(MoveToLiveGroup(), g);
  ASSERT_EQ(reg().Destroy(reg().IdOf(g)), Errc::kOk);
  // The slot is empty but this thread is still bound to it: no new group
  // takes it.
  std::vector<GroupId> extra;
  for (int k = 0; k < 8; ++k) {
    GroupId id = kInvalidGroupId;
    ASSERT_EQ(reg().Create(reg().root(), ("kept_slot" + std::to_string(k)).c_str(),
                           &id),
              Errc::kOk);
    EXPECT_NE(IndexOf(id), g);
    extra.push_back(id);
  }
  // The thread moves to the parent (the root), and the slot is free again.
  EXPECT_EQ(MoveToLiveGroup(), kRootGroup);
  EXPECT_EQ(reg().BoundThreads(g), 0u);
  for (GroupId id : extra) ASSERT_EQ(reg().Destroy(id), Errc::kOk);
  GroupId fresh = kInvalidGroupId;
  ASSERT_EQ(reg().Create(reg().root(), "kept_slot_again", &fresh), Errc::kOk);
  EXPECT_LE(IndexOf(fresh), g);
  ASSERT_EQ(reg().Destroy(fresh), Errc::kOk);
}

TEST_F(ChargerTest, ThreadInADestroyedGroupMovesToItsParent) {
  uint32_t p = MakeTop();
  uint32_t c = Make(p, "c");
  BindThreadGroup(c);
  ASSERT_EQ(ChargeSlow(c, 1000, ChargeKind::kHeap), ChargeResult::kOk);
  ASSERT_EQ(reg().Destroy(reg().IdOf(c)), Errc::kOk);
  EXPECT_EQ(MoveToLiveGroup(), p);
  UnchargeSlow(c, 1000);
  EXPECT_EQ(Exact(p), 0);
  BindThreadGroup(kRootGroup);
}

}  // namespace
}  // namespace memgroup::internal
