// Tests of the job's `full` pressure (src/counter/job_pressure.h
// JobFull*): a job is fully stalled only while every member counted in it
// is, a member that never stalls keeps it at 0, a released member leaves
// the count (so the others may make the job fully stalled), an exec's new
// image is counted as not stalled, the supervisor's tick accrues an
// interval longer than the 2^30 us stamps can order, a block created just
// before the stamps wrap (its creation stamped), the averages, and
// concurrent members' changes (run under TSan in the tsan preset) leaving
// the counts exact and the total within the wall time; and the members'
// root stat bytes summed by the reader.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "base/sys.h"
#include "counter/job_pressure.h"
#include "counter/job_reader.h"
#include "counter/job_slots.h"
#include "job_block_test_util.h"

namespace memgroup::internal {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

class JobFullTest : public JobBlockTest {
 protected:
  void SetUp() override {
    JobBlockTest::SetUp();
    Create(16, kUnlimited, 4242);
  }
  uint32_t Index(const JobMember* m) const {
    return static_cast<uint32_t>(m - view_.member(0));
  }
  uint32_t Running() const {
    uint32_t r = 0, s = 0;
    JobFullMembers(view_.node(), &r, &s);
    return r;
  }
  uint32_t Stalled() const {
    uint32_t r = 0, s = 0;
    JobFullMembers(view_.node(), &r, &s);
    return s;
  }
};

TEST_F(JobFullTest, AClaimedMemberIsCountedAsRunning) {
  JobMember* a = Claim(100);
  EXPECT_EQ(a->full_flag.load(), kFullRunning);
  EXPECT_EQ(Running(), 1u);
  EXPECT_EQ(Stalled(), 0u);
  // Claims are counted once, whatever the order of later calls.
  JobFullJoin(view_.node(), a, MonotonicNanos());
  EXPECT_EQ(Running(), 1u);
}

TEST_F(JobFullTest, FullOnlyWhileEveryMemberIsFullyStalled) {
  JobMember* a = Claim(100);
  JobMember* b = Claim(200);
  JobNode* n = view_.node();
  const int64_t t0 = MonotonicNanos() + kSec;  // after the claims' stamps
  JobFullTick(n, t0);
  JobFullChange(n, a, true, t0);
  EXPECT_EQ(JobStallFullNs(n, t0 + 50 * kMs), 0);  // b still runs
  JobFullChange(n, b, true, t0 + 100 * kMs);
  EXPECT_EQ(Stalled(), 2u);
  EXPECT_EQ(Running(), 0u);
  EXPECT_EQ(JobStallFullNs(n, t0 + 150 * kMs), 50 * kMs);  // in progress
  JobFullChange(n, a, false, t0 + 300 * kMs);
  EXPECT_EQ(JobStallFullNs(n, t0 + 400 * kMs), 200 * kMs);
  JobFullChange(n, b, false, t0 + 500 * kMs);
  EXPECT_EQ(JobStallFullNs(n, t0 + 900 * kMs), 200 * kMs);
  EXPECT_EQ(Running(), 2u);
  // A change repeated (the flag already there) does nothing.
  JobFullChange(n, b, false, t0 + 600 * kMs);
  EXPECT_EQ(Running(), 2u);
}

TEST_F(JobFullTest, AMemberThatNeverStallsKeepsFullAtZero) {
  JobMember* a = Claim(100);
  Claim(200);  // idle: never stalls
  JobNode* n = view_.node();
  const int64_t t0 = MonotonicNanos() + kSec;  // after the claims' stamps
  JobFullTick(n, t0);
  JobFullChange(n, a, true, t0);
  JobFullTick(n, t0 + 200 * kMs);
  JobFullChange(n, a, false, t0 + 2 * kSec);
  EXPECT_EQ(JobStallFullNs(n, t0 + 3 * kSec), 0);
}

TEST_F(JobFullTest, AReleasedMemberLeavesTheCount) {
  JobMember* a = Claim(100);
  JobMember* b = Claim(200);
  JobNode* n = view_.node();
  JobFullChange(n, a, true, MonotonicNanos());
  // b exits: a alone is counted, and fully stalled.
  ASSERT_TRUE(JobReleaseMember(view_, Index(b), 200));
  EXPECT_EQ(b->full_flag.load(), kFullNone);
  EXPECT_EQ(Running(), 0u);
  EXPECT_EQ(Stalled(), 1u);
  const int64_t t = MonotonicNanos();
  EXPECT_GE(JobStallFullNs(n, t + 100 * kMs), 100 * kMs - kMs);
  // a exec's while stalled: its new image rejoins the slot, not stalled.
  bool reused = false;
  ASSERT_NE(JobClaimMember(view_, 100, 1, "new", &reused), kNoMember);
  EXPECT_TRUE(reused);
  EXPECT_EQ(a->full_flag.load(), kFullRunning);
  EXPECT_EQ(Running(), 1u);
  EXPECT_EQ(Stalled(), 0u);
  // a dies stalled: its release ends the interval, and an empty job is
  // never fully stalled.
  JobFullChange(n, a, true, MonotonicNanos());
  ASSERT_TRUE(JobReleaseMember(view_, Index(a), 100));
  EXPECT_EQ(Running(), 0u);
  EXPECT_EQ(Stalled(), 0u);
  const int64_t done = JobStallFullNs(n, MonotonicNanos());
  EXPECT_EQ(JobStallFullNs(n, MonotonicNanos() + 10 * kSec), done);
}

TEST_F(JobFullTest, TheTickAccruesIntervalsLongerThanTheStamps) {
  JobMember* a = Claim(100);
  JobNode* n = view_.node();
  const int64_t t0 = MonotonicNanos() + kSec;  // after the claims' stamps
  JobFullChange(n, a, true, t0);
  // 40 minutes fully stalled (more than 2^30 us), ticked every 200 ms as
  // the supervisor does.
  const int64_t span = 40 * 60 * kSec;
  for (int64_t t = t0; t <= t0 + span; t += 200 * kMs) JobFullTick(n, t);
  EXPECT_EQ(JobStallFullNs(n, t0 + span), span);
  JobFullChange(n, a, false, t0 + span + 100 * kMs);
  EXPECT_EQ(JobStallFullNs(n, t0 + span + kSec), span + 100 * kMs);
}

// The stamp's clock: CLOCK_MONOTONIC microseconds modulo 2^30.
constexpr int64_t kStampWrapNs = (int64_t{1} << kJobFullTimeBits) * 1000;

TEST_F(JobFullTest, TheCreatorStampsTheCreationTime) {
  const int64_t now = MonotonicNanos();
  const uint64_t stamp =
      view_.node()->full_state.load() >> (2 * kJobFullCountBits);
  const uint64_t now_us = static_cast<uint64_t>(now / 1000) &
                          ((uint64_t{1} << kJobFullTimeBits) - 1);
  // Created by the fixture a moment ago (modulo 2^30 us).
  const uint64_t age =
      (now_us - stamp) & ((uint64_t{1} << kJobFullTimeBits) - 1);
  EXPECT_LT(age, 10'000'000u) << "stamp " << stamp << " now " << now_us;
}

TEST_F(JobFullTest, AJobCreatedJustBeforeTheStampsWrapCountsAtOnce) {
  // 10 s before the clock's microseconds next pass a multiple of 2^30
  // (at least 10 s from now): a zero stamp would be taken as later than
  // every change until then, and nothing would be counted.
  const int64_t after = MonotonicNanos() + 20 * kSec;
  const int64_t wrap = (after / kStampWrapNs + 1) * kStampWrapNs;
  const int64_t c = wrap - 10 * kSec;
  JobNode* n = view_.node();
  JobFullInit(n, c);
  JobMember* m = view_.member(5);  // never claimed: its flag is kFullNone
  JobFullJoin(n, m, c);
  JobFullChange(n, m, true, c + kSec);
  EXPECT_EQ(JobStallFullNs(n, c + 6 * kSec), 5 * kSec);
  JobFullChange(n, m, false, c + 7 * kSec);
  // Across the wrap, ticked as the supervisor does.
  JobFullChange(n, m, true, c + 8 * kSec);
  for (int64_t t = c + 8 * kSec; t <= c + 14 * kSec; t += 200 * kMs) {
    JobFullTick(n, t);
  }
  EXPECT_EQ(JobStallFullNs(n, c + 14 * kSec), 12 * kSec);
}

TEST_F(JobFullTest, AChangeDelayedAfterItsClockReadNeverCountsTwice) {
  JobMember* a = Claim(100);
  JobMember* b = Claim(200);
  JobNode* n = view_.node();
  const int64_t t0 = MonotonicNanos() + kSec;  // after the claims' stamps
  JobFullChange(n, a, true, t0);
  JobFullChange(n, b, true, t0 + 100 * kMs);
  JobFullChange(n, a, false, t0 + 300 * kMs);  // 200 ms full
  // a's next change read its clock before the previous one (delayed
  // between its read and its CAS): its stamp is the later one.
  JobFullChange(n, a, true, t0 + 250 * kMs);
  JobFullChange(n, a, false, t0 + 400 * kMs);  // 100 ms more
  EXPECT_EQ(JobStallFullNs(n, t0 + kSec), 300 * kMs);
}

TEST_F(JobFullTest, TheAveragesRiseUnderFullAndTheReaderTakesThem) {
  JobMember* a = Claim(100);
  JobNode* n = view_.node();
  JobPressureAverages avg;
  const int64_t t0 = MonotonicNanos();
  JobPressureUpdate(n, &avg, t0);
  JobFullChange(n, a, true, t0);
  JobStallBegin(n, a, t0);
  for (int i = 1; i <= 50; ++i) JobPressureUpdate(n, &avg, t0 + i * 200 * kMs);
  // 10 s fully stalled: avg10 is 1 - 1/e, about 63%.
  EXPECT_GT(n->full_avg[0].load(), 6000u);
  EXPECT_LT(n->full_avg[0].load(), 6600u);
  EXPECT_EQ(n->full_avg[0].load(), n->some_avg[0].load());
  std::vector<JobMemberSnapshot> ms(4);
  JobSnapshot snap;
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap, ms.data(), 4),
            JobError::kOk);
  EXPECT_EQ(snap.full_avg[0], n->full_avg[0].load());
  EXPECT_GE(snap.full_ns, 10 * kSec);
  EXPECT_EQ(snap.full_stalled, 1u);
  EXPECT_EQ(snap.full_running, 0u);
}

