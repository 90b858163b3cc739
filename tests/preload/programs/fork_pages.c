/* The pages a fork costs a single-threaded program, as a shell or a build
 * that runs commands pays them: after warming its heap (small blocks, 64 KiB
 * and 1 MiB blocks, some freed) and one fork, forks 20 times, each child
 * exiting at once, and measures the minor faults of the parent after each
 * fork (its copies on write) and of the children (RUSAGE_CHILDREN). A
 * process that has only ever had one thread takes no allocator lock across
 * fork (src/engine/fork.cc): the parent writes at most MAX_PARENT pages per
 * fork and a child at most MAX_CHILD, about a third of what taking and
 * releasing every lock wrote. Prints the means and "fork_pages: OK".
 * Single-threaded on purpose: no thread may ever be created here. */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

enum { kForks = 20, kSmall = 512 };
#define MAX_PARENT 6
#define MAX_CHILD 26

static long MinorFaults(int who) {
  struct rusage ru;
  MG_EXPECT(getrusage(who, &ru) == 0);
  return ru.ru_minflt;
}

static void ForkAndWait(void) {
  const pid_t pid = fork();
  MG_EXPECT(pid >= 0);
  if (pid == 0) _exit(0);
  int status = 0;
  MG_EXPECT(waitpid(pid, &status, 0) == pid);
  MG_EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
  static void* small[kSmall];
  for (int i = 0; i < kSmall; ++i) {
    small[i] = malloc(16 + (size_t)(i * 37) % 2000);
    MG_EXPECT(small[i] != NULL);
    Fill(small[i], 16, (unsigned)i);
  }
  void* mid = malloc(64 << 10);
  void* big = malloc(1 << 20);
  MG_EXPECT(mid != NULL && big != NULL);
  Fill(mid, 64 << 10, 1);
  Fill(big, 1 << 20, 2);
  for (int i = 0; i < kSmall; i += 2) free(small[i]);
  ForkAndWait();  // The first fork's one-time costs (lazy binding) apart.

  long parent = 0;
  const long children_before = MinorFaults(RUSAGE_CHILDREN);
  for (int i = 0; i < kForks; ++i) {
    const long before = MinorFaults(RUSAGE_SELF);
    ForkAndWait();
    parent += MinorFaults(RUSAGE_SELF) - before;
  }
  const long children = MinorFaults(RUSAGE_CHILDREN) - children_before;
  printf("fork_pages: %.1f pages per fork in the parent, %.1f in a child\n",
         (double)parent / kForks, (double)children / kForks);
  MG_EXPECT(parent <= (long)MAX_PARENT * kForks);
  MG_EXPECT(children <= (long)MAX_CHILD * kForks);
  for (int i = 1; i < kSmall; i += 2) {
    MG_EXPECT(Check(small[i], 16, (unsigned)i));
    free(small[i]);
  }
  free(mid);
  free(big);
  printf("fork_pages: OK\n");
  return 0;
}
