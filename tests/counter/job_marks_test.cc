// Tests of the job control block's member slots (src/counter/job_block.h,
// job_slots.cc): claims and releases, the command name, exec marks that
// outlive their process, and the slots a member claims for the children
// it spawns (spawn marks), with the races between parent and child.
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
#include "job_block_test_util.h"
#include "tree_fixture.h"

namespace memgroup::internal {
namespace {

TEST_F(JobBlockTest, ClaimReleaseAndExecReuse) {
  Create(2);
  bool reused = true;
  uint64_t start = 0;
  bool alive = false;
  ASSERT_TRUE(ReadProcStart(getpid(), &start, &alive));
  EXPECT_TRUE(alive);
  uint32_t a = JobClaimMember(view_, getpid(), start, nullptr, &reused);
  ASSERT_NE(a, kNoMember);
  EXPECT_FALSE(reused);
  view_.member(a)->charged.store(4096);
  view_.node()->counter.usage.store(4096);
  // The same pid and start time again: an exec of that member. Its charge
  // is released and the slot reused.
  uint32_t b = JobClaimMember(view_, getpid(), start, nullptr, &reused);
  EXPECT_EQ(b, a);
  EXPECT_TRUE(reused);
  EXPECT_EQ(view_.node()->counter.usage.load(), 0);
  EXPECT_EQ(view_.member(a)->charged.load(), 0);
  // Another start time is another process.
  uint32_t c = JobClaimMember(view_, getpid(), start + 1, nullptr, &reused);
  EXPECT_NE(c, a);
  ASSERT_NE(c, kNoMember);
  EXPECT_EQ(JobClaimMember(view_, getpid(), start + 2, nullptr, &reused), kNoMember);
  EXPECT_TRUE(JobReleaseMember(view_, c, getpid()));
  EXPECT_FALSE(JobReleaseMember(view_, c, getpid()));  // already free
  EXPECT_FALSE(JobReleaseMember(view_, 99, getpid()));  // out of range
}

TEST_F(JobBlockTest, ClaimRecordsTheCommandNameAndExecRewritesIt) {
  Create(2);
  uint64_t start = 0;
  bool alive = false;
  char comm[16];
  ASSERT_TRUE(ReadProcStart(getpid(), &start, &alive, comm));
  char want[17] = {};
  FILE* f = fopen("/proc/self/comm", "r");
  ASSERT_NE(f, nullptr);
  ASSERT_NE(fgets(want, sizeof(want), f), nullptr);
  fclose(f);
  want[strcspn(want, "\n")] = '\0';
  EXPECT_EQ(std::string(comm, strnlen(comm, 16)), std::string(want));
  bool reused = false;
  uint32_t a = JobClaimMember(view_, getpid(), start, comm, &reused);
  ASSERT_NE(a, kNoMember);
  char got[16];
  JobMemberComm(view_.member(a), got);
  EXPECT_EQ(memcmp(got, comm, 16), 0);
  const char renamed[16] = "other-image";
  EXPECT_EQ(JobClaimMember(view_, getpid(), start, renamed, &reused), a);
  EXPECT_TRUE(reused);
  JobMemberComm(view_.member(a), got);
  EXPECT_EQ(memcmp(got, renamed, 16), 0);
}

// An exec mark that outlives its process is reported once, with the new
// image's name, even after the slot's release; a marked free slot is not
// claimed until then; a rejoin or a failed exec clears the mark.
TEST_F(JobBlockTest, ExecMarksOutlivingTheirProcessAreReportedOnce) {
  Create(2);
  struct Seen {
    int calls = 0;
    pid_t pid = 0;
    std::string comm;
  } seen;
  auto report = [](void* ctx, pid_t pid, uint64_t, const char comm[16]) {
    auto* s = static_cast<Seen*>(ctx);
    ++s->calls;
    s->pid = pid;
    s->comm.assign(comm, strnlen(comm, 16));
  };
  // A live process's mark is left alone; a rejoin (its image ran the
  // library) clears it.
  uint64_t start = 0;
  bool alive = false;
  bool reused = false;
  ASSERT_TRUE(ReadProcStart(getpid(), &start, &alive));
  const uint32_t self = JobClaimMember(view_, getpid(), start, "test", &reused);
  ASSERT_NE(self, kNoMember);
  JobMarkExec(view_, self, "a-very-long-program-name");
  EXPECT_TRUE(JobExecPending(view_.member(self)));
  EXPECT_EQ(JobTakeExecUntracked(view_, report, &seen), 0u);
  EXPECT_EQ(JobClaimMember(view_, getpid(), start, "next", &reused), self);
  EXPECT_TRUE(reused);
  EXPECT_FALSE(JobExecPending(view_.member(self)));
  // A failed exec clears its own mark.
  JobMarkExec(view_, self, "missing");
  JobClearExec(view_, self);
  EXPECT_EQ(JobTakeExecUntracked(view_, report, &seen), 0u);

  // A child marks its slot and exits (its image never rejoined); the
  // parent reaps it and releases the slot, as a member would.
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    uint64_t st = 0;
    bool al = false;
    bool re = false;
    if (!ReadProcStart(getpid(), &st, &al)) _exit(1);
    const uint32_t s = JobClaimMember(view_, getpid(), st, "sh", &re);
    if (s == kNoMember) _exit(2);
    JobMarkExec(view_, s, "static_prog");
    char c = static_cast<char>(s);
    if (write(pipefd[1], &c, 1) != 1) _exit(3);
    _exit(0);
  }
  char slot = 0;
  ASSERT_EQ(read(pipefd[0], &slot, 1), 1);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  close(pipefd[0]);
  close(pipefd[1]);
  ASSERT_TRUE(JobReleaseMember(view_, static_cast<uint32_t>(slot), pid));
  // The table's one free slot carries the mark: no claim takes it.
  EXPECT_EQ(JobClaimMember(view_, getpid(), start + 1, "x", &reused),
            kNoMember);
  EXPECT_EQ(JobTakeExecUntracked(view_, report, &seen), 1u);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.pid, pid);
  EXPECT_EQ(seen.comm, "static_prog");
  EXPECT_EQ(JobTakeExecUntracked(view_, report, &seen), 0u);  // once
  EXPECT_NE(JobClaimMember(view_, getpid(), start + 1, "x", &reused),
            kNoMember);
}

