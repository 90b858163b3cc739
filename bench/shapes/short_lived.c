/* Shape 5, many short-lived processes: starts PROGRAM (a path; normally
 * short_lived_child) COUNT times in sequence with fork and exec, waiting for
 * each, as a shell script or a build does. Each child loads the allocator
 * in the environment (LD_PRELOAD is inherited), does a little allocation
 * and exits. Prints the wall time of the whole loop.
 * usage: short_lived PROGRAM [COUNT]   (default 300) */
#define _GNU_SOURCE
#include <sys/wait.h>
#include <unistd.h>

#include "shape_common.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PROGRAM [COUNT]\n", argv[0]);
    return 2;
  }
  const long count = shape_arg(argc, argv, 2, 300);
  char* child_argv[] = {argv[1], NULL};
  const double start = shape_now();
  for (long i = 0; i < count; ++i) {
    const pid_t pid = fork();
    if (pid < 0) {
      perror("short_lived: fork");
      return 1;
    }
    if (pid == 0) {
      execv(argv[1], child_argv);
      perror("short_lived: exec");
      _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      fprintf(stderr, "short_lived: child %ld failed (status %d)\n", i, status);
      return 1;
    }
  }
  shape_result("wall_s", shape_now() - start);
  return 0;
}
