// Tests of the job block's group table (src/counter/job_group_table.h) and
// its read side (src/counter/job_reader.h): claims within the table's size,
// figures under the sequence lock, freeing by the owner and with a dead
// member's slot, the request protocol, and a reader that takes only
// entries whose owner is a member it read.
#include "counter/job_group_table.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/sys.h"
#include "counter/job_reader.h"
#include "counter/job_slots.h"

namespace memgroup::internal {
namespace {

class JobGroupTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mg_group_table_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/job";
    JobParams p;
    p.slot_count = 4;
    p.group_entries = 3;
    p.command = "test job";
    int err = 0;
    ASSERT_EQ(JobCreate(path_.c_str(), p, &view_, &err), JobError::kOk) << err;
    bool reused = false;
    slot_ = JobClaimMember(view_, getpid(), 77, "me", &reused);
    ASSERT_NE(slot_, kNoMember);
  }
  void TearDown() override {
    JobDetach(&view_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  JobSnapshot Read(std::vector<JobGroupSnapshot>* groups) {
    JobSnapshot s;
    std::vector<JobMemberSnapshot> members(4);
    groups->resize(8);
    EXPECT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &s, members.data(),
                              4, groups->data(), 8),
              JobError::kOk);
    groups->resize(s.groups_stored);
    return s;
  }
  JobGroupFigures Fig(int64_t current) {
    JobGroupFigures f;
    f.current = current;
    f.peak = current * 2;
    f.max = 1 << 20;
    f.events[2] = 5;
    f.events_local[2] = 4;
    return f;
  }

  std::string dir_, path_;
  JobView view_;
  uint32_t slot_ = 0;
};

TEST_F(JobGroupTableTest, BlockSizeAndViewCountTheTable) {
  EXPECT_EQ(view_.group_entries, 3u);
  EXPECT_EQ(view_.map_bytes, JobBlockBytes(4, 0, 3));
  EXPECT_EQ(JobGroupOffset(4, 0) % 4096, 0u);
  JobView again;
  int err = 0;
  ASSERT_EQ(JobAttach(path_.c_str(), &again, &err), JobError::kOk);
  EXPECT_EQ(again.group_entries, 3u);
  JobDetach(&again);
}

TEST_F(JobGroupTableTest, ClaimUpdateReadAndFree) {
  const pid_t me = getpid();
  const uint32_t a = JobGroupClaim(view_, slot_, me, 77, 0x100000001ull,
                                   "/tenant/a", Fig(10));
  const uint32_t b =
      JobGroupClaim(view_, slot_, me, 77, 0x100000002ull, "/tenant/b", Fig(20));
  ASSERT_NE(a, kNoMember);
  ASSERT_NE(b, kNoMember);
  std::vector<JobGroupSnapshot> g;
  JobSnapshot s = Read(&g);
  ASSERT_EQ(s.groups, 2u);
  EXPECT_EQ(s.groups_skipped, 0u);
  EXPECT_STREQ(g[0].path, "/tenant/a");
  EXPECT_EQ(g[0].figures.current, 10);
  EXPECT_EQ(g[0].figures.peak, 20);
  EXPECT_EQ(g[0].figures.events[2], 5u);
  EXPECT_EQ(g[0].figures.events_local[2], 4u);
  EXPECT_EQ(g[1].group_id, 0x100000002ull);
  JobGroupUpdate(view_, a, Fig(30));
  s = Read(&g);
  EXPECT_EQ(g[0].figures.current, 30);
  // Another owner cannot free it; the owner can.
  EXPECT_FALSE(JobGroupFree(view_, a, me, 78));
  EXPECT_TRUE(JobGroupFree(view_, a, me, 77));
  s = Read(&g);
  ASSERT_EQ(s.groups, 1u);
  EXPECT_STREQ(g[0].path, "/tenant/b");
}

