// Process-wide fault injection (MEMGROUP_FAULT): refuses a charge with a
// configured probability, as if over the limit.
// Must never: allocate, lock, call the engine or any layer above.
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_FAULT_INJECTION_H_
#define MEMGROUP_SRC_GROUP_FAULT_INJECTION_H_

namespace memgroup::internal {

// Probability in [0, 1] (clamped) that a charge is refused. 0 disables.
void SetFaultProbability(double p);

// Whether to refuse the current charge (per-thread xorshift draw). One
// relaxed load when disabled.
bool FaultInjected();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_FAULT_INJECTION_H_
