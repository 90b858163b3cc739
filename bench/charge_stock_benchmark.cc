// Benchmarks of ChargeStocks (src/counter/charge_stock.h), the per-thread
// batch of pre-charged bytes in front of the counter:
//   BM_ChargeStockConsumeHit      Consume + Refill on the thread's own stock
//   BM_ChargeStockMiss            a charge that must go to the counter
//   BM_ChargeStockDirect          TryCharge + Refill with no stock (ts = null)
//   BM_ChargeStockTryChargeMixed  random 16..4096-byte charges, 128 in flight
// and their twins: BM_PlainAddTwin (a non-atomic per-thread subtract/add, the
// floor for a stock hit) and BM_AtomicAddTwin (fetch_sub/fetch_add on one
// shared atomic, or on a per-thread atomic).
//
// Groups are children of the root (as every registry group is): 0 -> 1, 0 -> 2.
// Each benchmark runs with 1 thread, 2 threads in one group, and 2 threads in
// separate groups (sibling children of the root). UseRealTime(): with 2
// threads Google Benchmark reports wall time over the iterations of both
// threads (throughput view), so perfect scaling halves the 1-thread time.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <vector>

#include "counter/charge_stock.h"
#include "counter/counter_tree.h"

namespace memgroup::internal {
namespace {

constexpr int64_t kSmallBytes = 64;

enum Split : int64_t {
  kOneGroup = 0,        // every thread charges group 1
  kSeparateGroups = 1,  // thread k charges group 1 + k % 2
};

constexpr uint32_t kNodes = 3;

struct Fixture {
  Fixture() : tree(nodes, kNodes), stocks(tree) {
    tree.InitNode(0, kNoParent);
    tree.InitNode(1, 0);
    tree.InitNode(2, 0);
    stocks.Init();
  }
  PageCounter nodes[kNodes];
  CounterTree tree;
  ChargeStocks stocks;
};

Fixture& F() {
  static Fixture* f = new Fixture();
  return *f;
}

uint32_t GroupFor(const benchmark::State& state) {
  return state.range(0) == kOneGroup ? 1 : 1 + state.thread_index() % 2;
}

const char* SplitLabel(const benchmark::State& state) {
  if (state.threads() == 1) return "";
  return state.range(0) == kOneGroup ? "one group" : "separate groups";
}

// Claims a stock for this thread, or marks the run skipped. Stocks need
// membarrier; without it every charge would silently be direct.
ThreadStock* AcquireOrSkip(benchmark::State& state) {
  Fixture& f = F();
  if (!f.stocks.enabled()) {
    state.SkipWithError("membarrier unavailable: stocks disabled");
    return nullptr;
  }
  ThreadStock* ts = f.stocks.Acquire();
  if (ts == nullptr) state.SkipWithError("no stock memory");
  return ts;
}

// Fills the thread's stock for `group` to a full batch (a miss charges a
// batch; the refill returns the small charge on top of it).
void FillStock(ThreadStock* ts, uint32_t group) {
  uint32_t failed = 0;
  bool ok = F().stocks.TryCharge(ts, group, kSmallBytes, &failed);
  benchmark::DoNotOptimize(ok);
  F().stocks.Refill(ts, group, kSmallBytes);
}

// A hit: the stock holds a full batch, Consume takes 64 bytes, Refill puts
// them back (Refill reads the group's margin to size the batch, then finds
// the slot; nothing is uncharged because the slot stays at the batch).
void BM_ChargeStockConsumeHit(benchmark::State& state) {
  ThreadStock* ts = AcquireOrSkip(state);
  if (ts == nullptr) return;
  const ChargeStocks& stocks = F().stocks;
  const uint32_t group = GroupFor(state);
  state.SetLabel(SplitLabel(state));
  FillStock(ts, group);
  int64_t misses = 0;
  for (auto _ : state) {
    bool hit = stocks.Consume(ts, group, kSmallBytes);
    benchmark::DoNotOptimize(hit);
    misses += !hit;
    stocks.Refill(ts, group, kSmallBytes);
  }
  F().stocks.Release(ts);
  if (misses != 0) state.SkipWithError("a Consume missed: not a hit path");
}

// The malloc/free fast path itself: ConsumePrimary + RefillPrimary on slot 0,
// which holds the thread's bound group.
void PrimaryHit(benchmark::State& state, const ChargeStocks& stocks) {
  ThreadStock* ts = AcquireOrSkip(state);
  if (ts == nullptr) return;
  const uint32_t group = GroupFor(state);
  state.SetLabel(SplitLabel(state));
  stocks.SetPrimary(ts, group);
  FillStock(ts, group);
  int64_t misses = 0;
  for (auto _ : state) {
    bool hit = stocks.ConsumePrimary(ts, group, kSmallBytes);
    benchmark::DoNotOptimize(hit);
    bool refilled = stocks.RefillPrimary(ts, group, kSmallBytes);
    benchmark::DoNotOptimize(refilled);
    misses += !hit + !refilled;
  }
  F().stocks.Release(ts);
  if (misses != 0) state.SkipWithError("a ConsumePrimary/RefillPrimary missed");
}
void BM_ChargeStockPrimaryHit(benchmark::State& state) {
  PrimaryHit(state, F().stocks);
}

// A miss. Each iteration drains the thread's own stock (DrainOwn: the owner's
// drain, no membarrier), so the next TryCharge finds it empty and takes the
// whole slow path a small allocation takes once per batch: Consume fails,
// Batch() reads the margin, the counter is charged a full batch (256 KiB) up
// to the root, and the surplus is stored in the slot; Refill returns the 64
// bytes; DrainOwn uncharges the batch from the counter. So one iteration is
// one counter charge + one counter uncharge + the stock bookkeeping around
// them. (Charging more than a batch would also go direct, but that path is
// only a counter TryCharge, already measured by BM_ChargeStockDirect.)
void BM_ChargeStockMiss(benchmark::State& state) {
  ThreadStock* ts = AcquireOrSkip(state);
  if (ts == nullptr) return;
  const ChargeStocks& stocks = F().stocks;
  const uint32_t group = GroupFor(state);
  state.SetLabel(SplitLabel(state));
  uint32_t failed = 0;
  for (auto _ : state) {
    bool ok = stocks.TryCharge(ts, group, kSmallBytes, &failed);
    benchmark::DoNotOptimize(ok);
    stocks.Refill(ts, group, kSmallBytes);
    int64_t drained = stocks.DrainOwn(ts);
    benchmark::DoNotOptimize(drained);
  }
  F().stocks.Release(ts);
}

// No stock at all: TryCharge and Refill with ts == nullptr charge and
// uncharge the counter directly (the reentrant / stocks-disabled path).
void BM_ChargeStockDirect(benchmark::State& state) {
  const ChargeStocks& stocks = F().stocks;
  const uint32_t group = GroupFor(state);
  state.SetLabel(SplitLabel(state));
  uint32_t failed = 0;
  for (auto _ : state) {
    bool ok = stocks.TryCharge(nullptr, group, kSmallBytes, &failed);
    benchmark::DoNotOptimize(ok);
    stocks.Refill(nullptr, group, kSmallBytes);
  }
}

// Random sizes 16..4096 bytes, drawn before the timed loop. The thread keeps
// kInFlight charges live (a FIFO of allocations): each iteration charges one
// new size and refills the oldest. The live set (~256 KiB on average) is
// about one batch, so the stock level wanders between empty (a miss charges
// a batch) and full (a refill uncharges the excess): mostly hits with the
// occasional counter operation, as a real allocation stream.
void BM_ChargeStockTryChargeMixed(benchmark::State& state) {
  constexpr size_t kSizes = 4096;  // power of two
  constexpr size_t kInFlight = 128;
  ThreadStock* ts = AcquireOrSkip(state);
  if (ts == nullptr) return;
  const ChargeStocks& stocks = F().stocks;
  const uint32_t group = GroupFor(state);
  state.SetLabel(SplitLabel(state));
  std::mt19937_64 rng(42 + state.thread_index());
  std::uniform_int_distribution<int64_t> dist(16, 4096);
  std::vector<int64_t> sizes(kSizes);
  for (int64_t& s : sizes) s = dist(rng);

  uint32_t failed = 0;
  for (size_t k = 0; k < kInFlight; ++k) {
    bool ok = stocks.TryCharge(ts, group, sizes[k], &failed);
    benchmark::DoNotOptimize(ok);
  }
  size_t oldest = 0;
  for (auto _ : state) {
    bool ok = stocks.TryCharge(
        ts, group, sizes[(oldest + kInFlight) & (kSizes - 1)], &failed);
    benchmark::DoNotOptimize(ok);
    stocks.Refill(ts, group, sizes[oldest]);
    oldest = (oldest + 1) & (kSizes - 1);
  }
  for (size_t k = 0; k < kInFlight; ++k) {
    stocks.Refill(ts, group, sizes[(oldest + k) & (kSizes - 1)]);
  }
  F().stocks.Release(ts);
}

// Twins. A per-thread plain int64 on its own cache line: the floor for a
// stock hit (one compare, one subtract, one add, no atomics).
struct alignas(64) PaddedSlot {
  int64_t bytes = kStockBatchBytes;
};
PaddedSlot g_plain[2];

void BM_PlainAddTwin(benchmark::State& state) {
  PaddedSlot& slot = g_plain[state.thread_index() % 2];
  state.SetLabel(state.threads() == 1 ? "" : "per-thread");
  for (auto _ : state) {
    bool hit = slot.bytes >= kSmallBytes;
    if (hit) slot.bytes -= kSmallBytes;
    benchmark::DoNotOptimize(hit);
    benchmark::ClobberMemory();
    slot.bytes += kSmallBytes;
    benchmark::ClobberMemory();
  }
}

// fetch_sub + fetch_add on one shared atomic (kOneGroup) or on a per-thread
// atomic (kSeparateGroups): what a stock built on read-modify-writes, or a
// one-level counter without the stock, would pay.
struct alignas(64) PaddedAtomic {
  std::atomic<int64_t> value{0};
};
PaddedAtomic g_atomic[2];

void BM_AtomicAddTwin(benchmark::State& state) {
  std::atomic<int64_t>& a =
      g_atomic[state.range(0) == kOneGroup ? 0 : state.thread_index() % 2]
          .value;
  state.SetLabel(SplitLabel(state));
  for (auto _ : state) {
    int64_t before = a.fetch_sub(kSmallBytes, std::memory_order_seq_cst);
    benchmark::DoNotOptimize(before);
    a.fetch_add(kSmallBytes, std::memory_order_relaxed);
  }
}

// 1 thread; 2 threads in one group; 2 threads in separate groups.
#define MG_STOCK_BENCHMARK(fn)                                                \
  BENCHMARK(fn)->ArgName("split")->Arg(kOneGroup)->Threads(1)->UseRealTime(); \
  BENCHMARK(fn)                                                               \
      ->ArgName("split")                                                      \
      ->Arg(kOneGroup)                                                        \
      ->Arg(kSeparateGroups)                                                  \
      ->Threads(2)                                                            \
      ->UseRealTime()

MG_STOCK_BENCHMARK(BM_ChargeStockConsumeHit);
MG_STOCK_BENCHMARK(BM_ChargeStockPrimaryHit);
MG_STOCK_BENCHMARK(BM_ChargeStockMiss);
MG_STOCK_BENCHMARK(BM_ChargeStockDirect);
MG_STOCK_BENCHMARK(BM_ChargeStockTryChargeMixed);
MG_STOCK_BENCHMARK(BM_PlainAddTwin);
MG_STOCK_BENCHMARK(BM_AtomicAddTwin);

}  // namespace
}  // namespace memgroup::internal
