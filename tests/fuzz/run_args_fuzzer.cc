// Fuzz target for the command line of `memgroup run` (src/cli/run.cc
// ParseRunArgs) and for its agreement with the library's environment. The
// input is cut at NULs into the arguments that follow `run`. Properties:
// a refusal is an InvalidArgument with a message; an accepted command's
// program is exactly the arguments after the first "--", and its
// variables (plus MEMGROUP_CONTROL=1, as ExecRun sets) form an environment
// that ParseEnvironment accepts, with the values the command checked; and
// for every argument (and every "--opt=VALUE" value) taken as the value of
// each option, `--opt VALUE`, `--opt=VALUE` and MEMGROUP_OPT=VALUE (the
// stats path made absolute, "-" as "stderr") are all accepted or all
// refused, the command passes the value on unchanged, the refusals name
// the same setting, and the command's size parser answers as src/base's.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/parse_env.h"
#include "base/parse_size.h"
#include "cli/run.h"
#include "cli/size.h"
#include "fuzz_support.h"

namespace memgroup::fuzz {
namespace {

using internal::EnvError;
using internal::EnvSettings;
using internal::cli::ParseRunArgs;
using internal::cli::RunOptions;

constexpr char kCwd[] = "/srv/app";

struct Flag {
  const char* option;  // without "--"
  const char* var;
  bool is_stats;
  bool is_size;
};
constexpr Flag kFlags[] = {
    {"max", "MEMGROUP_MAX", false, true},
    {"high", "MEMGROUP_HIGH", false, true},
    {"low", "MEMGROUP_LOW", false, false},
    {"min", "MEMGROUP_MIN", false, false},
    {"oom", "MEMGROUP_OOM", false, false},
    {"stats", "MEMGROUP_STATS", true, false},
    {"engine", "MEMGROUP_ENGINE", false, false},
    {"fault", "MEMGROUP_FAULT", false, false},
    {"fault-seed", "MEMGROUP_FAULT_SEED", false, false},
};

std::string Describe(const std::vector<std::string>& args) {
  std::string out = "memgroup run";
  for (const std::string& a : args) out += " '" + Escaped(a) + "'";
  return out;
}

// ParseEnvironment on NAME=VALUE entries; owns the strings that the
// settings and the error point into.
struct EnvRun {
  explicit EnvRun(const std::vector<std::string>& entries) {
    std::vector<const char*> env;
    for (const std::string& e : entries) owned.emplace_back(e);
    for (const CString& e : owned) env.push_back(e.get());
    env.push_back(nullptr);
    ok = internal::ParseEnvironment(env.data(), &settings, &err);
  }
  std::string Refusal() const {
    return std::string(err.name) + "='" +
           Escaped(err.value != nullptr ? err.value : "") + "': " +
           err.expected;
  }
  std::vector<CString> owned;
  EnvSettings settings;
  EnvError err;
  bool ok = false;
};

// What the command sets for `value` of a stats option.
std::string StatsVariable(const std::string& value) {
  if (value == "-") return "stderr";
  if (!value.empty() && value.front() == '/') return value;
  return std::string(kCwd) + "/" + value;
}

void CheckWholeCommand(const std::vector<std::string>& args) {
  const std::string ctx = Describe(args);
  absl::StatusOr<RunOptions> r = ParseRunArgs(args, kCwd);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == absl::StatusCode::kInvalidArgument &&
                   !r.status().message().empty(),
               ctx + ": " + r.status().ToString());
    return;
  }
  if (r->help) return;
  size_t k = 0;
  while (k < args.size() && args[k] != "--") ++k;
  FUZZ_CHECK(k < args.size(), ctx + ": accepted without '--'");
  const std::vector<std::string> program(args.begin() + k + 1, args.end());
  FUZZ_CHECK(r->argv == program && !r->argv.empty() && !r->argv[0].empty(),
             ctx + ": the program is not what follows the first '--'");

