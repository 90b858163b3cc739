// End-to-end tests of the built `memgroup` binary: exit statuses, usage
// output, and the environment the program receives. A do-nothing library
// (MG_FAKE_PRELOAD) stands in for libmemgroup.so.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct Result {
  int exit_code = -1;  // -1 if killed by a signal
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `argv` with the current environment changed by `env` (a nullopt value
// removes the variable), capturing stdout and stderr.
Result RunProcess(
    const std::vector<std::string>& argv,
    const std::map<std::string, std::optional<std::string>>& env = {}) {
  char dir_tmpl[] = "/tmp/mg_cli_run.XXXXXX";
  EXPECT_NE(mkdtemp(dir_tmpl), nullptr);
  const std::string dir = dir_tmpl;
  const std::string out_path = dir + "/out", err_path = dir + "/err";

  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    if (env.count(name) == 0) env_strings.push_back(entry);
  }
  for (const auto& [name, value] : env) {
    if (value.has_value()) env_strings.push_back(name + "=" + *value);
  }
  std::vector<char*> envp, args;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid == 0) {
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, 1);
    dup2(err, 2);
    execve(args[0], args.data(), envp.data());
    _exit(99);
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  Result r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = ReadFile(out_path);
  r.err = ReadFile(err_path);
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  rmdir(dir.c_str());
  return r;
}

Result Memgroup(std::vector<std::string> args,
                std::map<std::string, std::optional<std::string>> env = {
                    {"MEMGROUP_LIBRARY", MG_FAKE_PRELOAD}}) {
  args.insert(args.begin(), MG_CLI_BINARY);
  return RunProcess(args, env);
}

// The value of `name` in `env`-style output, or nullopt.
std::optional<std::string> EnvValue(const std::string& env_output,
                                    const std::string& name) {
  for (absl::string_view line : absl::StrSplit(env_output, '\n')) {
    if (absl::StartsWith(line, name + "=")) {
      return std::string(line.substr(name.size() + 1));
    }
  }
  return std::nullopt;
}

void ExpectUsageError(const std::vector<std::string>& args,
                      const char* fragment) {
  Result r = Memgroup(args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, StartsWith("memgroup: "));
  EXPECT_THAT(r.err.substr(0, r.err.find('\n')), HasSubstr(fragment));
  EXPECT_THAT(r.err, HasSubstr("Usage: memgroup run"));
  EXPECT_EQ(r.out, "");
}

TEST(MemgroupCommandTest, UsageErrorsExitTwoWithUsage) {
  ExpectUsageError({}, "missing command");
  ExpectUsageError({"frobnicate"}, "unknown command 'frobnicate'");
  ExpectUsageError({"reclaim", "1", "/"}, "reclaim needs PID, GROUP and SIZE");
  ExpectUsageError({"--bogus"}, "unknown option '--bogus'");
  ExpectUsageError({"run"}, "missing '-- PROGRAM'");
  ExpectUsageError({"run", "--max", "1G"}, "missing '-- PROGRAM'");
  ExpectUsageError({"run", "--"}, "missing PROGRAM");
  ExpectUsageError({"run", "/bin/true"}, "expected '--'");
  ExpectUsageError({"run", "--maxx", "1", "--", "/bin/true"}, "--maxx");
  ExpectUsageError({"run", "--max"}, "requires a value");
  ExpectUsageError({"run", "--max", "12Q", "--", "/bin/true"}, "12Q");
  ExpectUsageError({"run", "--high", "99999999999T", "--", "/bin/true"},
                   "too large");
  ExpectUsageError({"run", "--low", "1M", "--", "/bin/true"},
                   "protection only matters against sibling groups");
  ExpectUsageError({"run", "--min", "1M", "--", "/bin/true"}, "--min");
  ExpectUsageError({"run", "--oom", "panic", "--", "/bin/true"}, "panic");
  ExpectUsageError({"run", "--engine", "glibc", "--", "/bin/true"}, "glibc");
  ExpectUsageError({"run", "--max", "1G", "--max", "2G", "--", "/bin/true"},
                   "option '--max' given more than once");
  ExpectUsageError({"run", "--stats", "/nonexistent/dir/file", "--",
                    "/bin/true"},
                   "invalid value for --stats: '/nonexistent/dir/file': "
                   "cannot write the stats report there");
}

TEST(MemgroupCommandTest, HelpPrintsUsageToStdout) {
  for (const char* flag : {"--help", "-h"}) {
    Result r = Memgroup({flag});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, StartsWith("Usage: memgroup run"));
    EXPECT_EQ(r.err, "");
  }
  Result r = Memgroup({"run", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, StartsWith("Usage: memgroup run"));
}

TEST(MemgroupCommandTest, UsageListsOnlyExistingCommands) {
  Result r = Memgroup({"--help"});
  for (const char* c : {"memgroup run", "memgroup list", "memgroup stat",
                        "memgroup set", "memgroup reclaim", "memgroup events",
                        "memgroup top"}) {
    EXPECT_THAT(r.out, HasSubstr(c));
  }
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("memgroup kill")));
}

