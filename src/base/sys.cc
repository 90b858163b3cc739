// Implements sys.h with syscall(2). Allocates: never.
#include "base/sys.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace memgroup::internal {

void* SysMmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  return reinterpret_cast<void*>(r);
}

int SysMunmap(void* addr, size_t len) {
  return static_cast<int>(syscall(SYS_munmap, addr, len));
}

void* SysMremap(void* old_addr, size_t old_len, size_t new_len, int flags,
                void* new_addr) {
  long r = syscall(SYS_mremap, old_addr, old_len, new_len, flags, new_addr);
  return reinterpret_cast<void*>(r);
}

int SysMprotect(void* addr, size_t len, int prot) {
  return static_cast<int>(syscall(SYS_mprotect, addr, len, prot));
}

int SysMadvise(void* addr, size_t len, int advice) {
  return static_cast<int>(syscall(SYS_madvise, addr, len, advice));
}

long SysWrite(int fd, const void* buf, size_t len) {
  return syscall(SYS_write, fd, buf, len);
}

pid_t SysGettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }
pid_t SysGetpid() { return static_cast<pid_t>(syscall(SYS_getpid)); }
uid_t SysGetuid() { return static_cast<uid_t>(syscall(SYS_getuid)); }

int SysKill(pid_t pid, int sig) {
  return static_cast<int>(syscall(SYS_kill, pid, sig));
}

int SysOpen(const char* path, int flags, int mode) {
  return static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, flags, mode));
}

int SysClose(int fd) { return static_cast<int>(syscall(SYS_close, fd)); }

long SysRead(int fd, void* buf, size_t len) {
  return syscall(SYS_read, fd, buf, len);
}

int SysFstat(int fd, struct stat* st) {
  return static_cast<int>(syscall(SYS_fstat, fd, st));
}

int ProcessThreadCount() {
  const int fd = SysOpen("/proc/self/stat", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  char buf[512];
  const long n = SysRead(fd, buf, sizeof(buf) - 1);
  SysClose(fd);
  if (n <= 0) return -1;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted from the last ')'; num_threads is field 20, the
  // 18th after it.
  int close_paren = -1;
  for (long i = 0; i < n; ++i) {
    if (buf[i] == ')') close_paren = static_cast<int>(i);
  }
  if (close_paren < 0) return -1;
  int field = 2;
  long i = close_paren + 1;
  while (i < n && field < 20) {
    if (buf[i] == ' ') ++field;
    ++i;
  }
  if (field != 20) return -1;
  int count = 0;
  bool digits = false;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) {
    count = count * 10 + (buf[i] - '0');
    digits = true;
    if (count > 1 << 22) return -1;
  }
  return digits ? count : -1;
}

namespace {

int FutexWait(const uint32_t* addr, int op, uint32_t expected,
              int64_t timeout_ns) {
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000;
    ts.tv_nsec = timeout_ns % 1000000000;
    tsp = &ts;
  }
  int saved = errno;
  long r = syscall(SYS_futex, addr, op, expected, tsp, nullptr, 0);
  int err = r == 0 ? 0 : errno;
  errno = saved;
  return err;
}

}  // namespace

int SysFutexWait(const uint32_t* addr, uint32_t expected, int64_t timeout_ns) {
  return FutexWait(addr, FUTEX_WAIT_PRIVATE, expected, timeout_ns);
}

void SysFutexWake(const uint32_t* addr, int count) {
  int saved = errno;
  syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
  errno = saved;
}

int SysFutexWaitShared(const uint32_t* addr, uint32_t expected,
                       int64_t timeout_ns) {
  return FutexWait(addr, FUTEX_WAIT, expected, timeout_ns);
}

void SysFutexWakeShared(const uint32_t* addr, int count) {
  int saved = errno;
  syscall(SYS_futex, addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  errno = saved;
}

bool SysMembarrierRegister() {
  int saved = errno;
  long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  bool ok = q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0,
                    0) == 0;
  errno = saved;
  return ok;
}

void SysMembarrier() {
  int saved = errno;
  syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
  errno = saved;
}

bool SysMembarrierRegisterGlobal() {
  int saved = errno;
  long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  bool ok = q >= 0 && (q & MEMBARRIER_CMD_GLOBAL_EXPEDITED) != 0 &&
            syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED,
                    0, 0) == 0;
  errno = saved;
  return ok;
}

bool SysMembarrierGlobal() {
  int saved = errno;
  bool ok = syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) == 0;
  errno = saved;
  return ok;
}

int64_t MonotonicNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t CoarseMonotonicMillis() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void SleepNanos(int64_t ns) {
  if (ns <= 0) return;
  struct timespec req{static_cast<time_t>(ns / 1000000000),
                      static_cast<long>(ns % 1000000000)};
  int saved = errno;
  while (nanosleep(&req, &req) != 0 && errno == EINTR) {
  }
  errno = saved;
}

}  // namespace memgroup::internal
