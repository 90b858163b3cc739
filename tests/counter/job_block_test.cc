// Tests of the job control block (src/counter/job_block.h): creation and
// validation of hostile files, the counter tree's uplink into the job node
// with the member-clamped uncharge, the stock area, nested blocks, release
// of dead members and control requests (member slots' claims, exec and
// spawn marks: job_marks_test.cc).
#include "counter/job_block.h"


#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/sys.h"
#include "counter/charge_stock.h"
#include "counter/job_slots.h"
#include "counter/job_stock_area.h"
#include "job_block_test_util.h"
#include "tree_fixture.h"

namespace memgroup::internal {
namespace {

TEST_F(JobBlockTest, CreateWritesAValidOwnerOnlyBlock) {
  Create(8, 1 << 20);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), JobBlockBytes(8));
  JobView v;
  ASSERT_EQ(Attach(&v), JobError::kOk);
  EXPECT_EQ(v.slot_count, 8u);
  EXPECT_EQ(v.node()->counter.max.load(), 1 << 20);
  EXPECT_STREQ(v.header()->command, "test job");
  JobDetach(&v);
}

TEST_F(JobBlockTest, CreateRefusesAnExistingFile) {
  Create();
  JobView v;
  JobParams p;
  int err = 0;
  EXPECT_EQ(JobCreate(path_.c_str(), p, &v, &err), JobError::kExists);
}

TEST_F(JobBlockTest, AttachRefusesASymlink) {
  Create();
  ASSERT_EQ(symlink(path_.c_str(), (dir_ + "/link").c_str()), 0);
  JobView v;
  int err = 0;
  EXPECT_EQ(JobAttach((dir_ + "/link").c_str(), &v, &err),
            JobError::kNotRegular);
}

TEST_F(JobBlockTest, AttachRefusesAWiderMode) {
  Create();
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  JobView v;
  EXPECT_EQ(Attach(&v), JobError::kBadMode);
}

TEST_F(JobBlockTest, AttachRefusesAMissingFileOrDirectory) {
  JobView v;
  EXPECT_EQ(Attach(&v), JobError::kOpen);
  int err = 0;
  EXPECT_NE(JobAttach(dir_.c_str(), &v, &err), JobError::kOk);
}

TEST_F(JobBlockTest, AttachValidatesTheHeader) {
  Create(8);
  uint64_t bad_magic = 1;
  Poke(offsetof(JobHeader, magic), &bad_magic, sizeof(bad_magic));
  JobView v;
  EXPECT_EQ(Attach(&v), JobError::kBadMagic);
  uint64_t magic = kJobMagic;
  Poke(offsetof(JobHeader, magic), &magic, sizeof(magic));
  // The next version and the previous one (version 6: group entries
  // without the crossings) are both refused.
  for (uint32_t version : {kJobVersion + 1, kJobVersion - 1}) {
    Poke(offsetof(JobHeader, version), &version, sizeof(version));
    EXPECT_EQ(Attach(&v), JobError::kBadVersion) << version;
  }
  uint32_t version;
  version = kJobVersion;
  Poke(offsetof(JobHeader, version), &version, sizeof(version));
  // A slot count that would reach past the file.
  uint32_t slots = 1000;
  Poke(offsetof(JobHeader, slot_count), &slots, sizeof(slots));
  EXPECT_EQ(Attach(&v), JobError::kBadLayout);
  slots = 0;
  Poke(offsetof(JobHeader, slot_count), &slots, sizeof(slots));
  EXPECT_EQ(Attach(&v), JobError::kBadLayout);
  slots = 8;
  Poke(offsetof(JobHeader, slot_count), &slots, sizeof(slots));
  uint32_t header = 4096;
  Poke(offsetof(JobHeader, header_bytes), &header, sizeof(header));
  EXPECT_EQ(Attach(&v), JobError::kBadLayout);
  header = kJobHeaderBytes;
  Poke(offsetof(JobHeader, header_bytes), &header, sizeof(header));
  ASSERT_EQ(Attach(&v), JobError::kOk);
  JobDetach(&v);
  // A truncated file.
  ASSERT_EQ(truncate(path_.c_str(), 100), 0);
  EXPECT_EQ(Attach(&v), JobError::kTooSmall);
}

