// Implements parse_env.h. Allocates: never.
#include "base/parse_env.h"

#include <cstring>

#include "base/parse_size.h"
#include "base/raw_log.h"

namespace memgroup::internal {
namespace {

// Fills *err for a known variable with a bad value; returns false.
bool BadValue(EnvError* err, const char* expected) {
  err->kind = EnvErrorKind::kBadValue;
  RawFormat(err->expected, sizeof(err->expected), "%s", expected);
  return false;
}

// A value refused by one of parse_config.h's parsers.
bool BadWord(EnvError* err, ParseConfigError e, const char* expected) {
  err->kind = EnvErrorKind::kBadValue;
  RawFormat(err->expected, sizeof(err->expected), "%s (%s)", expected,
            ParseConfigErrorString(e));
  return false;
}

bool Size(const char* value, int64_t* out, EnvError* err) {
  ParseSizeError e = ParseSize(value, out);
  if (e == ParseSizeError::kOk) return true;
  err->kind = EnvErrorKind::kBadValue;
  RawFormat(err->expected, sizeof(err->expected),
            "a size like 512M, 1G, 4096 or max (%s)", ParseSizeErrorString(e));
  return false;
}

bool ZeroOrOne(const char* value, bool* out, EnvError* err) {
  if (ParseSwitch(value, out) != ParseConfigError::kOk) {
    return BadValue(err, kSwitchExpected);
  }
  return true;
}

// Checks one MEMGROUP_* variable and records it in *out. On refusal fills
// err->kind and err->expected (the caller has set name and value).
bool Accept(const char* name, const char* value, EnvSettings* out,
            EnvError* err) {
  if (strcmp(name, "MEMGROUP_MAX") == 0) {
    out->has_max = true;
    return Size(value, &out->max, err);
  }
  if (strcmp(name, "MEMGROUP_HIGH") == 0) {
    out->has_high = true;
    return Size(value, &out->high, err);
  }
  if (strcmp(name, "MEMGROUP_LOW") == 0 || strcmp(name, "MEMGROUP_MIN") == 0) {
    err->kind = EnvErrorKind::kRefused;
    return false;
  }
  if (strcmp(name, "MEMGROUP_OOM") == 0) {
    ParseConfigError e = ParseOomPolicy(value, &out->oom);
    if (e != ParseConfigError::kOk) return BadWord(err, e, kOomPolicyExpected);
    out->has_oom = true;
    return true;
  }
  if (strcmp(name, "MEMGROUP_STATS") == 0) {
    ParseConfigError e = ParseStatsPath(value);
    if (e == ParseConfigError::kEmpty) {
      return BadValue(err, "stderr or a file path");
    }
    if (e != ParseConfigError::kOk) {
      return BadValue(err, "a path shorter than 512 bytes");
    }
    out->stats_path = value;
    return true;
  }
  if (strcmp(name, "MEMGROUP_ENGINE") == 0) {
    ParseConfigError e = ParseEngineName(value, &out->engine);
    if (e != ParseConfigError::kOk) return BadWord(err, e, kEngineExpected);
    out->has_engine = true;
    return true;
  }
  if (strcmp(name, "MEMGROUP_CONTROL") == 0) {
    out->has_control = true;
    return ZeroOrOne(value, &out->control, err);
  }
  if (strcmp(name, "MEMGROUP_FAULT") == 0) {
    ParseConfigError e = ParseProbability(value, &out->fault);
    if (e != ParseConfigError::kOk) {
      return BadWord(err, e, kProbabilityExpected);
    }
    out->has_fault = true;
    return true;
  }
  if (strcmp(name, "MEMGROUP_FAULT_SEED") == 0) {
    ParseConfigError e = ParseSeed(value, &out->fault_seed);
    if (e != ParseConfigError::kOk) return BadWord(err, e, kSeedExpected);
    out->has_fault_seed = true;
    return true;
  }
  if (strcmp(name, "MEMGROUP_CHECK") == 0) {
    out->has_check = true;
    return ZeroOrOne(value, &out->check, err);
  }
  if (strcmp(name, "MEMGROUP_JOB") == 0) {
    if (value[0] != '/') {
      return BadValue(err, "the absolute path of a job control block");
    }
    out->job_path = value;
    return true;
  }
  if (strcmp(name, "MEMGROUP_LIBRARY") == 0) {
    return true;  // read by the memgroup command, which passes it on
  }
  err->kind = EnvErrorKind::kUnknownName;
  return false;
}

}  // namespace

bool ParseEnvironment(const char* const* env, EnvSettings* out,
                      EnvError* err) {
  *out = EnvSettings();
  *err = EnvError();
  if (env == nullptr) return true;
  for (const char* const* e = env; *e != nullptr; ++e) {
    const char* entry = *e;
    if (strncmp(entry, "MEMGROUP_", 9) != 0) continue;
    const char* eq = strchr(entry, '=');
    if (eq == nullptr) continue;
    size_t n = static_cast<size_t>(eq - entry);
    if (n >= sizeof(err->name)) n = sizeof(err->name) - 1;
    memcpy(err->name, entry, n);
    err->name[n] = '\0';
    err->value = eq + 1;
    if (!Accept(err->name, err->value, out, err)) return false;
  }
  *err = EnvError();
  return true;
}

size_t FormatEnvError(const EnvError& err, char* buf, size_t cap) {
  switch (err.kind) {
    case EnvErrorKind::kNone:
      break;
    case EnvErrorKind::kBadValue:
      return RawFormat(buf, cap, "memgroup: invalid %s='%s': expected %s\n",
                       err.name, err.value, err.expected);
    case EnvErrorKind::kRefused:
      return RawFormat(buf, cap, "memgroup: %s='%s' refused: %s %s\n",
                       err.name, err.value,
                       strcmp(err.name, "MEMGROUP_LOW") == 0 ? "low" : "min",
                       kRootProtectionRefused);
    case EnvErrorKind::kUnknownName:
      return RawFormat(buf, cap,
                       "memgroup: unknown environment variable %s='%s' "
                       "(known: MEMGROUP_MAX HIGH OOM STATS ENGINE CONTROL "
                       "FAULT FAULT_SEED CHECK JOB)\n",
                       err.name, err.value);
  }
  return RawFormat(buf, cap, "%s", "");
}

}  // namespace memgroup::internal
