// Hierarchical memory counters with the Linux kernel's page_counter semantics
// (mm/page_counter.c), counted in bytes. Owns: CounterTree, the operations on
// the tree, and PageCounter, one node of it (the kernel's struct
// page_counter): usage, limits (max, high, low, min), peak watermarks,
// failcnt and effective protection.
//
// Nodes live in one flat array and name their parent by index (no pointers),
// so the same tree can later live in a shared-memory segment mapped by
// several processes. A charge walks from a node to the root.
//
// Invariants (between operations, with no charge in flight):
//   usage(n) == local charges of n + sum(usage(c) for c in children(n))
//   usage(n) >= 0;  watermark(n) >= local_watermark(n)
//   children_min_usage(n) == sum(min_usage(c) for c in children(n))  (same for low)
//
// Allocates: never. Thread-safe: every operation may run concurrently with
// every other, except that Set* calls on one node must be serialised by the
// caller (the kernel's rule; the registry lock does it).
#ifndef MEMGROUP_SRC_COUNTER_COUNTER_TREE_H_
#define MEMGROUP_SRC_COUNTER_COUNTER_TREE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "base/limits.h"

namespace memgroup::internal {

inline constexpr uint32_t kNoParent = 0xffffffffu;
// The refusing level of a charge refused by a job node (job_block.h), the
// uplinks above the tree's root: kJobNode for the process's own job,
// kJobNode - k for its k-th enclosing job (a job started inside a job),
// k < kJobMaxLevels. All are above every group index.
inline constexpr uint32_t kJobNode = 0xfffffffeu;
inline constexpr uint32_t kJobMaxLevels = 4;
constexpr bool IsJobLevel(uint32_t n) {
  return n <= kJobNode && n > kJobNode - kJobMaxLevels;
}
// 0 for the process's own job, k for its k-th enclosing job.
constexpr uint32_t JobLevelIndex(uint32_t n) { return kJobNode - n; }

struct JobLink;

// One node. Three cache lines: the hot, contended `usage_` line; protection
// and watermark state written on charge; read-mostly limits and the parent.
struct PageCounter {
  // Line 1. Written by every charge/uncharge of this node or a descendant
  // (fetch_add/fetch_sub); read by the charger and by readers.
  alignas(64) std::atomic<int64_t> usage{0};
  // Refused charges at this level. Relaxed statistic. Racy by design: exact
  // once quiesced.
  std::atomic<int64_t> failcnt{0};

  // Line 2. Protection bookkeeping (written on charge when protection is
  // configured) and watermarks (written only when raised).
  alignas(64) std::atomic<int64_t> emin{0};
  std::atomic<int64_t> min_usage{0};
  std::atomic<int64_t> children_min_usage{0};
  std::atomic<int64_t> elow{0};
  std::atomic<int64_t> low_usage{0};
  std::atomic<int64_t> children_low_usage{0};
  std::atomic<int64_t> watermark{0};
  std::atomic<int64_t> local_watermark{0};

  // Line 3. Read-mostly. Written by Set* under the caller's lock.
  alignas(64) std::atomic<int64_t> max{kUnlimited};
  std::atomic<int64_t> high{kUnlimited};
  std::atomic<int64_t> low{0};
  std::atomic<int64_t> min{0};
  std::atomic<uint32_t> parent{kNoParent};
  // Underflow reports for this node (an uncharge below zero). Relaxed.
  std::atomic<uint32_t> underflows{0};
};

static_assert(sizeof(PageCounter) == 192, "three cache lines");
static_assert(offsetof(PageCounter, emin) == 64, "usage line is alone");
static_assert(offsetof(PageCounter, max) == 128, "limits off the usage line");

// Whether a refused TryCharge counts in the refusing level's failcnt. A
// charge that is attempted several times (a batch first, retries after a
// drain or reclaim) counts once: its later attempts pass kNo.
enum class CountFailure { kYes, kNo };

// A view over a flat array of nodes. Copyable; holds no state of its own.
class CounterTree {
 public:
  constexpr CounterTree() = default;
  constexpr CounterTree(PageCounter* nodes, uint32_t capacity)
      : nodes_(nodes), capacity_(capacity) {}

  uint32_t capacity() const { return capacity_; }

  // Makes the root's charges continue into a job node (job_block.h): a
  // charge that reaches the root also try-charges link->node and adds to
  // link->charged, then the same for link->up (the enclosing job) and so
  // on; an uncharge that reaches the root returns, at each level, at most
  // what that level's `charged` holds. `link` must outlive the tree; its
  // fields may be changed only while no other thread charges (init, a fork
  // child).
  void SetJobLink(const JobLink* link) { link_ = link; }
  const JobLink* job_link() const { return link_; }
  PageCounter& node(uint32_t i) const { return nodes_[i]; }

  // Resets node i to a fresh counter under `parent` (kNoParent for a root):
  // usage 0, max = high = unlimited, low = min = 0. Not concurrent with
  // charges of i. Allocates: never.
  void InitNode(uint32_t i, uint32_t parent) const;

  // Charges `bytes` from node i up to the root. If a level's new usage would
  // exceed its max, that level is rolled back, its failcnt raised (unless
  // `count` is kNo), the levels below it are rolled back, *failed is set to
  // the refusing level and false is returned: no side effect remains except
  // failcnt. Allocates: never.
  [[nodiscard]] bool TryCharge(uint32_t i, int64_t bytes, uint32_t* failed,
                               CountFailure count = CountFailure::kYes) const;