TEST_F(JobGroupTableTest, StatPressureFailcntAndTimeRoundTrip) {
  const pid_t me = getpid();
  JobGroupFigures f = Fig(10);
  f.failcnt = 3;
  for (uint32_t k = 0; k < kJobGroupStats; ++k) f.stat[k] = 1000 + k;
  for (uint32_t k = 0; k < kJobGroupPressureAvgs; ++k) {
    f.pressure_avg[k] = 100 * k + 7;
  }
  f.pressure_total_us[0] = 123456;
  f.pressure_total_us[1] = 654321;
  f.published_ns = 1;  // ignored: the table stamps its own time
  const int64_t before = MonotonicNanos();
  const uint32_t a = JobGroupClaim(view_, slot_, me, 77, 1, "/a", f);
  ASSERT_NE(a, kNoMember);
  std::vector<JobGroupSnapshot> g;
  Read(&g);
  ASSERT_EQ(g.size(), 1u);
  const JobGroupFigures& r = g[0].figures;
  EXPECT_EQ(r.failcnt, 3);
  for (uint32_t k = 0; k < kJobGroupStats; ++k) {
    EXPECT_EQ(r.stat[k], 1000 + static_cast<int64_t>(k)) << k;
  }
  for (uint32_t k = 0; k < kJobGroupPressureAvgs; ++k) {
    EXPECT_EQ(r.pressure_avg[k], 100 * k + 7) << k;
  }
  EXPECT_EQ(r.pressure_total_us[0], 123456u);
  EXPECT_EQ(r.pressure_total_us[1], 654321u);
  const int64_t claimed_at = r.published_ns;
  EXPECT_GE(claimed_at, before);
  EXPECT_LE(claimed_at, MonotonicNanos());
  // An update rewrites every new field and the time.
  f.failcnt = 4;
  f.stat[kGroupStatHeap] = -1;
  f.pressure_avg[5] = 10000;
  f.pressure_total_us[1] = 1;
  JobGroupUpdate(view_, a, f);
  Read(&g);
  EXPECT_EQ(g[0].figures.failcnt, 4);
  EXPECT_EQ(g[0].figures.stat[kGroupStatHeap], -1);
  EXPECT_EQ(g[0].figures.pressure_avg[5], 10000u);
  EXPECT_EQ(g[0].figures.pressure_total_us[1], 1u);
  EXPECT_GE(g[0].figures.published_ns, claimed_at);
  // The new fields are under the sequence lock too: a publication in
  // progress hides the whole entry.
  JobGroupEntryAt(view_, a)->seq.fetch_add(1, std::memory_order_relaxed);
  JobSnapshot s = Read(&g);
  EXPECT_EQ(s.groups, 0u);
  EXPECT_EQ(s.groups_skipped, 1u);
}

TEST_F(JobGroupTableTest, CrossingsRoundTripAtTheirOffsets) {
  const pid_t me = getpid();
  JobGroupFigures f = Fig(10);
  // A new claim publishes "none yet" until the owner says otherwise.
  const uint32_t a = JobGroupClaim(view_, slot_, me, 77, 1, "/a", f);
  ASSERT_NE(a, kNoMember);
  std::vector<JobGroupSnapshot> g;
  Read(&g);
  ASSERT_EQ(g.size(), 1u);
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    EXPECT_EQ(g[0].figures.crossings[k], 0u) << k;
  }
  EXPECT_EQ(g[0].figures.threshold_last[0], -1);
  EXPECT_EQ(g[0].figures.threshold_last[1], -1);
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    f.crossings[k] = (uint64_t{1} << 40) + k;
  }
  f.crossings[0] = UINT64_MAX;
  f.threshold_last[0] = 4 << 20;
  f.threshold_last[1] = INT64_MAX;
  JobGroupUpdate(view_, a, f);
  Read(&g);
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].figures.crossings[0], UINT64_MAX);
  for (uint32_t k = 1; k < kJobGroupCrossings; ++k) {
    EXPECT_EQ(g[0].figures.crossings[k], (uint64_t{1} << 40) + k) << k;
  }
  EXPECT_EQ(g[0].figures.threshold_last[0], 4 << 20);
  EXPECT_EQ(g[0].figures.threshold_last[1], INT64_MAX);
  // The bytes where the readers of other languages (the control tests)
  // find them: u64 counters at 632, i64 thresholds at 672, little-endian
  // as the machine's.
  const auto* raw = reinterpret_cast<const uint8_t*>(JobGroupEntryAt(view_, a));
  uint64_t c[kJobGroupCrossings];
  int64_t last[2];
  memcpy(c, raw + 632, sizeof(c));
  memcpy(last, raw + 672, sizeof(last));
  EXPECT_EQ(c[0], UINT64_MAX);
  EXPECT_EQ(c[4], (uint64_t{1} << 40) + 4);
  EXPECT_EQ(last[0], 4 << 20);
  EXPECT_EQ(last[1], INT64_MAX);
  // Past them, up to the entry's end, nothing is written (padding).
  for (size_t b = 688; b < kJobGroupEntryBytes; ++b) {
    EXPECT_EQ(raw[b], 0) << b;
  }
  // Under the sequence lock like every figure: a publication in progress
  // hides the entry.
  JobGroupEntryAt(view_, a)->seq.fetch_add(1, std::memory_order_relaxed);
  JobSnapshot s = Read(&g);
  EXPECT_EQ(s.groups, 0u);
  EXPECT_EQ(s.groups_skipped, 1u);
}

