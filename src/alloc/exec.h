// The exec family of a job member: before the real call replaces the
// process image, the process's member slots are marked with the new
// image's name (group/job_member.h JobNoteExec), so that a program that
// runs without the library (static, setuid, started with a cleared
// environment) is reported by the job's supervisor even when its parent
// inside the job reaps it at once; the new image clears the marks when it
// rejoins, and a call that returns (it failed) clears them itself, keeping
// the call's errno. Outside a job they are the plain calls.
// Must never: allocate (a vfork child runs it in its parent's memory), except
// in the first call of Execvpe, which resolves libc's execvpe.
#ifndef MEMGROUP_SRC_ALLOC_EXEC_H_
#define MEMGROUP_SRC_ALLOC_EXEC_H_

namespace memgroup::internal::alloc {

// execve(2) and execveat(2): the system calls.
int Execve(const char* path, char* const argv[], char* const envp[]);
int Execveat(int dirfd, const char* path, char* const argv[],
             char* const envp[], int flags);
// libc's execvpe: the search of PATH, and sh for a file without a header.
int Execvpe(const char* file, char* const argv[], char* const envp[]);

}  // namespace memgroup::internal::alloc

#endif  // MEMGROUP_SRC_ALLOC_EXEC_H_
