// The stock area of a top-level job's block (its layout, JobStockArea and
// JobStockChunk, is job_block.h's): claiming and releasing a member's
// chunks of thread stocks, and revoking the job's share of other members'
// stocks before a job-level decision.
//
// Stock revocation (the exact decision across members): a member's thread
// stocks (charge_stock.h) live in chunks of the top-level job's stock area,
// so that a member whose charge a job level refuses can take the job's
// share of every other member's stocks back before it decides
// (JobRevokeStocks): it freezes their stocks (kStockRevoking), runs the
// global expedited membarrier (every member registered for it), waits for
// each owner to leave its stock section, subtracts the stocked bytes from
// the owner's `charged` and the node at the refusing level and each level
// enclosing it, and marks the stocks kStockRevoked with that depth; the
// owner, on its next slow path, returns the same bytes to its own groups
// and to its job levels deeper than that (ChargeStocks::ReturnRevoked).
//
// Allocates: never. Thread-safe: every operation may run concurrently in
// any member process; everything read from the block is validated against
// the view's copied bounds.
#ifndef MEMGROUP_SRC_COUNTER_JOB_STOCK_AREA_H_
#define MEMGROUP_SRC_COUNTER_JOB_STOCK_AREA_H_

#include <sys/types.h>

#include <cstdint>

#include "counter/charge_stock.h"
#include "counter/job_block.h"

namespace memgroup::internal {

// The stock area. Claims a free chunk for (pid, start_ticks), with the
// owner's slot at each depth, and constructs its ThreadStocks; *count =
// kJobStocksPerChunk. Null when the area is full or absent.
ThreadStock* JobClaimStockChunk(const JobView& v, pid_t pid,
                                uint64_t start_ticks,
                                const uint32_t slot_at_depth[kJobMaxLevels],
                                bool global_barrier, uint32_t* count);
// Frees every chunk of (pid, start_ticks): a released member's, or an exec'd
// image's predecessor's. Returns how many.
uint32_t JobReleaseStockChunks(const JobView& v, pid_t pid,
                               uint64_t start_ticks);

// One job level a revoker uncharges: its view and nesting depth.
struct JobRevokeLevel {
  const JobView* view;
  uint32_t depth;
};
// Revokes the job's share of the stocks of every other member of the job
// `levels[0]` (the refusing level; levels[1..n) the levels enclosing it in
// the caller's walk, by decreasing depth), from the stock area of `area`
// (the top-level block); see the file comment. `self`/`self_start`: the
// caller's process, whose stocks it drains itself. A stock that its own
// process is draining, that another process revokes, whose owner did not
// register for the global barrier, or whose owner stays inside its stock
// section for 10 ms is left alone. Returns the bytes taken from levels[0].
int64_t JobRevokeStocks(const JobView& area, const JobRevokeLevel* levels,
                        uint32_t n, pid_t self, uint64_t self_start);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_COUNTER_JOB_STOCK_AREA_H_