  // The command's variables, as ExecRun sets them, satisfy the library.
  std::vector<std::string> entries;
  for (size_t i = 0; i < r->env.size(); ++i) {
    const auto& [name, value] = r->env[i];
    bool known = false;
    for (const Flag& f : kFlags) known = known || name == f.var;
    FUZZ_CHECK(known, ctx + ": sets unknown variable " + name);
    for (size_t j = 0; j < i; ++j) {
      FUZZ_CHECK(r->env[j].first != name, ctx + ": sets " + name + " twice");
    }
    entries.push_back(name + "=" + value);
  }
  entries.push_back("MEMGROUP_CONTROL=1");
  const EnvRun lib(entries);
  const EnvSettings& s = lib.settings;
  FUZZ_CHECK(lib.ok, ctx + ": the command accepted it but the library "
                           "refuses " + lib.Refusal());
  for (const auto& [name, value] : r->env) {
    if (name == "MEMGROUP_MAX" || name == "MEMGROUP_HIGH") {
      int64_t bytes = -1;
      FUZZ_CHECK(internal::cli::ParseSize(value, &bytes) ==
                         internal::cli::SizeError::kOk &&
                     bytes == (name == "MEMGROUP_MAX" ? s.max : s.high),
                 ctx + ": " + name + " differs between command and library");
    } else if (name == "MEMGROUP_STATS") {
      FUZZ_CHECK(s.stats_path != nullptr && value == s.stats_path,
                 ctx + ": stats path differs");
    }
  }
}

// One value for every option, three ways.
void CheckValue(const std::string& value) {
  const std::string vctx = "value '" + Escaped(value) + "'";
  for (const Flag& f : kFlags) {
    const std::string opt = std::string("--") + f.option;
    const std::string ctx = vctx + " of " + opt;
    const std::vector<std::string> inline_args = {opt + "=" + value, "--",
                                                  "prog"};
    absl::StatusOr<RunOptions> in = ParseRunArgs(inline_args, kCwd);
    if (value != "--") {
      absl::StatusOr<RunOptions> sep =
          ParseRunArgs(std::vector<std::string>{opt, value, "--", "prog"}, kCwd);
      FUZZ_CHECK(sep.ok() == in.ok() && (!in.ok() || sep->env == in->env),
                 ctx + ": '" + opt + " VALUE' and '" + opt +
                     "=VALUE' differ");
    }
    const std::string env_value = f.is_stats ? StatsVariable(value) : value;
    const EnvRun lib({std::string(f.var) + "=" + env_value});
    const bool env_ok = lib.ok;
    if (f.is_stats && value.empty()) {
      FUZZ_CHECK(!in.ok(), ctx + ": an empty stats path was accepted");
    } else {
      FUZZ_CHECK(in.ok() == env_ok,
                 ctx + ": the command " + (in.ok() ? "accepts" : "refuses") +
                     " it, " + f.var + "='" + Escaped(env_value) +
                     "' is " + (env_ok ? "accepted" : "refused") +
                     (in.ok() ? ": " + lib.Refusal()
                              : ": " + std::string(in.status().message())));
    }
    if (in.ok()) {
      FUZZ_CHECK(in->env.size() == 1 && in->env[0].first == f.var &&
                     in->env[0].second == env_value,
                 ctx + ": the command does not pass the value on as " +
                     f.var + "='" + Escaped(env_value) + "'");
    } else {
      FUZZ_CHECK(in.status().message().find(opt) != std::string_view::npos,
                 ctx + ": the message does not name " + opt + ": " +
                     std::string(in.status().message()));
      if (!env_ok) {
        FUZZ_CHECK(std::string_view(lib.err.name) == f.var,
                   ctx + ": the library names " + lib.err.name);
      }
    }
    if (f.is_size) {
      int64_t a = -1, b = -1;
      const auto ce = internal::cli::ParseSize(value, &a);
      const auto be = internal::ParseSize(CString(value).get(), &b);
      FUZZ_CHECK(static_cast<int>(ce) == static_cast<int>(be) &&
                     (be != internal::ParseSizeError::kOk || a == b),
                 ctx + ": the command's size parser differs");
      FUZZ_CHECK(std::string_view(internal::cli::SizeErrorString(ce)) ==
                     internal::ParseSizeErrorString(be),
                 ctx + ": size error strings differ");
    }
  }
}

}  // namespace
}  // namespace memgroup::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgroup::fuzz;
  const std::vector<std::string> args = SplitAtNul(data, size);
  CheckWholeCommand(args);
  // Every argument, and the value of every "--opt=VALUE", as a value of
  // each option (the first 16: the cost is per option and per value).
  size_t checked = 0;
  for (const std::string& a : args) {
    if (checked++ == 16) break;
    CheckValue(a);
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      if (size_t eq = a.find('='); eq != std::string::npos) {
        CheckValue(a.substr(eq + 1));
      }
    }
  }
  return 0;
}
