// Implements free_pages.h: the per-group count of charged free pages, its
// decay stamps, the marks of arenas with uncounted dirty pages, a fork
// child's inherited dirty pages, the decay scan and the calling thread's
// "took" flag.
//
// SYNCHRONIZATION: every word is an independent relaxed atomic, but for
// the Dekker pair of g_free_pages_pending (see there). The counts
// carry no data (the pages they stand for are jemalloc's, ordered by
// jemalloc's own locks); the read-modify-writes keep each count exact, and
// the uncharge of what a count gave up goes through the charger, which
// orders itself. The stamps and the scan deadline are only compared with
// the clock.
#include "engine/free_pages.h"

#include <atomic>

#include "base/limits.h"
#include "base/macros.h"
#include "base/sys.h"
#include "engine/group_row.h"
#include "engine/mimalloc_engine.h"
#include "engine/page_charge.h"

namespace memgroup::internal::engine {
namespace {

// Bytes returned since the start (statistics). Relaxed.
MG_TABLE constinit std::atomic<int64_t> g_returned[kMaxGroups];
// Coarse time of the last keep or take. Relaxed: only compared with the
// clock by the scan; a stale read delays or advances a decay by one tick.
MG_TABLE constinit std::atomic<int64_t> g_last_ms[kMaxGroups];
// Set by NoteArenaDirtied and a take, cleared by the scan that calls
// due(g) for the group: its arena may hold dirty pages no count covers.
// The set and the scan's read are seq_cst, part of the Dekker pair of
// g_free_pages_pending, as the counts are.
MG_TABLE constinit std::atomic<bool> g_dirtied[kMaxGroups];
// Dirty bytes a fork child inherited with no charge (DropInheritedFreePages,
// AddInheritedDirtyPages) and has not purged or reused. Relaxed: as the
// counts (SYNCHRONIZATION); set by the child's fork handler (one thread),
// raised by the child's frees of blocks it inherited live, lowered by
// checks and purges with a compare-and-swap or an exchange (a raise racing
// with a purge may leave it above the arena's pages until the next check
// lowers it: inherited pages tolerated a little longer, never charged).
MG_TABLE constinit std::atomic<int64_t> g_inherited[kMaxGroups];
// Whether any g_inherited count was ever set: a process that is no fork
// child with inherited free pages never reads or writes the table (its
// first page would cost a process's start-up a page and a 2 MiB region of
// the library's tables). Set by the child's fork handler while the child
// has one thread, so any thread that reads it was created after the store;
// relaxed.
constinit std::atomic<bool> g_any_inherited{false};
// Destroyed groups keep nothing. Relaxed: racy by design, as slab.cc's
// GroupBins::retired; a keep that races with the destroy is returned by
// RetireGroup's purge (engine_init.cc).
MG_TABLE constinit std::atomic<bool> g_retired[kMaxGroups];
// One past the highest group that ever kept pages: the scan's end. The
// keep's raise and the scan's read are seq_cst, part of the Dekker pair of
// g_free_pages_pending (a scan that the keep's flag read precedes sees the
// new end).
constinit std::atomic<uint32_t> g_end{0};
// Set by TakeFreePages when it took something, cleared by TookFreePages.
// The calling thread's own.
MG_TLS bool t_took = false;

}  // namespace

// Whether some group may hold free pages: set by a keep or a mark, cleared
// by a scan that found none; spares the slow paths a take and
// DecayFreePages its clock read while nothing is kept. A keep's count
// increment (a mark's store) and its read of the flag, and the scan's
// clearing and its reads of the counts and marks, are seq_cst (a Dekker
// pair): either the keep reads the cleared flag and sets it, or the scan
// reads the incremented count (the mark). The other accesses are relaxed.
constinit std::atomic<bool> g_free_pages_pending{false};

namespace {

// The next scan's time. Relaxed: a compare-and-swap picks one scanner per
// tick; nothing is published with it.
constinit std::atomic<int64_t> g_next_scan_ms{0};

}  // namespace

namespace {

// After a keep's count increment or a mark (seq_cst): the scan's end
// covers `group` and the pending flag is set.
void Publish(uint32_t group) {
  // Relaxed load, seq_cst CAS: see g_end.
  uint32_t end = g_end.load(std::memory_order_relaxed);
  while (end <= group &&
         !g_end.compare_exchange_weak(end, group + 1,
                                      std::memory_order_seq_cst,
                                      std::memory_order_relaxed)) {
  }
  // seq_cst load: see g_free_pages_pending (read first: the line stays
  // shared while set). Relaxed store: any later scan reads it.
  if (!g_free_pages_pending.load(std::memory_order_seq_cst)) {
    g_free_pages_pending.store(true, std::memory_order_relaxed);
  }
}

// Marks `group` (g_dirtied) without stamping it.
void Mark(uint32_t group) {
  // Relaxed load first: the line stays shared while marked. seq_cst
  // store: the Dekker pair of g_free_pages_pending.
  if (!g_dirtied[group].load(std::memory_order_relaxed)) {
    g_dirtied[group].store(true, std::memory_order_seq_cst);
  }
  Publish(group);
}

}  // namespace

bool KeepFreePages(uint32_t group, int64_t bytes) {
  if (group >= kMaxGroups || bytes <= 0) return false;
  // Relaxed: see g_retired.
  if (g_retired[group].load(std::memory_order_relaxed)) return false;
  // Relaxed: see SYNCHRONIZATION.
  g_last_ms[group].store(CoarseMonotonicMillis(), std::memory_order_relaxed);
  // seq_cst: the Dekker pair of g_free_pages_pending.
  g_group_rows[group].free_pages.fetch_add(bytes, std::memory_order_seq_cst);
  Publish(group);
  return true;
}

void NoteArenaDirtied(uint32_t group) {
  if (group >= kMaxGroups) return;
  // Relaxed: see g_last_ms.
  g_last_ms[group].store(CoarseMonotonicMillis(), std::memory_order_relaxed);
  Mark(group);
}



int64_t TakeFreePages(uint32_t group, int64_t bytes) {
  if (group >= kMaxGroups || bytes <= 0) return 0;
  // Relaxed: see SYNCHRONIZATION.
  int64_t cur = g_group_rows[group].free_pages.load(std::memory_order_relaxed);
  int64_t take = 0;
  do {
    if (cur <= 0) return 0;
    take = cur < bytes ? cur : bytes;
  } while (!g_group_rows[group].free_pages.compare_exchange_weak(
      cur, cur - take, std::memory_order_relaxed));
  // Relaxed: see g_last_ms.
  g_last_ms[group].store(CoarseMonotonicMillis(), std::memory_order_relaxed);
  // The block may be put in other pages than those taken, which then stay
  // dirty with no count: the decay must visit the group even at 0.
  Mark(group);
  t_took = true;
  return take;
}

bool TookFreePages() {
  const bool took = t_took;
  t_took = false;
  return took;
}

int64_t ReturnFreePages(uint32_t group) {
  if (group >= kMaxGroups) return 0;
  // Relaxed: see g_any_inherited and g_inherited (the purge took those
  // pages too).
  if (g_any_inherited.load(std::memory_order_relaxed)) {
    g_inherited[group].store(0, std::memory_order_relaxed);
  }
  // Relaxed: see SYNCHRONIZATION.
  const int64_t n =
      g_group_rows[group].free_pages.exchange(0, std::memory_order_relaxed);
  if (n <= 0) return 0;
  UnchargePages(group, n);
  // Relaxed: a statistic.
  g_returned[group].fetch_add(n, std::memory_order_relaxed);
  return n;
}

namespace {

// Lowers `v` to `limit` if above it; returns the value it had.
int64_t LowerTo(std::atomic<int64_t>& v, int64_t limit) {
  // Relaxed: see SYNCHRONIZATION (and g_inherited).
  int64_t cur = v.load(std::memory_order_relaxed);
  do {
    if (cur <= limit) return cur;
  } while (!v.compare_exchange_weak(cur, limit, std::memory_order_relaxed));
  return cur;
}

}  // namespace

int64_t SyncFreePages(uint32_t group, int64_t real) {
  if (group >= kMaxGroups) return 0;
  if (real < 0) real = 0;
  const int64_t cur = LowerTo(g_group_rows[group].free_pages, real);
  if (cur <= real) return cur;
  UnchargePages(group, cur - real);
  // Relaxed: a statistic.
  g_returned[group].fetch_add(cur - real, std::memory_order_relaxed);
  return real;
}

int64_t DropInheritedFreePages() {
  int64_t dropped = 0;
  // Relaxed: the child has one thread (its fork handler runs before any
  // other can start).
  const uint32_t end = g_end.load(std::memory_order_relaxed);
  for (uint32_t g = 0; g < end; ++g) {
    // Relaxed: as above.
    const int64_t n =
        g_group_rows[g].free_pages.exchange(0, std::memory_order_relaxed);
    if (n <= 0) continue;
    g_inherited[g].fetch_add(n, std::memory_order_relaxed);
    // Relaxed: see g_any_inherited.
    g_any_inherited.store(true, std::memory_order_relaxed);
    UnchargePages(g, n);
    // Stamped now: the decay purges them once the child left them idle.
    NoteArenaDirtied(g);
    dropped += n;
  }
  return dropped;
}

void AddInheritedDirtyPages(uint32_t group, int64_t bytes) {
  if (group >= kMaxGroups || bytes <= 0) return;
  // Relaxed: see g_inherited.
  g_inherited[group].fetch_add(bytes, std::memory_order_relaxed);
  NoteArenaDirtied(group);
}

int64_t InheritedDirtyPages(uint32_t group, int64_t uncovered) {
  // Relaxed: see g_any_inherited.
  if (group >= kMaxGroups || !g_any_inherited.load(std::memory_order_relaxed)) {
    return 0;
  }
  if (uncovered < 0) uncovered = 0;
  const int64_t cur = LowerTo(g_inherited[group], uncovered);
  return cur < uncovered ? cur : uncovered;
}

int64_t FreePagesOf(uint32_t group) {
  // Relaxed: a statistic.
  return group < kMaxGroups
             ? g_group_rows[group].free_pages.load(std::memory_order_relaxed)
             : 0;
}

int64_t ReturnedPagesOf(uint32_t group) {
  // Relaxed: a statistic.
  return group < kMaxGroups
             ? g_returned[group].load(std::memory_order_relaxed)
             : 0;
}

void SetFreePagesRetired(uint32_t group, bool retired) {
  // Relaxed: see g_retired.
  if (group < kMaxGroups) {
    g_retired[group].store(retired, std::memory_order_relaxed);
  }
}

bool DecayDue(int64_t now_ms, void (*due)(uint32_t group)) {
  // Relaxed: see g_next_scan_ms.
  int64_t next = g_next_scan_ms.load(std::memory_order_relaxed);
  if (now_ms < next) return true;  // Not looked at yet: maybe some.
  if (!g_next_scan_ms.compare_exchange_strong(next, now_ms + kDecayTickMs,
                                              std::memory_order_relaxed)) {
    return true;  // Another thread scans this tick.
  }
  bool pending = false;
  // seq_cst: see g_free_pages_pending. Cleared before the scan: a keep
  // during it sets it again, and the scan sets it for the counts it leaves.
  g_free_pages_pending.store(false, std::memory_order_seq_cst);
  // seq_cst: see g_end.
  const uint32_t end = g_end.load(std::memory_order_seq_cst);
  for (uint32_t g = 0; g < end; ++g) {
    // seq_cst: the Dekker pair of g_free_pages_pending.
    if (g_group_rows[g].free_pages.load(std::memory_order_seq_cst) <= 0 &&
        !g_dirtied[g].load(std::memory_order_seq_cst)) {
      continue;
    }
    if (now_ms - g_last_ms[g].load(std::memory_order_relaxed) < kDecayMs) {
      pending = true;
      continue;
    }
    // Cleared before the purge: a mark set during it stays for the next
    // scan. Relaxed: the Dekker pair is the setter's store and the scan's
    // load above; a mark set after that load sets the flag again.
    g_dirtied[g].store(false, std::memory_order_relaxed);
    due(g);
    // Relaxed: this scan's own view; a keep or mark after it sets the flag.
    if (g_group_rows[g].free_pages.load(std::memory_order_relaxed) > 0 ||
        g_dirtied[g].load(std::memory_order_relaxed)) {
      pending = true;
    }
  }
  // Relaxed: see g_free_pages_pending.
  if (pending) g_free_pages_pending.store(true, std::memory_order_relaxed);
  return pending;
}

}  // namespace memgroup::internal::engine
