// Implements fault_injection.h. One relaxed configuration word and a
// per-thread generator; no shared mutable state beyond the word.
#include "group/fault_injection.h"

#include <atomic>
#include <cstdint>

#include "base/macros.h"
#include "base/sys.h"

namespace memgroup::internal {
namespace {

// Probability threshold in [0, 2^32): refuse a charge when rng < threshold.
constinit std::atomic<uint64_t> g_fault_threshold{0};
MG_TLS uint64_t t_rng = 0;

}  // namespace

void SetFaultProbability(double p) {
  if (p < 0) p = 0;
  if (p > 1) p = 1;
  // Relaxed: configuration, read on slow paths.
  g_fault_threshold.store(static_cast<uint64_t>(p * 4294967296.0),
                          std::memory_order_relaxed);
}

bool FaultInjected() {
  // Relaxed: a configuration value read on the slow path.
  uint64_t threshold = g_fault_threshold.load(std::memory_order_relaxed);
  if (threshold == 0) return false;
  if (t_rng == 0) t_rng = static_cast<uint64_t>(SysGettid()) * 0x9E3779B97F4A7C15ull | 1;
  t_rng ^= t_rng << 13;
  t_rng ^= t_rng >> 7;
  t_rng ^= t_rng << 17;
  return (t_rng & 0xffffffffull) < threshold;
}

}  // namespace memgroup::internal