TEST_F(JobFullTest, ConcurrentMembersKeepTheCountsExact) {
  constexpr int kThreads = 4;
  std::vector<JobMember*> m;
  for (int k = 0; k < kThreads; ++k) m.push_back(Claim(100 + k));
  JobNode* n = view_.node();
  const int64_t t0 = MonotonicNanos();
  std::atomic<bool> stop{false};
  // The averager's tick runs meanwhile, as the supervisor's.
  std::thread ticker([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      JobFullTick(n, MonotonicNanos());
    }
  });
  std::vector<std::thread> ts;
  for (int k = 0; k < kThreads; ++k) {
    ts.emplace_back([&, k] {
      for (int i = 0; i < 20000; ++i) {
        JobFullChange(n, m[k], true, MonotonicNanos());
        JobFullChange(n, m[k], false, MonotonicNanos());
      }
    });
  }
  // Never more than the wall time (each instant once), with 100 ms of
  // slack for an interval caught between a read's two loads.
  for (int i = 0; i < 1000; ++i) {
    const int64_t now = MonotonicNanos();
    EXPECT_LE(JobStallFullNs(n, now), now - t0 + 100 * kMs);
  }
  for (auto& t : ts) t.join();
  stop.store(true, std::memory_order_relaxed);
  ticker.join();
  EXPECT_EQ(Running(), static_cast<uint32_t>(kThreads));
  EXPECT_EQ(Stalled(), 0u);
  const int64_t end = MonotonicNanos();
  const int64_t total = JobStallFullNs(n, end);
  EXPECT_LE(total, end - t0);
  EXPECT_GE(total, 0);
  // Every member stalled at once for 50 ms, from four threads: counted.
  std::vector<std::thread> all;
  for (int k = 0; k < kThreads; ++k) {
    all.emplace_back([&, k] { JobFullChange(n, m[k], true, MonotonicNanos()); });
  }
  for (auto& t : all) t.join();
  const int64_t full_from = MonotonicNanos();
  EXPECT_EQ(Stalled(), static_cast<uint32_t>(kThreads));
  usleep(50'000);
  JobFullChange(n, m[0], false, MonotonicNanos());
  EXPECT_GE(JobStallFullNs(n, MonotonicNanos()),
            total + (MonotonicNanos() - full_from) - 60 * kMs);
}

