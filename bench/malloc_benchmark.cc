// Allocation micro-benchmarks over the plain C and C++ allocation entry
// points (malloc/free, operator new/delete). The binary links nothing of
// memgroup, so the same executable measures any allocator put in front of
// libc with LD_PRELOAD: run it bare for the glibc baseline (every benchmark's
// libc twin), under libjemalloc/libmimalloc/libtcmalloc for the stock
// allocators, and under libmemgroup.so (with MEMGROUP_MAX set) for memgroup.
// bench/compare_allocators.sh runs it that way, interleaved, and tabulates
// the ratios; docs/perf.md has the results.
//
// Sizes are generated before the timed loops (fixed seed, same sequence under
// every allocator) and every result goes through benchmark::DoNotOptimize.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <thread>
#include <vector>

namespace {

// A power of two, so the timed loops index with a mask.
constexpr size_t kSizeCount = 4096;

// Uniform sizes in [16, 1024], fixed seed. Built outside every timed loop.
std::vector<size_t> MixedSizes(size_t n) {
  std::mt19937_64 rng(0x6d656d67726f7570ULL);  // "memgroup"
  std::uniform_int_distribution<size_t> dist(16, 1024);
  std::vector<size_t> sizes(n);
  for (size_t& s : sizes) s = dist(rng);
  return sizes;
}

// One malloc(64) + free pair: the fast path, the figure tracked in docs/perf.md.
void BM_MallocFree64(benchmark::State& state) {
  for (auto _ : state) {
    void* p = malloc(64);
    benchmark::DoNotOptimize(p);
    free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFree64);

// One malloc + free pair per iteration, the size cycling through 4096
// pre-generated uniform sizes in 16..1024 (so many size classes are hot).
void BM_MallocFreeSizes(benchmark::State& state) {
  const std::vector<size_t> sizes = MixedSizes(kSizeCount);
  size_t i = 0;
  for (auto _ : state) {
    void* p = malloc(sizes[i++ & (kSizeCount - 1)]);
    benchmark::DoNotOptimize(p);
    free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFreeSizes);

// Allocate 1000 mixed blocks (16 B - 1 KiB), then free them all in
// allocation order. items/s counts malloc+free pairs, so the per-pair time is
// 1/items_per_second.
void BM_BatchMixed(benchmark::State& state) {
  constexpr size_t kBatch = 1000;
  const std::vector<size_t> sizes = MixedSizes(kBatch);
  std::vector<void*> ptrs(kBatch, nullptr);
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) {
      ptrs[i] = malloc(sizes[i]);
      benchmark::DoNotOptimize(ptrs[i]);
    }
    for (size_t i = 0; i < kBatch; ++i) free(ptrs[i]);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBatch));
}
BENCHMARK(BM_BatchMixed);

// Single-producer single-consumer ring of pointers, preallocated: nothing in
// the timed loop allocates except the producer's malloc under test.
class PointerRing {
 public:
  static constexpr size_t kCapacity = 4096;  // power of two

  // Producer side. Spins (then yields) while the ring is full.
  void Push(void* p) {
    const size_t head = head_.load(std::memory_order_relaxed);
    size_t spins = 0;
    while (head - tail_.load(std::memory_order_acquire) == kCapacity) {
      if (++spins > 64) std::this_thread::yield();
    }
    slots_[head & (kCapacity - 1)] = p;
    // Release: the slot write is visible before the consumer sees head.
    head_.store(head + 1, std::memory_order_release);
  }

  // Consumer side: the next pointer, or nullptr when the ring is empty.
  void* TryPop() {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    // Acquire: pairs with Push's release, so the slot is written.
    if (tail == head_.load(std::memory_order_acquire)) return nullptr;
    void* p = slots_[tail & (kCapacity - 1)];
    // Release: the slot is read before the producer may overwrite it.
    tail_.store(tail + 1, std::memory_order_release);
    return p;
  }

 private:
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
  alignas(64) void* slots_[kCapacity] = {};
};

// The benchmark thread allocates mixed sizes and hands every block to a
// consumer thread that frees it: every free is a remote free. Wall time per
// block (UseRealTime), both threads running; on 2 cores they each get one.
void BM_CrossThreadFree(benchmark::State& state) {
  const std::vector<size_t> sizes = MixedSizes(kSizeCount);
  auto* ring = new PointerRing;
  std::atomic<bool> done{false};
  std::thread consumer([ring, &done] {
    size_t idle = 0;
    for (;;) {
      void* p = ring->TryPop();
      if (p != nullptr) {
        free(p);
        idle = 0;
        continue;
      }
      if (done.load(std::memory_order_acquire)) {
        // Drain what the producer pushed before setting done.
        while ((p = ring->TryPop()) != nullptr) free(p);
        return;
      }
      if (++idle > 64) std::this_thread::yield();
    }
  });
  size_t i = 0;
  for (auto _ : state) {
    void* p = malloc(sizes[i++ & (kSizeCount - 1)]);
    benchmark::DoNotOptimize(p);
    ring->Push(p);
  }
  done.store(true, std::memory_order_release);
  consumer.join();
  delete ring;
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CrossThreadFree)->UseRealTime();

// Large blocks: 256 KiB (jemalloc large class, below glibc's initial mmap
// threshold) and 4 MiB (above it). The first byte is touched so a lazily
// mapped block pays its first page fault.
void BM_Large(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    auto* p = static_cast<volatile char*>(malloc(n));
    p[0] = 1;
    benchmark::DoNotOptimize(p);
    free(const_cast<char*>(p));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Large)->Arg(256 << 10)->Arg(4 << 20);

// ::operator new(64) + ::operator delete(p): direct calls, which the compiler
// may not elide (unlike a new-expression).
void BM_NewDelete64(benchmark::State& state) {
  for (auto _ : state) {
    void* p = ::operator new(64);
    benchmark::DoNotOptimize(p);
    ::operator delete(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NewDelete64);

// The same with C++14 sized delete, which an allocator can use to skip the
// size lookup on free.
void BM_NewDeleteSized64(benchmark::State& state) {
  for (auto _ : state) {
    void* p = ::operator new(64);
    benchmark::DoNotOptimize(p);
    ::operator delete(p, 64);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NewDeleteSized64);

}  // namespace
