// Tests of the job block's read side (src/counter/job_reader.h): snapshots
// of a real block and its members, slots that must be skipped, the bound of
// the caller's array, validation of hostile layouts, and the text
// sanitizer.
#include "counter/job_reader.h"
#include "counter/job_slots.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace memgroup::internal {
namespace {

class JobReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mg_job_reader_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/job";
    JobParams p;
    p.slot_count = 4;
    p.max = 5 << 20;
    p.high = 4 << 20;
    p.oom_policy = 3;
    p.oom_wait_ns = 2'000'000'000;
    p.supervisor_pid = 4242;
    p.start_ticks = 77;
    p.start_unix_ns = 123;
    p.command = "prog \x1b[31mred";
    int err = 0;
    ASSERT_EQ(JobCreate(path_.c_str(), p, &view_, &err), JobError::kOk);
  }
  void TearDown() override {
    JobDetach(&view_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  JobError Read(uint32_t capacity = 8) {
    members_.assign(capacity, JobMemberSnapshot{});
    return JobReadSnapshot(view_.base, view_.map_bytes, &snap_,
                           members_.data(), capacity);
  }

  std::string dir_, path_;
  JobView view_;
  JobSnapshot snap_;
  std::vector<JobMemberSnapshot> members_;
};

TEST_F(JobReaderTest, CopiesHeaderNodeAndActiveMembers) {
  bool reused = false;
  uint32_t a = JobClaimMember(view_, 100, 1, "t", &reused);
  uint32_t b = JobClaimMember(view_, 200, 2, "t", &reused);
  ASSERT_NE(a, kNoMember);
  ASSERT_NE(b, kNoMember);
  view_.member(a)->charged.store(3 << 20);
  view_.member(a)->peak.store(4 << 20);
  view_.member(b)->charged.store(1 << 20);
  JobNode* n = view_.node();
  n->counter.usage.store(4 << 20);
  n->counter.watermark.store(6 << 20);
  n->counter.failcnt.store(2);
  n->events[kJobEventMax].store(5);
  n->events[kJobEventOom].store(1);
  n->throttled_ns.store(9000);
  n->waiters.store(1);
  ASSERT_EQ(Read(), JobError::kOk);
  EXPECT_EQ(snap_.slot_count, 4u);
  EXPECT_EQ(snap_.supervisor_pid, 4242);
  EXPECT_EQ(snap_.start_ticks, 77u);
  EXPECT_EQ(snap_.start_unix_ns, 123);
  EXPECT_STREQ(snap_.command, "prog ?[31mred");
  EXPECT_EQ(snap_.current, 4 << 20);
  EXPECT_EQ(snap_.peak, 6 << 20);
  EXPECT_EQ(snap_.max, 5 << 20);
  EXPECT_EQ(snap_.high, 4 << 20);
  EXPECT_EQ(snap_.failcnt, 2);
  EXPECT_EQ(snap_.events[kJobEventMax], 5);
  EXPECT_EQ(snap_.events[kJobEventOom], 1);
  EXPECT_EQ(snap_.oom_policy, 3u);
  EXPECT_EQ(snap_.oom_wait_ns, 2'000'000'000);
  EXPECT_EQ(snap_.throttled_ns, 9000);
  EXPECT_EQ(snap_.waiters, 1u);
  ASSERT_EQ(snap_.members, 2u);
  ASSERT_EQ(snap_.members_stored, 2u);
  EXPECT_EQ(members_[0].pid, 100);
  EXPECT_EQ(members_[0].slot, a);
  EXPECT_EQ(members_[0].charged, 3 << 20);
  EXPECT_EQ(members_[0].peak, 4 << 20);
  EXPECT_EQ(members_[1].pid, 200);
  EXPECT_EQ(members_[1].start_ticks, 2u);
}

TEST_F(JobReaderTest, SkipsSlotsThatAreNotActiveOrHaveNoPid) {
  bool reused = false;
  JobClaimMember(view_, 100, 1, "t", &reused);
  uint32_t b = JobClaimMember(view_, 200, 1, "t", &reused);
  uint32_t c = JobClaimMember(view_, 300, 1, "t", &reused);
  view_.member(b)->state.store(kMemberReleasing);
  view_.member(c)->pid.store(-3);
  view_.member(3)->state.store(0xdeadbeef);  // garbage state
  view_.member(3)->pid.store(400);
  ASSERT_EQ(Read(), JobError::kOk);
  EXPECT_EQ(snap_.members, 1u);
  EXPECT_EQ(snap_.members_skipped, 1u);  // the Active slot without a pid
  EXPECT_EQ(members_[0].pid, 100);
}

// A slot claimed for a spawned child that has not joined (kExecSpawned) is
// no member; one marked by its own process's exec (kExecMarked) is, and so
// is one whose mark holds any other value.
TEST_F(JobReaderTest, SkipsSpawnSlotsOfChildrenThatHaveNotJoined) {
  bool reused = false;
  const uint32_t a = JobClaimMember(view_, 100, 1, "t", &reused);
  const uint32_t b = JobClaimMember(view_, 200, 1, "t", &reused);
  const uint32_t c = JobClaimMember(view_, 300, 1, "t", &reused);
  ASSERT_NE(c, kNoMember);
  view_.member(a)->exec_pending.store(kExecSpawned);
  view_.member(b)->exec_pending.store(kExecMarked);
  view_.member(c)->exec_pending.store(0x7777);
  ASSERT_EQ(Read(), JobError::kOk);
  EXPECT_EQ(snap_.members, 2u);
  EXPECT_EQ(snap_.members_skipped, 0u);
  EXPECT_EQ(members_[0].pid, 200);
  EXPECT_EQ(members_[1].pid, 300);
  // Once the child's image rejoins (the mark cleared), it is a member.
  EXPECT_EQ(JobClaimMember(view_, 100, 1, "t", &reused), a);
  EXPECT_TRUE(reused);
  ASSERT_EQ(Read(), JobError::kOk);
  EXPECT_EQ(snap_.members, 3u);
}

TEST_F(JobReaderTest, StoresNoMoreThanTheCallersCapacity) {
  bool reused = false;
  for (int pid = 1; pid <= 4; ++pid) JobClaimMember(view_, pid, 1, "t", &reused);
  ASSERT_EQ(Read(/*capacity=*/2), JobError::kOk);
  EXPECT_EQ(snap_.members, 4u);
  EXPECT_EQ(snap_.members_stored, 2u);
  ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &snap_, nullptr, 0),
            JobError::kOk);
  EXPECT_EQ(snap_.members, 4u);
  EXPECT_EQ(snap_.members_stored, 0u);
}

