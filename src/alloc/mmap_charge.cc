// Implements mmap_charge.h. Every entry point pre-charges what it will
// commit (from a snapshot of the tracked ranges), makes the system call,
// updates the ranges, then settles: what the ranges really converted or
// released is charged or uncharged exactly, whatever raced in between.
// GroupState::mmap_bytes is a relaxed statistic; the ranges are guarded by
// mmap_tracker's own lock, never held here while charging.
#include "alloc/mmap_charge.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "alloc/charge.h"
#include "alloc/init.h"
#include "alloc/thread.h"
#include "base/sys.h"
#include "engine/mmap_tracker.h"
#include "group/charger.h"
#include "group/registry.h"

namespace memgroup::internal::alloc {
namespace {

using mmap_tracker::InsertResult;
using mmap_tracker::MapKind;
using mmap_tracker::Piece;

constexpr int kProtAccess = PROT_READ | PROT_WRITE | PROT_EXEC;

size_t PageRound(size_t n) { return (n + kPageSize - 1) & ~(kPageSize - 1); }

bool PageAligned(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & (kPageSize - 1)) == 0;
}

// What a new mapping is, by the rule of mmap_charge.h. False: not tracked
// (private anonymous MAP_NORESERVE, never charged).
bool Classify(int prot, int flags, MapKind* kind) {
  // MAP_SHARED_VALIDATE includes the MAP_SHARED bit.
  const bool shared = (flags & MAP_SHARED) != 0;
  if ((flags & MAP_ANONYMOUS) == 0) {
    *kind = MapKind::kFile;
  } else if (shared) {
    *kind = MapKind::kShmem;
  } else if ((flags & MAP_NORESERVE) != 0) {
    return false;
  } else {
    *kind = (prot & PROT_WRITE) != 0 ? MapKind::kCharged : MapKind::kReserved;
  }
  return true;
}

void AddMmapBytes(uint32_t group, int64_t bytes) {
  // Relaxed: a statistic, slow path.
  GlobalRegistry().state(group).mmap_bytes.fetch_add(
      bytes, std::memory_order_relaxed);
}

// Where released charges go: pieces of `group` are credited to `credit`
// (the caller re-uses that charge for what it maps there), others are
// uncharged from their own group.
struct Settlement {
  uint32_t group;
  int64_t credit;
};

// PieceFn: a charged piece was unmapped, replaced or decommitted.
void ReleasePiece(const Piece& piece, void* ctx) {
  if (piece.kind != MapKind::kCharged) return;
  const int64_t bytes = static_cast<int64_t>(piece.bytes);
  AddMmapBytes(piece.group, -bytes);
  auto* s = static_cast<Settlement*>(ctx);
  if (s != nullptr && s->group == piece.group) {
    s->credit += bytes;
    return;
  }
  Uncharge(piece.group, bytes);
}

// PieceFn: a reserved piece was committed (to the Settlement's group).
void CommitPiece(const Piece& piece, void* ctx) {
  const int64_t bytes = static_cast<int64_t>(piece.bytes);
  auto* s = static_cast<Settlement*>(ctx);
  AddMmapBytes(s->group, bytes);
  s->credit -= bytes;
}

// Takes `bytes` for a mapping change, or false (errno ENOMEM) over the
// limit. Allocates: never.
bool PreCharge(uint32_t group, int64_t bytes) {
  if (bytes == 0) return true;
  if (ChargeSlow(group, bytes, ChargeKind::kMmap) == ChargeResult::kOk) {
    return true;
  }
  errno = ENOMEM;
  return false;
}

void UnchargeKeepErrno(uint32_t group, int64_t bytes) {
  if (bytes == 0) return;
  const int err = errno;
  Uncharge(group, bytes);
  errno = err;
}

}  // namespace