TEST_F(JobBlockTest, ValidateRejectsEveryShortOrCorruptBuffer) {
  Create(4);
  std::string copy(reinterpret_cast<const char*>(view_.base),
                   view_.map_bytes);
  uint32_t slots = 0;
  const auto* b = reinterpret_cast<const uint8_t*>(copy.data());
  EXPECT_EQ(JobValidate(b, copy.size(), &slots), JobError::kOk);
  EXPECT_EQ(slots, 4u);
  EXPECT_NE(JobValidate(b, copy.size() - 1, &slots), JobError::kOk);
  EXPECT_NE(JobValidate(b, 10, &slots), JobError::kOk);
  // Random garbage never validates (the magic is checked first).
  for (int round = 0; round < 200; ++round) {
    std::string junk = copy;
    for (int k = 0; k < 16; ++k) {
      junk[static_cast<size_t>(rand()) % 48] = static_cast<char>(rand());
    }
    uint32_t n = 0;
    if (JobValidate(reinterpret_cast<const uint8_t*>(junk.data()), junk.size(),
                    &n) == JobError::kOk) {
      EXPECT_EQ(n, 4u);
    }
  }
}


TEST_F(JobBlockTest, TreeLinkChargesTheJobAndClampsUncharges) {
  Create(4, 10000);
  testing::TreeFixture f;
  f.Add(0, kNoParent);
  f.Add(1, 0);
  CounterTree t = f.tree();
  bool reused;
  uint32_t slot = JobClaimMember(view_, getpid(), 1, nullptr, &reused);
  JobLink link{view_.node(), &view_.member(slot)->charged,
               &view_.member(slot)->peak};
  t.SetJobLink(&link);
  uint32_t failed = 0;
  ASSERT_TRUE(t.TryCharge(1, 6000, &failed));
  EXPECT_EQ(view_.node()->counter.usage.load(), 6000);
  EXPECT_EQ(view_.member(slot)->charged.load(), 6000);
  // The job refuses: every local level is rolled back.
  EXPECT_FALSE(t.TryCharge(1, 6000, &failed));
  EXPECT_EQ(failed, kJobNode);
  EXPECT_EQ(t.Usage(0), 6000);
  EXPECT_EQ(t.Usage(1), 6000);
  EXPECT_EQ(view_.node()->counter.failcnt.load(), 1);
  EXPECT_EQ(t.Margin(1), 4000);
  // A fork child: its member charge starts at 0; frees of inherited blocks
  // leave the job alone.
  std::atomic<int64_t> child_charged{0}, child_peak{0};
  JobLink child{view_.node(), &child_charged, &child_peak};
  testing::TreeFixture g;  // the child's copy of the counters
  g.Add(0, kNoParent);
  g.Add(1, 0);
  CounterTree ct = g.tree();
  ct.Charge(1, 6000);
  ct.SetJobLink(&child);
  ct.Uncharge(1, 2000);
  EXPECT_EQ(view_.node()->counter.usage.load(), 6000);
  ASSERT_TRUE(ct.TryCharge(1, 1000, &failed));
  EXPECT_EQ(view_.node()->counter.usage.load(), 7000);
  ct.Uncharge(1, 3000);  // 1000 of its own, 2000 more inherited
  EXPECT_EQ(child_charged.load(), 0);
  EXPECT_EQ(view_.node()->counter.usage.load(), 6000);
  t.Uncharge(1, 6000);
  EXPECT_EQ(view_.node()->counter.usage.load(), 0);
  EXPECT_EQ(view_.member(slot)->peak.load(), 6000);
}