// A child process that waits until Finish (a real pid and start time for
// the /proc checks).
class LiveChild {
 public:
  LiveChild() {
    EXPECT_EQ(pipe(fds_), 0);
    pid_ = fork();
    if (pid_ == 0) {
      close(fds_[1]);
      char c;
      _exit(read(fds_[0], &c, 1) >= 0 ? 0 : 1);
    }
    close(fds_[0]);
    bool alive = false;
    EXPECT_TRUE(ReadProcStart(pid_, &start_, &alive, nullptr, &ppid_));
  }
  ~LiveChild() { Finish(); }
  // The child exits and is reaped.
  void Finish() {
    if (pid_ <= 0) return;
    close(fds_[1]);
    int st = 0;
    waitpid(pid_, &st, 0);
    pid_ = -pid_;
  }
  pid_t pid() const { return pid_ < 0 ? -pid_ : pid_; }
  uint64_t start() const { return start_; }
  pid_t ppid() const { return ppid_; }

 private:
  int fds_[2] = {-1, -1};
  pid_t pid_ = 0;
  pid_t ppid_ = 0;
  uint64_t start_ = 0;
};

struct Reports {
  int calls = 0;
  pid_t pid = 0;
  std::string comm;
  static void Add(void* ctx, pid_t pid, uint64_t, const char comm[16]) {
    auto* r = static_cast<Reports*>(ctx);
    ++r->calls;
    r->pid = pid;
    r->comm.assign(comm, strnlen(comm, 16));
  }
};