TEST_F(JobReaderTest, RefusesHostileLayouts) {
  // Each case on a private 64-byte aligned copy of the block.
  const size_t bytes = view_.map_bytes;
  auto* copy = static_cast<uint8_t*>(aligned_alloc(64, bytes + 64));
  ASSERT_NE(copy, nullptr);
  auto read = [&](const uint8_t* base, size_t n) {
    return JobReadSnapshot(base, n, &snap_, nullptr, 0);
  };
  memcpy(copy, view_.base, bytes);
  EXPECT_EQ(read(copy, bytes), JobError::kOk);
  EXPECT_EQ(read(copy, bytes - 1), JobError::kBadLayout);
  EXPECT_EQ(read(copy, kJobHeaderBytes - 1), JobError::kTooSmall);
  EXPECT_EQ(read(copy, 0), JobError::kTooSmall);
  memmove(copy + 8, copy, bytes);  // misaligned
  EXPECT_EQ(read(copy + 8, bytes), JobError::kBadLayout);
  memcpy(copy, view_.base, bytes);
  JobHeader* h = reinterpret_cast<JobHeader*>(copy);
  h->slot_count = kJobMaxSlots + 1;
  EXPECT_EQ(read(copy, bytes), JobError::kBadLayout);
  h->slot_count = 5;  // more slots than the file holds
  EXPECT_EQ(read(copy, bytes), JobError::kBadLayout);
  h->slot_count = 4;
  h->header_bytes = 64;
  EXPECT_EQ(read(copy, bytes), JobError::kBadLayout);
  h->header_bytes = kJobHeaderBytes;
  h->version = kJobVersion + 1;
  EXPECT_EQ(read(copy, bytes), JobError::kBadVersion);
  h->version = kJobVersion;
  h->magic ^= 1;
  EXPECT_EQ(read(copy, bytes), JobError::kBadMagic);
  h->magic ^= 1;
  memset(h->command, 'x', sizeof(h->command));  // no NUL at all
  ASSERT_EQ(read(copy, bytes), JobError::kOk);
  EXPECT_EQ(strlen(snap_.command), kJobCommandBytes - 1);
  free(copy);
}

