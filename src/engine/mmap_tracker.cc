// Implements mmap_tracker.h: a sorted array of disjoint ranges, binary
// searched, grown by remapping. An operation cuts the ranges at the two ends
// of its span, works on the whole ranges inside, then merges neighbours that
// became alike, so a reservation committed and decommitted piece by piece
// does not fragment the array for ever. Allocates: never (MetaMap only).
#include "engine/mmap_tracker.h"

#include <algorithm>  // std::rotate: in place, never allocates
#include <cstring>

#include "base/fork_locks.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "base/spinlock.h"

namespace memgroup::internal::mmap_tracker {
namespace {

struct Range {
  uintptr_t start;
  uintptr_t end;
  uint32_t group;
  MapKind kind;
};

// Guarded by g_lock. Invariants:
//   g_ranges[0..g_count) sorted by start, disjoint, each start < end;
//   g_bytes == sum over ranges of (end - start);
//   g_file[g] (g_shmem[g]) == sum of the lengths of the kFile (kShmem)
//   ranges of group g.
constinit SpinLock g_lock;
constinit Range* g_ranges = nullptr;
constinit size_t g_count = 0;
constinit size_t g_capacity = 0;
constinit size_t g_bytes = 0;
MG_TABLE constinit int64_t g_file[kMaxGroups] = {};
MG_TABLE constinit int64_t g_shmem[kMaxGroups] = {};

// Pieces reported per lock hold (the callbacks charge, outside the lock).
constexpr int kBatch = 16;

// First index whose end > addr. Requires g_lock.
size_t LowerBoundLocked(uintptr_t addr) {
  size_t lo = 0, hi = g_count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (g_ranges[mid].end <= addr) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

bool ReserveLocked(size_t need) {
  if (need <= g_capacity) return true;
  size_t cap = g_capacity == 0 ? 256 : g_capacity * 2;
  while (cap < need) cap *= 2;
  Range* fresh = static_cast<Range*>(MetaMap(cap * sizeof(Range)));
  if (fresh == nullptr) return false;
  if (g_count > 0) memcpy(fresh, g_ranges, g_count * sizeof(Range));
  if (g_ranges != nullptr) MetaUnmap(g_ranges, g_capacity * sizeof(Range));
  g_ranges = fresh;
  g_capacity = cap;
  return true;
}

// Adds (sign 1) or takes away (sign -1) a range's bytes from the totals.
void CountLocked(const Range& r, int64_t sign) {
  const size_t len = r.end - r.start;
  g_bytes = sign > 0 ? g_bytes + len : g_bytes - len;
  if (r.group >= kMaxGroups) return;
  const int64_t bytes = sign * static_cast<int64_t>(len);
  if (r.kind == MapKind::kFile) {
    g_file[r.group] += bytes;
  } else if (r.kind == MapKind::kShmem) {
    g_shmem[r.group] += bytes;
  }
}

// Requires a free slot.
void InsertAtLocked(size_t i, const Range& r) {
  memmove(&g_ranges[i + 1], &g_ranges[i], (g_count - i) * sizeof(Range));
  g_ranges[i] = r;
  ++g_count;
}

void EraseAtLocked(size_t i) {
  memmove(&g_ranges[i], &g_ranges[i + 1], (g_count - i - 1) * sizeof(Range));
  --g_count;
}

// Cuts the range that strictly contains `at` in two. Requires a free slot.
void SplitAtLocked(uintptr_t at) {
  size_t i = LowerBoundLocked(at);
  if (i == g_count || g_ranges[i].start >= at) return;
  Range tail = g_ranges[i];
  tail.start = at;
  g_ranges[i].end = at;
  InsertAtLocked(i + 1, tail);
}

bool Alike(const Range& a, const Range& b) {
  return a.end == b.start && a.kind == b.kind && a.group == b.group;
}

// Merges alike neighbours among g_ranges[lo..hi] (hi clamped), in one pass.
void MergeLocked(size_t lo, size_t hi) {
  if (g_count == 0) return;
  if (hi >= g_count) hi = g_count - 1;
  if (lo >= hi) return;
  size_t w = lo;
  for (size_t r = lo + 1; r <= hi; ++r) {
    if (Alike(g_ranges[w], g_ranges[r])) {
      g_ranges[w].end = g_ranges[r].end;
    } else {
      g_ranges[++w] = g_ranges[r];
    }
  }
  const size_t removed = hi - w;
  if (removed == 0) return;
  memmove(&g_ranges[w + 1], &g_ranges[hi + 1],
          (g_count - hi - 1) * sizeof(Range));
  g_count -= removed;
}

enum class Op { kRemove, kCommit, kDecommit };

bool Selects(Op op, MapKind kind) {
  switch (op) {
    case Op::kRemove:
      return true;
    case Op::kCommit:
      return kind == MapKind::kReserved;
    case Op::kDecommit:
      return kind == MapKind::kCharged;
  }
  return false;
}

uintptr_t EndOf(uintptr_t addr, size_t len) {
  return addr + len < addr ? UINTPTR_MAX : addr + len;
}

// One lock hold of Apply: fills batch with up to kBatch selected pieces and
// returns their number; *more if selected ranges are left. Requires g_lock.
int ApplyLocked(uintptr_t addr, uintptr_t end, Op op, uint32_t group,
                Piece* batch, bool* more) {
  // Nothing tracked in the span (a new mapping's range, an untracked
  // munmap): done after one search.
  const size_t at = LowerBoundLocked(addr);
  if (at == g_count || g_ranges[at].start >= end) return 0;
  // munmap of one mapping (or of pages of one): the span lies in one range,
  // which goes, shrinks or is cut in two; nothing to merge after. Cutting
  // takes a slot, reserved first: the reserve may move the array.
  if (op == Op::kRemove && g_ranges[at].start <= addr &&
      end <= g_ranges[at].end &&
      (g_ranges[at].start == addr || g_ranges[at].end == end ||
       ReserveLocked(g_count + 1))) {
    Range& only = g_ranges[at];
    const Range gone{addr, end, only.group, only.kind};
    batch[0] = Piece{gone.group, gone.kind, end - addr};
    CountLocked(gone, -1);
    if (only.start == addr && only.end == end) {
      EraseAtLocked(at);
    } else if (only.start == addr) {
      only.start = end;
    } else if (only.end == end) {
      only.end = addr;
    } else {
      Range tail = only;
      tail.start = end;
      only.end = addr;
      InsertAtLocked(at + 1, tail);
    }
    return 1;
  }
  // Cutting at both ends takes up to two slots. Without them (metadata
  // memory exhausted) the ranges across an end stay as they are: their
  // state, and their charge, lag until the whole range is unmapped.
  if (ReserveLocked(g_count + 2)) {
    SplitAtLocked(addr);
    SplitAtLocked(end);
  }
  const size_t first = LowerBoundLocked(addr);
  size_t i = first;
  int n = 0;
  while (i < g_count && g_ranges[i].start < end) {
    Range& r = g_ranges[i];
    if (r.start < addr || r.end > end || !Selects(op, r.kind)) {
      ++i;
      continue;
    }
    if (n == kBatch) {
      *more = true;
      break;
    }
    batch[n++] = Piece{r.group, r.kind, r.end - r.start};
    if (op == Op::kRemove) {
      CountLocked(r, -1);
      EraseAtLocked(i);
      continue;
    }
    if (op == Op::kCommit) {
      r.kind = MapKind::kCharged;
      r.group = group;
    } else {
      r.kind = MapKind::kReserved;
    }
    ++i;
  }
  MergeLocked(first > 0 ? first - 1 : 0, i);
  return n;
}

// Applies `op` to every selected range inside [addr, addr+len), reporting
// each to fn outside the lock, kBatch per lock hold. A batch that fills up
// restarts the walk from addr: the ranges already done no longer match
// (removed, or converted to the other kind), so the walk is idempotent.
void Apply(uintptr_t addr, size_t len, Op op, uint32_t group, PieceFn fn,
           void* ctx) {
  if (len == 0) return;
  const uintptr_t end = EndOf(addr, len);
  Piece batch[kBatch];
  for (;;) {
    bool more = false;
    int n;
    {
      SpinLockHolder h(&g_lock);
      n = ApplyLocked(addr, end, op, group, batch, &more);
    }
    for (int k = 0; k < n; ++k) fn(batch[k], ctx);
    if (!more) return;
  }
}

}  // namespace

InsertResult Insert(uintptr_t addr, size_t len, uint32_t group, MapKind kind) {
  if (len == 0) return InsertResult::kInserted;
  const Range r{addr, EndOf(addr, len), group, kind};
  SpinLockHolder h(&g_lock);
  const size_t i = LowerBoundLocked(addr);
  if (i < g_count && g_ranges[i].start < r.end) return InsertResult::kOverlaps;
  CountLocked(r, 1);
  // A neighbour alike takes the new pages in (mmap hands out addresses next
  // to each other): no slot, no move.
  const bool join_prev = i > 0 && Alike(g_ranges[i - 1], r);
  const bool join_next = i < g_count && Alike(r, g_ranges[i]);
  if (join_prev && join_next) {
    g_ranges[i - 1].end = g_ranges[i].end;
    EraseAtLocked(i);
  } else if (join_prev) {
    g_ranges[i - 1].end = r.end;
  } else if (join_next) {
    g_ranges[i].start = r.start;
  } else if (ReserveLocked(g_count + 1)) {
    InsertAtLocked(i, r);
  } else {
    CountLocked(r, -1);
    return InsertResult::kNoMemory;
  }
  return InsertResult::kInserted;
}

void Remove(uintptr_t addr, size_t len, PieceFn fn, void* ctx) {
  Apply(addr, len, Op::kRemove, kNoGroup, fn, ctx);
}

void Commit(uintptr_t addr, size_t len, uint32_t group, PieceFn fn,
            void* ctx) {
  Apply(addr, len, Op::kCommit, group, fn, ctx);
}

void Decommit(uintptr_t addr, size_t len, PieceFn fn, void* ctx) {
  Apply(addr, len, Op::kDecommit, kNoGroup, fn, ctx);
}

size_t BytesIn(uintptr_t addr, size_t len, MapKind kind, uint32_t group) {
  const uintptr_t end = EndOf(addr, len);
  size_t sum = 0;
  SpinLockHolder h(&g_lock);
  for (size_t i = LowerBoundLocked(addr);
       i < g_count && g_ranges[i].start < end; ++i) {
    const Range& r = g_ranges[i];
    if (r.kind != kind || (group != kNoGroup && r.group != group)) continue;
    sum += std::min(r.end, end) - std::max(r.start, addr);
  }
  return sum;
}

bool Lookup(uintptr_t addr, Piece* out) {
  SpinLockHolder h(&g_lock);
  const size_t i = LowerBoundLocked(addr);
  if (i == g_count || g_ranges[i].start > addr) return false;
  *out = Piece{g_ranges[i].group, g_ranges[i].kind, g_ranges[i].end - addr};
  return true;
}

bool Move(uintptr_t old_addr, size_t len, uintptr_t new_addr, bool keep_old,
          uint32_t copy_group) {
  if (len == 0 || old_addr == new_addr) return true;
  const uintptr_t old_end = EndOf(old_addr, len);
  // Unsigned wrap-around: start + delta is the new start either way.
  const uintptr_t delta = new_addr - old_addr;
  SpinLockHolder h(&g_lock);
  if (!ReserveLocked(g_count + 2)) return false;
  SplitAtLocked(old_addr);
  SplitAtLocked(old_end);
  const size_t i = LowerBoundLocked(old_addr);
  size_t j = i;
  while (j < g_count && g_ranges[j].start < old_end) ++j;
  const size_t m = j - i;
  if (m == 0) return true;
  // The destination holds no tracked page and does not overlap the source
  // (the kernel refuses that), so it sorts before i or from j on.
  const size_t p = LowerBoundLocked(new_addr);
  if (!keep_old) {
    for (size_t k = i; k < j; ++k) {
      g_ranges[k].start += delta;
      g_ranges[k].end += delta;
    }
    size_t dest = i;
    if (p > j) {
      std::rotate(g_ranges + i, g_ranges + j, g_ranges + p);
      dest = p - m;
    } else if (p < i) {
      std::rotate(g_ranges + p, g_ranges + i, g_ranges + j);
      dest = p;
    }
    MergeLocked(dest > 0 ? dest - 1 : 0, dest + m);
    return true;
  }
  if (!ReserveLocked(g_count + m)) {
    MergeLocked(i > 0 ? i - 1 : 0, j);
    return false;
  }
  memmove(&g_ranges[p + m], &g_ranges[p], (g_count - p) * sizeof(Range));
  g_count += m;
  const size_t src = p <= i ? i + m : i;
  for (size_t k = 0; k < m; ++k) {
    Range r = g_ranges[src + k];
    r.start += delta;
    r.end += delta;
    if (r.kind == MapKind::kCharged) r.group = copy_group;
    g_ranges[p + k] = r;
    CountLocked(r, 1);
  }
  // The higher span first, so that merging it moves nothing of the other.
  if (src > p) {
    MergeLocked(src - 1, src + m);
    MergeLocked(p > 0 ? p - 1 : 0, p + m);
  } else {
    MergeLocked(p - 1, p + m);
    MergeLocked(src > 0 ? src - 1 : 0, src + m);
  }
  return true;
}

void MappedBytes(uint32_t group, int64_t* file_mapped, int64_t* shmem) {
  SpinLockHolder h(&g_lock);
  *file_mapped = group < kMaxGroups ? g_file[group] : 0;
  *shmem = group < kMaxGroups ? g_shmem[group] : 0;
}

size_t TrackedBytes() {
  SpinLockHolder h(&g_lock);
  return g_bytes;
}

void PrepareFork() { ForkLock(g_lock); }
void ParentFork() { ForkUnlock(g_lock); }
void ChildFork() { ForkReset(g_lock); }

}  // namespace memgroup::internal::mmap_tracker
