// Benchmarks of CounterTree (src/counter/counter_tree.h): one TryCharge plus
// one Uncharge of 4 KiB per iteration, flat (the charged node is a root) and
// 4 levels deep, with 1 and 2 threads that share one group, charge sibling
// leaves under a shared parent, or charge separate top-level trees. Every
// configuration has a twin, BM_AtomicAddTwin, that does only the raw atomic
// read-modify-writes of the same walk (fetch_add seq_cst up the chain, then
// fetch_sub relaxed), so the ratio counter/twin is the counter's own overhead
// (limit check, watermark, protection propagation, call) over the cache-line
// traffic that any hierarchical atomic counter must pay.
//
// Thread counts use UseRealTime(); Google Benchmark then reports wall time
// divided by the iterations of all threads together (throughput view): a
// perfectly scaling 2-thread run shows half the 1-thread time.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

#include "counter/counter_tree.h"

namespace memgroup::internal {
namespace {

constexpr int64_t kChargeBytes = 4096;

// Who charges where (the second benchmark argument).
enum Split : int64_t {
  kOneGroup = 0,       // every thread charges the same node
  kSiblingLeaves = 1,  // each thread its own leaf under a shared parent
  kSeparateTrees = 2,  // each thread its own top-level group (no shared node)
};

const char* SplitLabel(int64_t split) {
  switch (split) {
    case kOneGroup:
      return "one group";
    case kSiblingLeaves:
      return "sibling leaves, shared parent";
    default:
      return "separate top-level groups";
  }
}

// Topology, shared by the counter tree and the twin:
//   tree X: 0 (root) -> 1 -> 2 -> 3 (leaf);  2 -> 4 (sibling leaf)
//   tree Y: 5 (root) -> 6 -> 7 -> 8 (leaf)
//   flat:   0 (tree X's root) and 5 (tree Y's root) charged directly
constexpr uint32_t kNodes = 9;
constexpr uint32_t kParentOf[kNodes] = {kNoParent, 0, 1, 2, 2,
                                        kNoParent, 5, 6, 7};

// The node thread `thread` charges for (depth, split).
uint32_t NodeFor(int64_t depth, int64_t split, int thread) {
  bool second = thread % 2 == 1;
  if (depth == 1) return split == kOneGroup || !second ? 0 : 5;
  if (split == kOneGroup || !second) return 3;
  return split == kSiblingLeaves ? 4 : 8;
}

struct Counters {
  Counters() : tree(nodes, kNodes) {
    for (uint32_t i = 0; i < kNodes; ++i) tree.InitNode(i, kParentOf[i]);
  }
  PageCounter nodes[kNodes];
  CounterTree tree;
};

// Initialised once (thread-safe static); every benchmark leaves usage at 0.
const CounterTree& Tree() {
  static Counters* counters = new Counters();
  return counters->tree;
}

void BM_PageCounterChargeUncharge(benchmark::State& state) {
  const CounterTree& tree = Tree();
  const int64_t depth = state.range(0);
  const int64_t split = state.range(1);
  const uint32_t node = NodeFor(depth, split, state.thread_index());
  state.SetLabel(SplitLabel(split));
  uint32_t failed = 0;
  for (auto _ : state) {
    bool ok = tree.TryCharge(node, kChargeBytes, &failed);
    benchmark::DoNotOptimize(ok);
    tree.Uncharge(node, kChargeBytes);
  }
}

// The twin: the same walk and the same cache lines' worth of atomics, nothing
// else.
struct alignas(64) PaddedAtomic {
  std::atomic<int64_t> value{0};
};
PaddedAtomic g_twin[kNodes];

void BM_AtomicAddTwin(benchmark::State& state) {
  const int64_t depth = state.range(0);
  const int64_t split = state.range(1);
  const uint32_t node = NodeFor(depth, split, state.thread_index());
  state.SetLabel(SplitLabel(split));
  for (auto _ : state) {
    for (uint32_t n = node; n != kNoParent; n = kParentOf[n]) {
      // seq_cst, as TryCharge's add (a locked RMW either way on x86).
      int64_t now =
          g_twin[n].value.fetch_add(kChargeBytes, std::memory_order_seq_cst);
      benchmark::DoNotOptimize(now);
    }
    for (uint32_t n = node; n != kNoParent; n = kParentOf[n]) {
      // Relaxed, as Uncharge's sub.
      g_twin[n].value.fetch_sub(kChargeBytes, std::memory_order_relaxed);
    }
  }
}

// 1 thread: flat and 4-deep. 2 threads: every split that makes sense for the
// depth (sibling leaves need a parent, so not flat).
void OneThread(benchmark::internal::Benchmark* b) {
  b->ArgNames({"depth", "split"})->Args({1, kOneGroup})->Args({4, kOneGroup});
}
void TwoThreads(benchmark::internal::Benchmark* b) {
  b->ArgNames({"depth", "split"})
      ->Args({1, kOneGroup})
      ->Args({1, kSeparateTrees})
      ->Args({4, kOneGroup})
      ->Args({4, kSiblingLeaves})
      ->Args({4, kSeparateTrees});
}

BENCHMARK(BM_PageCounterChargeUncharge)
    ->Apply(OneThread)
    ->Threads(1)
    ->UseRealTime();
BENCHMARK(BM_AtomicAddTwin)->Apply(OneThread)->Threads(1)->UseRealTime();
BENCHMARK(BM_PageCounterChargeUncharge)
    ->Apply(TwoThreads)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_AtomicAddTwin)->Apply(TwoThreads)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace memgroup::internal
