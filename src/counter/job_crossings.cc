// Implements job_slots.h's publication of a member's root-group crossings
// (the calls its threshold and pressure-level callbacks on mg_root()
// received, and the last thresholds crossed) in its slot, and their
// reading by `memgroup events/stat`. Allocates: never.
//
// SYNCHRONIZATION
// - A slot's root crossings are a sequence lock with one writer (the
//   member's publisher; the claimer or an exec's rejoin when they reset
//   them, while no other image of the slot runs): seq + 1 (relaxed), a
//   release fence, the values (relaxed), seq + 2 (release). A reader
//   loads seq (acquire), the values (relaxed), an acquire fence, seq
//   again: equal and even means one publication.
#include <atomic>
#include <cstdint>

#include "counter/job_slots.h"

namespace memgroup::internal {

void JobPublishRootCrossings(JobMember* m, const uint64_t c[kJobCrossings],
                             const int64_t last[2]) {
  // Relaxed: one writer (see SYNCHRONIZATION).
  const uint32_t seq = m->root_seq.load(std::memory_order_relaxed) & ~1u;
  m->root_seq.store(seq + 1, std::memory_order_relaxed);
  // Release fence: a reader that sees a value below also sees seq odd.
  std::atomic_thread_fence(std::memory_order_release);
  for (uint32_t k = 0; k < kJobCrossings; ++k) {
    m->root_crossings[k].store(c[k], std::memory_order_relaxed);
  }
  for (uint32_t k = 0; k < 2; ++k) {
    m->root_threshold_last[k].store(last[k], std::memory_order_relaxed);
  }
  // Release: the values before the even count.
  m->root_seq.store(seq + 2, std::memory_order_release);
}

bool JobReadRootCrossings(const JobMember* m, uint64_t c[kJobCrossings],
                          int64_t last[2]) {
  for (uint32_t t = 0; t < kJobRootReadTries; ++t) {
    // Acquire: pairs with the writer's release store of an even count.
    const uint32_t s1 = m->root_seq.load(std::memory_order_acquire);
    // Relaxed: under the sequence lock (SYNCHRONIZATION).
    for (uint32_t k = 0; k < kJobCrossings; ++k) {
      c[k] = m->root_crossings[k].load(std::memory_order_relaxed);
    }
    for (uint32_t k = 0; k < 2; ++k) {
      last[k] = m->root_threshold_last[k].load(std::memory_order_relaxed);
    }
    // Acquire fence: the loads above before the reload.
    std::atomic_thread_fence(std::memory_order_acquire);
    const uint32_t s2 = m->root_seq.load(std::memory_order_relaxed);
    if (s1 == s2 && (s1 & 1) == 0) return true;
  }
  return false;
}

}  // namespace memgroup::internal
