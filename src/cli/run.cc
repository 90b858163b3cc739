// Implements run.h.
#include "cli/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/parse_config.h"
#include "cli/size.h"

namespace memgroup::internal::cli {
namespace {

enum class ValueKind {
  kSize,
  kRootProtection,  // a nested job's; refused otherwise (kRootProtectionRefused)
  kOomPolicy,
  kStats,
  kEngine,
  kProbability,
  kSeed,
  kSwitch,
};

struct RunFlag {
  absl::string_view name;  // without the leading "--"
  absl::string_view env;
  ValueKind kind;
};

constexpr RunFlag kRunFlags[] = {
    {"max", "MEMGROUP_MAX", ValueKind::kSize},
    {"high", "MEMGROUP_HIGH", ValueKind::kSize},
    {"low", "MEMGROUP_LOW", ValueKind::kRootProtection},
    {"min", "MEMGROUP_MIN", ValueKind::kRootProtection},
    {"oom", "MEMGROUP_OOM", ValueKind::kOomPolicy},
    {"stats", "MEMGROUP_STATS", ValueKind::kStats},
    {"engine", "MEMGROUP_ENGINE", ValueKind::kEngine},
    {"fault", "MEMGROUP_FAULT", ValueKind::kProbability},
    {"fault-seed", "MEMGROUP_FAULT_SEED", ValueKind::kSeed},
    {"check", "MEMGROUP_CHECK", ValueKind::kSwitch},
    {"control", "MEMGROUP_CONTROL", ValueKind::kSwitch},
};

const RunFlag* FindFlag(absl::string_view name) {
  for (const RunFlag& flag : kRunFlags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (!name.empty() && name.front() == '/') return std::string(name);
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

// The message for a value refused by one of base/parse_config.h's parsers.
absl::Status BadValue(const RunFlag& flag, const std::string& value,
                      ParseConfigError e, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid value for --", flag.name, ": '", value, "': ",
                   ParseConfigErrorString(e), "; expected ", expected));
}

// Runs the library's parser for a value of `kind` (not a size or a path);
// *expected: what that parser accepts, for the message.
ParseConfigError CheckWord(ValueKind kind, const char* value,
                           const char** expected) {
  switch (kind) {
    case ValueKind::kOomPolicy: {
      OomSetting setting;
      *expected = kOomPolicyExpected;
      return ParseOomPolicy(value, &setting);
    }
    case ValueKind::kEngine:
      *expected = kEngineExpected;
      return ParseEngineName(value);
    case ValueKind::kProbability: {
      double p = 0;
      *expected = kProbabilityExpected;
      return ParseProbability(value, &p);
    }
    case ValueKind::kSeed: {
      uint64_t seed = 0;
      *expected = kSeedExpected;
      return ParseSeed(value, &seed);
    }
    case ValueKind::kSwitch: {
      bool on = false;
      *expected = kSwitchExpected;
      return ParseSwitch(value, &on);
    }
    default:
      *expected = "a valid value";
      return ParseConfigError::kUnknown;
  }
}

// Checks and converts one option value; returns the value for the variable.
// Every check is the library's own parser (src/base), so that the command
// and the environment accept exactly the same values.
absl::StatusOr<std::string> ConvertValue(const RunFlag& flag,
                                         const std::string& value,
                                         absl::string_view cwd, bool nested) {
  ValueKind kind = flag.kind;
  if (kind == ValueKind::kRootProtection && nested) kind = ValueKind::kSize;
  switch (kind) {
    case ValueKind::kSize: {
      int64_t bytes = 0;
      SizeError e = ParseSize(value, &bytes);
      if (e != SizeError::kOk) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid size for --", flag.name, ": '", value,
            "': ", SizeErrorString(e),
            "; expected bytes with an optional K, M, G or T suffix, or max"));
      }
      return value;
    }
    case ValueKind::kRootProtection:
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag.name, " ", kRootProtectionRefused,
          " (it protects a job started inside another job)"));
    case ValueKind::kOomPolicy:
    case ValueKind::kEngine:
    case ValueKind::kProbability:
    case ValueKind::kSeed:
    case ValueKind::kSwitch: {
      const char* expected = nullptr;
      ParseConfigError e = CheckWord(flag.kind, value.c_str(), &expected);
      if (e != ParseConfigError::kOk) return BadValue(flag, value, e, expected);
      return value;
    }
    case ValueKind::kStats: {
      if (value.empty()) {
        return absl::InvalidArgumentError(
            "invalid value for --stats: empty; expected a file or -");
      }
      std::string path = value == "-" ? "stderr" : JoinPath(cwd, value);
      // The library's own check of MEMGROUP_STATS: its buffer is bounded.
      if (ParseConfigError e = ParseStatsPath(path.c_str());
          e != ParseConfigError::kOk) {
        return absl::InvalidArgumentError(absl::StrCat(
            "invalid value for --stats: '", value, "': ",
            ParseConfigErrorString(e), "; expected a path shorter than ",
            kStatsPathCapacity, " bytes once made absolute"));
      }
      return path;
    }
  }
  return absl::InternalError("unreachable");
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

