// What recording a posix_spawn child costs (docs/preload.md, "Untracked
// descendants"): spawns PROGRAM N times (each reaped at once) through the
// posix_spawn the program links to (the preload's, which records the child
// in the job's member table when run inside a job) and through libc's own
// (looked up in libc.so.6 itself, so nothing is recorded), in interleaved
// rounds, and prints per spawn the median wall time of spawn+wait of each
// and the median of the per-round ratios interposed/libc, with their min
// and max. Run it inside a job: `memgroup run -- spawn_cost`.
//
// usage: spawn_cost [SPAWNS [ROUNDS [PROGRAM]]]   (default 200, 10, /bin/true)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kMaxRounds = 64 };
extern char** environ;
typedef int (*SpawnFn)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                       const posix_spawnattr_t*, char* const[], char* const[]);

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int Compare(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static double Median(double* v, int n) {
  qsort(v, (size_t)n, sizeof(*v), Compare);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Seconds per spawn+wait of `program` through `spawn`.
static double Loop(SpawnFn spawn, const char* program, int spawns) {
  char* argv[] = {(char*)program, NULL};
  const double t0 = Now();
  for (int i = 0; i < spawns; ++i) {
    pid_t pid = 0;
    int st = 0;
    if (spawn(&pid, program, NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &st, 0) != pid) {
      fprintf(stderr, "spawn_cost: cannot spawn %s\n", program);
      exit(1);
    }
  }
  return (Now() - t0) / spawns;
}

int main(int argc, char** argv) {
  const int spawns = argc > 1 ? atoi(argv[1]) : 200;
  const int rounds = argc > 2 ? atoi(argv[2]) : 10;
  const char* program = argc > 3 ? argv[3] : "/bin/true";
  if (spawns <= 0 || rounds <= 0 || rounds > kMaxRounds) {
    fprintf(stderr, "usage: spawn_cost [SPAWNS [ROUNDS (1-%d) [PROGRAM]]]\n",
            kMaxRounds);
    return 2;
  }
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  SpawnFn direct = libc ? (SpawnFn)dlsym(libc, "posix_spawn") : NULL;
  if (direct == NULL) {
    fprintf(stderr, "spawn_cost: libc's posix_spawn not found\n");
    return 1;
  }
  double t_int[kMaxRounds], t_libc[kMaxRounds], ratio[kMaxRounds];
  for (int r = 0; r < rounds; ++r) {
    if (r % 2 == 0) {
      t_int[r] = Loop(posix_spawn, program, spawns);
      t_libc[r] = Loop(direct, program, spawns);
    } else {
      t_libc[r] = Loop(direct, program, spawns);
      t_int[r] = Loop(posix_spawn, program, spawns);
    }
    ratio[r] = t_int[r] / t_libc[r];
  }
  const double lo = Median(ratio, rounds), mn = ratio[0],
               mx = ratio[rounds - 1];
  printf("interposed %.1f us per spawn+wait, libc %.1f us, ratio median %.3f "
         "(min %.3f, max %.3f) over %d rounds of %d spawns of %s\n",
         Median(t_int, rounds) * 1e6, Median(t_libc, rounds) * 1e6, lo, mn,
         mx, rounds, spawns, program);
  return 0;
}
