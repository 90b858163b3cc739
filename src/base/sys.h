// Raw system calls, made with syscall(2) so that they never reach the
// program's (or memgroup's own) interposed mmap/munmap/mremap. errno is set
// on failure exactly as libc would. Allocates: never.
#ifndef MEMGROUP_SRC_BASE_SYS_H_
#define MEMGROUP_SRC_BASE_SYS_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace memgroup::internal {

void* SysMmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
int SysMunmap(void* addr, size_t len);
void* SysMremap(void* old_addr, size_t old_len, size_t new_len, int flags,
                void* new_addr);
int SysMprotect(void* addr, size_t len, int prot);
int SysMadvise(void* addr, size_t len, int advice);
long SysWrite(int fd, const void* buf, size_t len);
pid_t SysGettid();
pid_t SysGetpid();
uid_t SysGetuid();
int SysKill(pid_t pid, int sig);

// File calls for the job control block and /proc (raw, so that a process
// can use them inside its first malloc). Return -1 with errno on failure.
int SysOpen(const char* path, int flags, int mode);
int SysClose(int fd);
long SysRead(int fd, void* buf, size_t len);
int SysFstat(int fd, struct stat* st);

// /proc/<pid>/stat of `pid` (0: this process) read into buf, at most cap -
// 1 bytes: their number, or -1 (errno kept). Allocates: never.
long ReadProcStat(pid_t pid, char* buf, size_t cap);
// Field `field` (>= 3, proc(5)'s numbering) of such a line of n bytes, as
// [*begin, *end): the fields from 3 on are counted after the last ')',
// since the comm (field 2) may hold spaces and parentheses. False if the
// line has fewer fields. Allocates: never.
bool ProcStatField(const char* buf, long n, int field, const char** begin,
                   const char** end);
// The number of threads of this process (num_threads, field 20 of
// /proc/self/stat, which counts a thread until it has exited), or -1 if it
// cannot be read. Three system calls. Allocates: never.
int ProcessThreadCount();

// The futex calls above for a word in a mapping shared between processes
// (no FUTEX_PRIVATE_FLAG).
int SysFutexWaitShared(const uint32_t* addr, uint32_t expected,
                       int64_t timeout_ns);
void SysFutexWakeShared(const uint32_t* addr, int count);

// futex wait on *addr while it equals `expected`, up to timeout_ns
// (negative = forever). Returns 0 on wake, or an errno value (ETIMEDOUT,
// EAGAIN, EINTR).
int SysFutexWait(const uint32_t* addr, uint32_t expected, int64_t timeout_ns);
void SysFutexWake(const uint32_t* addr, int count);

// Process-wide memory barrier on every running thread of this process
// (membarrier PRIVATE_EXPEDITED). SysMembarrierRegister must have succeeded.
bool SysMembarrierRegister();
void SysMembarrier();
// The cross-process barrier of a job's stock revocation
// (counter/job_block.h): a process registers once
// (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, inherited by fork children,
// cleared by exec); SysMembarrierGlobal then runs a full barrier on every
// running thread of every registered process (GLOBAL_EXPEDITED; threads
// not running pass one when they are scheduled). False if unsupported.
bool SysMembarrierRegisterGlobal();
bool SysMembarrierGlobal();

// Monotonic clock in nanoseconds (vDSO clock_gettime; does not allocate).
int64_t MonotonicNanos();

// The coarse monotonic clock in milliseconds (CLOCK_MONOTONIC_COARSE: the
// last tick's time, 1-4 ms resolution, read from the vDSO without a
// syscall). For timers of slow paths. Does not allocate.
int64_t CoarseMonotonicMillis();

// Sleeps for `ns` nanoseconds (nanosleep, restarts on EINTR).
void SleepNanos(int64_t ns);

inline constexpr size_t kPageSize = 4096;

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_SYS_H_