// The stock source of StocksInTheAreaAreRevokedExactly: chunks owned by
// another process (the test's parent), so that this process may revoke
// them.
const JobView* g_area = nullptr;
uint32_t g_owner_slot = kNoMember;
uint64_t g_owner_start = 0;
ThreadStock* ParentOwnedChunk(uint32_t* count) {
  const uint32_t slots[kJobMaxLevels] = {g_owner_slot, kNoMember, kNoMember,
                                         kNoMember};
  return JobClaimStockChunk(*g_area, getppid(), g_owner_start, slots,
                            /*global_barrier=*/true, count);
}

TEST_F(JobBlockTest, StocksInTheAreaAreRevokedExactly) {
  if (!SysMembarrierRegister() || !SysMembarrierRegisterGlobal()) {
    GTEST_SKIP() << "no expedited membarrier";
  }
  JobParams p;
  p.slot_count = 4;
  p.max = 1 << 20;
  p.stock_chunks = 2;
  int err = 0;
  ASSERT_EQ(JobCreate(path_.c_str(), p, &view_, &err), JobError::kOk) << err;
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), JobBlockBytes(4, 2));
  JobView attached;
  ASSERT_EQ(Attach(&attached), JobError::kOk);
  EXPECT_EQ(attached.stock_chunks, 2u);
  JobDetach(&attached);
  // The stocks' owner is a member slot naming our parent, as a real
  // member's names itself.
  bool alive = false, reused = false;
  ASSERT_TRUE(ReadProcStart(getppid(), &g_owner_start, &alive));
  g_owner_slot = JobClaimMember(view_, getppid(), g_owner_start, nullptr,
                                &reused);
  ASSERT_NE(g_owner_slot, kNoMember);
  g_area = &view_;
  testing::TreeFixture f;
  f.Add(0, kNoParent);
  CounterTree t = f.tree();
  JobLink link{view_.node(), &view_.member(g_owner_slot)->charged,
               &view_.member(g_owner_slot)->peak};
  t.SetJobLink(&link);
  ChargeStocks stocks(t);
  stocks.Init();
  stocks.SetSharedSource(ParentOwnedChunk);
  ThreadStock* ts = stocks.Acquire();
  ASSERT_NE(ts, nullptr);
  EXPECT_GE(reinterpret_cast<uint8_t*>(ts),
            reinterpret_cast<uint8_t*>(view_.chunk(0)));
  stocks.SetPrimary(ts, 0);
  uint32_t failed = 0;
  ASSERT_TRUE(stocks.TryCharge(ts, 0, 100, &failed));
  const int64_t batch = view_.node()->counter.usage.load();
  ASSERT_GT(batch, 100);  // 100 used, the rest stocked
  // Another member's refusal takes the stocked bytes off the job only.
  uint64_t my_start = 0;
  ASSERT_TRUE(ReadProcStart(getpid(), &my_start, &alive));
  const JobRevokeLevel level{&view_, 0};
  EXPECT_EQ(JobRevokeStocks(view_, &level, 1, getpid(), my_start),
            batch - 100);
  EXPECT_EQ(view_.node()->counter.usage.load(), 100);
  EXPECT_EQ(view_.member(g_owner_slot)->charged.load(), 100);
  EXPECT_EQ(ts->frozen.load(), kStockRevoked);
  EXPECT_EQ(t.Usage(0), batch);  // the owner's own counters: not yet
  // Nothing more to take; the revoker's own stocks are never taken.
  EXPECT_EQ(JobRevokeStocks(view_, &level, 1, getpid(), my_start), 0);
  EXPECT_EQ(JobRevokeStocks(view_, &level, 1, getppid(), g_owner_start), 0);
  // The owner's next charge returns the bytes to its own counters first.
  ASSERT_TRUE(stocks.TryCharge(ts, 0, 50, &failed));
  EXPECT_EQ(ts->frozen.load(), kStockThawed);
  stocks.DrainSubtree(kNoGroup);
  EXPECT_EQ(t.Usage(0), 150);
  EXPECT_EQ(view_.node()->counter.usage.load(), 150);
  EXPECT_EQ(view_.member(g_owner_slot)->charged.load(), 150);
  // A revoked stock its own process drains is returned by that drain.
  ASSERT_TRUE(stocks.TryCharge(ts, 0, 10, &failed));
  ASSERT_GT(JobRevokeStocks(view_, &level, 1, getpid(), my_start), 0);
  stocks.DrainSubtree(kNoGroup);
  EXPECT_EQ(t.Usage(0), 160);
  EXPECT_EQ(view_.node()->counter.usage.load(), 160);
  t.Uncharge(0, 160);
  EXPECT_EQ(view_.node()->counter.usage.load(), 0);
  // A released member's chunks are free again.
  stocks.Release(ts);
  EXPECT_TRUE(JobReleaseMember(view_, g_owner_slot, getppid()));
  EXPECT_EQ(view_.chunk(0)->state.load(), kMemberFree);
  g_area = nullptr;
}

