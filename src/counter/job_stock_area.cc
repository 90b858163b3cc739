// Implements job_stock_area.h (and JobView::stock_used of job_block.h):
// the chunks of the top-level job's block that hold the members' thread
// stocks (claim, release) and the revocation of other members' stocks
// before a job-level decision. Raw system calls only (src/base/sys.h).
// Allocates: never.
#include <sched.h>

#include <atomic>
#include <cstdint>
#include <new>

#include "base/sys.h"
#include "counter/charge_stock.h"
#include "counter/job_block.h"
#include "counter/job_slots.h"
#include "counter/job_stock_area.h"

namespace memgroup::internal {

uint32_t JobView::stock_used() const {
  if (stock_chunks == 0) return 0;
  // Acquire: pairs with the claimers' CAS that raised it; a value from the
  // shared block is clamped to our validated copy.
  const uint32_t used = area()->used.load(std::memory_order_acquire);
  return used < stock_chunks ? used : stock_chunks;
}

ThreadStock* JobClaimStockChunk(const JobView& v, pid_t pid,
                                uint64_t start_ticks,
                                const uint32_t slot_at_depth[kJobMaxLevels],
                                bool global_barrier, uint32_t* count) {
  *count = 0;
  if (v.stock_chunks == 0) return nullptr;
  for (;;) {
    const uint32_t used = v.stock_used();
    for (uint32_t i = 0; i < used; ++i) {
      JobStockChunk* c = v.chunk(i);
      uint32_t expected = kMemberFree;
      // Relaxed pre-check, then acq_rel CAS, as JobClaimMember.
      if (c->state.load(std::memory_order_relaxed) != kMemberFree ||
          !c->state.compare_exchange_strong(expected, kMemberClaiming,
                                            std::memory_order_acq_rel,
                                            std::memory_order_relaxed)) {
        continue;
      }
      // Relaxed: published by the release store of Active below.
      c->pid.store(pid, std::memory_order_relaxed);
      c->start_ticks.store(start_ticks, std::memory_order_relaxed);
      for (uint32_t d = 0; d < kJobMaxLevels; ++d) {
        c->slot_at_depth[d].store(slot_at_depth[d], std::memory_order_relaxed);
      }
      c->global_barrier.store(global_barrier ? 1 : 0,
                              std::memory_order_relaxed);
      ThreadStock* first = JobView::stocks(c);
      for (uint32_t k = 0; k < kJobStocksPerChunk; ++k) {
        new (&first[k]) ThreadStock();
      }
      // Release: pairs with revokers' acquire loads of state.
      c->state.store(kMemberActive, std::memory_order_release);
      *count = kJobStocksPerChunk;
      return first;
    }
    if (used >= v.stock_chunks) return nullptr;  // full
    uint32_t expected = used;
    // acq_rel: one more chunk in use; a racing claimer of it is decided by
    // the chunk's own CAS above on our next pass.
    v.area()->used.compare_exchange_strong(expected, used + 1,
                                           std::memory_order_acq_rel,
                                           std::memory_order_acquire);
  }
}

uint32_t JobReleaseStockChunks(const JobView& v, pid_t pid,
                               uint64_t start_ticks) {
  uint32_t released = 0;
  const uint32_t used = v.stock_used();
  for (uint32_t i = 0; i < used; ++i) {
    JobStockChunk* c = v.chunk(i);
    // Acquire: pairs with the claimer's release store of Active.
    if (c->state.load(std::memory_order_acquire) != kMemberActive ||
        c->pid.load(std::memory_order_relaxed) != pid ||
        c->start_ticks.load(std::memory_order_relaxed) != start_ticks) {
      continue;
    }
    uint32_t expected = kMemberActive;
    // Release: a later claimer (acq_rel CAS) sees our reads done. A revoker
    // still working on the chunk checks the owner's member slot before it
    // takes anything from it.
    if (c->state.compare_exchange_strong(expected, kMemberFree,
                                         std::memory_order_release,
                                         std::memory_order_relaxed)) {
      ++released;
    }
  }
  return released;
}

namespace {

// The 10 ms a revoker waits, in all, for stocks held by others (their own
// drains, another revoker) and again for owners to leave their stock
// sections (a stopped process may never).
constexpr int64_t kRevokeBusyWaitNs = 10'000'000;

// Whether slot `idx` of `v` is the Active slot of (pid, start).
bool SlotNames(const JobView& v, uint32_t idx, pid_t pid, uint64_t start) {
  if (idx >= v.slot_count) return false;
  const JobMember* m = v.member(idx);
  // Acquire: pairs with the release store of Active (pid, start time).
  return m->state.load(std::memory_order_acquire) == kMemberActive &&
         m->pid.load(std::memory_order_relaxed) == pid &&
         m->start_ticks.load(std::memory_order_relaxed) == start;
}

bool HoldsBytes(const ThreadStock* ts) {
  for (const StockSlot& slot : ts->slots) {
    // Relaxed: a hint; the revocation reads them again while it holds ts.
    if (slot.group.load(std::memory_order_relaxed) < kMaxGroups &&
        slot.bytes.load(std::memory_order_relaxed) > 0) {
      return true;
    }
  }
  return false;
}

// The chunk's owner if it is another member of levels[0]'s job.
bool RevocableChunk(const JobStockChunk* c, const JobRevokeLevel& level,
                    pid_t self, uint64_t self_start, pid_t* pid,
                    uint64_t* start) {
  // Acquire: pairs with the claimer's release store of Active.
  if (c->state.load(std::memory_order_acquire) != kMemberActive) return false;
  // Relaxed: ordered by the acquire above.
  *pid = c->pid.load(std::memory_order_relaxed);
  *start = c->start_ticks.load(std::memory_order_relaxed);
  if (*pid == self && *start == self_start) return false;
  if (c->global_barrier.load(std::memory_order_relaxed) != 1) return false;
  return SlotNames(*level.view,
                   c->slot_at_depth[level.depth].load(std::memory_order_relaxed),
                   *pid, *start);
}

}  // namespace

int64_t JobRevokeStocks(const JobView& area, const JobRevokeLevel* levels,
                        uint32_t n, pid_t self, uint64_t self_start) {
  if (n == 0 || area.stock_chunks == 0) return 0;
  const uint32_t used = area.stock_used();
  const int32_t cut = static_cast<int32_t>(levels[0].depth);
  const int32_t me = SysGettid();
  // 1. Hold every revocable stock (kStockRevoking, revoker = our tid).
  const int64_t hold_deadline = MonotonicNanos() + kRevokeBusyWaitNs;
  bool any = false;
  for (uint32_t i = 0; i < used; ++i) {
    JobStockChunk* c = area.chunk(i);
    pid_t pid = 0;
    uint64_t start = 0;
    if (!RevocableChunk(c, levels[0], self, self_start, &pid, &start)) {
      continue;
    }
    ThreadStock* ts = JobView::stocks(c);
    for (uint32_t k = 0; k < kJobStocksPerChunk; ++k) {
      // Relaxed: a hint (a stock no thread owns holds nothing).
      if (ts[k].in_use.load(std::memory_order_relaxed) == 0) continue;
      for (;;) {
        if (!HoldsBytes(&ts[k])) break;
        // Relaxed: the CAS below decides.
        uint32_t f = ts[k].frozen.load(std::memory_order_relaxed);
        // Revoked at our depth or deeper already: not counted at ours.
        // Relaxed: a hint; a CAS (acquire) orders the real read.
        if (f == kStockRevoked &&
            ts[k].revoke_cut.load(std::memory_order_relaxed) >= cut) {
          break;
        }
        if (f == kStockThawed || f == kStockRevoked) {
          // Acquire: after kStockRevoked, pairs with that revoker's
          // release store (its revoke_cut). The membarrier below orders
          // the hold before the owner's next load of frozen.
          if (ts[k].frozen.compare_exchange_strong(
                  f, kStockRevoking, std::memory_order_acquire,
                  std::memory_order_relaxed)) {
            // Relaxed: read by us (pass 3) while we hold the stock.
            ts[k].revoker.store(me, std::memory_order_relaxed);
            any = true;
            break;
          }
          continue;
        }
        // Its own process drains it, its owner returns it, or another
        // revoker holds it: each lets go within microseconds, unless that
        // process is stopped.
        if (MonotonicNanos() >= hold_deadline) break;
        sched_yield();
      }
    }
  }
  if (!any) return 0;
  // 2. Every owner's next load of frozen sees the hold, or its busy = 1 is
  // visible to us. Without the barrier nothing can be taken: undo.
  const bool barrier = SysMembarrierGlobal();
  // 3. Take the job's share of each held stock.
  const int64_t deadline = MonotonicNanos() + kRevokeBusyWaitNs;
  int64_t total = 0;
  for (uint32_t i = 0; i < used; ++i) {
    JobStockChunk* c = area.chunk(i);
    // Acquire: as RevocableChunk; the owner is read again for the slots.
    if (c->state.load(std::memory_order_acquire) != kMemberActive) continue;
    const pid_t pid = c->pid.load(std::memory_order_relaxed);
    const uint64_t start = c->start_ticks.load(std::memory_order_relaxed);
    ThreadStock* ts = JobView::stocks(c);
    for (uint32_t k = 0; k < kJobStocksPerChunk; ++k) {
      // Relaxed: we set both in pass 1 (a state we hold is ours alone).
      if (ts[k].frozen.load(std::memory_order_relaxed) != kStockRevoking ||
          ts[k].revoker.load(std::memory_order_relaxed) != me) {
        continue;
      }
      // Relaxed: ours while we hold the stock.
      const int32_t old_cut = ts[k].revoke_cut.load(std::memory_order_relaxed);
      bool quiet = barrier;
      // Acquire: pairs with the owner's release store of busy = 0: its
      // slot writes are visible once we see 0. (A revoked stock's owner
      // was excluded by its first revoker.)
      while (quiet && old_cut < 0 &&
             ts[k].busy.load(std::memory_order_acquire) != 0) {
        if (MonotonicNanos() >= deadline) quiet = false;
        sched_yield();
      }
      if (!quiet) {
        // Release: back to the state we took it from, our writes done.
        ts[k].frozen.store(old_cut < 0 ? kStockThawed : kStockRevoked,
                           std::memory_order_release);
        continue;
      }
      int64_t bytes = 0;
      for (const StockSlot& slot : ts[k].slots) {
        // Relaxed: the owner is excluded (busy/frozen handshake).
        const int64_t b = slot.bytes.load(std::memory_order_relaxed);
        if (slot.group.load(std::memory_order_relaxed) < kMaxGroups && b > 0) {
          bytes += b;
        }
      }
      // The levels the stock still counts in, from ours outwards.
      for (uint32_t l = 0; l < n; ++l) {
        if (static_cast<int32_t>(levels[l].depth) <= old_cut) continue;
        const uint32_t idx =
            c->slot_at_depth[levels[l].depth].load(std::memory_order_relaxed);
        // A member released meanwhile gave its whole charge back already.
        if (!SlotNames(*levels[l].view, idx, pid, start)) continue;
        const int64_t took = JobUnchargeMember(*levels[l].view, idx, bytes);
        if (l == 0) total += took;
      }
      // Relaxed: published by the release store below.
      ts[k].revoke_cut.store(cut, std::memory_order_relaxed);
      // Release: pairs with the acquire CAS of whoever returns the bytes.
      ts[k].frozen.store(kStockRevoked, std::memory_order_release);
    }
  }
  return total;
}

}  // namespace memgroup::internal