TEST(MemgroupCommandTest, SetsEnvironmentAndPreload) {
  Result r = Memgroup({"run", "--max", "1G", "--high", "512m", "--fault",
                       "0.5", "--oom", "wait:3", "--stats", "-",
                       "--engine", "jemalloc", "--", "/usr/bin/env"},
                      {{"MEMGROUP_LIBRARY", MG_FAKE_PRELOAD},
                       {"LD_PRELOAD", "libpthread.so.0"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // max, high, oom and stats are the job's: in its control block and the
  // supervisor, not in each process's environment.
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_MAX"), std::nullopt);
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_HIGH"), std::nullopt);
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_OOM"), std::nullopt);
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_STATS"), std::nullopt);
  EXPECT_THAT(EnvValue(r.out, "MEMGROUP_JOB").value_or(""),
              HasSubstr("/job-"));
  EXPECT_THAT(r.err, HasSubstr("job /usr/bin/env"));
  EXPECT_THAT(r.err, HasSubstr("\nmax 1073741824\n"));
  EXPECT_THAT(r.err, HasSubstr("\nhigh 536870912\n"));
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_FAULT"), "0.5");
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_ENGINE"), "jemalloc");
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_CONTROL"), "1");
  EXPECT_EQ(EnvValue(r.out, "LD_PRELOAD"),
            std::string(MG_FAKE_PRELOAD) + ":libpthread.so.0");
}

TEST(MemgroupCommandTest, WithoutExistingPreloadOnlyTheLibrary) {
  Result r = Memgroup(
      {"run", "--", "/usr/bin/env"},
      {{"MEMGROUP_LIBRARY", MG_FAKE_PRELOAD}, {"LD_PRELOAD", std::nullopt}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(EnvValue(r.out, "LD_PRELOAD"), MG_FAKE_PRELOAD);
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_CONTROL"), "1");
  EXPECT_EQ(EnvValue(r.out, "MEMGROUP_MAX"), std::nullopt);
}

TEST(MemgroupCommandTest, PassesArgumentsAndSearchesPath) {
  Result r = Memgroup({"run", "--", "printf", "%s|", "a b", "--max"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "a b|--max|");
}

TEST(MemgroupCommandTest, PropagatesExitStatus) {
  Result r = Memgroup({"run", "--", "sh", "-c", "exit 7"});
  EXPECT_EQ(r.exit_code, 7);
}

TEST(MemgroupCommandTest, MissingProgramExits127) {
  Result r = Memgroup({"run", "--", "/nonexistent/program"});
  EXPECT_EQ(r.exit_code, 127);
  EXPECT_EQ(r.err,
            "memgroup: cannot run /nonexistent/program: No such file or "
            "directory\n");
  r = Memgroup({"run", "--", "mg-no-such-program-on-path"});
  EXPECT_EQ(r.exit_code, 127);
}

TEST(MemgroupCommandTest, NonExecutableProgramExits126) {
  Result r = Memgroup({"run", "--", "/usr"});
  EXPECT_EQ(r.exit_code, 126);
  EXPECT_THAT(r.err, HasSubstr("cannot run /usr: Permission denied"));
}

TEST(MemgroupCommandTest, MissingLibraryExitsOne) {
  Result r = Memgroup({"run", "--", "/bin/true"},
                      {{"MEMGROUP_LIBRARY", "/nonexistent/libmemgroup.so"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("MEMGROUP_LIBRARY"));
}

// Copies the binary into a fresh prefix and checks the library lookup next
// to it and in ../lib.
TEST(MemgroupCommandTest, FindsLibraryRelativeToExecutable) {
  char tmpl[] = "/tmp/mg_cli_prefix.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string root = tmpl;
  ASSERT_EQ(system(("mkdir -p " + root + "/bin " + root + "/lib && cp " +
                    MG_CLI_BINARY + " " + root + "/bin/memgroup")
                       .c_str()),
            0);
  const std::string exe = root + "/bin/memgroup";
  const std::map<std::string, std::optional<std::string>> env = {
      {"MEMGROUP_LIBRARY", std::nullopt}, {"LD_PRELOAD", std::nullopt}};

  Result none = RunProcess({exe, "run", "--", "/usr/bin/env"}, env);
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("cannot find libmemgroup.so"));

  ASSERT_EQ(system(("cp " + std::string(MG_FAKE_PRELOAD) + " " + root +
                    "/lib/libmemgroup.so")
                       .c_str()),
            0);
  Result in_lib = RunProcess({exe, "run", "--", "/usr/bin/env"}, env);
  EXPECT_EQ(in_lib.exit_code, 0) << in_lib.err;
  EXPECT_EQ(EnvValue(in_lib.out, "LD_PRELOAD"),
            root + "/bin/../lib/libmemgroup.so");

  ASSERT_EQ(system(("cp " + std::string(MG_FAKE_PRELOAD) + " " + root +
                    "/bin/libmemgroup.so")
                       .c_str()),
            0);
  Result beside = RunProcess({exe, "run", "--", "/usr/bin/env"}, env);
  EXPECT_EQ(beside.exit_code, 0) << beside.err;
  EXPECT_EQ(EnvValue(beside.out, "LD_PRELOAD"), root + "/bin/libmemgroup.so");

  ASSERT_EQ(system(("rm -rf " + root).c_str()), 0);
}

}  // namespace
