// Implements spawn.h.
//
// SYNCHRONIZATION: g_real[] is resolved by the first caller of each; racers
// store the same value (relaxed).
#include "alloc/spawn.h"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>

#include "group/job_member.h"

namespace memgroup::internal::alloc {
namespace {

using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[],
                        char* const[]);
constinit std::atomic<SpawnFn> g_real[2] = {nullptr, nullptr};

SpawnFn Real(bool search) {
  SpawnFn fn = g_real[search].load(std::memory_order_relaxed);
  if (fn != nullptr) return fn;
  fn = reinterpret_cast<SpawnFn>(
      dlsym(RTLD_NEXT, search ? "posix_spawnp" : "posix_spawn"));
  // Relaxed: every racer stores the same value.
  if (fn != nullptr) g_real[search].store(fn, std::memory_order_relaxed);
  return fn;
}

}  // namespace

int PosixSpawn(bool search, pid_t* pid, const char* path,
               const posix_spawn_file_actions_t* file_actions,
               const posix_spawnattr_t* attr, char* const argv[],
               char* const envp[]) {
  const SpawnFn real = Real(search);
  if (real == nullptr) return ENOSYS;
  // The child's pid is needed even when the caller does not ask for it.
  pid_t child = 0;
  const int r = real(&child, path, file_actions, attr, argv, envp);
  if (r != 0) return r;  // no child (glibc reaped one whose exec failed)
  const int saved = errno;
  JobNoteSpawn(child);
  errno = saved;
  if (pid != nullptr) *pid = child;
  return 0;
}

}  // namespace memgroup::internal::alloc
