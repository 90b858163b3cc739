// The charge path of memgroup: each thread's binding (current group and
// stock) and the slow path that runs when the stock cannot cover a charge:
// stock miss -> counter -> drain -> reclaim -> OOM policy (spec §3.3-3.4).
// The inline fast paths live in preload/ and src/api and only call
// ChargeStocks::Consume/RefillFast; everything else comes here.
// Allocates: never (nested allocations by reclaim callbacks are charged
// directly and never re-enter reclaim).
#ifndef MEMGROUP_SRC_GROUP_CHARGER_H_
#define MEMGROUP_SRC_GROUP_CHARGER_H_

#include <cstdint>

#include "base/macros.h"
#include "counter/charge_stock.h"
#include "group/registry.h"

namespace memgroup::internal {

// One thread's binding. Initial-exec TLS, zero-initialised: a new thread has
// no stock (fails the fast-path compare) and is in the root group until
// SetupThread runs on its first slow-path call.
struct ThreadState {
  // Index of the thread's current group. Owner-only.
  uint32_t group;
  // Reentrancy depth of the slow path (allocations made by reclaim callbacks,
  // the OOM handler or the engine while we are inside the slow path).
  uint32_t depth;
  // The thread's stock; nullptr before setup and after thread exit.
  ThreadStock* stock;
  // kThreadNew, kThreadReady or kThreadExited.
  uint32_t status;
  // Group index the creating thread passed on (pthread_create hook), +1; 0
  // means none.
  uint32_t inherited_group_plus1;
  // Generation of `group` when the thread was bound to it: a destroyed and
  // reused slot is noticed on the next slow path. Owner-only.
  uint32_t generation;
};

inline constexpr uint32_t kThreadNew = 0;
inline constexpr uint32_t kThreadReady = 1;
inline constexpr uint32_t kThreadExited = 2;

MG_HIDDEN extern MG_TLS ThreadState t_thread;

enum class [[nodiscard]] ChargeResult { kOk, kOverLimit };

// Why memory is charged; selects stock use and failure behaviour.
enum class ChargeKind { kHeap, kMmap, kExplicit };

// Callback that the embedding layer (preload) installs to bind the engine's
// fast path when a thread's group changes. Allocates: never.
using BindHook = bool (*)(uint32_t group);
void SetBindHook(BindHook hook);

// Hook for the OOM report: writes engine statistics of a group to fd.
using ReportHook = void (*)(int fd, uint32_t group);
void SetReportHook(ReportHook hook);

// Prepares the calling thread (stock, binding). Called on the first slow
// path of every thread. Allocates: never.
void SetupThread();

// Thread exit: drains and releases the stock. Later charges of this thread
// go directly to the counter. Allocates: never.
void TeardownThread();

// Moves the calling thread to `group` (index of a live group): drains its
// stock (the stock always belongs to the bound group) and rebinds the engine.
// Allocates: never.
bool BindCurrentThread(uint32_t group);

// The calling thread's current group, moving the thread to the nearest live
// ancestor if its group was destroyed. Allocates: never.
uint32_t CurrentGroupSlow();

// Charges `bytes` to `group`: stock, counter, drain, reclaim, OOM policy.
// On kOverLimit the caller fails the allocation (ENOMEM); abort/kill
// policies never return. Allocates: never.
ChargeResult ChargeSlow(uint32_t group, int64_t bytes, ChargeKind kind);

// Returns `bytes` charged to `owner` (a block freed by any thread): to the
// calling thread's stock, or directly. `extra`: see ChargeStocks::Refill
// (the free of a large block the thread keeps cached). Allocates: never.
void UnchargeSlow(uint32_t owner, int64_t bytes, int64_t extra = 0);

// Drains every stock in the subtree and returns the bytes. Allocates: never.
int64_t DrainSubtree(uint32_t group);

// Process-wide fault injection: probability in [0, 1] that a charge is
// refused as if over the limit (MEMGROUP_FAULT). 0 disables.
void SetFaultProbability(double p);

// Writes the OOM report for a refused charge of `bytes` at `group` to fd 2.
// Allocates: never.
void WriteOomReport(uint32_t group, int64_t bytes, const char* verdict);

// memory.stat of a group and its subtree, from the counters and the group
// states (the engine's own figures are added by the callers that have the
// engine). Racy snapshot. Allocates: never.
struct GroupStat {
  int64_t current;
  int64_t heap;  // current - mmap - explicit - stock, clamped at 0
  int64_t mmap;
  int64_t explicit_bytes;
  int64_t stock;
  int64_t reclaim_calls;
  int64_t reclaimed;
  int64_t throttled_ns;
  int64_t oom_wait_ns;
};
void ReadGroupStat(uint32_t group, GroupStat* out);

// Writes `key value` stats of every live group to fd (MEMGROUP_STATS).
// Allocates: never.
void WriteStats(int fd);

// Wakes threads waiting under the `wait` policy in `group`'s subtree after
// its (or an ancestor's) limit was raised or memory was released.
// Allocates: never.
void NotifyLimitChanged(uint32_t group);

// fork(2) support: called in the child with the forking thread's state.
void AfterForkChild();

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_CHARGER_H_