TEST_F(JobBlockTest, NestedBlocksNameTheirParentByValidatedPath) {
  JobParams p;
  p.parent_path = "/outer/job-1";
  p.depth = 1;
  int err = 0;
  ASSERT_EQ(JobCreate(path_.c_str(), p, &view_, &err), JobError::kOk);
  uint32_t depth = 0;
  char parent[kJobParentPathBytes];
  ASSERT_TRUE(JobParentOf(view_, &depth, parent));
  EXPECT_EQ(depth, 1u);
  EXPECT_STREQ(parent, "/outer/job-1");
  JobView v;
  ASSERT_EQ(Attach(&v), JobError::kOk);
  JobDetach(&v);
  // Inconsistent nesting is refused at attach: a depth too deep, a
  // relative path, a path with no NUL, a top job with a parent.
  uint32_t deep = kJobMaxLevels;
  Poke(offsetof(JobHeader, depth), &deep, sizeof(deep));
  EXPECT_EQ(Attach(&v), JobError::kBadLayout);
  EXPECT_FALSE(JobParentOf(view_, &depth, parent));
  uint32_t one = 1;
  Poke(offsetof(JobHeader, depth), &one, sizeof(one));
  Poke(offsetof(JobHeader, parent_path), "x", 1);
  EXPECT_EQ(Attach(&v), JobError::kBadLayout);
  std::string full(kJobParentPathBytes, '/');
  Poke(offsetof(JobHeader, parent_path), full.data(), full.size());
  EXPECT_EQ(Attach(&v), JobError::kBadLayout);
  Poke(offsetof(JobHeader, parent_path), "/p\0", 3);
  ASSERT_EQ(Attach(&v), JobError::kOk);
  JobDetach(&v);
  uint32_t zero = 0;
  Poke(offsetof(JobHeader, depth), &zero, sizeof(zero));
  EXPECT_EQ(Attach(&v), JobError::kBadLayout);
  // The creator refuses the same.
  JobView w;
  p.depth = 0;
  EXPECT_EQ(JobCreate((dir_ + "/other").c_str(), p, &w, &err),
            JobError::kBadLayout);
  p.depth = kJobMaxLevels;
  EXPECT_EQ(JobCreate((dir_ + "/other").c_str(), p, &w, &err),
            JobError::kBadLayout);
}