TEST_F(JobGroupTableTest, ARefreshRequestIsPostedAndAnswered) {
  const pid_t me = getpid();
  const uint32_t a = JobGroupClaim(view_, slot_, me, 77, 9, "/a", Fig(1));
  ASSERT_NE(a, kNoMember);
  JobGroupRequest post;
  post.mask = kGroupRefresh;
  const uint32_t seq =
      JobGroupPost(view_, a, me, 77, 9, post, view_.member(slot_));
  ASSERT_NE(seq, 0u);
  JobGroupRequest req;
  ASSERT_TRUE(JobGroupPending(view_, a, &req));
  EXPECT_EQ(req.mask, kGroupRefresh);  // within kGroupRequestAll
  JobGroupUpdate(view_, a, Fig(2));
  JobGroupAnswer(view_, a, req.seq, 0, 0, 0);
  int32_t err = -1;
  int64_t reclaimed = -1, purged = -1;
  ASSERT_TRUE(JobGroupAnswered(view_, a, seq, &err, &reclaimed, &purged));
  EXPECT_EQ(err, 0);
  std::vector<JobGroupSnapshot> g;
  Read(&g);
  EXPECT_EQ(g[0].figures.current, 2);
}

TEST_F(JobGroupTableTest, ReadingOneGroupAgainChecksItIsTheSameClaim) {
  const pid_t me = getpid();
  const uint32_t a = JobGroupClaim(view_, slot_, me, 77, 9, "/a", Fig(1));
  ASSERT_NE(a, kNoMember);
  std::vector<JobGroupSnapshot> g;
  Read(&g);
  ASSERT_EQ(g.size(), 1u);
  const JobGroupSnapshot was = g[0];
  JobGroupUpdate(view_, a, Fig(5));
  JobGroupSnapshot now;
  ASSERT_TRUE(JobReadGroupAgain(view_, was, &now));
  EXPECT_EQ(now.figures.current, 5);
  EXPECT_STREQ(now.path, "/a");
  EXPECT_GE(now.read_ns, now.figures.published_ns);
  // Torn figures: not taken.
  JobGroupEntryAt(view_, a)->seq.fetch_add(1, std::memory_order_relaxed);
  EXPECT_FALSE(JobReadGroupAgain(view_, was, &now));
  JobGroupEntryAt(view_, a)->seq.fetch_add(1, std::memory_order_relaxed);
  EXPECT_TRUE(JobReadGroupAgain(view_, was, &now));
  // An index beyond the view's table, or another claim of the entry.
  JobGroupSnapshot bad = was;
  bad.entry = view_.group_entries;
  EXPECT_FALSE(JobReadGroupAgain(view_, bad, &now));
  ASSERT_TRUE(JobGroupFree(view_, a, me, 77));
  EXPECT_FALSE(JobReadGroupAgain(view_, was, &now));
  ASSERT_EQ(JobGroupClaim(view_, slot_, me, 77, 10, "/a", Fig(1)), a);
  EXPECT_FALSE(JobReadGroupAgain(view_, was, &now));  // another group id
  ASSERT_TRUE(JobGroupFree(view_, a, me, 77));
  ASSERT_EQ(JobGroupClaim(view_, slot_, me, 77, 9, "/b", Fig(1)), a);
  EXPECT_FALSE(JobReadGroupAgain(view_, was, &now));  // another path
}