TEST_F(JobBlockTest, ReadProcStartReadsTheParent) {
  LiveChild child;
  EXPECT_EQ(child.ppid(), getpid());
}

// posix_spawn's child: the parent records it after the fact with an exec
// mark; the child's image rejoins that slot (no second slot), and then
// nothing is reported.
TEST_F(JobBlockTest, SpawnSlotIsRejoinedByTheChild) {
  Create(4);
  LiveChild child;
  const uint32_t a = JobMarkSpawned(view_, child.pid(), child.start(), "prog");
  ASSERT_NE(a, kNoMember);
  const JobMember* m = view_.member(a);
  EXPECT_EQ(m->state.load(), kMemberActive);
  EXPECT_TRUE(JobExecPending(m));
  EXPECT_EQ(m->charged.load(), 0);
  Reports r;
  EXPECT_EQ(JobTakeExecUntracked(view_, Reports::Add, &r), 0u);  // alive
  bool reused = false;
  EXPECT_EQ(JobClaimMember(view_, child.pid(), child.start(), "prog", &reused),
            a);
  EXPECT_TRUE(reused);
  EXPECT_FALSE(JobExecPending(m));
  // A second record of the same child finds it.
  EXPECT_EQ(JobMarkSpawned(view_, child.pid(), child.start(), "prog"),
            kNoMember);
  child.Finish();
  EXPECT_EQ(JobTakeExecUntracked(view_, Reports::Add, &r), 0u);
  EXPECT_EQ(r.calls, 0);
}

// A child that joined before its parent recorded it: the parent claims
// nothing, also once the child's slot is released (it still names it).
TEST_F(JobBlockTest, SpawnAfterTheChildJoinedClaimsNothing) {
  Create(4);
  LiveChild child;
  bool reused = false;
  const uint32_t b =
      JobClaimMember(view_, child.pid(), child.start(), "prog", &reused);
  ASSERT_NE(b, kNoMember);
  EXPECT_EQ(JobMarkSpawned(view_, child.pid(), child.start(), "prog"),
            kNoMember);
  child.Finish();
  EXPECT_TRUE(JobReleaseMember(view_, b, child.pid()));
  EXPECT_EQ(JobMarkSpawned(view_, child.pid(), child.start(), "prog"),
            kNoMember);
  for (uint32_t i = 0; i < view_.slot_count; ++i) {
    EXPECT_NE(view_.member(i)->state.load(), kMemberActive) << i;
    EXPECT_FALSE(JobExecPending(view_.member(i))) << i;
  }
}

// The parent's record and the child's join crossed (each looked before
// the other's slot was visible: here the spawn slot is hidden from the
// child's claim): the child's JobDropSpawnMarks drops the spawn slot.
TEST_F(JobBlockTest, CrossedSpawnSlotIsDroppedByTheChild) {
  Create(4);
  LiveChild child;
  const uint32_t a = JobMarkSpawned(view_, child.pid(), child.start(), "prog");
  ASSERT_NE(a, kNoMember);
  JobMember* ma = view_.member(a);
  ma->state.store(kMemberClaiming);  // not visible yet
  bool reused = true;
  const uint32_t b =
      JobClaimMember(view_, child.pid(), child.start(), "prog", &reused);
  ASSERT_NE(b, kNoMember);
  EXPECT_FALSE(reused);
  ma->state.store(kMemberActive);
  EXPECT_EQ(JobDropSpawnMarks(view_, child.pid(), child.start(), b), 1u);
  EXPECT_EQ(ma->state.load(), kMemberFree);
  EXPECT_FALSE(JobExecPending(ma));
  EXPECT_EQ(ma->pid.load(), 0);  // it names nobody
  EXPECT_EQ(view_.member(b)->state.load(), kMemberActive);
  EXPECT_EQ(JobDropSpawnMarks(view_, child.pid(), child.start(), b), 0u);
  child.Finish();
  Reports r;
  EXPECT_EQ(JobTakeExecUntracked(view_, Reports::Add, &r), 0u);
}