  // Charges without checking limits (may exceed max). Allocates: never.
  void Charge(uint32_t i, int64_t bytes) const;

  // Uncharges `bytes` from i up to the root. A level that would go negative
  // is clamped to 0 and reported once per node. Allocates: never.
  void Uncharge(uint32_t i, int64_t bytes) const;

  // Uncharge without the job levels: `bytes` this process never charged to
  // them (a fork child's inherited blocks, engine/fork_epoch.h) leave i and
  // its ancestors only. Allocates: never.
  void UnchargeLocal(uint32_t i, int64_t bytes) const;

  // A revoked stock's bytes (charge_stock.h, "Shared stocks"): uncharges
  // `bytes` from i up to the root and from the job levels deeper than
  // `cut` (JobLink::depth > cut); another process already took them from
  // the levels at depth <= cut. Allocates: never.
  void UnchargeRevoked(uint32_t i, int64_t bytes, int32_t cut) const;

  // Reparenting: `bytes` of node i's usage become its parent's own (the
  // parent and every ancestor already count them), so only node i's usage
  // falls. Later uncharges of those bytes start at the parent.
  // Allocates: never.
  void HandToParent(uint32_t i, int64_t bytes) const { Cancel(i, bytes); }

  int64_t Usage(uint32_t i) const {
    // Racy by design: a snapshot of a counter that moves concurrently.
    return nodes_[i].usage.load(std::memory_order_relaxed);
  }

  // cgroup v2 memory.max: publishes unconditionally, possibly below usage.
  // Returns the previous max. Nothing already charged is undone; later
  // charges fail until usage falls below the new max. A charge racing with
  // the exchange either sees the new max or has its usage visible to a
  // seq_cst load of usage made after this returns (the caller's reclaim
  // target). Allocates: never.
  int64_t ExchangeMax(uint32_t i, int64_t bytes) const;
  void SetHigh(uint32_t i, int64_t bytes) const;
  // min/low: stores the setting and re-propagates protected usage to the root.
  void SetMin(uint32_t i, int64_t bytes) const;
  void SetLow(uint32_t i, int64_t bytes) const;

  int64_t Max(uint32_t i) const {
    return nodes_[i].max.load(std::memory_order_relaxed);
  }
  int64_t High(uint32_t i) const {
    return nodes_[i].high.load(std::memory_order_relaxed);
  }
  int64_t Low(uint32_t i) const {
    return nodes_[i].low.load(std::memory_order_relaxed);
  }
  int64_t Min(uint32_t i) const {
    return nodes_[i].min.load(std::memory_order_relaxed);
  }
  uint32_t Parent(uint32_t i) const {
    return nodes_[i].parent.load(std::memory_order_relaxed);
  }
  int64_t Failcnt(uint32_t i) const {
    return nodes_[i].failcnt.load(std::memory_order_relaxed);
  }
  // Peak usage since creation (never reset, like v2's global watermark).
  int64_t Watermark(uint32_t i) const {
    return nodes_[i].watermark.load(std::memory_order_relaxed);
  }
  // Peak usage since the last ResetPeak.
  int64_t LocalWatermark(uint32_t i) const {
    return nodes_[i].local_watermark.load(std::memory_order_relaxed);
  }
  // memory.peak reset: local watermark = current usage.
  void ResetPeak(uint32_t i) const;

  // Smallest (max - usage) over i and its ancestors, the job node included
  // (0 if any is over):
  // how many more bytes a charge at i could take now.
  int64_t Margin(uint32_t i) const;

  // True if `i` is `root` or one of its descendants.
  bool IsInSubtree(uint32_t i, uint32_t root) const;

  // page_counter_calculate_protection: computes i's emin/elow for a reclaim
  // walk rooted at `root`. Must be called top-down (parents first) during one
  // walk. `recursive` selects memory_recursiveprot distribution.
  void CalculateProtection(uint32_t root, uint32_t i, bool recursive) const;
  int64_t EffectiveMin(uint32_t i) const {
    return nodes_[i].emin.load(std::memory_order_relaxed);
  }
  int64_t EffectiveLow(uint32_t i) const {
    return nodes_[i].elow.load(std::memory_order_relaxed);
  }
  // mem_cgroup_below_min / below_low for a walk rooted at `root`
  // (the root itself is never protected).
  bool BelowMin(uint32_t root, uint32_t i) const;
  bool BelowLow(uint32_t root, uint32_t i) const;

 private:
  void PropagateProtectedUsage(uint32_t i, int64_t usage) const;
  void RaiseWatermark(PageCounter& c, int64_t usage) const;
  void Cancel(uint32_t i, int64_t bytes) const;
  // The job uplink's halves of TryCharge/Charge/Uncharge.
  // On refusal *failed (if not null) is the refusing job level.
  bool TryChargeJob(int64_t bytes, CountFailure count, uint32_t* failed) const;
  void ChargeJob(int64_t bytes) const;
  void UnchargeJob(int64_t bytes) const;
  bool Linked() const;

  PageCounter* nodes_ = nullptr;
  uint32_t capacity_ = 0;
  const JobLink* link_ = nullptr;
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_COUNTER_TREE_H_
