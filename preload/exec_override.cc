// The exec family: forwarders over src/alloc/exec.h, which marks a job
// member's slots before the image is replaced. glibc's own exec functions
// call each other internally (not through these symbols), so every public
// entry point is here: execve, execveat, fexecve, execv, execvp, execvpe
// and the list forms execl, execle, execlp.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>

#include "alloc/exec.h"
#include "base/macros.h"

namespace {

namespace alloc = memgroup::internal::alloc;

// How many arguments follow `first` up to the terminating null pointer.
size_t CountArgs(const char* first, va_list ap) {
  size_t n = 1;
  if (first == nullptr) return 0;
  while (va_arg(ap, const char*) != nullptr) ++n;
  return n;
}

// More list arguments than an array on the stack may hold: the kernel's
// own bound on argv (MAX_ARG_STRINGS) is far above what fits there.
constexpr size_t kMaxListArgs = 1u << 16;

enum class ListForm { kPath, kSearch, kPathEnv };

// The list forms' common part: copies `first` and the pointers after it in
// *ap, through the null pointer that ends the list, into an array on the
// stack (as glibc's do), then execs as `form` says (kPathEnv: the
// environment follows the null pointer).
int ExecList(ListForm form, const char* target, const char* first,
             va_list* ap) {
  va_list count_ap;
  va_copy(count_ap, *ap);
  const size_t argc = CountArgs(first, count_ap);
  va_end(count_ap);
  if (argc > kMaxListArgs) {
    errno = E2BIG;
    return -1;
  }
  char* argv[argc + 1];
  argv[0] = const_cast<char*>(first);
  for (size_t i = 1; i <= argc; ++i) argv[i] = va_arg(*ap, char*);
  if (argc == 0) argv[0] = nullptr;
  switch (form) {
    case ListForm::kPath:
      return alloc::Execve(target, argv, environ);
    case ListForm::kSearch:
      return alloc::Execvpe(target, argv, environ);
    case ListForm::kPathEnv:
      return alloc::Execve(target, argv, va_arg(*ap, char* const*));
  }
  errno = EINVAL;
  return -1;
}

}  // namespace

extern "C" MG_EXPORT int execve(const char* path, char* const argv[],
                                char* const envp[]) {
  return alloc::Execve(path, argv, envp);
}

extern "C" MG_EXPORT int execveat(int dirfd, const char* path,
                                  char* const argv[], char* const envp[],
                                  int flags) {
  return alloc::Execveat(dirfd, path, argv, envp, flags);
}

extern "C" MG_EXPORT int fexecve(int fd, char* const argv[],
                                 char* const envp[]) {
  return alloc::Execveat(fd, "", argv, envp, AT_EMPTY_PATH);
}

extern "C" MG_EXPORT int execv(const char* path, char* const argv[]) {
  return alloc::Execve(path, argv, environ);
}

extern "C" MG_EXPORT int execvp(const char* file, char* const argv[]) {
  return alloc::Execvpe(file, argv, environ);
}

extern "C" MG_EXPORT int execvpe(const char* file, char* const argv[],
                                 char* const envp[]) {
  return alloc::Execvpe(file, argv, envp);
}

// The list forms: execl(path, arg, ..., NULL), execlp(file, arg, ...,
// NULL), execle(path, arg, ..., NULL, envp).
extern "C" MG_EXPORT int execl(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const int r = ExecList(ListForm::kPath, path, arg, &ap);
  va_end(ap);
  return r;
}

extern "C" MG_EXPORT int execlp(const char* file, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const int r = ExecList(ListForm::kSearch, file, arg, &ap);
  va_end(ap);
  return r;
}

extern "C" MG_EXPORT int execle(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const int r = ExecList(ListForm::kPathEnv, path, arg, &ap);
  va_end(ap);
  return r;
}
