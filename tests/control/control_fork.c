/* A job member that forks while its control agent works, for
 * reclaim_test.py's fork_reclaim case. Its reclaim callback (on the root
 * group, through the C ABI) allocates and frees blocks of every kind for 5
 * ms, so that the agent runs the library, and holds its locks, for as long
 * as a reclaim request keeps it busy. The main thread forks for SECONDS
 * seconds; each child allocates and frees blocks of every kind (a lock the
 * child inherited held would stop it there) and exits. A fork may leave
 * the agent out of its locks only while the agent is parked
 * (src/alloc/control_agent.h): a child that does not exit within 10 s is
 * reported ("stuck PID") and killed.
 * Prints "ready PID", waits for a line on stdin, then forks and prints
 * "forks N callbacks C" and "done"; exits 0, or 1 when a child was stuck
 * or failed.
 * Usage: control_fork SECONDS */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "memgroup/memgroup.h"

static volatile int callbacks;

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Small, medium and large blocks, each written, then freed. */
static void Churn(unsigned seed) {
  static const size_t kSizes[] = {16, 100, 1000, 7000, 40000, 300000, 1 << 20};
  void* held[16];
  for (int i = 0; i < 16; ++i) {
    const size_t size = kSizes[(seed + (unsigned)i) % 7];
    held[i] = malloc(size);
    if (held[i] != NULL) memset(held[i], i, size < 4096 ? size : 4096);
  }
  for (int i = 0; i < 16; ++i) free(held[i]);
}

static int64_t Reclaim(mg_group_t group, int64_t target, void* arg) {
  (void)group;
  (void)target;
  (void)arg;
  ++callbacks;
  const double end = Now() + 0.005;
  for (unsigned k = 0; Now() < end; ++k) Churn(k);
  return 0;
}

/* Waits up to 10 s for the child; 0 when it exited with status 0. */
static int Reap(pid_t pid) {
  const double deadline = Now() + 10;
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
    if (r < 0 || Now() > deadline) break;
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  printf("stuck %d\n", (int)pid);
  fflush(stdout);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 2 || atoi(argv[1]) <= 0) {
    fprintf(stderr, "usage: control_fork SECONDS\n");
    return 2;
  }
  int handle = 0;
  if (mg_reclaim_register(mg_root(), Reclaim, NULL, &handle) != 0) {
    printf("register failed\n");
    return 4;
  }
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  char go[16];
  if (fgets(go, sizeof(go), stdin) == NULL) return 2;
  const double end = Now() + atoi(argv[1]);
  int forks = 0, failed = 0;
  while (Now() < end) {
    const pid_t pid = fork();
    if (pid < 0) {
      printf("fork failed\n");
      failed = 1;
      break;
    }
    if (pid == 0) {
      for (unsigned k = 0; k < 8; ++k) Churn(k);
      _exit(0);
    }
    ++forks;
    if (Reap(pid) != 0) failed = 1;
    Churn((unsigned)forks);
  }
  printf("forks %d callbacks %d\n", forks, callbacks);
  printf("done\n");
  fflush(stdout);
  return failed;
}