absl::StatusOr<RunOptions> ParseRunArgs(absl::Span<const std::string> args,
                                        absl::string_view cwd, bool nested) {
  RunOptions options;
  std::vector<const RunFlag*> given;  // the options seen so far
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    if (arg == "-h" || arg == "--help") {
      options.help = true;
      return options;
    }
    if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      if (!arg.empty() && arg.front() == '-') {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown option '", arg, "'"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat("expected '--' before the program '", arg, "'"));
    }
    absl::string_view body = absl::string_view(arg).substr(2);
    absl::string_view name = body;
    std::string value;
    bool has_inline_value = false;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = std::string(body.substr(eq + 1));
      has_inline_value = true;
    }
    if (name == "oom-group") {
      // A switch: it takes no value, and saying it twice is a mistake.
      if (has_inline_value) {
        return absl::InvalidArgumentError(
            "option '--oom-group' takes no value");
      }
      if (options.oom_group) {
        return absl::InvalidArgumentError(
            "option '--oom-group' given more than once");
      }
      options.oom_group = true;
      continue;
    }
    const RunFlag* flag = FindFlag(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '--", name, "'"));
    }
    if (!has_inline_value) {
      if (i + 1 >= args.size() || args[i + 1] == "--") {
        return absl::InvalidArgumentError(
            absl::StrCat("option '--", name, "' requires a value"));
      }
      value = args[++i];
    }
    // Each option once: a second value would silently override the first
    // (whatever option kRunFlags gains, this check covers it).
    for (const RunFlag* seen : given) {
      if (seen == flag) {
        return absl::InvalidArgumentError(absl::StrCat(
            "option '--", name, "' given more than once"));
      }
    }
    given.push_back(flag);
    absl::StatusOr<std::string> converted = ConvertValue(*flag, value, cwd, nested);
    if (!converted.ok()) return converted.status();
    options.env.emplace_back(std::string(flag->env), *std::move(converted));
  }
  if (i >= args.size()) {
    return absl::InvalidArgumentError("missing '-- PROGRAM'");
  }
  ++i;  // skip "--"
  if (i >= args.size() || args[i].empty()) {
    return absl::InvalidArgumentError("missing PROGRAM after '--'");
  }
  options.argv.assign(args.begin() + static_cast<ptrdiff_t>(i), args.end());
  return options;
}

absl::Status CheckStatsDestination(const RunOptions& options) {
  for (const auto& [name, value] : options.env) {
    if (name != "MEMGROUP_STATS") continue;
    if (int e = StatsPathWriteError(value.c_str()); e != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid value for --stats: '", value, "': ", kStatsPathUnwritable,
          ": ", strerrordesc_np(e), " (", strerrorname_np(e), ")"));
    }
  }
  return absl::OkStatus();
}

std::string ComposePreload(absl::string_view library,
                           absl::string_view existing) {
  std::vector<absl::string_view> entries = {library};
  for (absl::string_view entry :
       absl::StrSplit(existing, absl::ByAnyChar(" :"), absl::SkipEmpty())) {
    if (entry != library) entries.push_back(entry);
  }
  return absl::StrJoin(entries, ":");
}

absl::StatusOr<std::string> FindLibrary(const char* env_library,
                                        absl::string_view exe_dir,
                                        absl::string_view cwd) {
  if (env_library != nullptr) {
    std::string path = JoinPath(cwd, env_library);
    if (absl::string_view(env_library).empty() || !IsRegularFile(path)) {
      return absl::NotFoundError(absl::StrCat("MEMGROUP_LIBRARY='", env_library,
                                              "' is not an existing file"));
    }
    if (path.find_first_of(" :") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "MEMGROUP_LIBRARY='", path,
          "' contains a space or colon and cannot go in LD_PRELOAD"));
    }
    return path;
  }
  const std::string candidates[] = {
      JoinPath(exe_dir, "libmemgroup.so"),
      JoinPath(exe_dir, "../lib/libmemgroup.so"),
      JoinPath(exe_dir, "../lib/x86_64-linux-gnu/libmemgroup.so"),
  };
  for (const std::string& path : candidates) {
    if (IsRegularFile(path) && path.find_first_of(" :") == std::string::npos) {
      return path;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("cannot find libmemgroup.so (looked in ",
                   absl::StrJoin(candidates, ", "), "); set MEMGROUP_LIBRARY"));
}

}  // namespace memgroup::internal::cli
