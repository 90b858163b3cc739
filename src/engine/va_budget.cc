// Implements va_budget.h: reads RLIMIT_AS and VmSize without allocating.
#include "engine/va_budget.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "base/sys.h"

namespace memgroup::internal::va_budget {
namespace {

// VmSize in bytes from /proc/self/statm ("size resident shared ..." in
// pages), or 0 if it cannot be read. Raw system calls: libc's stdio
// allocates, and this runs inside the first malloc.
uint64_t ReadVmBytes() {
  long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/statm",
                    O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[64];
  long n;
  do {
    n = syscall(SYS_read, static_cast<int>(fd), buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  syscall(SYS_close, static_cast<int>(fd));
  if (n <= 0) return 0;
  uint64_t pages = 0;
  for (long i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) {
    pages = pages * 10 + static_cast<uint64_t>(buf[i] - '0');
  }
  return pages * kPageSize;
}

}  // namespace

AddressSpace Read() {
  const int saved = errno;
  AddressSpace as{kNoLimit, 0};
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    as.limit_bytes = rl.rlim_cur;
    as.used_bytes = ReadVmBytes();
  }
  errno = saved;
  return as;
}

}  // namespace memgroup::internal::va_budget
