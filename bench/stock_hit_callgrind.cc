// A fixed-iteration loop over one charge path, for instruction counting:
//   valgrind --tool=callgrind ./stock_hit_callgrind <mode> <iterations>
// Instructions per operation = (Ir(2N) - Ir(N)) / N, which cancels start-up
// and setup. Modes:
//   hit      Consume + Refill of 64 bytes on a full stock (the stock hit)
//   fast     ConsumePrimary + RefillPrimary (the malloc/free fast path)
//   counter  CounterTree TryCharge + Uncharge of 64 bytes (direct charge)
// The group is a child of the root, as in charge_stock_benchmark.
// Under valgrind membarrier may be unavailable; this single-threaded loop
// does not need it, so the stocks are forced on.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "counter/charge_stock.h"
#include "counter/counter_tree.h"

namespace memgroup::internal {
namespace {

constexpr int64_t kBytes = 64;
constexpr uint32_t kGroup = 1;

PageCounter g_nodes[2];

// Keeps the compiler from merging or dropping iterations.
template <typename T>
inline void Keep(T& v) {
  asm volatile("" : "+r,m"(v) : : "memory");
}

// The malloc/free fast path: ConsumePrimary + RefillPrimary (slot 0).
bool RunFast(const ChargeStocks& stocks, ThreadStock* ts, long n) {
  stocks.SetPrimary(ts, kGroup);
  bool all = true;
  for (long k = 0; k < n; ++k) {
    bool hit = stocks.ConsumePrimary(ts, kGroup, kBytes);
    bool refilled = stocks.RefillPrimary(ts, kGroup, kBytes);
    all &= hit & refilled;
    Keep(all);
  }
  return all;
}

int Main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s hit|fast|counter <iterations>\n", argv[0]);
    return 2;
  }
  const char* mode = argv[1];
  const long n = std::strtol(argv[2], nullptr, 10);
  CounterTree tree(g_nodes, 2);
  tree.InitNode(0, kNoParent);
  tree.InitNode(kGroup, 0);
  uint32_t failed = 0;

  if (std::strcmp(mode, "counter") == 0) {
    bool all = true;
    for (long k = 0; k < n; ++k) {
      all &= tree.TryCharge(kGroup, kBytes, &failed);
      Keep(all);
      tree.Uncharge(kGroup, kBytes);
    }
    return all && tree.Usage(0) == 0 ? 0 : 1;
  }

  ChargeStocks stocks(tree);
  stocks.Init();
  if (!stocks.enabled()) stocks.SetEnabledForTesting(true);
  ThreadStock* ts = stocks.Acquire();
  if (ts == nullptr) return 1;
  // Fill the stock to a full batch.
  if (!stocks.TryCharge(ts, kGroup, kBytes, &failed)) return 1;
  stocks.Refill(ts, kGroup, kBytes);

  bool all = true;
  if (std::strcmp(mode, "hit") == 0) {
    for (long k = 0; k < n; ++k) {
      all &= stocks.Consume(ts, kGroup, kBytes);
      Keep(all);
      stocks.Refill(ts, kGroup, kBytes);
    }
  } else if (std::strcmp(mode, "fast") == 0) {
    all = RunFast(stocks, ts, n);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  // Every iteration must have been a hit: the counter saw only the fill.
  bool exact = tree.Usage(kGroup) == kStockBatchBytes;
  stocks.Release(ts);
  return all && exact && tree.Usage(0) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace memgroup::internal

int main(int argc, char** argv) { return memgroup::internal::Main(argc, argv); }
