// Entry point of the `memgroup` command: dispatches subcommands and turns
// usage errors into one line plus the usage text on stderr, exit status 2.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cli/control_commands.h"
#include "cli/run.h"
#include "cli/supervisor.h"
#include "cli/usage.h"

#ifndef MG_VERSION
#define MG_VERSION "unknown"
#endif

namespace memgroup::internal::cli {
namespace {

std::string CurrentDir() {
  char buf[PATH_MAX];
  if (getcwd(buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

std::string ExeDir() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string path(buf, static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return path.substr(0, slash == 0 ? 1 : slash);
}

int RunCommand(const std::vector<std::string>& args) {
  const std::string cwd = CurrentDir();
  const char* job = getenv("MEMGROUP_JOB");
  absl::StatusOr<RunOptions> options =
      ParseRunArgs(args, cwd, job != nullptr && job[0] != '\0');
  if (!options.ok()) return UsageError(options.status().message());
  if (options->help) {
    fputs(kUsage, stdout);
    return 0;
  }
  if (absl::Status s = CheckStatsDestination(*options); !s.ok()) {
    return UsageError(s.message());
  }
  absl::StatusOr<std::string> library =
      FindLibrary(getenv("MEMGROUP_LIBRARY"), ExeDir(), cwd);
  if (!library.ok()) {
    fprintf(stderr, "memgroup: %s\n",
            std::string(library.status().message()).c_str());
    return 1;
  }
  fflush(stdout);
  return SuperviseRun(*options, *library);
}

int Main(int argc, char** argv) {
  if (argc < 2) return UsageError("missing command");
  const absl::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version") {
    printf("memgroup %s\n", MG_VERSION);
    return 0;
  }
  const std::vector<std::string> rest(argv + 2, argv + argc);
  if (command == "run") return RunCommand(rest);
  if (command == "list") return ListMain(rest);
  if (command == "stat") return StatMain(rest);
  if (command == "set") return SetMain(rest);
  if (command == "reclaim") return ReclaimMain(rest);
  if (command == "events") return EventsMain(rest);
  if (command == "top") return TopMain(rest);
  if (!command.empty() && command.front() == '-') {
    return UsageError(std::string("unknown option '") + argv[1] + "'");
  }
  return UsageError(std::string("unknown command '") + argv[1] + "'");
}

}  // namespace
}  // namespace memgroup::internal::cli

int main(int argc, char** argv) {
  return memgroup::internal::cli::Main(argc, argv);
}
