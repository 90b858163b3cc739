// posix_spawn and posix_spawnp: forwarders over src/alloc/spawn.h, which
// records the spawned child in the job's member tables once it has exec'd.
#include <spawn.h>

#include "alloc/spawn.h"
#include "base/macros.h"

namespace alloc = memgroup::internal::alloc;

extern "C" MG_EXPORT int posix_spawn(
    pid_t* pid, const char* path,
    const posix_spawn_file_actions_t* file_actions,
    const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  return alloc::PosixSpawn(false, pid, path, file_actions, attr, argv, envp);
}

extern "C" MG_EXPORT int posix_spawnp(
    pid_t* pid, const char* file,
    const posix_spawn_file_actions_t* file_actions,
    const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  return alloc::PosixSpawn(true, pid, file, file_actions, attr, argv, envp);
}
