// The exec family: forwarders over src/alloc/exec.h, which marks a job
// member's slots before the image is replaced. glibc's own exec functions
// call each other internally (not through these symbols), so every public
// entry point is here: execve, execveat, fexecve, execv, execvp, execvpe
// and the list forms execl, execle, execlp.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
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

// argv[0..argc]: `first`, the argc - 1 pointers after it and the null
// pointer that ends the list (read from *ap, which is left after it).
void FillArgs(char** argv, const char* first, size_t argc, va_list* ap) {
  argv[0] = const_cast<char*>(first);
  for (size_t i = 1; i <= argc; ++i) argv[i] = va_arg(*ap, char*);
  if (argc == 0) argv[0] = nullptr;
}

// More list arguments than an array on the stack may hold: the kernel's
// own bound on argv (MAX_ARG_STRINGS) is far above what fits there.
constexpr size_t kMaxListArgs = 1u << 16;
int TooManyArgs() {
  errno = E2BIG;
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

// The list forms copy their arguments into an array on the stack, as
// glibc's do.
extern "C" MG_EXPORT int execl(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const size_t argc = CountArgs(arg, ap);
  va_end(ap);
  if (argc > kMaxListArgs) return TooManyArgs();
  char* argv[argc + 1];
  va_start(ap, arg);
  FillArgs(argv, arg, argc, &ap);
  va_end(ap);
  return alloc::Execve(path, argv, environ);
}

extern "C" MG_EXPORT int execlp(const char* file, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const size_t argc = CountArgs(arg, ap);
  va_end(ap);
  if (argc > kMaxListArgs) return TooManyArgs();
  char* argv[argc + 1];
  va_start(ap, arg);
  FillArgs(argv, arg, argc, &ap);
  va_end(ap);
  return alloc::Execvpe(file, argv, environ);
}

extern "C" MG_EXPORT int execle(const char* path, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  const size_t argc = CountArgs(arg, ap);
  va_end(ap);
  if (argc > kMaxListArgs) return TooManyArgs();
  char* argv[argc + 1];
  va_start(ap, arg);
  FillArgs(argv, arg, argc, &ap);
  // The environment follows the list's null pointer.
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return alloc::Execve(path, argv, envp);
}