TEST_F(JobBlockTest, ChargesWalkEveryJobLevelAndEitherMayRefuse) {
  // Two blocks: the outer (max 10000) and the inner (max 8000).
  Create(4, 10000);
  const std::string inner_path = dir_ + "/inner";
  JobParams p;
  p.slot_count = 4;
  p.max = 8000;
  p.parent_path = path_.c_str();
  p.depth = 1;
  JobView inner;
  int err = 0;
  ASSERT_EQ(JobCreate(inner_path.c_str(), p, &inner, &err), JobError::kOk);
  bool reused;
  uint32_t os = JobClaimMember(view_, getpid(), 1, nullptr, &reused);
  uint32_t is = JobClaimMember(inner, getpid(), 1, nullptr, &reused);
  JobLink outer_link{view_.node(), &view_.member(os)->charged,
                     &view_.member(os)->peak, nullptr};
  JobLink inner_link{inner.node(), &inner.member(is)->charged,
                     &inner.member(is)->peak, &outer_link};
  testing::TreeFixture f;
  f.Add(0, kNoParent);
  CounterTree t = f.tree();
  t.SetJobLink(&inner_link);
  uint32_t failed = 0;
  ASSERT_TRUE(t.TryCharge(0, 5000, &failed));
  EXPECT_EQ(inner.node()->counter.usage.load(), 5000);
  EXPECT_EQ(view_.node()->counter.usage.load(), 5000);
  // The inner job refuses first.
  EXPECT_FALSE(t.TryCharge(0, 4000, &failed));
  EXPECT_EQ(failed, kJobNode);
  // Another member of the outer job takes 4000: now the outer refuses, and
  // the inner level's add is rolled back.
  view_.node()->counter.usage.fetch_add(4000);
  EXPECT_FALSE(t.TryCharge(0, 2000, &failed));
  EXPECT_EQ(failed, kJobNode - 1);
  EXPECT_TRUE(IsJobLevel(failed));
  EXPECT_EQ(JobLevelIndex(failed), 1u);
  EXPECT_EQ(inner.node()->counter.usage.load(), 5000);
  EXPECT_EQ(inner.member(is)->charged.load(), 5000);
  EXPECT_EQ(view_.node()->counter.failcnt.load(), 1);
  EXPECT_EQ(t.Margin(0), 1000);
  // Uncharges reach both levels; a release at one level leaves the other.
  t.Uncharge(0, 1000);
  EXPECT_EQ(inner.node()->counter.usage.load(), 4000);
  EXPECT_EQ(view_.node()->counter.usage.load(), 8000);
  EXPECT_EQ(JobReleaseCharge(inner, is), 4000);
  EXPECT_EQ(inner.node()->counter.usage.load(), 0);
  EXPECT_EQ(view_.node()->counter.usage.load(), 8000);
  t.Uncharge(0, 4000);  // the inner slot holds nothing: only the outer
  EXPECT_EQ(inner.node()->counter.usage.load(), 0);
  EXPECT_EQ(view_.node()->counter.usage.load(), 4000);
  JobDetach(&inner);
  unlink(inner_path.c_str());
}

TEST_F(JobBlockTest, DeadMembersAreReleased) {
  Create(4);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    uint64_t start = 0;
    bool alive = false;
    bool reused;
    if (!ReadProcStart(getpid(), &start, &alive)) _exit(1);
    uint32_t s = JobClaimMember(view_, getpid(), start, nullptr, &reused);
    if (s == kNoMember) _exit(2);
    view_.member(s)->charged.store(1 << 20);
    view_.node()->counter.usage.fetch_add(1 << 20);
    char c = 1;
    if (write(pipefd[1], &c, 1) != 1) _exit(3);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(pipefd[0], &c, 1), 1);
  EXPECT_EQ(JobReleaseDead(view_), 0u);  // alive
  EXPECT_EQ(view_.node()->counter.usage.load(), 1 << 20);
  kill(pid, SIGKILL);
  // A zombie counts as dead.
  for (int i = 0; i < 1000 && JobReleaseDead(view_) == 0; ++i) usleep(1000);
  EXPECT_EQ(view_.node()->counter.usage.load(), 0);
  int st;
  waitpid(pid, &st, 0);
  close(pipefd[0]);
  close(pipefd[1]);
}

