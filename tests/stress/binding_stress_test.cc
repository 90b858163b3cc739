// Concurrency stress of thread bindings against group destruction: worker
// threads bind to groups, charge (through the stock's primary slot first,
// as malloc's fast path does) and uncharge, while another thread creates
// and destroys those groups. A worker must never find its bound slot taken
// by another group, and after quiescing every counter reads exactly 0 and
// no slot counts a bound thread. Runs under TSan in the `tsan` preset.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "group/charger.h"
#include "group/registry.h"
#include "group/thread_binding.h"

namespace memgroup::internal {
namespace {

constexpr int kWorkers = 4;
constexpr int kGroups = 6;
#if defined(MG_SANITIZER_BUILD)
constexpr int kOpsPerWorker = 30000;
#else
constexpr int kOpsPerWorker = 300000;
#endif

struct Held {
  uint32_t group;
  int64_t bytes;
};

// What src/alloc does on a miss: move to the live target, then charge.
uint32_t CurrentGroupOfThread() {
  const uint32_t target = LiveBindingTarget();
  if (target != t_thread.group) BindThreadGroup(target);
  return t_thread.group;
}

TEST(BindingStressTest, DestroyedGroupsReleaseTheirThreadsAndCountersEndAtZero) {
  Registry& reg = GlobalRegistry();
  ASSERT_TRUE(reg.Init());
  GroupId parent = kInvalidGroupId;
  ASSERT_EQ(reg.Create(reg.root(), "stress-parent", &parent), Errc::kOk);
  std::atomic<GroupId> ids[kGroups];
  for (int i = 0; i < kGroups; ++i) {
    char name[16];
    snprintf(name, sizeof(name), "g%d", i);
    GroupId id = kInvalidGroupId;
    ASSERT_EQ(reg.Create(parent, name, &id), Errc::kOk);
    ids[i].store(id);
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> foreign_generation{0};
  std::atomic<int64_t> moved_on_miss{0};
  std::thread churn([&] {
    std::mt19937 rng(99);
    int k = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const int i = static_cast<int>(rng() % kGroups);
      if (reg.Destroy(ids[i].load()) == Errc::kOk) {
        char name[16];
        snprintf(name, sizeof(name), "g%d-%d", i, k++);
        GroupId id = kInvalidGroupId;
        if (reg.Create(parent, name, &id) == Errc::kOk) ids[i].store(id);
      }
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      SetupThread();
      ThreadStock* ts = t_thread.stock;
      ChargeStocks& stocks = reg.stocks();
      std::mt19937 rng(w + 1);
      std::vector<Held> mine;
      mine.reserve(4096);
      // Until the ops are done and a destroy has hit a bound thread (the
      // check below), or 10 s: how soon the churn meets a bound thread is
      // timing, so the loop waits for it rather than hoping.
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::seconds(10);
      for (int k = 0;
           k < kOpsPerWorker ||
           (moved_on_miss.load(std::memory_order_relaxed) == 0 &&
            std::chrono::steady_clock::now() < deadline);
           ++k) {
        const unsigned r = rng() % 100;
        if (r < 2) {
          uint32_t idx;
          if (reg.Resolve(ids[rng() % kGroups].load(), &idx) == Errc::kOk) {
            BindThreadGroup(idx);
          }
          continue;
        }
        if (!mine.empty() && (r < 50 || mine.size() >= 4096)) {
          const size_t pick = rng() % mine.size();
          const Held h = mine[pick];
          mine[pick] = mine.back();
          mine.pop_back();
          if (h.group != t_thread.group ||
              !stocks.RefillPrimary(ts, h.group, h.bytes)) {
            UnchargeSlow(h.group, h.bytes);
          }
          continue;
        }
        const int64_t bytes = 16 + static_cast<int64_t>(rng() % 4096);
        uint32_t g = t_thread.group;
        if (!stocks.ConsumePrimary(ts, g, bytes)) {
          const uint32_t before = g;
          g = CurrentGroupOfThread();
          if (g != before) moved_on_miss.fetch_add(1, std::memory_order_relaxed);
          if (ChargeSlow(g, bytes, ChargeKind::kHeap) != ChargeResult::kOk) {
            continue;
          }
        }
        // The bound slot is this thread's group or a zombie of it, never
        // another group.
        const GroupId now = reg.IdOf(t_thread.group);
        if (now != kInvalidGroupId &&
            GenerationOf(now) != t_thread.generation) {
          foreign_generation.fetch_add(1, std::memory_order_relaxed);
        }
        mine.push_back({g, bytes});
      }
      for (const Held& h : mine) UnchargeSlow(h.group, h.bytes);
      TeardownThread();
    });
  }
  for (auto& th : workers) th.join();
  stop.store(true);
  churn.join();

  EXPECT_EQ(foreign_generation.load(), 0);
  EXPECT_GT(moved_on_miss.load(), 0);  // destroys really hit bound threads
  for (int i = 0; i < kGroups; ++i) {
    (void)reg.Destroy(ids[i].load());
  }
  EXPECT_EQ(reg.stocks().DrainSubtree(kNoGroup), 0);  // exits drained
  CounterTree& t = reg.tree();
  for (uint32_t i = 0; i < kMaxGroups; ++i) {
    ASSERT_EQ(t.Usage(i), 0) << "node " << i;
    ASSERT_EQ(t.node(i).underflows.load(), 0u) << "node " << i;
    ASSERT_EQ(reg.BoundThreads(i), 0u) << "slot " << i;
  }
  EXPECT_EQ(reg.Destroy(parent), Errc::kOk);
}

}  // namespace
}  // namespace memgroup::internal
