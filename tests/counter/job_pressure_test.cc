// Tests of the job's pressure (src/counter/job_pressure.h) and of the
// member slot's root crossings (job_slots.h JobPublishRootCrossings, read
// by job_reader.h): overlapping stalls of several members counted once,
// a member's begin and end counted once each, a released or rejoining
// member's period ended, the running averages rising under a stall and
// decaying after it, the block version 11 layout, and root crossings read
// whole, reset for a new image, and skipped when torn.
#include "counter/job_pressure.h"
#include "base/sys.h"
#include "counter/job_reader.h"
#include "counter/job_slots.h"
#include "job_block_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace memgroup::internal {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kSec = 1'000'000'000;

class JobPressureTest : public JobBlockTest {
 protected:
  void SetUp() override {
    JobBlockTest::SetUp();
    Create(8, kUnlimited, 4242);
  }
};

TEST(JobLayoutTest, Version11Offsets) {
  EXPECT_EQ(kJobVersion, 11u);
  EXPECT_EQ(kJobHeaderBytes, 896u);
  EXPECT_EQ(sizeof(JobNode), 384u);
  EXPECT_EQ(sizeof(JobMember), 320u);
  EXPECT_EQ(offsetof(JobMember, root_crossings), 136u);
  EXPECT_EQ(offsetof(JobMember, root_stat), 192u);
  EXPECT_EQ(offsetof(JobMember, full_flag), 248u);
  EXPECT_EQ(offsetof(JobMember, root_stat_engine), 256u);
  EXPECT_EQ(offsetof(JobGroupEntry, stat_engine), 688u);
  EXPECT_EQ(offsetof(JobNode, some_avg), 272u);
  EXPECT_EQ(offsetof(JobNode, full_state), 296u);
  EXPECT_EQ(offsetof(JobNode, full_avg), 312u);
  EXPECT_EQ(offsetof(JobNode, events), 192u);
  EXPECT_EQ(offsetof(JobNode, events_local), 328u);
  EXPECT_EQ(JobBlockBytes(2), 896u + 2 * 320u);
}

TEST_F(JobPressureTest, OverlappingMembersCountEachInstantOnce) {
  JobMember* a = Claim(100);
  JobMember* b = Claim(200);
  JobNode* n = view_.node();
  const int64_t t0 = 1000 * kSec;
  JobStallBegin(n, a, t0);
  JobStallBegin(n, b, t0 + 100 * kMs);  // overlaps a's
  EXPECT_EQ(JobStalledMembers(n), 2u);
  EXPECT_EQ(JobStallSomeNs(n, t0 + 200 * kMs), 200 * kMs);  // in progress
  JobStallEnd(n, a, t0 + 300 * kMs);
  EXPECT_EQ(JobStalledMembers(n), 1u);
  JobStallEnd(n, b, t0 + 500 * kMs);
  EXPECT_EQ(JobStalledMembers(n), 0u);
  EXPECT_EQ(JobStallSomeNs(n, t0 + 900 * kMs), 500 * kMs);
  // A later period adds to it.
  JobStallBegin(n, b, t0 + 1 * kSec);
  JobStallEnd(n, b, t0 + 1 * kSec + 250 * kMs);
  EXPECT_EQ(JobStallSomeNs(n, t0 + 2 * kSec), 750 * kMs);
}

TEST_F(JobPressureTest, AMemberCountsOnceAndEndsOnce) {
  JobMember* a = Claim(100);
  JobNode* n = view_.node();
  const int64_t t0 = 50 * kSec;
  JobStallBegin(n, a, t0);
  JobStallBegin(n, a, t0 + kMs);  // already counted: nothing
  EXPECT_EQ(JobStalledMembers(n), 1u);
  JobStallEnd(n, a, t0 + 10 * kMs);
  JobStallEnd(n, a, t0 + 20 * kMs);  // not counted: nothing
  EXPECT_EQ(JobStalledMembers(n), 0u);
  EXPECT_EQ(JobStallSomeNs(n, t0 + kSec), 10 * kMs);
}

