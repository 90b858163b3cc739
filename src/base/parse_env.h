// Validation of the MEMGROUP_* environment as a whole: a pure function from
// an environment block (NAME=VALUE entries, like environ) to the settings
// it asks for, or to the first malformed, refused or unknown variable and
// the one-line message the library prints for it. alloc/env_config.cc
// applies the settings (or prints the message and exits 2); the fuzz
// targets call it directly. Values are checked by parse_size.h and
// parse_config.h, the parsers `memgroup run` uses too.
// Allocates: never (usable before main under LD_PRELOAD).
#ifndef MEMGROUP_SRC_BASE_PARSE_ENV_H_
#define MEMGROUP_SRC_BASE_PARSE_ENV_H_

#include <cstddef>
#include <cstdint>

#include "base/parse_config.h"

namespace memgroup::internal {

// The settings of an environment. When a variable is repeated, its last
// entry wins. Pointers point into the environment's strings.
struct EnvSettings {
  bool has_max = false;
  int64_t max = 0;  // bytes, kUnlimited for "max"
  bool has_high = false;
  int64_t high = 0;
  bool has_oom = false;
  OomSetting oom;
  const char* stats_path = nullptr;  // MEMGROUP_STATS, as given
  bool has_engine = false;           // MEMGROUP_ENGINE
  EngineChoice engine = EngineChoice::kJemalloc;
  bool has_control = false;
  bool control = false;
  bool has_fault = false;
  double fault = 0;
  bool has_fault_seed = false;
  uint64_t fault_seed = 0;
  bool has_check = false;
  bool check = false;
  const char* job_path = nullptr;  // MEMGROUP_JOB, an absolute path
};

enum class EnvErrorKind {
  kNone,
  kBadValue,     // a known variable with a malformed value
  kRefused,      // MEMGROUP_LOW or MEMGROUP_MIN (see kRootProtectionRefused)
  kUnknownName,  // a MEMGROUP_* name the library does not know
};

// The first entry, in the environment's order, that is not accepted.
struct EnvError {
  EnvErrorKind kind = EnvErrorKind::kNone;
  // The entry's name, cut to 63 characters.
  char name[64] = {};
  // The entry's value (points into the environment).
  const char* value = nullptr;
  // kBadValue: what was expected, with the parser's reason.
  char expected[256] = {};
};

// The longest variable name kept in EnvError::name.
inline constexpr size_t kEnvNameCapacity = sizeof(EnvError::name);

// Reads every "MEMGROUP_NAME=VALUE" entry of `env` (a nullptr-terminated
// array; nullptr itself is an empty environment). Entries that do not start
// with "MEMGROUP_" or have no '=' are ignored. Returns true and fills *out
// (from a default EnvSettings) when every MEMGROUP_* entry is accepted;
// else returns false and fills *err for the first one that is not (*out is
// then unspecified).
[[nodiscard]] bool ParseEnvironment(const char* const* env, EnvSettings* out,
                                    EnvError* err);

// The line the library prints for `err` before exiting with status 2,
// newline included ("memgroup: invalid MEMGROUP_MAX='12Q': expected ...").
// Truncated to cap - 1 characters like RawFormat; returns the length.
size_t FormatEnvError(const EnvError& err, char* buf, size_t cap);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_PARSE_ENV_H_
