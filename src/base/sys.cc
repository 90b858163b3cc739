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
#include <cstring>

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

long ReadProcStat(pid_t pid, char* buf, size_t cap) {
  if (pid < 0 || cap < 2) return -1;
  // "/proc/self/stat" or "/proc/<pid>/stat", without printf.
  char path[32] = "/proc/self/stat";
  if (pid > 0) {
    char digits[16];
    int nd = 0;
    for (uint32_t v = static_cast<uint32_t>(pid); v != 0; v /= 10) {
      digits[nd++] = static_cast<char>('0' + v % 10);
    }
    size_t at = 6;
    while (nd > 0) path[at++] = digits[--nd];
    memcpy(path + at, "/stat", 6);
  }
  const int saved = errno;
  const int fd = SysOpen(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    errno = saved;
    return -1;
  }
  const long n = SysRead(fd, buf, cap - 1);
  SysClose(fd);
  errno = saved;
  return n > 0 ? n : -1;
}

bool ProcStatField(const char* buf, long n, int field, const char** begin,
                   const char** end) {
  if (n <= 0 || field < 3) return false;
  const char* stop = buf + n;
  const char* p = stop;
  while (p > buf && p[-1] != ')') --p;
  if (p == buf) return false;
  for (int f = 2; p < stop;) {
    while (p < stop && *p == ' ') ++p;
    if (p >= stop || *p == '\n') return false;
    const char* tok = p;
    while (p < stop && *p != ' ' && *p != '\n') ++p;
    if (++f == field) {
      *begin = tok;
      *end = p;
      return true;
    }
  }
  return false;
}

int ProcessThreadCount() {
  char buf[512];
  const long n = ReadProcStat(0, buf, sizeof(buf));
  const char* p = nullptr;
  const char* end = nullptr;
  if (!ProcStatField(buf, n, 20, &p, &end) || p == end) return -1;
  int count = 0;
  for (; p < end; ++p) {
    if (*p < '0' || *p > '9' || count > (1 << 22)) return -1;
    count = count * 10 + (*p - '0');
  }
  return count;
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
