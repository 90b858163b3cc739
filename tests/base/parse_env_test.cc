// Tests of base/parse_env.h: the MEMGROUP_* environment as a whole, and the
// lines printed for refused variables (the same as tests/preload's
// env_errors.sh sees from the preloaded library).
#include "base/parse_env.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/limits.h"

namespace memgroup::internal {
namespace {

struct Result {
  bool ok;
  EnvSettings settings;
  EnvError err;
  std::string line;
};

Result Parse(std::vector<const char*> env) {
  env.push_back(nullptr);
  Result r;
  r.ok = ParseEnvironment(env.data(), &r.settings, &r.err);
  char line[1024];
  r.line.assign(line, FormatEnvError(r.err, line, sizeof(line)));
  return r;
}

TEST(ParseEnvironmentTest, ReadsEveryVariable) {
  Result r = Parse({"MEMGROUP_MAX=1G", "MEMGROUP_HIGH=max", "MEMGROUP_OOM=wait:3",
                    "MEMGROUP_STATS=-", "MEMGROUP_ENGINE=jemalloc",
                    "MEMGROUP_CONTROL=1", "MEMGROUP_FAULT=0.5",
                    "MEMGROUP_FAULT_SEED=9", "MEMGROUP_CHECK=1",
                    "MEMGROUP_LIBRARY=/x.so", "PATH=/bin"});
  ASSERT_TRUE(r.ok) << r.line;
  EXPECT_TRUE(r.settings.has_max);
  EXPECT_EQ(r.settings.max, int64_t{1} << 30);
  EXPECT_EQ(r.settings.high, kUnlimited);
  EXPECT_EQ(r.settings.oom.policy, OomPolicyChoice::kWait);
  EXPECT_EQ(r.settings.oom.wait_ns, 3'000'000'000);
  EXPECT_STREQ(r.settings.stats_path, "-");
  EXPECT_TRUE(r.settings.has_engine);
  EXPECT_TRUE(r.settings.control);
  EXPECT_EQ(r.settings.fault, 0.5);
  EXPECT_EQ(r.settings.fault_seed, 9u);
  EXPECT_TRUE(r.settings.check);
  EXPECT_EQ(r.line, "");
}

TEST(ParseEnvironmentTest, EmptyAndForeignEntriesGiveTheDefaults) {
  EnvSettings s;
  EnvError e;
  ASSERT_TRUE(ParseEnvironment(nullptr, &s, &e));
  Result r = Parse({"PATH=/bin", "MEMGROUP_MAX", "memgroup_max=x"});
  ASSERT_TRUE(r.ok);
  EXPECT_FALSE(r.settings.has_max);
  EXPECT_EQ(r.settings.stats_path, nullptr);
  EXPECT_EQ(r.settings.oom.policy, OomPolicyChoice::kEnomem);
}

TEST(ParseEnvironmentTest, LastEntryWins) {
  Result r = Parse({"MEMGROUP_MAX=1G", "MEMGROUP_MAX=2K"});
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.settings.max, 2048);
}

TEST(ParseEnvironmentTest, ReportsTheFirstRefusedEntry) {
  std::vector<const char*> env = {"MEMGROUP_MAX=1G", "MEMGROUP_OOM=sometimes",
                                  "MEMGROUP_TYPO=1"};
  Result r = Parse(env);
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.err.kind, EnvErrorKind::kBadValue);
  EXPECT_STREQ(r.err.name, "MEMGROUP_OOM");
  EXPECT_EQ(r.err.value, env[1] + 13);
  EXPECT_EQ(r.line,
            "memgroup: invalid MEMGROUP_OOM='sometimes': expected enomem, "
            "abort, kill, wait or wait:SECONDS (SECONDS from 0 to "
            "9223372036; 0 fails at once after reclaim) (unknown value)\n");
}

TEST(ParseEnvironmentTest, MessagesOfEachKind) {
  EXPECT_EQ(Parse({"MEMGROUP_MAX=12Q"}).line,
            "memgroup: invalid MEMGROUP_MAX='12Q': expected a size like 512M, "
            "1G, 4096 or max (unknown suffix (use K, M, G or T))\n");
  EXPECT_EQ(Parse({"MEMGROUP_LOW=1M"}).line,
            std::string("memgroup: MEMGROUP_LOW='1M' refused: low ") +
                kRootProtectionRefused + "\n");
  EXPECT_EQ(Parse({"MEMGROUP_MIN=0"}).err.kind, EnvErrorKind::kRefused);
  EXPECT_EQ(Parse({"MEMGROUP_MAXX=1"}).line,
            "memgroup: unknown environment variable MEMGROUP_MAXX='1' (known: "
            "MEMGROUP_MAX HIGH OOM STATS ENGINE CONTROL FAULT FAULT_SEED "
            "CHECK JOB)\n");
  EXPECT_EQ(Parse({"MEMGROUP_JOB=job.block"}).line,
            "memgroup: invalid MEMGROUP_JOB='job.block': expected the "
            "absolute path of a job control block\n");
  EXPECT_EQ(Parse({"MEMGROUP_CHECK=2"}).line,
            "memgroup: invalid MEMGROUP_CHECK='2': expected 0 or 1\n");
  EXPECT_EQ(Parse({"MEMGROUP_STATS="}).line,
            "memgroup: invalid MEMGROUP_STATS='': expected stderr or a file "
            "path\n");
  std::string long_path = "MEMGROUP_STATS=/" + std::string(511, 'p');
  EXPECT_NE(Parse({long_path.c_str()}).line.find(
                "expected a path shorter than 512 bytes"),
            std::string::npos);
}

TEST(ParseEnvironmentTest, LongNamesAreCutInTheMessage) {
  std::string entry = "MEMGROUP_" + std::string(100, 'N') + "=1";
  Result r = Parse({entry.c_str()});
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.err.kind, EnvErrorKind::kUnknownName);
  EXPECT_EQ(std::string(r.err.name), entry.substr(0, 63));
}

}  // namespace
}  // namespace memgroup::internal
