// Configuration from the environment (MEMGROUP_*), read once at init and
// applied to the process group "/" (and the engine choice, before the
// engine starts): limits through the group layer's
// SetLimit, the OOM policy, fault injection, the stats report's path,
// whether a job member starts its control agent (MEMGROUP_CONTROL).
// Any malformed or unknown variable exits with status 2, after the line of
// base/parse_env.h's FormatEnvError (which does the validation); so does a
// MEMGROUP_STATS file that cannot be written (base/parse_config.h,
// StatsPathWriteError), with a line naming the variable and the reason.
// Must never: allocate (it runs inside the first malloc), call a libc
// function that may allocate (getenv is avoided: environ is walked).
// Allocates: never.
#ifndef MEMGROUP_SRC_ALLOC_ENV_CONFIG_H_
#define MEMGROUP_SRC_ALLOC_ENV_CONFIG_H_

namespace memgroup::internal::alloc {

// Reads MEMGROUP_ENGINE and selects the engine (engine::SelectEngine);
// called before engine::Init. A malformed environment exits as
// ConfigureFromEnvironment does.
void SelectEngineFromEnvironment();

// Reads and applies MEMGROUP_*; the registry must be initialised.
void ConfigureFromEnvironment();

// MEMGROUP_STATS: "stderr", "-" or a file path; nullptr when unset.
const char* StatsPath();

// MEMGROUP_CONTROL=0: a job member starts no control agent
// (alloc/control_agent.h) and so answers no control request.
bool ControlOff();

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_ENV_CONFIG_H_