TEST_F(JobGroupTableTest, TableFullAndBadPathsAreRefused) {
  const pid_t me = getpid();
  EXPECT_EQ(JobGroupClaim(view_, slot_, me, 77, 1, "tenant", Fig(0)),
            kNoMember);
  EXPECT_EQ(JobGroupClaim(view_, slot_, me, 77, 1, "/a//b", Fig(0)),
            kNoMember);
  EXPECT_EQ(JobGroupClaim(view_, slot_, me, 77, 1, "/a/", Fig(0)), kNoMember);
  EXPECT_EQ(JobGroupClaim(view_, slot_, me, 77, 1, "/a b", Fig(0)), kNoMember);
  const std::string longest = "/" + std::string(kJobGroupPathBytes - 2, 'x');
  const std::string too_long = longest + "x";
  EXPECT_EQ(JobGroupClaim(view_, slot_, me, 77, 1, too_long.c_str(), Fig(0)),
            kNoMember);
  EXPECT_NE(JobGroupClaim(view_, slot_, me, 77, 1, longest.c_str(), Fig(0)),
            kNoMember);
  EXPECT_NE(JobGroupClaim(view_, slot_, me, 77, 2, "/b", Fig(0)), kNoMember);
  EXPECT_NE(JobGroupClaim(view_, slot_, me, 77, 3, "/c", Fig(0)), kNoMember);
  EXPECT_EQ(JobGroupClaim(view_, slot_, me, 77, 4, "/d", Fig(0)), kNoMember);
  JobGroupNoteFull(view_, me, 1);
  std::vector<JobGroupSnapshot> g;
  JobSnapshot s = Read(&g);
  EXPECT_EQ(s.groups, 3u);
  EXPECT_EQ(s.groups_full_pid, me);
  EXPECT_EQ(s.groups_full_count, 1u);
}

TEST_F(JobGroupTableTest, ReleasingTheMemberFreesItsEntries) {
  const pid_t me = getpid();
  ASSERT_NE(JobGroupClaim(view_, slot_, me, 77, 1, "/a", Fig(1)), kNoMember);
  ASSERT_NE(JobGroupClaim(view_, slot_, me, 77, 2, "/b", Fig(1)), kNoMember);
  ASSERT_TRUE(JobReleaseMember(view_, slot_, me));
  std::vector<JobGroupSnapshot> g;
  JobSnapshot s = Read(&g);
  EXPECT_EQ(s.groups, 0u);
  EXPECT_EQ(s.groups_skipped, 0u);  // freed, not merely hidden
  bool reused = false;
  const uint32_t slot = JobClaimMember(view_, me, 77, "me", &reused);
  ASSERT_NE(slot, kNoMember);
  EXPECT_NE(JobGroupClaim(view_, slot, me, 77, 3, "/c", Fig(1)), kNoMember);
}

