// Implements env_config.h. Written once by the initialising thread; the
// values are published to other threads by init's release store of Ready.
#include "alloc/env_config.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

#include "base/parse_config.h"
#include "base/parse_env.h"
#include "base/raw_log.h"
#include "engine/engine.h"
#include "group/fault_injection.h"
#include "group/job_member.h"
#include "group/limits.h"
#include "group/refusal_notice.h"
#include "group/registry.h"

extern char** environ;

namespace memgroup::internal::alloc {
namespace {

constinit char g_stats_path[kStatsPathCapacity] = {};
constinit bool g_stats_enabled = false;
constinit bool g_control_off = false;

void Apply(const EnvSettings& s) {
  if (s.has_max) (void)SetLimit(kRootGroup, LimitKind::kMax, s.max);
  if (s.has_high) (void)SetLimit(kRootGroup, LimitKind::kHigh, s.high);
  if (s.has_oom) {
    static_assert(static_cast<uint32_t>(OomPolicyChoice::kWait) ==
                      static_cast<uint32_t>(OomPolicy::kWait),
                  "the parser's policies are the group layer's");
    GroupState& st = GlobalRegistry().state(kRootGroup);
    // Relaxed: single-threaded init, published by init's release store.
    st.oom_policy.store(static_cast<uint32_t>(s.oom.policy),
                        std::memory_order_relaxed);
    st.oom_wait_ns.store(s.oom.wait_ns, std::memory_order_relaxed);
  }
  if (s.stats_path != nullptr) {
    // ParseStatsPath bounded it below kStatsPathCapacity.
    memcpy(g_stats_path, s.stats_path, strlen(s.stats_path) + 1);
    g_stats_enabled = true;
  }
  if (s.has_fault) SetFaultProbability(s.fault);
  if (s.has_fault_seed) SetFaultSeed(s.fault_seed);
  if (s.has_check) engine::SetCheckMode(s.check);
  g_control_off = s.has_control && !s.control;
}

// MEMGROUP_JOB: join the job whose control block `memgroup run` made.
void JoinJobOrDie(const char* path) {
  int err = 0;
  JobError e = JoinJob(path, &err);
  if (e == JobError::kOk) return;
  if (err != 0) {
    RawPrint(2,
             "memgroup: invalid MEMGROUP_JOB='%s': cannot join the job: %s "
             "(errno %d)\n",
             path, JobErrorString(e), err);
  } else {
    RawPrint(2, "memgroup: invalid MEMGROUP_JOB='%s': cannot join the job: %s\n",
             path, JobErrorString(e));
  }
  _exit(2);
}

// The settings of the environment, or the error line and exit status 2.
void ParseOrDie(EnvSettings* settings) {
  EnvError err;
  if (!ParseEnvironment(environ, settings, &err)) {
    char line[1024];  // RawPrint's buffer: the same line as before
    size_t n = FormatEnvError(err, line, sizeof(line));
    RawWriteAll(2, line, n);
    _exit(2);
  }
  // A stats file that cannot be written would be lost at exit, after the
  // whole run: refuse it now, like a malformed value.
  if (settings->stats_path != nullptr) {
    if (int e = StatsPathWriteError(settings->stats_path); e != 0) {
      RawPrint(2, "memgroup: invalid MEMGROUP_STATS='%s': %s: %s (%s)\n",
               settings->stats_path, kStatsPathUnwritable, strerrordesc_np(e),
               strerrorname_np(e));
      _exit(2);
    }
  }
}

}  // namespace

void SelectEngineFromEnvironment() {
  EnvSettings settings;
  ParseOrDie(&settings);
  engine::SelectEngine(settings.engine);
}

void ConfigureFromEnvironment() {
  EnvSettings settings;
  ParseOrDie(&settings);
  Apply(settings);
  ArmRefusalNotice(settings.has_max, settings.max);
  if (settings.job_path != nullptr) JoinJobOrDie(settings.job_path);
}

const char* StatsPath() { return g_stats_enabled ? g_stats_path : nullptr; }

bool ControlOff() { return g_control_off; }

}  // namespace memgroup::internal::alloc
