#include "cli/run.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace memgroup::internal::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

absl::StatusOr<RunOptions> Parse(std::vector<std::string> args) {
  return ParseRunArgs(args, "/srv/app");
}

void ExpectRefused(std::vector<std::string> args, const std::string& fragment) {
  auto options = Parse(args);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr(fragment));
}

TEST(ParseRunArgsTest, MapsEveryOptionToItsVariable) {
  auto options = Parse({"--max", "1G", "--high", "512M", "--oom", "wait:5",
                        "--stats", "-", "--engine", "jemalloc", "--fault",
                        "0.01", "--fault-seed", "7", "--check", "1",
                        "--control", "0", "--", "prog", "-x", "--max"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_THAT(
      options->env,
      ElementsAre(Pair("MEMGROUP_MAX", "1G"), Pair("MEMGROUP_HIGH", "512M"),
                  Pair("MEMGROUP_OOM", "wait:5"),
                  Pair("MEMGROUP_STATS", "stderr"),
                  Pair("MEMGROUP_ENGINE", "jemalloc"),
                  Pair("MEMGROUP_FAULT", "0.01"),
                  Pair("MEMGROUP_FAULT_SEED", "7"),
                  Pair("MEMGROUP_CHECK", "1"), Pair("MEMGROUP_CONTROL", "0")));
  EXPECT_THAT(options->argv, ElementsAre("prog", "-x", "--max"));
  EXPECT_FALSE(options->help);
}

TEST(ParseRunArgsTest, AcceptsEqualsForm) {
  auto options = Parse({"--max=1G", "--oom=wait:3", "--", "prog"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_THAT(options->env, ElementsAre(Pair("MEMGROUP_MAX", "1G"),
                                        Pair("MEMGROUP_OOM", "wait:3")));
}

// A second value would silently replace the first: every option may be
// given once, in either form, with the same or another value.
TEST(ParseRunArgsTest, RepeatedOptionIsAUsageError) {
  const std::pair<std::string, std::string> valid[] = {
      {"max", "1G"},       {"high", "512M"}, {"oom", "enomem"},
      {"stats", "-"},      {"engine", "jemalloc"}, {"fault", "0"},
      {"fault-seed", "7"}, {"check", "0"}, {"control", "1"}};
  for (const auto& [name, value] : valid) {
    const std::string message = "option '--" + name + "' given more than once";
    SCOPED_TRACE(name);
    ExpectRefused({"--" + name, value, "--" + name, value, "--", "p"},
                  message);
    ExpectRefused({"--" + name + "=" + value, "--" + name, value, "--", "p"},
                  message);
    ExpectRefused({"--" + name, value, "--max=2G", "--" + name + "=" + value,
                   "--", "p"},
                  message);
  }
  ExpectRefused({"--max", "1G", "--max", "2G", "--", "p"},
                "option '--max' given more than once");
}

TEST(ParseRunArgsTest, OomGroupIsASwitchGivenOnce) {
  auto options = Parse({"--oom", "kill", "--oom-group", "--", "prog"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->oom_group);
  EXPECT_THAT(options->env, ElementsAre(Pair("MEMGROUP_OOM", "kill")));
  EXPECT_FALSE(Parse({"--", "prog"})->oom_group);
  // Not an environment variable: members get no MEMGROUP_OOM_GROUP.
  EXPECT_TRUE(Parse({"--oom-group", "--", "prog"})->env.empty());
}

TEST(ParseRunArgsTest, ProtectionIsANestedJobsOption) {
  auto nested = ParseRunArgs(
      std::vector<std::string>{"--low", "64M", "--min=1G", "--", "p"},
      "/srv/app", /*nested=*/true);
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_THAT(nested->env, ElementsAre(Pair("MEMGROUP_LOW", "64M"),
                                       Pair("MEMGROUP_MIN", "1G")));
  auto bad = ParseRunArgs(std::vector<std::string>{"--low", "6Q", "--", "p"},
                          "/srv/app", /*nested=*/true);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("invalid size for --low"));
  auto top = Parse({"--low", "64M", "--", "p"});
  ASSERT_FALSE(top.ok());
  EXPECT_THAT(top.status().message(), HasSubstr("inside another job"));
}

TEST(ParseRunArgsTest, NoOptionsIsFine) {
  auto options = Parse({"--", "prog"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->env.empty());
  EXPECT_THAT(options->argv, ElementsAre("prog"));
}

TEST(ParseRunArgsTest, StatsFileIsMadeAbsolute) {
  auto rel = Parse({"--stats", "out/s.txt", "--", "p"});
  ASSERT_TRUE(rel.ok());
  EXPECT_THAT(rel->env, ElementsAre(Pair("MEMGROUP_STATS", "/srv/app/out/s.txt")));
  auto abs = Parse({"--stats=/tmp/s", "--", "p"});
  ASSERT_TRUE(abs.ok());
  EXPECT_THAT(abs->env, ElementsAre(Pair("MEMGROUP_STATS", "/tmp/s")));
}

TEST(ParseRunArgsTest, HelpWins) {
  auto options = Parse({"--max", "1G", "--help"});
  ASSERT_TRUE(options.ok());
  EXPECT_TRUE(options->help);
  EXPECT_TRUE(Parse({"-h"})->help);
}

void ExpectUsageError(std::vector<std::string> args, const char* fragment) {
  auto options = Parse(args);
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(options.status().message(), HasSubstr(fragment));
}

TEST(ParseRunArgsTest, StatsPathMustFitTheLibrarysBuffer) {
  // 511 bytes once made absolute: accepted; 512: refused, as the library
  // refuses MEMGROUP_STATS of that length.
  const std::string rel(511 - std::string("/srv/app/").size(), 'r');
  auto fits = Parse({"--stats", rel, "--", "p"});
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->env[0].second.size(), 511u);
  ExpectUsageError({"--stats", rel + "r", "--", "p"},
                   "shorter than 512 bytes once made absolute");
  ExpectUsageError({"--stats=/" + std::string(511, 'a'), "--", "p"},
                   "--stats");
  EXPECT_TRUE(Parse({"--stats=/" + std::string(510, 'a'), "--", "p"}).ok());
}

TEST(ParseRunArgsTest, RejectsUsageErrors) {
  ExpectUsageError({"--maxx", "1G", "--", "p"}, "unknown option '--maxx'");
  ExpectUsageError({"-m", "1G", "--", "p"}, "unknown option '-m'");
  ExpectUsageError({"--max"}, "'--max' requires a value");
  ExpectUsageError({"--max", "--", "p"}, "'--max' requires a value");
  ExpectUsageError({"--max", "12Q", "--", "p"}, "'12Q'");
  ExpectUsageError({"--high", "-1", "--", "p"}, "--high");
  ExpectUsageError({"--max=", "--", "p"}, "empty value");
  ExpectUsageError({"--oom", "explode", "--", "p"}, "'explode'");
  ExpectUsageError({"--oom", "wait:10000000009", "--", "p"}, "out of range");
  ExpectUsageError({"--low", "1M", "--", "p"}, "sibling");
  ExpectUsageError({"--min", "0", "--", "p"}, "--min");
  ExpectUsageError({"--fault", "1.5", "--", "p"}, "--fault");
  ExpectUsageError({"--fault-seed", "-1", "--", "p"}, "--fault-seed");
  ExpectUsageError({"--engine", "tcmalloc", "--", "p"}, "'tcmalloc'");
  ExpectUsageError({"--check", "yes", "--", "p"}, "expected 0 or 1");
  ExpectUsageError({"--control", "2", "--", "p"}, "--control");
  ExpectUsageError({"--stats", "", "--", "p"}, "--stats");
  ExpectUsageError({}, "missing '-- PROGRAM'");
  ExpectUsageError({"--max", "1G"}, "missing '-- PROGRAM'");
  ExpectUsageError({"--"}, "missing PROGRAM");
  ExpectUsageError({"prog"}, "expected '--' before the program 'prog'");
  ExpectUsageError({"--oom-group", "--oom-group", "--", "p"},
                   "'--oom-group' given more than once");
  ExpectUsageError({"--oom-group=1", "--", "p"}, "takes no value");
}

// The stats file is checked against the file system after parsing, as the
// library checks MEMGROUP_STATS before main.
TEST(CheckStatsDestinationTest, RefusesAFileThatCannotBeWritten) {
  auto ok = Parse({"--stats", "-", "--", "p"});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(CheckStatsDestination(*ok).ok());
  auto none = Parse({"--max", "1G", "--", "p"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(CheckStatsDestination(*none).ok());
  char dir[] = "/tmp/mg_stats_dest.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  auto fresh = Parse({"--stats", std::string(dir) + "/new.txt", "--", "p"});
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(CheckStatsDestination(*fresh).ok());
  EXPECT_NE(access((std::string(dir) + "/new.txt").c_str(), F_OK), 0)
      << "the check must not create the file";

  auto missing = Parse({"--stats", "/nonexistent/dir/file", "--", "p"});
  ASSERT_TRUE(missing.ok()) << "the text itself is a valid path";
  absl::Status s = CheckStatsDestination(*missing);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--stats"));
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/dir/file"));
  EXPECT_THAT(s.message(), HasSubstr("ENOENT"));
  auto is_dir = Parse({"--stats", dir, "--", "p"});
  ASSERT_TRUE(is_dir.ok());
  EXPECT_THAT(CheckStatsDestination(*is_dir).message(), HasSubstr("EISDIR"));
  auto under_file = Parse({"--stats", "/etc/passwd/x", "--", "p"});
  ASSERT_TRUE(under_file.ok());
  EXPECT_THAT(CheckStatsDestination(*under_file).message(),
              HasSubstr("ENOTDIR"));
  rmdir(dir);
}

TEST(ComposePreloadTest, LibraryComesFirstAndOthersAreKept) {
  EXPECT_EQ(ComposePreload("/l/libmemgroup.so", ""), "/l/libmemgroup.so");
  EXPECT_EQ(ComposePreload("/l/libmemgroup.so", "/a.so"),
            "/l/libmemgroup.so:/a.so");
  EXPECT_EQ(ComposePreload("/l/libmemgroup.so", " /a.so  /b.so:/c.so: "),
            "/l/libmemgroup.so:/a.so:/b.so:/c.so");
}

TEST(ComposePreloadTest, DoesNotRepeatTheLibrary) {
  EXPECT_EQ(ComposePreload("/l/m.so", "/a.so:/l/m.so"), "/l/m.so:/a.so");
}

class FindLibraryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/mg_cli_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    ASSERT_EQ(
        system(("mkdir -p " + root_ + "/bin " + root_ + "/lib/x86_64-linux-gnu")
                   .c_str()),
        0);
  }
  void TearDown() override {
    ASSERT_EQ(system(("rm -rf " + root_).c_str()), 0);
  }
  void Touch(const std::string& path) { std::ofstream(root_ + "/" + path); }
  std::string root_;
};

TEST_F(FindLibraryTest, PrefersMemgroupLibraryVariable) {
  Touch("custom.so");
  Touch("bin/libmemgroup.so");
  auto lib = FindLibrary((root_ + "/custom.so").c_str(), root_ + "/bin", "/");
  ASSERT_TRUE(lib.ok()) << lib.status();
  EXPECT_EQ(*lib, root_ + "/custom.so");
}

TEST_F(FindLibraryTest, MakesRelativeVariableAbsolute) {
  Touch("custom.so");
  auto lib = FindLibrary("custom.so", root_ + "/bin", root_);
  ASSERT_TRUE(lib.ok()) << lib.status();
  EXPECT_EQ(*lib, root_ + "/custom.so");
}

TEST_F(FindLibraryTest, MissingVariableTargetIsAnError) {
  Touch("bin/libmemgroup.so");
  auto lib = FindLibrary((root_ + "/nope.so").c_str(), root_ + "/bin", "/");
  ASSERT_FALSE(lib.ok());
  EXPECT_EQ(lib.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(lib.status().message(), HasSubstr("MEMGROUP_LIBRARY"));
}

TEST_F(FindLibraryTest, SearchesNextToExeThenLibDirs) {
  auto none = FindLibrary(nullptr, root_ + "/bin", "/");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("libmemgroup.so"));

  Touch("lib/x86_64-linux-gnu/libmemgroup.so");
  EXPECT_EQ(*FindLibrary(nullptr, root_ + "/bin", "/"),
            root_ + "/bin/../lib/x86_64-linux-gnu/libmemgroup.so");
  Touch("lib/libmemgroup.so");
  EXPECT_EQ(*FindLibrary(nullptr, root_ + "/bin", "/"),
            root_ + "/bin/../lib/libmemgroup.so");
  Touch("bin/libmemgroup.so");
  EXPECT_EQ(*FindLibrary(nullptr, root_ + "/bin", "/"),
            root_ + "/bin/libmemgroup.so");
}

}  // namespace
}  // namespace memgroup::internal::cli
