// Implements env_config.h. Written once by the initialising thread; the
// values are published to other threads by init's release store of Ready.
#include "alloc/env_config.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "base/parse_size.h"
#include "base/raw_log.h"
#include "engine/engine.h"
#include "group/fault_injection.h"
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

bool StartsWith(const char* s, const char* prefix, const char** rest) {
  size_t n = strlen(prefix);
  if (strncmp(s, prefix, n) != 0) return false;
  *rest = s + n;
  return true;
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

// Parses "0", "0.05", "1" into [0,1]. False on anything else.
bool ParseProbability(const char* s, double* out) {
  if (*s < '0' || *s > '9') return false;
  double v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  if (*s == '.') {
    ++s;
    double scale = 0.1;
    if (*s < '0' || *s > '9') return false;
    while (*s >= '0' && *s <= '9') {
      v += (*s++ - '0') * scale;
      scale /= 10;
    }
  }
  if (*s != '\0' || v > 1.0) return false;
  *out = v;
  return true;
}

void ApplyOomPolicy(const char* value) {
  GroupState& st = GlobalRegistry().state(kRootGroup);
  const char* rest;
  OomPolicy p;
  int64_t timeout_ns = -1;
  if (strcmp(value, "enomem") == 0) {
    p = OomPolicy::kEnomem;
  } else if (strcmp(value, "abort") == 0) {
    p = OomPolicy::kAbort;
  } else if (strcmp(value, "kill") == 0) {
    p = OomPolicy::kKill;
  } else if (strcmp(value, "wait") == 0) {
    p = OomPolicy::kWait;
  } else if (StartsWith(value, "wait:", &rest) && *rest != '\0') {
    p = OomPolicy::kWait;
    int64_t secs = 0;
    for (const char* c = rest; *c; ++c) {
      if (*c < '0' || *c > '9' || secs > 1000000000) {
        ConfigError("MEMGROUP_OOM", value,
                    "enomem, abort, kill, wait or wait:SECONDS");
      }
      secs = secs * 10 + (*c - '0');
    }
    timeout_ns = secs * 1000000000;
  } else {
    ConfigError("MEMGROUP_OOM", value,
                "enomem, abort, kill, wait or wait:SECONDS");
  }
  // Relaxed: single-threaded init, published by init's release store.
  st.oom_policy.store(static_cast<uint32_t>(p), std::memory_order_relaxed);
  st.oom_wait_ns.store(timeout_ns, std::memory_order_relaxed);
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

// Applies one MEMGROUP_* variable.
void Apply(const char* name, const char* value) {
  if (strcmp(name, "MEMGROUP_MAX") == 0) {
    SetRootLimit(LimitKind::kMax, name, value);
  } else if (strcmp(name, "MEMGROUP_HIGH") == 0) {
    SetRootLimit(LimitKind::kHigh, name, value);
  } else if (strcmp(name, "MEMGROUP_LOW") == 0) {
    SetRootLimit(LimitKind::kLow, name, value);
  } else if (strcmp(name, "MEMGROUP_MIN") == 0) {
    SetRootLimit(LimitKind::kMin, name, value);
  } else if (strcmp(name, "MEMGROUP_OOM") == 0) {
    ApplyOomPolicy(value);
  } else if (strcmp(name, "MEMGROUP_STATS") == 0) {
    SetStatsPath(name, value);
  } else if (strcmp(name, "MEMGROUP_ENGINE") == 0) {
    if (strcmp(value, "jemalloc") != 0) {
      ConfigError(name, value, "jemalloc (the only engine of this build)");
    }
  } else if (strcmp(name, "MEMGROUP_CONTROL") == 0) {
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
      ConfigError(name, value, "0 or 1");
    }
  } else if (strcmp(name, "MEMGROUP_FAULT") == 0) {
    double p;
    if (!ParseProbability(value, &p)) {
      ConfigError(name, value, "a probability between 0 and 1");
    }
    SetFaultProbability(p);
  } else if (strcmp(name, "MEMGROUP_CHECK") == 0) {
    if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
      ConfigError(name, value, "0 or 1");
    }
    engine::SetCheckMode(value[0] == '1');
  } else if (strcmp(name, "MEMGROUP_LIBRARY") == 0) {
    // Read by the memgroup command, which passes it on to children.
  } else {
    RawPrint(2,
             "memgroup: unknown environment variable %s='%s' (known: "
             "MEMGROUP_MAX HIGH LOW MIN OOM STATS ENGINE CONTROL FAULT CHECK)\n",
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
