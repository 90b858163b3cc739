// Implements exec.h.
//
// SYNCHRONIZATION: g_real_execvpe is resolved by the first caller; racers
// store the same value (relaxed).
#include "alloc/exec.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "group/job_member.h"

namespace memgroup::internal::alloc {
namespace {

using ExecvpeFn = int (*)(const char*, char* const[], char* const[]);
constinit std::atomic<ExecvpeFn> g_real_execvpe{nullptr};

// Marks the slots for the lifetime of one exec call; a destructor that runs
// means the call returned, so it failed.
class ExecMarks {
 public:
  explicit ExecMarks(const char* name) { JobNoteExec(name, &marks_); }
  ~ExecMarks() {
    const int saved = errno;
    JobExecFailed(marks_);
    errno = saved;
  }
  ExecMarks(const ExecMarks&) = delete;
  ExecMarks& operator=(const ExecMarks&) = delete;

 private:
  JobExecMarks marks_;
};

}  // namespace

int Execve(const char* path, char* const argv[], char* const envp[]) {
  ExecMarks marks(path);
  return static_cast<int>(syscall(SYS_execve, path, argv, envp));
}

int Execveat(int dirfd, const char* path, char* const argv[],
             char* const envp[], int flags) {
  // With AT_EMPTY_PATH the kernel names the image after the descriptor:
  // its number, the basename of /dev/fd/N.
  char digits[16];
  const char* name = path;
  if ((flags & AT_EMPTY_PATH) != 0 && path != nullptr && path[0] == '\0') {
    char* p = digits + sizeof(digits);
    *--p = '\0';
    unsigned v = dirfd < 0 ? 0u : static_cast<unsigned>(dirfd);
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    name = p;
  }
  ExecMarks marks(name);
  return static_cast<int>(
      syscall(SYS_execveat, dirfd, path, argv, envp, flags));
}

int Execvpe(const char* file, char* const argv[], char* const envp[]) {
  ExecvpeFn real = g_real_execvpe.load(std::memory_order_relaxed);
  if (real == nullptr) {
    real = reinterpret_cast<ExecvpeFn>(dlsym(RTLD_NEXT, "execvpe"));
    if (real == nullptr) {
      errno = ENOSYS;
      return -1;
    }
    // Relaxed: every racer stores the same value.
    g_real_execvpe.store(real, std::memory_order_relaxed);
  }
  ExecMarks marks(file);
  return real(file, argv, envp);
}

}  // namespace memgroup::internal::alloc