TEST_F(JobGroupTableTest, ReaderSkipsEntriesOfNonMembersAndTornFigures) {
  const pid_t me = getpid();
  const uint32_t a = JobGroupClaim(view_, slot_, me, 77, 1, "/a", Fig(1));
  const uint32_t b = JobGroupClaim(view_, slot_, me + 1, 77, 2, "/b", Fig(1));
  const uint32_t c = JobGroupClaim(view_, slot_, me, 77, 3, "/c", Fig(1));
  ASSERT_NE(c, kNoMember);
  (void)a;
  (void)b;
  // A figure publication in progress (odd sequence) is never waited for.
  JobGroupEntryAt(view_, c)->seq.store(7, std::memory_order_relaxed);
  // A hostile path in place: no NUL in the field.
  JobGroupEntry* e = JobGroupEntryAt(view_, a);
  memset(e->path, 'x', sizeof(e->path));
  e->path[0] = '/';
  // And a hostile `used`, clamped.
  JobGroupAreaOf(view_)->used.store(0xffffffffu, std::memory_order_relaxed);
  std::vector<JobGroupSnapshot> g;
  JobSnapshot s = Read(&g);
  EXPECT_EQ(s.groups, 0u);
  EXPECT_EQ(s.groups_skipped, 3u);
}

TEST_F(JobGroupTableTest, RequestsAreAnsweredOnceByTheOwner) {
  const pid_t me = getpid();
  const uint32_t a = JobGroupClaim(view_, slot_, me, 77, 9, "/a", Fig(1));
  ASSERT_NE(a, kNoMember);
  JobGroupRequest req;
  EXPECT_FALSE(JobGroupPending(view_, a, &req));
  JobGroupRequest post;
  post.mask = kGroupSetMax | kGroupReclaim | (1u << 30);  // unknown bit
  post.value[kGroupValueMax] = 4096;
  post.value[kGroupValueReclaim] = 100;
  // The wrong group id: not posted.
  EXPECT_EQ(JobGroupPost(view_, a, me, 77, 8, post, view_.member(slot_)), 0u);
  const uint32_t seq =
      JobGroupPost(view_, a, me, 77, 9, post, view_.member(slot_));
  ASSERT_NE(seq, 0u);
  int32_t err = -1;
  int64_t reclaimed = -1, purged = -1;
  EXPECT_FALSE(JobGroupAnswered(view_, a, seq, &err, &reclaimed, &purged));
  ASSERT_TRUE(JobGroupPending(view_, a, &req));
  EXPECT_EQ(req.seq, seq);
  EXPECT_EQ(req.mask, kGroupSetMax | kGroupReclaim);
  EXPECT_EQ(req.value[kGroupValueMax], 4096);
  JobGroupAnswer(view_, a, req.seq, EINVAL, 50, -3);
  EXPECT_FALSE(JobGroupPending(view_, a, &req));
  ASSERT_TRUE(JobGroupAnswered(view_, a, seq, &err, &reclaimed, &purged));
  EXPECT_EQ(err, EINVAL);
  EXPECT_EQ(reclaimed, 50);
  EXPECT_EQ(purged, 0);  // clamped
  // A new owner of the entry does not see the old request.
  ASSERT_TRUE(JobGroupFree(view_, a, me, 77));
  JobGroupPost(view_, a, me, 77, 9, post, nullptr);  // not held: not posted
  const uint32_t again = JobGroupClaim(view_, slot_, me, 77, 10, "/z", Fig(1));
  EXPECT_FALSE(JobGroupPending(view_, again, &req));
}

TEST_F(JobGroupTableTest, ValidateRefusesATableThatDoesNotFit) {
  JobHeader h;
  memcpy(&h, view_.base, sizeof(h));
  uint32_t slots = 0, chunks = 0, entries = 0;
  h.group_entries = 4;  // one more than the file holds
  std::vector<uint8_t> copy(view_.base, view_.base + view_.map_bytes);
  memcpy(copy.data(), &h, sizeof(h));
  EXPECT_EQ(JobValidate(copy.data(), copy.size(), &slots, &chunks, &entries),
            JobError::kBadLayout);
  h.group_entries = kJobMaxGroupEntries + 1;
  h.total_bytes = JobBlockBytes(4, 0, kJobMaxGroupEntries + 1);
  memcpy(copy.data(), &h, sizeof(h));
  EXPECT_EQ(JobValidate(copy.data(), copy.size(), &slots, &chunks, &entries),
            JobError::kBadLayout);
}

}  // namespace
}  // namespace memgroup::internal