void* MapCharged(void* addr, size_t len, int prot, int flags, int fd,
                 off_t off) {
  const size_t bytes = PageRound(len);
  if (len == 0 || bytes < len || !EnsureInit()) {
    return SysMmap(addr, len, prot, flags, fd, off);
  }
  MapKind kind = MapKind::kReserved;
  const bool tracked = Classify(prot, flags, &kind);
  const bool fixed = (flags & MAP_FIXED) != 0;
  const uint32_t group = CallerGroup();
  const int64_t need = tracked && kind == MapKind::kCharged
                           ? static_cast<int64_t>(bytes)
                           : 0;
  // MAP_FIXED over this group's own charged pages re-uses their charge:
  // replacing a mapping by one of the same size never fails at the limit.
  int64_t pre = need;
  if (fixed && need > 0) {
    pre -= static_cast<int64_t>(mmap_tracker::BytesIn(
        reinterpret_cast<uintptr_t>(addr), bytes, MapKind::kCharged, group));
  }
  if (!PreCharge(group, pre)) return MAP_FAILED;
  void* p = SysMmap(addr, len, prot, flags, fd, off);
  if (p == MAP_FAILED) {
    UnchargeKeepErrno(group, pre);
    return p;
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  Settlement s{group, pre};
  auto ins = InsertResult::kOverlaps;
  if (tracked && !fixed) ins = mmap_tracker::Insert(start, bytes, group, kind);
  if (ins == InsertResult::kOverlaps) {
    // Whatever the new mapping replaced (MAP_FIXED, or pages unmapped
    // behind the interposed calls' back) is gone, charge first.
    mmap_tracker::Remove(start, bytes, ReleasePiece, &s);
    if (tracked) ins = mmap_tracker::Insert(start, bytes, group, kind);
  }
  int64_t held = 0;
  if (ins == InsertResult::kInserted) {
    held = need;
    if (need > 0) AddMmapBytes(group, need);
  }
  // Untracked (metadata exhausted): keep no charge that nothing releases.
  SettleCharge(group, s.credit, held);
  return p;
}

int UnmapCharged(void* addr, size_t len) {
  const int r = SysMunmap(addr, len);
  if (r == 0 && len != 0) {
    const int err = errno;
    mmap_tracker::Remove(reinterpret_cast<uintptr_t>(addr), PageRound(len),
                         ReleasePiece, nullptr);
    errno = err;
  }
  return r;
}

int ProtectCharged(void* addr, size_t len, int prot) {
  const size_t bytes = PageRound(len);
  if (len == 0 || bytes < len || !PageAligned(addr) || !EnsureInit()) {
    return SysMprotect(addr, len, prot);
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(addr);
  const bool writable = (prot & PROT_WRITE) != 0;
  const bool none = (prot & kProtAccess) == 0;
  if (!writable && !none) return SysMprotect(addr, len, prot);
  const uint32_t group = CallerGroup();
  // Making reserved pages writable commits them: charge first, so that
  // over the limit the protections stay as they were.
  const int64_t pre =
      writable ? static_cast<int64_t>(mmap_tracker::BytesIn(
                     start, bytes, MapKind::kReserved, kNoGroup))
               : 0;
  if (!PreCharge(group, pre)) return -1;
  const int r = SysMprotect(addr, len, prot);
  if (r != 0) {
    UnchargeKeepErrno(group, pre);
    return r;
  }
  if (writable) {
    Settlement s{group, pre};
    mmap_tracker::Commit(start, bytes, group, CommitPiece, &s);
    // s.credit: pre-charged bytes no page took (< 0: a racing mapping
    // added reserved pages; they are writable now and charged anyway).
    SettleCharge(group, s.credit, 0);
  } else {
    mmap_tracker::Decommit(start, bytes, ReleasePiece, nullptr);
  }
  return 0;
}

void* RemapCharged(void* old_addr, size_t old_len, size_t new_len, int flags,
                   void* new_addr) {
  const size_t old_b = PageRound(old_len);
  const size_t new_b = PageRound(new_len);
  if (old_b < old_len || new_b < new_len || new_len == 0 ||
      !PageAligned(old_addr) || !EnsureInit()) {
    return SysMremap(old_addr, old_len, new_len, flags, new_addr);
  }
  const uintptr_t old_start = reinterpret_cast<uintptr_t>(old_addr);
  // The mapping's last page decides what growth is (the kernel extends
  // that mapping): charged growth is charged to the same group.
  Piece tail{kNoGroup, MapKind::kReserved, 0};
  const bool tail_tracked =
      mmap_tracker::Lookup(old_start + (old_b > 0 ? old_b - 1 : 0), &tail);
  const bool dontunmap = (flags & MREMAP_DONTUNMAP) != 0;
  const size_t grow = new_b > old_b ? new_b - old_b : 0;
  const uint32_t group = tail_tracked ? tail.group : CallerGroup();
  int64_t pre = tail_tracked && tail.kind == MapKind::kCharged
                    ? static_cast<int64_t>(grow)
                    : 0;
  // MREMAP_DONTUNMAP leaves the old range mapped (and committed): the moved
  // pages are committed again at their new address.
  if (dontunmap) {
    pre += static_cast<int64_t>(mmap_tracker::BytesIn(
        old_start, old_b, MapKind::kCharged, kNoGroup));
  }
  if (!PreCharge(group, pre)) return MAP_FAILED;
  void* p = SysMremap(old_addr, old_len, new_len, flags, new_addr);
  if (p == MAP_FAILED) {
    UnchargeKeepErrno(group, pre);
    return p;
  }
  const int err = errno;
  const uintptr_t new_start = reinterpret_cast<uintptr_t>(p);
  const size_t keep = old_b < new_b ? old_b : new_b;
  int64_t held = 0;
  // Shrink: the cut tail is unmapped.
  if (new_b < old_b) {
    mmap_tracker::Remove(old_start + new_b, old_b - new_b, ReleasePiece,
                         nullptr);
  }
  // Whatever was at the destination (MREMAP_FIXED) is replaced.
  if (new_start != old_start) {
    mmap_tracker::Remove(new_start, new_b, ReleasePiece, nullptr);
    if (dontunmap) {
      held += static_cast<int64_t>(mmap_tracker::BytesIn(
          old_start, keep, MapKind::kCharged, kNoGroup));
    }
    if (!mmap_tracker::Move(old_start, keep, new_start, dontunmap, group)) {
      // Cannot follow the move: release the old pages' charge rather than
      // keep one that nothing would release.
      held = 0;
      if (!dontunmap) {
        mmap_tracker::Remove(old_start, keep, ReleasePiece, nullptr);
      }
    }
  } else if (grow > 0) {
    mmap_tracker::Remove(old_start + old_b, grow, ReleasePiece, nullptr);
  }
  // Growth takes the tail's kind and group.
  if (grow > 0 && tail_tracked &&
      mmap_tracker::Insert(new_start + old_b, grow, tail.group, tail.kind) ==
          InsertResult::kInserted &&
      tail.kind == MapKind::kCharged) {
    held += static_cast<int64_t>(grow);
  }
  if (held > 0) AddMmapBytes(group, held);
  SettleCharge(group, pre, held);
  errno = err;
  return p;
}

void ReadMappedBytes(uint32_t group, int64_t* file_mapped, int64_t* shmem) {
  const Registry& reg = GlobalRegistry();
  *file_mapped = 0;
  *shmem = 0;
  for (uint32_t i = 0, end = reg.SlotLimit(); i < end; ++i) {
    int64_t file = 0, sh = 0;
    mmap_tracker::MappedBytes(i, &file, &sh);
    if ((file == 0 && sh == 0) || !reg.tree().IsInSubtree(i, group)) {
      continue;
    }
    *file_mapped += file;
    *shmem += sh;
  }
}

}  // namespace memgroup::internal::alloc
