// The fixture of the job control block's tests (job_block_test.cc,
// job_marks_test.cc, job_pressure_test.cc, job_full_test.cc): a fresh
// owner-only directory per test, a block created or attached in it,
// members claimed, and raw rewrites of the file.
#ifndef MEMGROUP_TESTS_COUNTER_JOB_BLOCK_TEST_UTIL_H_
#define MEMGROUP_TESTS_COUNTER_JOB_BLOCK_TEST_UTIL_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "counter/job_block.h"
#include "counter/job_slots.h"

namespace memgroup::internal {

class JobBlockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mg_job_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/job";
  }
  void TearDown() override {
    JobDetach(&view_);
    unlink(path_.c_str());
    unlink((dir_ + "/link").c_str());
    rmdir(dir_.c_str());
  }
  void Create(uint32_t slots = 8, int64_t max = kUnlimited,
              int32_t supervisor_pid = 0) {
    JobParams p;
    p.slot_count = slots;
    p.max = max;
    p.supervisor_pid = supervisor_pid;
    p.command = "test job";
    int err = 0;
    ASSERT_EQ(JobCreate(path_.c_str(), p, &view_, &err), JobError::kOk) << err;
  }
  // Claims a slot of the job for this process (its pid and start time):
  // its index in *index, its start time in *start.
  void ClaimSelf(uint32_t* index, uint64_t* start) {
    bool alive = false;
    ASSERT_TRUE(ReadProcStart(getpid(), start, &alive));
    bool reused = false;
    *index = JobClaimMember(view_, getpid(), *start, nullptr, &reused);
    ASSERT_NE(*index, kNoMember);
  }
  // Claims a slot for `pid` (start time 1, command "t"); null if the
  // table is full.
  JobMember* Claim(int32_t pid) {
    bool reused = false;
    const uint32_t i = JobClaimMember(view_, pid, 1, "t", &reused);
    EXPECT_NE(i, kNoMember);
    return i == kNoMember ? nullptr : view_.member(i);
  }
  // Rewrites bytes of the file at `offset`.
  void Poke(off_t offset, const void* data, size_t n) {
    int fd = open(path_.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, data, n, offset), static_cast<ssize_t>(n));
    close(fd);
  }
  JobError Attach(JobView* v) {
    int err = 0;
    return JobAttach(path_.c_str(), v, &err);
  }

  std::string dir_, path_;
  JobView view_;
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_TESTS_COUNTER_JOB_BLOCK_TEST_UTIL_H_
