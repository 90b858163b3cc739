// Implements env_config.h. Written once by the initialising thread; the
// values are published to other threads by init's release store of Ready.
#include "alloc/env_config.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "base/parse_config.h"
#include "base/parse_size.h"
#include "base/raw_log.h"
#include "engine/engine.h"
#include "group/fault_injection.h"
#include "group/job_member.h"
#include "group/limits.h"
#include "group/registry.h"

extern char** environ;

namespace memgroup::internal::alloc {
namespace {

constinit char g_stats_path[512] = {};
constinit bool g_stats_enabled = false;

[[noreturn]] void ConfigError(const char* name, const char* value,
                              const char* expected) {
  RawPrint(2, "memgroup: invalid %s='%s': expected %s\n", name, value,
           expected);
  _exit(2);
}

int64_t ParseSizeOrDie(const char* name, const char* value) {
  int64_t bytes = 0;
  ParseSizeError e = ParseSize(value, &bytes);
  if (e != ParseSizeError::kOk) {
    char what[160];
    RawFormat(what, sizeof(what),
              "a size like 512M, 1G, 4096 or max (%s)", ParseSizeErrorString(e));
    ConfigError(name, value, what);
  }
  return bytes;
}

// A value refused by one of base/parse_config.h's parsers.
[[noreturn]] void BadValue(const char* name, const char* value,
                           ParseConfigError e, const char* expected) {
  char what[256];
  RawFormat(what, sizeof(what), "%s (%s)", expected, ParseConfigErrorString(e));
  ConfigError(name, value, what);
}

void ApplyOomPolicy(const char* name, const char* value) {
  OomSetting s;
  ParseConfigError e = ParseOomPolicy(value, &s);
  if (e != ParseConfigError::kOk) BadValue(name, value, e, kOomPolicyExpected);
  static_assert(static_cast<uint32_t>(OomPolicyChoice::kWait) ==
                    static_cast<uint32_t>(OomPolicy::kWait),
                "the parser's policies are the group layer's");
  GroupState& st = GlobalRegistry().state(kRootGroup);
  // Relaxed: single-threaded init, published by init's release store.
  st.oom_policy.store(static_cast<uint32_t>(s.policy),
                      std::memory_order_relaxed);
  st.oom_wait_ns.store(s.wait_ns, std::memory_order_relaxed);
}

void SetRootLimit(LimitKind kind, const char* name, const char* value) {
  (void)SetLimit(kRootGroup, kind, ParseSizeOrDie(name, value));
}

void SetStatsPath(const char* name, const char* value) {
  if (*value == '\0') ConfigError(name, value, "stderr or a file path");
  size_t len = strlen(value);
  if (len >= sizeof(g_stats_path)) {
    ConfigError(name, value, "a path shorter than 512 bytes");
  }
  memcpy(g_stats_path, value, len + 1);
  g_stats_enabled = true;
}

// MEMGROUP_JOB: the path of the job control block made by `memgroup run`.
void JoinJobOrDie(const char* name, const char* value) {
  if (*value != '/') {
    ConfigError(name, value, "the absolute path of a job control block");
  }
  if (InJob()) return;  // a repeated variable: the first one wins
  int err = 0;
  JobError e = JoinJob(value, &err);
  if (e != JobError::kOk) {
    if (err != 0) {
      RawPrint(2,
               "memgroup: invalid %s='%s': cannot join the job: %s (errno "
               "%d)\n",
               name, value, JobErrorString(e), err);
    } else {
      RawPrint(2, "memgroup: invalid %s='%s': cannot join the job: %s\n",
               name, value, JobErrorString(e));
    }
    _exit(2);
  }
}

// Applies one MEMGROUP_* variable.
void Apply(const char* name, const char* value) {
  if (strcmp(name, "MEMGROUP_MAX") == 0) {
    SetRootLimit(LimitKind::kMax, name, value);
  } else if (strcmp(name, "MEMGROUP_HIGH") == 0) {
    SetRootLimit(LimitKind::kHigh, name, value);
  } else if (strcmp(name, "MEMGROUP_LOW") == 0 ||
             strcmp(name, "MEMGROUP_MIN") == 0) {
    RawPrint(2, "memgroup: %s='%s' refused: %s %s\n", name, value,
             strcmp(name, "MEMGROUP_LOW") == 0 ? "low" : "min",
             kRootProtectionRefused);
    _exit(2);
  } else if (strcmp(name, "MEMGROUP_OOM") == 0) {
    ApplyOomPolicy(name, value);
  } else if (strcmp(name, "MEMGROUP_STATS") == 0) {
    SetStatsPath(name, value);
  } else if (strcmp(name, "MEMGROUP_ENGINE") == 0) {
    ParseConfigError e = ParseEngineName(value);
    if (e != ParseConfigError::kOk) BadValue(name, value, e, kEngineExpected);
  } else if (strcmp(name, "MEMGROUP_CONTROL") == 0) {
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
      ConfigError(name, value, "0 or 1");
    }
  } else if (strcmp(name, "MEMGROUP_FAULT") == 0) {
    double p = 0;
    ParseConfigError e = ParseProbability(value, &p);
    if (e != ParseConfigError::kOk) {
      BadValue(name, value, e, kProbabilityExpected);
    }
    SetFaultProbability(p);
  } else if (strcmp(name, "MEMGROUP_FAULT_SEED") == 0) {
    uint64_t seed = 0;
    ParseConfigError e = ParseSeed(value, &seed);
    if (e != ParseConfigError::kOk) BadValue(name, value, e, kSeedExpected);
    SetFaultSeed(seed);
  } else if (strcmp(name, "MEMGROUP_CHECK") == 0) {
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
      ConfigError(name, value, "0 or 1");
    }
    engine::SetCheckMode(value[0] == '1');
  } else if (strcmp(name, "MEMGROUP_JOB") == 0) {
    JoinJobOrDie(name, value);
  } else if (strcmp(name, "MEMGROUP_LIBRARY") == 0) {
    // Read by the memgroup command, which passes it on to children.
  } else {
    RawPrint(2,
             "memgroup: unknown environment variable %s='%s' (known: "
             "MEMGROUP_MAX HIGH OOM STATS ENGINE CONTROL FAULT FAULT_SEED "
             "CHECK JOB)\n",
             name, value);
    _exit(2);
  }
}

}  // namespace

void ConfigureFromEnvironment() {
  if (environ == nullptr) return;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* entry = *e;
    if (strncmp(entry, "MEMGROUP_", 9) != 0) continue;
    const char* eq = strchr(entry, '=');
    if (eq == nullptr) continue;
    char name[64];
    size_t n = static_cast<size_t>(eq - entry);
    if (n >= sizeof(name)) n = sizeof(name) - 1;
    memcpy(name, entry, n);
    name[n] = '\0';
    Apply(name, eq + 1);
  }
}

const char* StatsPath() { return g_stats_enabled ? g_stats_path : nullptr; }

}  // namespace memgroup::internal::alloc