TEST_F(JobPressureTest, ReleasingAStalledMemberEndsItsPeriod) {
  JobMember* a = Claim(100);
  JobMember* b = Claim(200);
  JobNode* n = view_.node();
  JobStallBegin(n, a, MonotonicNanos());
  JobStallBegin(n, b, MonotonicNanos());
  // a dies stalled: its release takes it out of the count.
  const uint32_t ia = static_cast<uint32_t>(a - view_.member(0));
  ASSERT_TRUE(JobReleaseMember(view_, ia, 100));
  EXPECT_EQ(JobStalledMembers(n), 1u);
  EXPECT_EQ(a->stalling.load(), 0u);
  // b exec's while stalled: its new image rejoins the slot, not stalled.
  bool reused = false;
  ASSERT_NE(JobClaimMember(view_, 200, 1, "new", &reused), kNoMember);
  EXPECT_TRUE(reused);
  EXPECT_EQ(JobStalledMembers(n), 0u);
  EXPECT_EQ(b->stalling.load(), 0u);
}

TEST_F(JobPressureTest, PeriodsWrapModulo44BitMicroseconds) {
  JobMember* a = Claim(100);
  JobNode* n = view_.node();
  // A start just below 2^44 us and an end just above it.
  const int64_t start = ((int64_t{1} << 44) - 1000) * 1000;
  JobStallBegin(n, a, start);
  JobStallEnd(n, a, start + 3 * kMs);
  EXPECT_EQ(JobStallSomeNs(n, start + kSec), 3 * kMs);
}

TEST_F(JobPressureTest, APeriodStartedAfterTheReadersClockCountsZero) {
  JobMember* a = Claim(100);
  JobNode* n = view_.node();
  const int64_t t0 = 500 * kSec;
  JobStallBegin(n, a, t0 + 2 * kMs);  // stamped after the reader's clock
  EXPECT_EQ(JobStallSomeNs(n, t0), 0);
  EXPECT_EQ(JobStallSomeNs(n, t0 + 5 * kMs), 3 * kMs);
  JobStallEnd(n, a, t0 + 5 * kMs);
  EXPECT_EQ(JobStallSomeNs(n, t0 + 4 * kMs), 3 * kMs);
}

TEST_F(JobPressureTest, AveragesRiseUnderAStallAndDecayAfter) {
  JobMember* a = Claim(100);
  JobNode* n = view_.node();
  JobPressureAverages avg;
  int64_t t = 10 * kSec;
  JobPressureUpdate(n, &avg, t);
  JobStallBegin(n, a, t);
  for (int k = 0; k < 10; ++k) {  // 2 s stalled, sampled every 200 ms
    t += 200 * kMs;
    JobPressureUpdate(n, &avg, t);
  }
  JobStallEnd(n, a, t);
  // The kernel's formula: 1 - e^(-2/10) of the time, in hundredths of %.
  const double want10 = (1 - std::exp(-0.2)) * 10000;
  EXPECT_NEAR(n->some_avg[0].load(), want10, 2);
  EXPECT_NEAR(n->some_avg[1].load(), (1 - std::exp(-2.0 / 60)) * 10000, 2);
  const uint32_t peak = n->some_avg[0].load();
  t += 3 * kSec;  // idle: decays by e^(-0.3)
  JobPressureUpdate(n, &avg, t);
  EXPECT_NEAR(n->some_avg[0].load(), peak * std::exp(-0.3), 2);
  EXPECT_GT(n->some_avg[0].load(), 0u);
}