TEST_F(JobFullTest, TheReaderSumsTheMembersRootStat) {
  JobMember* a = Claim(100);
  JobMember* b = Claim(200);
  Claim(300);  // has not published yet
  const int64_t sa[kJobRootStats] = {8 << 20, 4096, 0,     65536, 131072,
                                     7,       1 << 20, 65536, 4096};
  const int64_t sb[kJobRootStats] = {3 << 20, 0, 12, 0, 131072, 0, 0, 0, 8192};
  JobPublishRootStat(a, sa, 5 * kSec);
  JobPublishRootStat(b, sb, 4 * kSec);
  std::vector<JobMemberSnapshot> ms(1);  // the sums cover unstored members
  JobSnapshot snap;
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap, ms.data(), 1),
            JobError::kOk);
  ASSERT_EQ(snap.members, 3u);
  for (uint32_t k = 0; k < kJobRootStats; ++k) {
    EXPECT_EQ(snap.stat[k], sa[k] + sb[k]) << k;
  }
  EXPECT_EQ(ms[0].stat[kRootStatHeap], 8 << 20);
  EXPECT_EQ(ms[0].stat_ns, 5 * kSec);
  EXPECT_EQ(snap.stat_oldest_ns, 0);  // member 300 published none
  // Hostile figures saturate, never wrap.
  const int64_t huge[kJobRootStats] = {INT64_MAX, INT64_MIN, 0, 0, 0,
                                       0,         INT64_MAX, 0, INT64_MIN};
  JobPublishRootStat(a, huge, 6 * kSec);
  JobPublishRootStat(b, huge, 6 * kSec);
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap, ms.data(), 1),
            JobError::kOk);
  EXPECT_EQ(snap.stat[kRootStatHeap], INT64_MAX);
  EXPECT_EQ(snap.stat[kRootStatMmap], INT64_MIN);
  EXPECT_EQ(snap.stat[kRootStatEngineFree], INT64_MAX);
  EXPECT_EQ(snap.stat[kRootStatEngineSlack], INT64_MIN);
  // A new image of a slot starts at none.
  bool reused = false;
  ASSERT_NE(JobClaimMember(view_, 100, 1, "new", &reused), kNoMember);
  int64_t after[kJobRootStats];
  EXPECT_EQ(JobReadRootStat(a, after), 0);
  EXPECT_EQ(after[kRootStatHeap], 0);
  EXPECT_EQ(after[kRootStatEngineFree], 0);
}

}  // namespace
}  // namespace memgroup::internal
