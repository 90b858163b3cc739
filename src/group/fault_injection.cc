// Implements fault_injection.h. Relaxed configuration words, a relaxed
// thread counter and a per-thread generator; no other shared state.
#include "group/fault_injection.h"

#include <atomic>
#include <cstdint>

#include "base/macros.h"
#include "base/sys.h"

namespace memgroup::internal {
namespace {

// Probability threshold in [0, 2^32]: fail a call when rng < threshold.
constinit std::atomic<uint64_t> g_fault_threshold{0};
constinit std::atomic<uint64_t> g_fault_seed{0};
constinit std::atomic<bool> g_seed_given{false};
// Threads that have drawn so far: a thread's position seeds its generator.
constinit std::atomic<uint64_t> g_threads{0};
MG_TLS uint64_t t_rng = 0;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

void SetFaultProbability(double p) {
  if (p < 0) p = 0;
  if (p > 1) p = 1;
  // Relaxed: configuration written at init (published by init's release
  // store) or by tests before the draws they check.
  if (p > 0 && !g_seed_given.load(std::memory_order_relaxed)) {
    g_fault_seed.store(static_cast<uint64_t>(MonotonicNanos()) ^
                           (static_cast<uint64_t>(SysGetpid()) << 32),
                       std::memory_order_relaxed);
  }
  g_fault_threshold.store(static_cast<uint64_t>(p * 4294967296.0),
                          std::memory_order_relaxed);
}

void SetFaultSeed(uint64_t seed) {
  // Relaxed: as SetFaultProbability.
  g_fault_seed.store(seed, std::memory_order_relaxed);
  g_seed_given.store(true, std::memory_order_relaxed);
}

bool FaultInjectionEnabled() {
  // Relaxed: a configuration value.
  return g_fault_threshold.load(std::memory_order_relaxed) != 0;
}

bool FaultInjected() {
  // Relaxed: a configuration value read on the slow path.
  const uint64_t threshold = g_fault_threshold.load(std::memory_order_relaxed);
  if (threshold == 0) return false;
  if (t_rng == 0) {
    // Relaxed: only the counter's value matters, not any ordering.
    const uint64_t n = g_threads.fetch_add(1, std::memory_order_relaxed);
    t_rng = SplitMix64(g_fault_seed.load(std::memory_order_relaxed) +
                       SplitMix64(n)) | 1;
  }
  t_rng ^= t_rng << 13;
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  return (t_rng >> 32) < threshold;
}

}  // namespace memgroup::internal