// Two members' trees charge one job node from several threads each, near
// the job's max; quiesced, the job and every member read exactly 0.
TEST_F(JobBlockTest, ConcurrentMembersEndAtZero) {
  Create(4, 1 << 18);
  uint64_t start = 0;
  bool alive = false;
  ASSERT_TRUE(ReadProcStart(getpid(), &start, &alive));
  testing::TreeFixture fa, fb;
  JobLink links[2];
  CounterTree trees[2];
  testing::TreeFixture* fixtures[2] = {&fa, &fb};
  for (int k = 0; k < 2; ++k) {
    fixtures[k]->Add(0, kNoParent);
    fixtures[k]->Add(1, 0);
    bool reused;
    uint32_t slot = JobClaimMember(view_, getpid(), start + k, nullptr, &reused);
    ASSERT_NE(slot, kNoMember);
    links[k] = JobLink{view_.node(), &view_.member(slot)->charged,
                       &view_.member(slot)->peak};
    trees[k] = fixtures[k]->tree();
    trees[k].SetJobLink(&links[k]);
  }
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const CounterTree& tree = trees[t % 2];
      int64_t held = 0;
      for (int i = 0; i < 20000; ++i) {
        int64_t n = 4096 * (1 + (i * 7 + t) % 16);
        uint32_t failed;
        if (tree.TryCharge(1, n, &failed)) {
          held += n;
        } else {
          refused.fetch_add(1, std::memory_order_relaxed);
        }
        if (i % 16 == 15 && held > 0) {  // one thread alone reaches max
          tree.Uncharge(1, held);
          held = 0;
        }
      }
      tree.Uncharge(1, held);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(view_.node()->counter.usage.load(), 0);
  EXPECT_EQ(links[0].charged->load(), 0);
  EXPECT_EQ(links[1].charged->load(), 0);
  EXPECT_LE(view_.node()->counter.watermark.load(), 1 << 18);
  EXPECT_GT(refused.load(), 0);
}

TEST_F(JobBlockTest, ControlRequestsAreAnsweredInOrderByTheAgent) {
  Create(2);
  uint64_t start = 0;
  uint32_t i = kNoMember;
  ASSERT_NO_FATAL_FAILURE(ClaimSelf(&i, &start));
  JobMember* m = view_.member(i);
  EXPECT_EQ(m->agent_tid.load(), 0);
  // A request posted before the agent listens is not for it.
  const uint32_t stale = JobPostRequest(m, 1);
  int64_t reclaimed = -1, purged = -1;
  EXPECT_FALSE(JobAnswered(m, stale, &reclaimed, &purged));
  const uint32_t seen = JobAgentListen(m, 1234);
  EXPECT_EQ(seen, stale);
  EXPECT_EQ(m->agent_tid.load(), 1234);
  uint32_t seq = 0;
  int64_t bytes = 0;
  EXPECT_FALSE(JobAgentWait(m, seen, 0, &seq, &bytes));  // nothing new
  EXPECT_FALSE(JobAgentWait(m, seen, 1'000'000, &seq, &bytes));  // timeout
  // An agent thread answers each request with twice the bytes, purged 7.
  std::thread agent([m, seen] {
    uint32_t last = seen;
    for (int n = 0; n < 3; ++n) {
      uint32_t s = 0;
      int64_t b = 0;
      while (!JobAgentWait(m, last, -1, &s, &b)) {
      }
      JobAgentAnswer(m, s, 2 * b, 7);
      last = s;
    }
  });
  for (int64_t ask : {int64_t{100}, int64_t{-5}, int64_t{1} << 40}) {
    const uint32_t s = JobPostRequest(m, ask);
    while (!JobAnswered(m, s, &reclaimed, &purged)) {
      SysFutexWaitShared(reinterpret_cast<const uint32_t*>(&m->answer_seq),
                         m->answer_seq.load(), 1'000'000);
    }
    EXPECT_EQ(reclaimed, ask > 0 ? 2 * ask : 0) << ask;  // negative: 0
    EXPECT_EQ(purged, 7);
  }
  agent.join();
  // Hostile answers are clamped at 0.
  const uint32_t s = JobPostRequest(m, 1);
  JobAgentAnswer(m, s, -9, INT64_MIN);
  EXPECT_TRUE(JobAnswered(m, s, &reclaimed, &purged));
  EXPECT_EQ(reclaimed, 0);
  EXPECT_EQ(purged, 0);
  // An exec of the member: the new image has no agent until it listens.
  bool reused = false;
  EXPECT_EQ(JobClaimMember(view_, getpid(), start, nullptr, &reused), i);
  EXPECT_TRUE(reused);
  EXPECT_EQ(m->agent_tid.load(), 0);
}