// Both slots outlived the child (neither the parent's nor the child's look
// dropped the spawn slot yet): the supervisor clears the mark and does not
// report a child that joined.
TEST_F(JobBlockTest, SupervisorDoesNotReportASpawnSlotWhoseChildJoined) {
  Create(4);
  LiveChild child;
  const uint32_t a = JobMarkSpawned(view_, child.pid(), child.start(), "prog");
  ASSERT_NE(a, kNoMember);
  JobMember* ma = view_.member(a);
  ma->state.store(kMemberClaiming);
  bool reused = true;
  const uint32_t b =
      JobClaimMember(view_, child.pid(), child.start(), "prog", &reused);
  ASSERT_NE(b, kNoMember);
  ma->state.store(kMemberActive);
  child.Finish();
  EXPECT_TRUE(JobReleaseMember(view_, b, child.pid()));  // its slot names it
  Reports r;
  EXPECT_EQ(JobTakeExecUntracked(view_, Reports::Add, &r), 0u);
  EXPECT_EQ(r.calls, 0);
  EXPECT_FALSE(JobExecPending(ma));
  EXPECT_EQ(JobReleaseDead(view_), 1u);  // the spawn slot of the dead child
}

// A spawned child that never joins (static, or no job variables) and is
// reaped at once is reported once, with its image's name; its slot is
// released as a dead member's and claimable once the mark is taken.
TEST_F(JobBlockTest, SpawnSlotOfAnUntrackedChildIsReportedOnce) {
  Create(2);
  LiveChild child;
  const uint32_t a =
      JobMarkSpawned(view_, child.pid(), child.start(), "static_prog");
  ASSERT_NE(a, kNoMember);
  child.Finish();
  EXPECT_EQ(JobReleaseDead(view_), 1u);
  EXPECT_TRUE(JobExecPending(view_.member(a)));
  Reports r;
  EXPECT_EQ(JobTakeExecUntracked(view_, Reports::Add, &r), 1u);
  EXPECT_EQ(r.pid, child.pid());
  EXPECT_EQ(r.comm, "static_prog");
  EXPECT_EQ(JobTakeExecUntracked(view_, Reports::Add, &r), 0u);
  EXPECT_EQ(r.calls, 1);
  // Both slots claimable again.
  bool reused = false;
  EXPECT_NE(JobClaimMember(view_, getpid(), 1, "x", &reused), kNoMember);
  EXPECT_NE(JobClaimMember(view_, getpid(), 2, "y", &reused), kNoMember);
}

// A full table: the spawn is not recorded.
TEST_F(JobBlockTest, SpawnIntoAFullTableClaimsNothing) {
  Create(1);
  bool reused = false;
  ASSERT_NE(JobClaimMember(view_, getpid(), 1, "x", &reused), kNoMember);
  LiveChild child;
  EXPECT_EQ(JobMarkSpawned(view_, child.pid(), child.start(), "prog"),
            kNoMember);
  EXPECT_EQ(JobMarkSpawned(view_, 0, 1, "prog"), kNoMember);
}

// A released slot of an exec that failed in a vfork child forgets the pid,
// so that it is no evidence that the process joined.
TEST_F(JobBlockTest, ReleaseCanForgetThePid) {
  Create(2);
  bool reused = false;
  const uint32_t a = JobClaimMember(view_, getpid(), 5, "x", &reused);
  ASSERT_NE(a, kNoMember);
  EXPECT_TRUE(JobReleaseMember(view_, a, getpid(), /*forget=*/true));
  EXPECT_EQ(view_.member(a)->pid.load(), 0);
  const uint32_t b = JobClaimMember(view_, getpid(), 6, "x", &reused);
  EXPECT_TRUE(JobReleaseMember(view_, b, getpid()));
  EXPECT_EQ(view_.member(b)->pid.load(), getpid());
}

}  // namespace
}  // namespace memgroup::internal
