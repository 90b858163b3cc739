// posix_spawn and posix_spawnp of a job member: the real call, then the
// child's record in the member tables (group/job_member.h JobNoteSpawn), so
// that a program it starts without the library (static, setuid, an envp
// without the job's variables) is reported by the job's supervisor even
// when the member reaps it at once. glibc execs the child inside
// posix_spawn through its own internal execve, which the exec family's
// interposition (exec.h) never sees. Outside a job they are the plain calls.
// Allocates: only in the first call of each, which resolves libc's symbol.
#ifndef MEMGROUP_SRC_ALLOC_SPAWN_H_
#define MEMGROUP_SRC_ALLOC_SPAWN_H_

#include <spawn.h>
#include <sys/types.h>

namespace memgroup::internal::alloc {

// libc's posix_spawn (`search` false) or posix_spawnp (true), with the same
// arguments and result; `pid` may be null, as the calls allow.
int PosixSpawn(bool search, pid_t* pid, const char* path,
               const posix_spawn_file_actions_t* file_actions,
               const posix_spawnattr_t* attr, char* const argv[],
               char* const envp[]);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_SPAWN_H_
