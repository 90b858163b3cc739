// Implements mmap_tracker.h: a sorted array of disjoint ranges, binary
// searched, grown by remapping. Allocates: never (MetaMap only).
#include "engine/mmap_tracker.h"

#include <cstring>

#include "base/limits.h"
#include "base/meta_alloc.h"
#include "base/spinlock.h"

namespace memgroup::internal::mmap_tracker {
namespace {

struct Range {
  uintptr_t start;
  uintptr_t end;
  uint32_t group;
};

constinit SpinLock g_lock;
// Guarded by g_lock.
constinit Range* g_ranges = nullptr;
constinit size_t g_count = 0;
constinit size_t g_capacity = 0;
constinit size_t g_bytes = 0;

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
  MetaUnmap(g_ranges, g_capacity * sizeof(Range));
  g_ranges = fresh;
  g_capacity = cap;
  return true;
}

void InsertAtLocked(size_t i, const Range& r) {
  memmove(&g_ranges[i + 1], &g_ranges[i], (g_count - i) * sizeof(Range));
  g_ranges[i] = r;
  ++g_count;
}

void EraseAtLocked(size_t i) {
  memmove(&g_ranges[i], &g_ranges[i + 1], (g_count - i - 1) * sizeof(Range));
  --g_count;
}

}  // namespace

bool Insert(uintptr_t addr, size_t len, uint32_t group) {
  if (len == 0) return true;
  SpinLockHolder h(&g_lock);
  // A fresh mapping never overlaps a tracked one unless MAP_FIXED replaced
  // it; the caller removes the old range first in that case.
  if (!ReserveLocked(g_count + 1)) return false;
  size_t i = LowerBoundLocked(addr);
  InsertAtLocked(i, Range{addr, addr + len, group});
  g_bytes += len;
  return true;
}

void Remove(uintptr_t addr, size_t len,
            void (*uncharge)(uint32_t group, size_t bytes, void* ctx),
            void* ctx) {
  if (len == 0) return;
  uintptr_t end = addr + len;
  struct Pending {
    uint32_t group;
    size_t bytes;
  };
  Pending pending[16];
  int npending = 0;
  for (;;) {
    bool more = false;
    {
      SpinLockHolder h(&g_lock);
      size_t i = LowerBoundLocked(addr);
      while (i < g_count && g_ranges[i].start < end) {
        if (npending == 16) {
          more = true;
          break;
        }
        Range& r = g_ranges[i];
        uintptr_t cut_lo = r.start > addr ? r.start : addr;
        uintptr_t cut_hi = r.end < end ? r.end : end;
        size_t cut = cut_hi - cut_lo;
        pending[npending++] = {r.group, cut};
        g_bytes -= cut;
        if (cut_lo == r.start && cut_hi == r.end) {
          EraseAtLocked(i);
        } else if (cut_lo == r.start) {
          r.start = cut_hi;
          ++i;
        } else if (cut_hi == r.end) {
          r.end = cut_lo;
          ++i;
        } else {
          // A hole in the middle: split in two.
          if (!ReserveLocked(g_count + 1)) {
            // Cannot split: keep the tail tracked as part of the head's
            // group but uncharge nothing for it (no byte is lost: the
            // charge stays with the mapping until it is unmapped).
            g_bytes += cut;
            --npending;
            break;
          }
          Range tail{cut_hi, r.end, r.group};
          g_ranges[i].end = cut_lo;
          InsertAtLocked(i + 1, tail);
          i += 2;
        }
      }
    }
    for (int k = 0; k < npending; ++k) {
      uncharge(pending[k].group, pending[k].bytes, ctx);
    }
    npending = 0;
    if (!more) break;
  }
}

uint32_t GroupOf(uintptr_t addr) {
  SpinLockHolder h(&g_lock);
  size_t i = LowerBoundLocked(addr);
  if (i < g_count && g_ranges[i].start <= addr) return g_ranges[i].group;
  return kNoGroup;
}

size_t TrackedBytes() {
  SpinLockHolder h(&g_lock);
  return g_bytes;
}

void PrepareFork() { g_lock.Lock(); }
void ParentFork() { g_lock.Unlock(); }
void ChildFork() { g_lock.ResetAfterFork(); }

}  // namespace memgroup::internal::mmap_tracker
