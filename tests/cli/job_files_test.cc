// Tests of the control commands' file and format layers (src/cli/
// job_files.h, job_format.h): opening refuses what is not a private regular
// block without blocking, a block that shrinks under its mapping is an
// error and not a SIGBUS, and the formats' escaping.
#include "cli/job_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/limits.h"
#include "cli/job_format.h"

namespace memgroup::internal::cli {
namespace {

class JobFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mg_job_files_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/job-1";
    JobParams p;
    p.slot_count = 2;
    p.supervisor_pid = getpid();
    p.command = "test";
    JobView v;
    int err = 0;
    ASSERT_EQ(JobCreate(path_.c_str(), p, &v, &err), JobError::kOk);
    JobDetach(&v);
  }
  void TearDown() override {
    for (const char* n : {"/job-1", "/fifo", "/link"}) unlink((dir_ + n).c_str());
    rmdir(dir_.c_str());
  }
  std::string dir_, path_;
};

TEST_F(JobFilesTest, ReadsAValidBlock) {
  absl::StatusOr<JobRecord> rec = ReadJobFile(path_);
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->snap.supervisor_pid, getpid());
  EXPECT_STREQ(rec->snap.command, "test");
  EXPECT_TRUE(rec->Names(getpid()));
  EXPECT_FALSE(rec->Names(getpid() + 1));
}

TEST_F(JobFilesTest, AShrunkBlockIsAnErrorNotASignal) {
  JobMapping m;
  ASSERT_TRUE(m.Open(path_).ok());
  ASSERT_TRUE(m.Read().ok());
  ASSERT_EQ(truncate(path_.c_str(), 0), 0);
  absl::StatusOr<JobRecord> rec = m.Read();
  ASSERT_FALSE(rec.ok());
  EXPECT_NE(rec.status().message().find("shrank"), std::string::npos)
      << rec.status();
  // A write under the guard fails the same way.
  absl::Status s = WithWritableJob(path_, [](const JobView&) {});
  EXPECT_FALSE(s.ok());
}

TEST_F(JobFilesTest, RefusesWhatIsNotAPrivateRegularFile) {
  ASSERT_EQ(chmod(path_.c_str(), 0640), 0);
  absl::StatusOr<JobRecord> rec = ReadJobFile(path_);
  ASSERT_FALSE(rec.ok());
  EXPECT_NE(rec.status().message().find("0640"), std::string::npos);
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  ASSERT_EQ(symlink(path_.c_str(), (dir_ + "/link").c_str()), 0);
  rec = ReadJobFile(dir_ + "/link");
  ASSERT_FALSE(rec.ok());
  EXPECT_NE(rec.status().message().find("symbolic link"), std::string::npos);
  // A FIFO with no writer: open must not block.
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  rec = ReadJobFile(dir_ + "/fifo");
  ASSERT_FALSE(rec.ok());
  EXPECT_NE(rec.status().message().find("not a regular file"),
            std::string::npos);
  EXPECT_FALSE(WithWritableJob(dir_ + "/fifo", [](const JobView&) {}).ok());
}

TEST_F(JobFilesTest, WritableJobWritesTheNode) {
  ASSERT_TRUE(WithWritableJob(path_, [](const JobView& v) {
                v.node()->counter.max.store(12345);
              }).ok());
  absl::StatusOr<JobRecord> rec = ReadJobFile(path_);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->snap.max, 12345);
}

TEST(ParsePidTest, AcceptsOnlyPositiveDecimalPids) {
  pid_t p = 0;
  EXPECT_TRUE(ParsePid("1", &p));
  EXPECT_EQ(p, 1);
  EXPECT_TRUE(ParsePid("2147483647", &p));
  for (const char* bad : {"", "0", "-1", "+1", "1x", " 1", "2147483648",
                          "99999999999"}) {
    EXPECT_FALSE(ParsePid(bad, &p)) << bad;
  }
}

