// mmap_tracker: ranges split by partial removes, commits and decommits,
// merged back when alike, moved for mremap (with and without keeping the
// old pieces), and the per-group file_mapped/shmem totals. Works on
// made-up addresses: the tracker never touches the memory it records.
#include "engine/mmap_tracker.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace memgroup::internal::mmap_tracker {
namespace {

constexpr uintptr_t kPage = 4096;

struct Recorded {
  std::vector<Piece> pieces;
  size_t Bytes(MapKind kind) const {
    size_t sum = 0;
    for (const Piece& p : pieces) {
      if (p.kind == kind) sum += p.bytes;
    }
    return sum;
  }
};

void Record(const Piece& piece, void* ctx) {
  static_cast<Recorded*>(ctx)->pieces.push_back(piece);
}

class MmapTrackerTest : public ::testing::Test {
 protected:
  // Each test works on its own 1 GiB window and leaves it empty.
  void TearDown() override {
    Recorded r;
    Remove(base_, uintptr_t{1} << 30, Record, &r);
    EXPECT_EQ(TrackedBytes(), start_bytes_);
  }
  const uintptr_t base_ = uintptr_t{0x10} << 40;
  size_t start_bytes_ = TrackedBytes();
};

TEST_F(MmapTrackerTest, CommitAndDecommitSplitAndMergeBack) {
  ASSERT_EQ(Insert(base_, 256 * kPage, 3, MapKind::kReserved),
            InsertResult::kInserted);
  Recorded c;
  Commit(base_ + 16 * kPage, 32 * kPage, 3, Record, &c);
  EXPECT_EQ(c.Bytes(MapKind::kReserved), 32 * kPage);
  EXPECT_EQ(BytesIn(base_, 256 * kPage, MapKind::kCharged, 3), 32 * kPage);
  // Committing again converts nothing.
  Recorded again;
  Commit(base_, 256 * kPage, 3, Record, &again);
  EXPECT_EQ(again.Bytes(MapKind::kReserved), 224 * kPage);
  EXPECT_EQ(BytesIn(base_, 256 * kPage, MapKind::kCharged, 3), 256 * kPage);
  Piece p;
  ASSERT_TRUE(Lookup(base_, &p));
  EXPECT_EQ(p.bytes, 256 * kPage);  // merged back into one range
  Recorded d;
  Decommit(base_ + 100 * kPage, kPage, Record, &d);
  EXPECT_EQ(d.Bytes(MapKind::kCharged), kPage);
  EXPECT_EQ(BytesIn(base_, 256 * kPage, MapKind::kCharged, kNoGroup),
            255 * kPage);
  EXPECT_EQ(BytesIn(base_, 256 * kPage, MapKind::kReserved, kNoGroup), kPage);
}

TEST_F(MmapTrackerTest, ManyPiecesAreReportedInBatches) {
  ASSERT_EQ(Insert(base_, 200 * kPage, 1, MapKind::kReserved),
            InsertResult::kInserted);
  for (uintptr_t i = 0; i < 200; i += 2) {
    Recorded c;
    Commit(base_ + i * kPage, kPage, 1, Record, &c);
  }
  Recorded d;
  Decommit(base_, 200 * kPage, Record, &d);
  EXPECT_EQ(d.pieces.size(), 100u);
  EXPECT_EQ(d.Bytes(MapKind::kCharged), 100 * kPage);
  Piece p;
  ASSERT_TRUE(Lookup(base_, &p));
  EXPECT_EQ(p.bytes, 200 * kPage);
}

TEST_F(MmapTrackerTest, PartialRemoveKeepsTheRest) {
  ASSERT_EQ(Insert(base_, 64 * kPage, 2, MapKind::kCharged),
            InsertResult::kInserted);
  Recorded r;
  Remove(base_ + 10 * kPage, 5 * kPage, Record, &r);
  EXPECT_EQ(r.Bytes(MapKind::kCharged), 5 * kPage);
  EXPECT_EQ(BytesIn(base_, 64 * kPage, MapKind::kCharged, 2), 59 * kPage);
  Piece p;
  EXPECT_FALSE(Lookup(base_ + 12 * kPage, &p));
  ASSERT_TRUE(Lookup(base_ + 15 * kPage, &p));
  EXPECT_EQ(p.bytes, 49 * kPage);
}

// mmap hands out addresses next to each other: an alike neighbour takes a
// new range in, and unmapping one mapping of the joined range takes it off
// the front, the back or the middle.
TEST_F(MmapTrackerTest, NeighboursJoinAndUnmapInPieces) {
  int64_t file0 = 0, shmem0 = 0;
  MappedBytes(6, &file0, &shmem0);
  ASSERT_EQ(Insert(base_ + 4 * kPage, 2 * kPage, 6, MapKind::kFile),
            InsertResult::kInserted);
  ASSERT_EQ(Insert(base_ + 2 * kPage, 2 * kPage, 6, MapKind::kFile),
            InsertResult::kInserted);  // joins the next
  ASSERT_EQ(Insert(base_ + 8 * kPage, 2 * kPage, 6, MapKind::kFile),
            InsertResult::kInserted);
  ASSERT_EQ(Insert(base_ + 6 * kPage, 2 * kPage, 6, MapKind::kFile),
            InsertResult::kInserted);  // joins both
  // Not alike: another group, another kind.
  ASSERT_EQ(Insert(base_ + 10 * kPage, kPage, 7, MapKind::kFile),
            InsertResult::kInserted);
  ASSERT_EQ(Insert(base_ + kPage, kPage, 6, MapKind::kCharged),
            InsertResult::kInserted);
  Piece p;
  ASSERT_TRUE(Lookup(base_ + 2 * kPage, &p));
  EXPECT_EQ(p.bytes, 8 * kPage);
  EXPECT_EQ(p.group, 6u);
  ASSERT_TRUE(Lookup(base_ + 10 * kPage, &p));
  EXPECT_EQ(p.group, 7u);
  EXPECT_EQ(Insert(base_ + 9 * kPage, 2 * kPage, 6, MapKind::kFile),
            InsertResult::kOverlaps);
  Recorded r;
  Remove(base_ + 2 * kPage, 2 * kPage, Record, &r);  // the front
  Remove(base_ + 8 * kPage, 2 * kPage, Record, &r);  // the back
  Remove(base_ + 5 * kPage, kPage, Record, &r);      // the middle
  ASSERT_EQ(r.pieces.size(), 3u);
  EXPECT_EQ(r.Bytes(MapKind::kFile), 5 * kPage);
  for (const Piece& piece : r.pieces) EXPECT_EQ(piece.group, 6u);
  int64_t file = 0, shmem = 0;
  MappedBytes(6, &file, &shmem);
  EXPECT_EQ(file - file0, static_cast<int64_t>(3 * kPage));
  ASSERT_TRUE(Lookup(base_ + 4 * kPage, &p));
  EXPECT_EQ(p.bytes, kPage);
  EXPECT_FALSE(Lookup(base_ + 5 * kPage, &p));
  ASSERT_TRUE(Lookup(base_ + 6 * kPage, &p));
  EXPECT_EQ(p.bytes, 2 * kPage);
  EXPECT_FALSE(Lookup(base_ + 3 * kPage, &p));
  ASSERT_TRUE(Lookup(base_ + kPage, &p));
  EXPECT_EQ(p.kind, MapKind::kCharged);
  EXPECT_EQ(p.bytes, kPage);
}

// Cutting a page out of the middle of a range takes a slot: cuts enough to
// grow the array several times (its reserve moves it) each land in the
// array as it is after the move.
TEST_F(MmapTrackerTest, CutsThatGrowTheArrayLandInTheMovedArray) {
  constexpr uintptr_t kPages = 2400;
  ASSERT_EQ(Insert(base_, kPages * kPage, 5, MapKind::kFile),
            InsertResult::kInserted);
  Recorded r;
  for (uintptr_t i = 1; i + 1 < kPages; i += 2) {
    Remove(base_ + i * kPage, kPage, Record, &r);
  }
  ASSERT_EQ(r.pieces.size(), 1199u);
  EXPECT_EQ(BytesIn(base_, kPages * kPage, MapKind::kFile, 5),
            (kPages - 1199) * kPage);
  for (uintptr_t i = 0; i + 2 < kPages; i += 2) {
    Piece p;
    ASSERT_TRUE(Lookup(base_ + i * kPage, &p)) << i;
    EXPECT_EQ(p.bytes, kPage) << i;
    EXPECT_FALSE(Lookup(base_ + (i + 1) * kPage, &p)) << i;
  }
}

TEST_F(MmapTrackerTest, MoveCarriesStateBothWays) {
  ASSERT_EQ(Insert(base_ + 100 * kPage, 8 * kPage, 4, MapKind::kCharged),
            InsertResult::kInserted);
  Recorded d;
  Decommit(base_ + 102 * kPage, 2 * kPage, Record, &d);
  ASSERT_EQ(Insert(base_ + 50 * kPage, kPage, 4, MapKind::kFile),
            InsertResult::kInserted);
  ASSERT_EQ(Insert(base_ + 300 * kPage, kPage, 4, MapKind::kShmem),
            InsertResult::kInserted);
  // Forward, past other ranges.
  ASSERT_TRUE(Move(base_ + 100 * kPage, 8 * kPage, base_ + 200 * kPage,
                   false, 4));
  EXPECT_EQ(BytesIn(base_ + 100 * kPage, 8 * kPage, MapKind::kCharged,
                    kNoGroup),
            0u);
  EXPECT_EQ(BytesIn(base_ + 200 * kPage, 8 * kPage, MapKind::kCharged, 4),
            6 * kPage);
  EXPECT_EQ(BytesIn(base_ + 202 * kPage, 2 * kPage, MapKind::kReserved, 4),
            2 * kPage);
  // Backward, before other ranges.
  ASSERT_TRUE(Move(base_ + 200 * kPage, 8 * kPage, base_ + 10 * kPage,
                   false, 4));
  EXPECT_EQ(BytesIn(base_ + 10 * kPage, 8 * kPage, MapKind::kCharged, 4),
            6 * kPage);
  Piece p;
  ASSERT_TRUE(Lookup(base_ + 50 * kPage, &p));
  EXPECT_EQ(p.kind, MapKind::kFile);
  ASSERT_TRUE(Lookup(base_ + 300 * kPage, &p));
  EXPECT_EQ(p.kind, MapKind::kShmem);
  // Keeping the old pieces: the copies' charged pages go to copy_group.
  ASSERT_TRUE(Move(base_ + 10 * kPage, 8 * kPage, base_ + 400 * kPage,
                   true, 7));
  EXPECT_EQ(BytesIn(base_ + 10 * kPage, 8 * kPage, MapKind::kCharged, 4),
            6 * kPage);
  EXPECT_EQ(BytesIn(base_ + 400 * kPage, 8 * kPage, MapKind::kCharged, 7),
            6 * kPage);
}

TEST_F(MmapTrackerTest, FileAndShmemTotalsPerGroup) {
  int64_t file0 = 0, shmem0 = 0;
  MappedBytes(9, &file0, &shmem0);
  ASSERT_EQ(Insert(base_, 3 * kPage, 9, MapKind::kFile),
            InsertResult::kInserted);
  ASSERT_EQ(Insert(base_ + 10 * kPage, 2 * kPage, 9, MapKind::kShmem),
            InsertResult::kInserted);
  int64_t file = 0, shmem = 0;
  MappedBytes(9, &file, &shmem);
  EXPECT_EQ(file - file0, static_cast<int64_t>(3 * kPage));
  EXPECT_EQ(shmem - shmem0, static_cast<int64_t>(2 * kPage));
  ASSERT_TRUE(Move(base_ + 10 * kPage, 2 * kPage, base_ + 20 * kPage, true,
                   9));
  MappedBytes(9, &file, &shmem);
  EXPECT_EQ(shmem - shmem0, static_cast<int64_t>(4 * kPage));
  Recorded r;
  Remove(base_ + kPage, kPage, Record, &r);
  MappedBytes(9, &file, &shmem);
  EXPECT_EQ(file - file0, static_cast<int64_t>(2 * kPage));
  // A new range over a tracked page is refused.
  EXPECT_EQ(Insert(base_, 2 * kPage, 9, MapKind::kCharged),
            InsertResult::kOverlaps);
}

}  // namespace
}  // namespace memgroup::internal::mmap_tracker
