// Fuzz target for the environment as a whole (src/base/parse_env, what the
// library runs on environ at start). The input is cut at NULs into entries;
// an entry whose first byte is 1 to 12 is that variable of kNames with the
// rest as its value, any other entry is used verbatim ("NAME=VALUE", or
// anything). Properties: ParseEnvironment agrees with a reference walk of
// the environment (non-MEMGROUP_ entries and entries without '=' ignored;
// the first refused entry is reported, with its name cut to 63 characters
// and a pointer to its own value; a repeated variable's last entry wins);
// the settings equal the values' own parsers' results; the message is
// exactly the line the library printed before the validation was split out
// of env_config.cc (same formats, same 1024-byte truncation), and
// FormatEnvError never writes past a small buffer.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/parse_config.h"
#include "base/parse_env.h"
#include "base/parse_size.h"
#include "fuzz_support.h"

namespace memgroup::fuzz {
namespace {

using internal::EnvError;
using internal::EnvErrorKind;
using internal::EnvSettings;
using internal::ParseConfigError;
using internal::ParseSizeError;

constexpr const char* kNames[] = {
    "MEMGROUP_MAX",   "MEMGROUP_HIGH",    "MEMGROUP_LOW",
    "MEMGROUP_MIN",   "MEMGROUP_OOM",     "MEMGROUP_STATS",
    "MEMGROUP_ENGINE", "MEMGROUP_CONTROL", "MEMGROUP_FAULT",
    "MEMGROUP_FAULT_SEED", "MEMGROUP_CHECK", "MEMGROUP_LIBRARY",
    "MEMGROUP_JOB"};
constexpr size_t kNameCount = sizeof(kNames) / sizeof(kNames[0]);

std::string ConfigWhy(const char* expected, ParseConfigError e) {
  return std::string(expected) + " (" + internal::ParseConfigErrorString(e) +
         ")";
}

// The reference: whether `name`=`value` is accepted, and if not the kind
// of refusal and, for a bad value, the "expected ..." text the library
// has always printed for it.
EnvErrorKind ModelEntry(const std::string& name, const char* value,
                        std::string* expected) {
  const std::string_view v(value);
  if (name == "MEMGROUP_MAX" || name == "MEMGROUP_HIGH") {
    int64_t bytes = 0;
    ParseSizeError e = internal::ParseSize(value, &bytes);
    if (e == ParseSizeError::kOk) return EnvErrorKind::kNone;
    *expected = std::string("a size like 512M, 1G, 4096 or max (") +
                internal::ParseSizeErrorString(e) + ")";
    return EnvErrorKind::kBadValue;
  }
  if (name == "MEMGROUP_LOW" || name == "MEMGROUP_MIN") {
    return EnvErrorKind::kRefused;
  }
  if (name == "MEMGROUP_OOM") {
    internal::OomSetting s;
    ParseConfigError e = internal::ParseOomPolicy(value, &s);
    if (e == ParseConfigError::kOk) return EnvErrorKind::kNone;
    *expected = ConfigWhy(internal::kOomPolicyExpected, e);
    return EnvErrorKind::kBadValue;
  }
  if (name == "MEMGROUP_STATS") {
    if (v.empty()) {
      *expected = "stderr or a file path";
      return EnvErrorKind::kBadValue;
    }
    if (v.size() >= 512) {
      *expected = "a path shorter than 512 bytes";
      return EnvErrorKind::kBadValue;
    }
    return EnvErrorKind::kNone;
  }
  if (name == "MEMGROUP_ENGINE") {
    const std::string w = Lower(Trimmed(v));
    if (w == "jemalloc") return EnvErrorKind::kNone;
    *expected = ConfigWhy(internal::kEngineExpected,
                          w.empty() ? ParseConfigError::kEmpty
                                    : ParseConfigError::kUnknown);
    return EnvErrorKind::kBadValue;
  }
  if (name == "MEMGROUP_CONTROL" || name == "MEMGROUP_CHECK") {
    if (v == "0" || v == "1") return EnvErrorKind::kNone;
    *expected = "0 or 1";
    return EnvErrorKind::kBadValue;
  }
  if (name == "MEMGROUP_FAULT") {
    double p = 0;
    ParseConfigError e = internal::ParseProbability(value, &p);
    if (e == ParseConfigError::kOk) return EnvErrorKind::kNone;
    *expected = ConfigWhy(internal::kProbabilityExpected, e);
    return EnvErrorKind::kBadValue;
  }
  if (name == "MEMGROUP_FAULT_SEED") {
    uint64_t s = 0;
    ParseConfigError e = internal::ParseSeed(value, &s);
    if (e == ParseConfigError::kOk) return EnvErrorKind::kNone;
    *expected = ConfigWhy(internal::kSeedExpected, e);
    return EnvErrorKind::kBadValue;
  }
  if (name == "MEMGROUP_LIBRARY") return EnvErrorKind::kNone;
  if (name == "MEMGROUP_JOB") {
    if (!v.empty() && v[0] == '/') return EnvErrorKind::kNone;
    *expected = "the absolute path of a job control block";
    return EnvErrorKind::kBadValue;
  }
  return EnvErrorKind::kUnknownName;
}

// The line the library printed for a refused entry before parse_env
// existed (env_config.cc's RawPrint formats), before truncation.
std::string ModelMessage(EnvErrorKind kind, const std::string& name,
                         const char* value, const std::string& expected) {
  switch (kind) {
    case EnvErrorKind::kBadValue:
      return "memgroup: invalid " + name + "='" + value + "': expected " +
             expected + "\n";
    case EnvErrorKind::kRefused:
      return "memgroup: " + name + "='" + value + "' refused: " +
             (name == "MEMGROUP_LOW" ? "low " : "min ") +
             internal::kRootProtectionRefused + "\n";
    case EnvErrorKind::kUnknownName:
      return "memgroup: unknown environment variable " + name + "='" + value +
             "' (known: MEMGROUP_MAX HIGH OOM STATS ENGINE CONTROL FAULT "
             "FAULT_SEED CHECK JOB)\n";
    case EnvErrorKind::kNone:
      break;
  }
  return "";
}

std::string Describe(const std::vector<CString>& entries) {
  std::string out = "environment:";
  for (const CString& e : entries) out += " '" + Escaped(e.get()) + "'";
  return out;
}

void CheckEnvironment(const std::vector<CString>& entries) {
  std::vector<const char*> env;
  for (const CString& e : entries) env.push_back(e.get());
  env.push_back(nullptr);
  const std::string ctx = Describe(entries);

  EnvSettings got;
  EnvError err;
  const bool ok = internal::ParseEnvironment(env.data(), &got, &err);

  // The reference walk.
  size_t bad = entries.size();
  EnvErrorKind bad_kind = EnvErrorKind::kNone;
  std::string bad_name, expected;
  const char* last[kNameCount] = {};
  for (size_t i = 0; i < entries.size() && bad == entries.size(); ++i) {
    const char* entry = entries[i].get();
    if (strncmp(entry, "MEMGROUP_", 9) != 0) continue;
    const char* eq = strchr(entry, '=');
    if (eq == nullptr) continue;
    const std::string name(entry, eq);
    EnvErrorKind k = ModelEntry(name, eq + 1, &expected);
    if (k != EnvErrorKind::kNone) {
      bad = i;
      bad_kind = k;
      bad_name = name;
      continue;
    }
    for (size_t n = 0; n < kNameCount; ++n) {
      if (name == kNames[n]) last[n] = eq + 1;
    }
  }

  FUZZ_CHECK(ok == (bad == entries.size()),
             ctx + ": ParseEnvironment " + (ok ? "accepted" : "refused") +
                 " it, the reference did the opposite");
  if (!ok) {
    const char* entry = entries[bad].get();
    const char* value = strchr(entry, '=') + 1;
    FUZZ_CHECK(err.kind == bad_kind,
               ctx + ": error kind " + std::to_string(static_cast<int>(err.kind)) +
                   ", reference " + std::to_string(static_cast<int>(bad_kind)));
    FUZZ_CHECK(err.value == value,
               ctx + ": the error does not point at entry " + std::to_string(bad));
    const std::string cut = bad_name.substr(0, internal::kEnvNameCapacity - 1);
    FUZZ_CHECK(cut == err.name,
               ctx + ": error name '" + Escaped(err.name) + "'");
    if (bad_kind == EnvErrorKind::kBadValue) {
      FUZZ_CHECK(expected == err.expected,
                 ctx + ": expected '" + Escaped(err.expected) + "', reference '" +
                     Escaped(expected) + "'");
    }
    // The printed line: the old formats, in RawPrint's 1024-byte buffer.
    const std::string full = ModelMessage(bad_kind, cut, value, expected);
    char line[1024];
    const size_t n = internal::FormatEnvError(err, line, sizeof(line));
    FUZZ_CHECK(std::string_view(line, n) == full.substr(0, sizeof(line) - 1),
               ctx + ": message '" + Escaped(std::string_view(line, n)) +
                   "', reference '" + Escaped(full) + "'");
    for (size_t cap : {size_t{1}, size_t{2}, size_t{17}, size_t{80}}) {
      std::unique_ptr<char[]> small(new char[cap]);
      const size_t m = internal::FormatEnvError(err, small.get(), cap);
      FUZZ_CHECK(m == std::min(full.size(), cap - 1) && small[m] == '\0' &&
                     full.compare(0, m, small.get()) == 0,
                 ctx + ": FormatEnvError with cap " + std::to_string(cap));
    }
    return;
  }

  FUZZ_CHECK(err.kind == EnvErrorKind::kNone, ctx + ": error set on success");
  // Each setting is its last entry, as its own parser reads it.
  auto has = [&](const char* name) {
    for (size_t n = 0; n < kNameCount; ++n) {
      if (strcmp(kNames[n], name) == 0) return last[n];
    }
    return static_cast<const char*>(nullptr);
  };
  const char* v = has("MEMGROUP_MAX");
  FUZZ_CHECK(got.has_max == (v != nullptr), ctx + ": has_max");
  int64_t bytes = 0;
  if (v) {
    FUZZ_CHECK(internal::ParseSize(v, &bytes) == ParseSizeError::kOk &&
                   bytes == got.max,
               ctx + ": max " + std::to_string(got.max));
  }
  v = has("MEMGROUP_HIGH");
  FUZZ_CHECK(got.has_high == (v != nullptr), ctx + ": has_high");
  if (v) {
    FUZZ_CHECK(internal::ParseSize(v, &bytes) == ParseSizeError::kOk &&
                   bytes == got.high,
               ctx + ": high " + std::to_string(got.high));
  }
  v = has("MEMGROUP_OOM");
  FUZZ_CHECK(got.has_oom == (v != nullptr), ctx + ": has_oom");
  if (v) {
    internal::OomSetting s;
    FUZZ_CHECK(internal::ParseOomPolicy(v, &s) == ParseConfigError::kOk &&
                   s.policy == got.oom.policy && s.wait_ns == got.oom.wait_ns,
               ctx + ": oom");
  } else {
    FUZZ_CHECK(got.oom.policy == internal::OomPolicyChoice::kEnomem &&
                   got.oom.wait_ns == -1,
               ctx + ": default oom");
  }
  FUZZ_CHECK(got.stats_path == has("MEMGROUP_STATS"), ctx + ": stats path");
  FUZZ_CHECK(got.has_engine == (has("MEMGROUP_ENGINE") != nullptr),
             ctx + ": engine");
  v = has("MEMGROUP_CONTROL");
  FUZZ_CHECK(got.has_control == (v != nullptr) &&
                 (!v || got.control == (v[0] == '1')),
             ctx + ": control");
  v = has("MEMGROUP_CHECK");
  FUZZ_CHECK(got.has_check == (v != nullptr) &&
                 (!v || got.check == (v[0] == '1')),
             ctx + ": check");
  v = has("MEMGROUP_FAULT");
  FUZZ_CHECK(got.has_fault == (v != nullptr), ctx + ": has_fault");
  if (v) {
    double p = -1;
    FUZZ_CHECK(internal::ParseProbability(v, &p) == ParseConfigError::kOk &&
                   p == got.fault,
               ctx + ": fault");
  }
  FUZZ_CHECK(got.job_path == has("MEMGROUP_JOB"), ctx + ": job path");
  v = has("MEMGROUP_FAULT_SEED");
  FUZZ_CHECK(got.has_fault_seed == (v != nullptr), ctx + ": has_fault_seed");
  if (v) {
    uint64_t seed = 0;
    FUZZ_CHECK(internal::ParseSeed(v, &seed) == ParseConfigError::kOk &&
                   seed == got.fault_seed,
               ctx + ": fault seed");
  }
}

}  // namespace
}  // namespace memgroup::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memgroup::fuzz;
  std::vector<CString> entries;
  for (const std::string& part : SplitAtNul(data, size)) {
    const unsigned char first = part.empty() ? 0 : static_cast<unsigned char>(part[0]);
    if (first >= 1 && static_cast<size_t>(first) <= kNameCount) {
      entries.emplace_back(std::string(kNames[first - 1]) + "=" + part.substr(1));
    } else {
      entries.emplace_back(part);
    }
  }
  CheckEnvironment(entries);
  // An empty environment (nullptr) is accepted with the defaults.
  EnvSettings s;
  EnvError e;
  FUZZ_CHECK(memgroup::internal::ParseEnvironment(nullptr, &s, &e) && !s.has_max,
             std::string("nullptr environment"));
  return 0;
}