TEST(JobFormatTest, Escaping) {
  EXPECT_EQ(JsonQuote("a\"b\\c\x01"), "\"a\\\"b\\\\c\\u0001\"");
  EXPECT_EQ(PromEscape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(JobFormatTest, Sizes) {
  EXPECT_EQ(LimitText(kUnlimited), "max");
  EXPECT_EQ(LimitText(5 << 20), "5242880");
  EXPECT_EQ(HumanBytes(0), "0");
  EXPECT_EQ(HumanBytes(1023), "1023");
  EXPECT_EQ(HumanBytes(5 << 20), "5.0M");
  EXPECT_EQ(HumanBytes(int64_t{48} << 30), "48G");
  EXPECT_EQ(HumanBytes(kUnlimited), "max");
  EXPECT_EQ(HumanBytes(INT64_MIN), "-8.0E");
}

TEST(JobFormatTest, ExtremeCountersFormat) {
  JobStatus st;
  st.snap.throttled_ns = INT64_MIN;
  st.snap.oom_wait_ns = INT64_MIN;
  st.snap.oom_policy = 3;
  const std::string p = FormatStatPrometheus({st});
  EXPECT_NE(p.find("memgroup_throttled_seconds_total{pid=\"0\",group=\"/\"} "
                   "-9223372036.854775808\n"),
            std::string::npos)
      << p;
  st.snap.throttled_ns = -500'000'000;
  EXPECT_NE(FormatStatPrometheus({st}).find("} -0.500000000\n"),
            std::string::npos);
  EXPECT_EQ(OomPolicyName(3, INT64_MIN), "wait");
}

TEST(JobFormatTest, JobEventsHierarchicalAndLocal) {
  JobStatus st;
  st.snap.supervisor_pid = 1;
  st.snap.events[kJobEventMax] = 5;  // 3 of a nested job's, 2 its own
  st.snap.events[kJobEventOom] = 4;
  st.snap.events_local[kJobEventMax] = 2;
  st.snap.events_local[kJobEventOomKill] = INT64_MIN;  // a hostile block's
  const std::string t = FormatStatText(st);
  EXPECT_NE(t.find("\nevents.high 0\nevents.max 5\nevents.oom 4\n"
                   "events.oom_kill 0\nevents_local.high 0\n"
                   "events_local.max 2\nevents_local.oom 0\n"
                   "events_local.oom_kill -9223372036854775808\n"),
            std::string::npos)
      << t;
  const std::string j = FormatStatJson(st);
  EXPECT_NE(j.find("\"events\":{\"high\":0,\"max\":5,\"oom\":4,"
                   "\"oom_kill\":0},\"events_local\":{\"high\":0,\"max\":2,"
                   "\"oom\":0,\"oom_kill\":-9223372036854775808}"),
            std::string::npos)
      << j;
  // Prometheus: the hierarchical counts only, as a member group's.
  const std::string p = FormatStatPrometheus({st});
  EXPECT_NE(p.find("memgroup_events_total{pid=\"1\",group=\"/\","
                   "event=\"max\"} 5\n"),
            std::string::npos)
      << p;
  EXPECT_EQ(p.find("local"), std::string::npos) << p;
}

TEST(JobFormatTest, MemberGroupsInEveryFormat) {
  JobStatus st;
  st.snap.supervisor_pid = 1;
  GroupStatus g;
  g.pid = 7;
  g.path = "/a/b";
  g.command = "prog";
  g.figures.current = 5;
  g.figures.peak = 6;
  g.figures.max = kUnlimited;
  g.figures.high = 4096;
  g.figures.low = 0;
  g.figures.min = INT64_MIN;
  g.figures.events[2] = 3;         // max
  g.figures.events_local[2] = 2;
  g.figures.unpublished = 9;
  st.groups.push_back(g);
  st.groups_unpublished = 9;
  const std::string t = FormatStatText(st);
  EXPECT_NE(t.find("\ngroups 1\nmember_group 7:/a/b 5 6 max\n"
                   "groups.unpublished 9\n"),
            std::string::npos)
      << t;
  const std::string p = FormatStatPrometheus({st});
  EXPECT_NE(p.find("memgroup_current_bytes{pid=\"1\",group=\"7:/a/b\"} 5\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("memgroup_max_bytes{pid=\"1\",group=\"7:/a/b\"} +Inf\n"),
            std::string::npos);
  EXPECT_NE(p.find("memgroup_events_total{pid=\"1\",group=\"7:/a/b\","
                   "event=\"max\"} 3\n"),
            std::string::npos);
  EXPECT_NE(p.find("memgroup_groups_unpublished{pid=\"1\",group=\"/\"} 9\n"),
            std::string::npos);
  // One group alone: its series only, its own text and JSON.
  st.group_only = true;
  st.group = g.Name();
  const std::string one = FormatStatPrometheus({st});
  EXPECT_EQ(one.find("group=\"/\""), std::string::npos) << one;
  EXPECT_EQ(one.find("memgroup_members"), std::string::npos) << one;
  const std::string gt = FormatStatText(st);
  EXPECT_NE(gt.find("group 7:/a/b\nmember_pid 7\npath /a/b\n"),
            std::string::npos)
      << gt;
  EXPECT_NE(gt.find("\nmin -9223372036854775808\n"), std::string::npos);
  EXPECT_NE(gt.find("\nevents.max 3\n"), std::string::npos);
  EXPECT_NE(gt.find("\nevents_local.max 2\n"), std::string::npos);
  const std::string gj = FormatStatJson(st);
  EXPECT_NE(gj.find("\"schema\":\"memgroup.group.v1\""), std::string::npos);
  EXPECT_NE(gj.find("\"max\":null,\"high\":4096"), std::string::npos) << gj;
}

TEST(JobFormatTest, MemberGroupStatPressureFailcntAndAge) {
  JobStatus st;
  st.snap.supervisor_pid = 1;
  GroupStatus g;
  g.pid = 7;
  g.path = "/a";
  g.figures.failcnt = 4;
  g.figures.stat[kGroupStatHeap] = 65536;
  g.figures.stat[kGroupStatStockBound] = -3;
  g.figures.stat[kGroupStatThrottledUs] = 1500000;
  g.figures.stat[kGroupStatOomWaitUs] = INT64_MIN;  // a hostile table's
  g.figures.pressure_avg[0] = 125;                  // some avg10 1.25%
  g.figures.pressure_avg[5] = 0xffffffffu;          // full avg300, hostile
  g.figures.pressure_total_us[0] = 2500000;
  g.figures.pressure_total_us[1] = UINT64_MAX;
  g.age_ms = 42;
  g.refreshed = true;
  st.groups.push_back(g);
  st.group_only = true;
  st.group = g.Name();
  const std::string t = FormatStatText(st);
  EXPECT_NE(t.find("\nfailcnt 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nstat.heap 65536\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nstat.stock_bound -3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("\nstat.throttled_usec 1500000\n"), std::string::npos);
  EXPECT_NE(t.find("\npressure.some avg10=1.25 avg60=0.00 avg300=0.00 "
                   "total=2500000\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("\npressure.full avg10=0.00 avg60=0.00 "
                   "avg300=42949672.95 total=18446744073709551615\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("\nage_ms 42\nrefreshed 1\n"), std::string::npos) << t;
  const std::string j = FormatStatJson(st);
  EXPECT_NE(j.find("\"failcnt\":4,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"stat\":{\"heap\":65536,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"pressure\":{\"some\":{\"avg10\":1.25,\"avg60\":0.00,"
                   "\"avg300\":0.00,\"total_usec\":2500000},"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find("\"age_ms\":42,\"refreshed\":true}"), std::string::npos)
      << j;
  const std::string p = FormatStatPrometheus({st});
  const std::string l = "{pid=\"1\",group=\"7:/a\"";
  EXPECT_NE(p.find("memgroup_failcnt_total" + l + "} 4\n"), std::string::npos)
      << p;
  EXPECT_NE(p.find("memgroup_stat_bytes" + l + ",key=\"heap\"} 65536\n"),
            std::string::npos)
      << p;
  EXPECT_EQ(p.find("key=\"throttled_usec\""), std::string::npos) << p;
  EXPECT_NE(p.find("memgroup_throttled_seconds_total" + l + "} 1.500000\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("memgroup_oom_wait_seconds_total" + l +
                   "} -9223372036854.775808\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("memgroup_pressure_stall_seconds_total" + l +
                   ",kind=\"some\"} 2.500000\n"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("memgroup_figures_age_seconds" + l + "} 0.042000\n"),
            std::string::npos)
      << p;
}

TEST(JobFormatTest, GroupAgeNeedsAPastTime) {
  EXPECT_EQ(GroupAgeMs(0, 5'000'000), -1);
  EXPECT_EQ(GroupAgeMs(-7, 5'000'000), -1);
  EXPECT_EQ(GroupAgeMs(6'000'000, 5'000'000), -1);  // in the future
  EXPECT_EQ(GroupAgeMs(1'000'000, 5'000'000), 4);
  EXPECT_EQ(GroupAgeMs(INT64_MIN, INT64_MAX), -1);
  EXPECT_EQ(GroupAgeMs(1, INT64_MAX), (INT64_MAX - 1) / 1'000'000);
}

TEST(JobFormatTest, OomPolicyNames) {
  EXPECT_EQ(OomPolicyName(0, -1), "enomem");
  EXPECT_EQ(OomPolicyName(3, -1), "wait");
  EXPECT_EQ(OomPolicyName(3, 5'000'000'000), "wait:5");
  EXPECT_EQ(OomPolicyName(3, 1'500'000'000), "wait:1.500000000");
  EXPECT_EQ(OomPolicyName(99, 0), "unknown(99)");
}

}  // namespace
}  // namespace memgroup::internal::cli