// Members join, charge and leave in threads while a reader snapshots: the
// reader never waits, and every member it stores is one that a writer
// published (pid in range, its own start time), never a torn mix.
TEST_F(JobReaderTest, SnapshotsWhileMembersComeAndGo) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      int round = 0;
      // Relaxed: a stop flag, nothing published through it.
      while (!stop.load(std::memory_order_relaxed)) {
        const pid_t pid = 1000 * (w + 1) + (round++ % 500) + 1;
        bool reused = false;
        // start_ticks = pid: a stored member must carry its own.
        uint32_t slot = JobClaimMember(view_, pid, pid, "t", &reused);
        if (slot == kNoMember) continue;
        // Relaxed: a byte count (as the members' charges).
        view_.member(slot)->charged.fetch_add(4096, std::memory_order_relaxed);
        JobReleaseMember(view_, slot, pid);
      }
    });
  }
  std::vector<JobMemberSnapshot> m(8);
  for (int i = 0; i < 20000; ++i) {
    JobSnapshot s;
    ASSERT_EQ(JobReadSnapshot(view_.base, view_.map_bytes, &s, m.data(), 8),
              JobError::kOk);
    ASSERT_LE(s.members + s.members_skipped, 4u);
    for (uint32_t k = 0; k < s.members_stored; ++k) {
      ASSERT_GT(m[k].pid, 1000);
      ASSERT_LT(m[k].pid, 4000);
      ASSERT_EQ(m[k].start_ticks, static_cast<uint64_t>(m[k].pid));
      ASSERT_LT(m[k].slot, 4u);
    }
  }
  stop.store(true, std::memory_order_relaxed);
  for (std::thread& t : writers) t.join();
}

std::string Sanitized(const std::string& in, size_t cap = 64) {
  std::vector<char> out(cap, 'Z');
  SanitizeText(in.data(), in.size(), out.data(), cap);
  return out.data();
}

TEST(SanitizeTextTest, KeepsPrintableAsciiAndWellFormedUtf8) {
  EXPECT_EQ(Sanitized("make -j2 all"), "make -j2 all");
  EXPECT_EQ(Sanitized("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(Sanitized(std::string("a\0b", 3)), "a");  // stops at NUL
}

TEST(SanitizeTextTest, ReplacesControlsAndMalformedBytes) {
  EXPECT_EQ(Sanitized("\x1b[2J\x07\t\n\x7f"), "?[2J????");
  EXPECT_EQ(Sanitized("\xc2\x9b" "1m"), "?1m");          // C1 CSI: one '?'
  EXPECT_EQ(Sanitized("\xc0\x80"), "??");                // overlong NUL
  EXPECT_EQ(Sanitized("\xe0\x80\xaf"), "???");           // overlong '/'
  EXPECT_EQ(Sanitized("\xed\xa0\x80"), "???");           // surrogate
  EXPECT_EQ(Sanitized("\xf4\x90\x80\x80"), "????");      // above U+10FFFF
  EXPECT_EQ(Sanitized("\xff\xfe"), "??");
  EXPECT_EQ(Sanitized("ab\xe2\x82"), "ab??");            // cut sequence
  EXPECT_EQ(Sanitized("\x80x"), "?x");                   // stray continuation
}

TEST(SanitizeTextTest, NeverCutsASequenceAtTheBound) {
  EXPECT_EQ(Sanitized("abc", 1), "");
  EXPECT_EQ(Sanitized("abcdef", 4), "abc");
  EXPECT_EQ(Sanitized("ab\xe2\x82\xac", 4), "ab");       // euro needs 3
  EXPECT_EQ(Sanitized("ab\xe2\x82\xac", 6), "ab\xe2\x82\xac");
}

}  // namespace
}  // namespace memgroup::internal
