// `memgroup run`'s arguments: turns command-line options into MEMGROUP_*
// settings, finds libmemgroup.so and composes LD_PRELOAD. Pure functions, so
// that they can be unit tested; the job itself is run by supervisor.h.
#ifndef MEMGROUP_SRC_CLI_RUN_H_
#define MEMGROUP_SRC_CLI_RUN_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace memgroup::internal::cli {

// What `memgroup run` was asked to do.
struct RunOptions {
  // MEMGROUP_* variables to set, in the order the options were given (each
  // option at most once: a repeated one is a usage error). MEMGROUP_CONTROL
  // is not included.
  std::vector<std::pair<std::string, std::string>> env;
  // `--oom-group`: the job's `kill` kills every member (the kernel's
  // memory.oom.group). Given at most once.
  bool oom_group = false;
  // The program and its arguments; never empty after a successful parse.
  std::vector<std::string> argv;
  // `--help` was given: print the usage and exit 0.
  bool help = false;
};

// Parses the arguments that follow `run`. `cwd` is used to make a relative
// `--stats FILE` absolute (the program may change directory before it exits).
// `nested`: the command runs inside a job (MEMGROUP_JOB is set), where
// `--low` and `--min` protect the new child job against its siblings and
// become MEMGROUP_LOW/MEMGROUP_MIN entries of `env` (the supervisor takes
// them); outside a job they are refused.
// Returns kInvalidArgument with a one-line message on a usage error.
absl::StatusOr<RunOptions> ParseRunArgs(absl::Span<const std::string> args,
                                        absl::string_view cwd,
                                        bool nested = false);

// Checks what ParseRunArgs cannot see in the text: that the stats file
// (MEMGROUP_STATS, made absolute) can be written now, as the library checks
// its MEMGROUP_STATS before main (base/parse_config.h, StatsPathWriteError).
// Returns kInvalidArgument with a one-line message naming --stats if not.
absl::Status CheckStatsDestination(const RunOptions& options);

// Returns the value for LD_PRELOAD: `library` first, then the entries of
// `existing` (separated by spaces or colons, as ld.so reads them) except
// `library` itself.
std::string ComposePreload(absl::string_view library,
                           absl::string_view existing);

// Finds libmemgroup.so: `env_library` (MEMGROUP_LIBRARY) when non-null, made
// absolute against `cwd`; else next to the executable (`exe_dir`), in
// `exe_dir`/../lib or `exe_dir`/../lib/x86_64-linux-gnu. Returns kNotFound
// with a message naming the places searched.
absl::StatusOr<std::string> FindLibrary(const char* env_library,
                                        absl::string_view exe_dir,
                                        absl::string_view cwd);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_RUN_H_
