// Process-wide fault injection (MEMGROUP_FAULT, MEMGROUP_FAULT_SEED): fails
// a configured fraction of allocation calls (the malloc family, operator
// new, anonymous mmap and mremap growth) as if refused by a limit, without
// running the OOM policy. Per call, not per counter charge: while it is
// enabled threads get no charge stock (SetupThread) and no front cache
// (the engine's front::Acquire), so every allocation takes the slow path
// where the draw is made, and the malloc fast path costs nothing more when
// it is off.
// Must never: allocate, lock, call the engine or any layer above.
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_FAULT_INJECTION_H_
#define MEMGROUP_SRC_GROUP_FAULT_INJECTION_H_

#include <cstdint>

namespace memgroup::internal {

// Probability in [0, 1] (clamped) that an allocation call fails. 0
// disables. Set before threads are set up (init) for per-call semantics.
void SetFaultProbability(double p);

// Seeds the draws: with the same seed, the same program (same order of
// thread creation) fails the same calls. Without it the seed comes from
// the clock and the pid.
void SetFaultSeed(uint64_t seed);

// Whether fault injection is on. One relaxed load.
bool FaultInjectionEnabled();

// Whether to fail the current call (per-thread xorshift draw; a thread's
// generator is seeded from the seed and the order in which threads made
// their first draw). One relaxed load when disabled.
bool FaultInjected();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_FAULT_INJECTION_H_
