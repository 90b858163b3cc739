// JobRaiseEvent (counter/job_events.h) across the levels of nested jobs:
// hierarchical counters at the refusing level and every level enclosing
// it, the local counter at the refusing level only, exact under
// concurrent raisers, and the reader's copy of both (counter/job_reader.h).
#include "counter/job_events.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "counter/job_reader.h"
#include "job_block_test_util.h"

namespace memgroup::internal {
namespace {

class JobEventsTest : public JobBlockTest {
 protected:
  // A job of `depth` nested in the previous one (the fixture's block is
  // depth 0).
  void CreateNested(const std::string& name, const std::string& parent,
                    uint32_t depth, JobView* v) {
    JobParams p;
    p.slot_count = 4;
    p.parent_path = parent.c_str();
    p.depth = depth;
    int err = 0;
    const std::string path = dir_ + "/" + name;
    ASSERT_EQ(JobCreate(path.c_str(), p, v, &err), JobError::kOk) << err;
    paths_.push_back(path);
  }
  void TearDown() override {
    for (const std::string& p : paths_) unlink(p.c_str());
    JobBlockTest::TearDown();
  }
  static int64_t Events(const JobView& v, uint32_t e) {
    return v.node()->events[e].load();
  }
  static int64_t Local(const JobView& v, uint32_t e) {
    return v.node()->events_local[e].load();
  }
  std::vector<std::string> paths_;
};

TEST_F(JobEventsTest, CountsAtTheRefusingLevelAndEveryEnclosingOne) {
  Create(4);
  JobView mid, inner;
  CreateNested("mid", path_, 1, &mid);
  CreateNested("inner", dir_ + "/mid", 2, &inner);
  // The charge walk of a member of the innermost job: inner, mid, outer.
  JobLink outer_link{view_.node(), nullptr, nullptr, nullptr, 0};
  JobLink mid_link{mid.node(), nullptr, nullptr, &outer_link, 1};
  JobLink inner_link{inner.node(), nullptr, nullptr, &mid_link, 2};

  JobRaiseEvent(&inner_link, kJobEventMax);
  JobRaiseEvent(&inner_link, kJobEventOom);
  JobRaiseEvent(&mid_link, kJobEventMax);
  JobRaiseEvent(&outer_link, kJobEventHigh);
  JobRaiseEvent(&inner_link, kJobEventOomKill);

  // Hierarchical: each level's own plus those of the levels inside it.
  EXPECT_EQ(Events(inner, kJobEventMax), 1);
  EXPECT_EQ(Events(mid, kJobEventMax), 2);
  EXPECT_EQ(Events(view_, kJobEventMax), 2);
  EXPECT_EQ(Events(inner, kJobEventOom), 1);
  EXPECT_EQ(Events(mid, kJobEventOom), 1);
  EXPECT_EQ(Events(view_, kJobEventOom), 1);
  EXPECT_EQ(Events(inner, kJobEventOomKill), 1);
  EXPECT_EQ(Events(view_, kJobEventOomKill), 1);
  EXPECT_EQ(Events(inner, kJobEventHigh), 0);
  EXPECT_EQ(Events(mid, kJobEventHigh), 0);
  EXPECT_EQ(Events(view_, kJobEventHigh), 1);
  // Local: the refusing level's only.
  EXPECT_EQ(Local(inner, kJobEventMax), 1);
  EXPECT_EQ(Local(mid, kJobEventMax), 1);
  EXPECT_EQ(Local(view_, kJobEventMax), 0);
  EXPECT_EQ(Local(inner, kJobEventOom), 1);
  EXPECT_EQ(Local(mid, kJobEventOom), 0);
  EXPECT_EQ(Local(view_, kJobEventOom), 0);
  EXPECT_EQ(Local(view_, kJobEventHigh), 1);
  EXPECT_EQ(Local(view_, kJobEventOomKill), 0);

  // The reader copies both.
  JobSnapshot s;
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &s, nullptr, 0),
            JobError::kOk);
  EXPECT_EQ(s.events[kJobEventMax], 2);
  EXPECT_EQ(s.events_local[kJobEventMax], 0);
  EXPECT_EQ(s.events[kJobEventHigh], 1);
  EXPECT_EQ(s.events_local[kJobEventHigh], 1);
  ASSERT_EQ(JobReadSnapshot(mid.base, mid.map_bytes, &s, nullptr, 0),
            JobError::kOk);
  EXPECT_EQ(s.events[kJobEventMax], 2);
  EXPECT_EQ(s.events_local[kJobEventMax], 1);
  JobDetach(&mid);
  JobDetach(&inner);
}

TEST_F(JobEventsTest, ConcurrentRaisesAreAllCounted) {
  Create(4);
  JobView inner;
  CreateNested("inner", path_, 1, &inner);
  JobLink outer_link{view_.node(), nullptr, nullptr, nullptr, 0};
  JobLink inner_link{inner.node(), nullptr, nullptr, &outer_link, 1};
  constexpr int kThreads = 4;
  constexpr int kRaises = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Half the threads refuse at the inner level, half at the outer one.
    const JobLink* at = t % 2 == 0 ? &inner_link : &outer_link;
    threads.emplace_back([at] {
      for (int i = 0; i < kRaises; ++i) JobRaiseEvent(at, kJobEventMax);
    });
  }
  for (std::thread& t : threads) t.join();
  const int64_t half = int64_t{kThreads / 2} * kRaises;
  EXPECT_EQ(Events(inner, kJobEventMax), half);
  EXPECT_EQ(Local(inner, kJobEventMax), half);
  EXPECT_EQ(Events(view_, kJobEventMax), 2 * half);
  EXPECT_EQ(Local(view_, kJobEventMax), half);
  JobDetach(&inner);
}

TEST_F(JobEventsTest, IgnoresANullLinkAnUnknownEventAndALevelWithoutNode) {
  Create(4);
  JobLink outer_link{view_.node(), nullptr, nullptr, nullptr, 0};
  JobLink gap{nullptr, nullptr, nullptr, &outer_link, 1};
  JobRaiseEvent(nullptr, kJobEventMax);
  JobRaiseEvent(&outer_link, kJobEventCount);
  JobRaiseEvent(&gap, kJobEventMax);
  for (uint32_t e = 0; e < kJobEventCount; ++e) {
    EXPECT_EQ(Events(view_, e), 0) << e;
    EXPECT_EQ(Local(view_, e), 0) << e;
  }
}

}  // namespace
}  // namespace memgroup::internal