TEST_F(JobPressureTest, ConcurrentMembersNeverLoseAPeriodEnd) {
  constexpr int kThreads = 4;
  std::vector<JobMember*> m;
  for (int k = 0; k < kThreads; ++k) m.push_back(Claim(100 + k));
  JobNode* n = view_.node();
  const int64_t t0 = MonotonicNanos();
  std::vector<std::thread> ts;
  for (int k = 0; k < kThreads; ++k) {
    ts.emplace_back([&, k] {
      for (int i = 0; i < 20000; ++i) {
        JobStallBegin(n, m[k], MonotonicNanos());
        JobStallEnd(n, m[k], MonotonicNanos());
      }
    });
  }
  // The union of the periods is never more than the wall time (counted
  // once per instant: the sum of the four threads' would be up to 4x);
  // 100 ms of slack for a period caught between a read's two loads.
  for (int i = 0; i < 1000; ++i) {
    const int64_t now = MonotonicNanos();
    EXPECT_LE(JobStallSomeNs(n, now), now - t0 + 100 * kMs);
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(JobStalledMembers(n), 0u);
  EXPECT_EQ(n->stall_state.load(), 0u);
  const int64_t end = MonotonicNanos();
  EXPECT_LE(JobStallSomeNs(n, end), end - t0);
  EXPECT_GT(JobStallSomeNs(n, end), 0);
}

TEST_F(JobPressureTest, RootCrossingsAreReadWholeAndResetForANewImage) {
  JobMember* a = Claim(100);
  const uint64_t c[kJobCrossings] = {7, 6, 0, 1, UINT64_MAX};
  const int64_t last[2] = {5 << 20, -1};
  JobPublishRootCrossings(a, c, last);
  std::vector<JobMemberSnapshot> ms(4);
  JobSnapshot snap;
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap, ms.data(), 4),
            JobError::kOk);
  ASSERT_EQ(snap.members_stored, 1u);
  EXPECT_TRUE(ms[0].root_whole);
  for (uint32_t k = 0; k < kJobCrossings; ++k) {
    EXPECT_EQ(ms[0].root_crossings[k], c[k]);
  }
  EXPECT_EQ(ms[0].root_threshold_last[0], 5 << 20);
  EXPECT_EQ(ms[0].root_threshold_last[1], -1);
  // A torn publication (odd count) is not taken.
  a->root_seq.fetch_add(1);
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap, ms.data(), 4),
            JobError::kOk);
  EXPECT_FALSE(ms[0].root_whole);
  EXPECT_EQ(ms[0].root_crossings[0], 0u);
  EXPECT_EQ(ms[0].root_threshold_last[0], -1);
  a->root_seq.fetch_add(1);
  // An exec's new image rejoins the slot: none.
  bool reused = false;
  ASSERT_NE(JobClaimMember(view_, 100, 1, "new", &reused), kNoMember);
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap, ms.data(), 4),
            JobError::kOk);
  EXPECT_TRUE(ms[0].root_whole);
  EXPECT_EQ(ms[0].root_crossings[0], 0u);
  EXPECT_EQ(ms[0].root_crossings[4], 0u);
  EXPECT_EQ(ms[0].root_threshold_last[0], -1);
}

TEST_F(JobPressureTest, TheReaderTakesTheJobsPressure) {
  JobMember* a = Claim(100);
  JobNode* n = view_.node();
  JobStallBegin(n, a, MonotonicNanos() - 2 * kSec);  // stalled for 2 s
  n->some_avg[0].store(1813);
  n->some_avg[2].store(0xffffffffu);  // a hostile value: shown as it is
  std::vector<JobMemberSnapshot> ms(4);
  JobSnapshot snap;
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap, ms.data(), 4),
            JobError::kOk);
  EXPECT_GE(snap.some_ns, 2 * kSec);
  EXPECT_LT(snap.some_ns, 60 * kSec);
  EXPECT_EQ(snap.stalled_members, 1u);
  EXPECT_EQ(snap.some_avg[0], 1813u);
  EXPECT_EQ(snap.some_avg[2], 0xffffffffu);
}

}  // namespace
}  // namespace memgroup::internal
