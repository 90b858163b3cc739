// What one extra thread costs a short-lived process (docs/perf.md, "With
// the control agent"): forks N children that each exit at once, in four
// modes, in interleaved rounds, and prints per child the median wall time
// of fork+exit+wait, the children's CPU time (user + system) and their
// minor page faults. No memgroup code: run it plain, or under the preload.
//
//   none     the child exits at once
//   thread   the child starts a pthread that sleeps on a futex (as the
//            control agent does), then exits
//   small    the same with a 64 KiB stack (pthread_attr_setstacksize)
//   clone    the child starts a bare clone(2) thread on a 64 KiB stack of
//            its own (no libc thread set-up), then exits
//
// usage: thread_start_cost [CHILDREN [ROUNDS]]   (default 500 and 5)
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kModes = 4, kMaxRounds = 64 };
static const char* const kNames[kModes] = {"none", "thread", "small",
                                           "clone"};
static int g_word;

static void Sleep(void) {
  for (;;) syscall(SYS_futex, &g_word, FUTEX_WAIT_PRIVATE, 0, NULL);
}
static void* ThreadMain(void* arg) {
  (void)arg;
  Sleep();
  return NULL;
}
static int CloneMain(void* arg) {
  (void)arg;
  Sleep();
  return 0;
}

static void Child(int mode) {
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  if (mode == 2) pthread_attr_setstacksize(&a, 64 * 1024);
  if (mode == 1 || mode == 2) {
    if (pthread_create(&t, &a, ThreadMain, NULL) != 0) _exit(1);
  }
  if (mode == 3) {
    const size_t size = 64 * 1024;
    char* stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) _exit(1);
    if (clone(CloneMain, stack + size,
              CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                  CLONE_THREAD | CLONE_SYSVSEM,
              NULL) < 0) {
      _exit(1);
    }
  }
  _exit(0);
}

static double Now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static double Seconds(struct timeval v) {
  return (double)v.tv_sec + (double)v.tv_usec * 1e-6;
}
static int Compare(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}
static double Median(double* v, int n) {
  qsort(v, (size_t)n, sizeof *v, Compare);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char** argv) {
  const int children = argc > 1 ? atoi(argv[1]) : 500;
  const int rounds = argc > 2 ? atoi(argv[2]) : 5;
  if (argc > 3 || children <= 0 || rounds <= 0 || rounds > kMaxRounds) {
    fprintf(stderr, "usage: thread_start_cost [CHILDREN [ROUNDS<=%d]]\n",
            kMaxRounds);
    return 2;
  }
  static double wall[kModes][kMaxRounds], cpu[kModes][kMaxRounds],
      faults[kModes][kMaxRounds];
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < kModes; ++k) {
      const int mode = (k + r) % kModes;  // rotating order
      struct rusage before, after;
      getrusage(RUSAGE_CHILDREN, &before);
      const double t0 = Now();
      for (int i = 0; i < children; ++i) {
        const pid_t pid = fork();
        if (pid < 0) {
          perror("fork");
          return 1;
        }
        if (pid == 0) Child(mode);
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
          fprintf(stderr, "thread_start_cost: a %s child failed\n",
                  kNames[mode]);
          return 1;
        }
      }
      const double t1 = Now();
      getrusage(RUSAGE_CHILDREN, &after);
      wall[mode][r] = (t1 - t0) / children;
      cpu[mode][r] = (Seconds(after.ru_utime) - Seconds(before.ru_utime) +
                      Seconds(after.ru_stime) - Seconds(before.ru_stime)) /
                     children;
      faults[mode][r] =
          (double)(after.ru_minflt - before.ru_minflt) / children;
    }
  }
  printf("%d children per mode and round, %d interleaved rounds; medians per "
         "child\n", children, rounds);
  printf("%-7s %12s %12s %13s\n", "mode", "wall us", "CPU us",
         "minor faults");
  for (int m = 0; m < kModes; ++m) {
    printf("%-7s %12.1f %12.1f %13.1f\n", kNames[m],
           Median(wall[m], rounds) * 1e6, Median(cpu[m], rounds) * 1e6,
           Median(faults[m], rounds));
  }
  return 0;
}