TEST_F(JobBlockTest, NudgesLeavePostedBytesAndOneAnswerServesEarlierRequests) {
  Create(2);
  uint64_t start = 0;
  uint32_t i = kNoMember;
  ASSERT_NO_FATAL_FAILURE(ClaimSelf(&i, &start));
  JobMember* m = view_.member(i);
  const uint32_t seen = JobAgentListen(m, 1234);
  EXPECT_FALSE(JobRequestPending(m));
  // A flock holder's request, then a refusing member's nudge before the
  // agent looks: the agent sees the nudge's number and the posted bytes.
  const uint32_t posted = JobPostRequest(m, 4096);
  const uint32_t nudged = JobNudgeAgent(m);
  EXPECT_EQ(nudged, posted + 1);
  EXPECT_TRUE(JobRequestPending(m));
  uint32_t seq = 0;
  int64_t bytes = -1;
  ASSERT_TRUE(JobAgentWait(m, seen, 0, &seq, &bytes));
  EXPECT_EQ(seq, nudged);
  EXPECT_EQ(bytes, 4096);
  JobAgentAnswer(m, seq, 10, 20);
  EXPECT_FALSE(JobRequestPending(m));
  // One answer serves both requesters.
  int64_t reclaimed = -1, purged = -1;
  EXPECT_TRUE(JobAnswered(m, posted, &reclaimed, &purged));
  EXPECT_EQ(reclaimed, 10);
  EXPECT_EQ(purged, 20);
  EXPECT_TRUE(JobAnswered(m, nudged, &reclaimed, &purged));
  // A later nudge posts no bytes: the bytes were taken by the first read.
  const uint32_t again = JobNudgeAgent(m);
  EXPECT_FALSE(JobAnswered(m, again, &reclaimed, &purged));
  ASSERT_TRUE(JobAgentWait(m, seq, 0, &seq, &bytes));
  EXPECT_EQ(seq, again);
  EXPECT_EQ(bytes, 0);
  // Sequence numbers wrap: an answer just past 2^32 answers a request
  // just before it.
  m->request_seq.store(0xffffffffu);
  m->answer_seq.store(0xfffffffeu);
  const uint32_t wrapped = JobNudgeAgent(m);
  EXPECT_EQ(wrapped, 0u);
  EXPECT_FALSE(JobAnswered(m, 0xffffffffu, &reclaimed, &purged));
  JobAgentAnswer(m, wrapped, 1, 2);
  EXPECT_TRUE(JobAnswered(m, 0xffffffffu, &reclaimed, &purged));
  EXPECT_TRUE(JobAnswered(m, wrapped, &reclaimed, &purged));
  EXPECT_FALSE(JobAnswered(m, wrapped + 1, &reclaimed, &purged));
}

TEST_F(JobBlockTest, ReadProcStartOfAMissingProcessFails) {
  uint64_t start = 0;
  bool alive = true;
  EXPECT_FALSE(ReadProcStart(0, &start, &alive));
  EXPECT_FALSE(ReadProcStart(0x3fffffff, &start, &alive));
}

}  // namespace
}  // namespace memgroup::internal
