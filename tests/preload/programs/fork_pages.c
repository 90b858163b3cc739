/* The pages a fork costs a program whose forking thread is its only one,
 * as a shell or a build that runs commands pays them: after warming its
 * heap (small blocks, 64 KiB and 1 MiB blocks, some freed) and one fork,
 * forks 20 times, each child exiting at once, and measures the minor
 * faults of the parent after each fork (its copies on write) and of the
 * children (RUSAGE_CHILDREN). Such a process takes no allocator lock
 * across fork (src/base/fork_locks.h): the parent writes at most
 * MAX_PARENT pages per fork and a child at most MAX_CHILD, about a third
 * of what taking and releasing every lock wrote. With the argument
 * "joined" the program first starts a thread and joins it, as git does
 * with its workers before it runs a command: libc then counts the process
 * as multi-threaded for good, the kernel's count is back at one, and the
 * bounds are the same but for libc's own (MAX_PARENT_JOINED,
 * MAX_CHILD_JOINED). With "job" it runs as a job member (`memgroup run`),
 * whose control agent is a second thread for good: the forks take no lock
 * while the agent is parked (src/alloc/control_agent.h), so the parent's
 * bound is the joined one; a child also takes its member slot and starts
 * its own agent (MAX_CHILD_JOB). The program first waits out the agent's
 * first publication, which it makes 100 ms after it starts, and measures
 * up to three rounds of forks. Prints the means and "fork_pages: OK". */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum { kForks = 20, kSmall = 512 };
#define MAX_PARENT 6
#define MAX_CHILD 26
/* libc's own fork writes more in a process it counts as multi-threaded:
 * it takes and releases its stdio and malloc locks. glibc's malloc alone:
 * the parent 2-3 pages single, 6-7 joined; a child 15-17 single, 24-27
 * joined. memgroup's engines, joined: 5-6 and 26-28 (taking every lock
 * wrote 12-21 and 38-56). */
#define MAX_PARENT_JOINED (MAX_PARENT + 4)
#define MAX_CHILD_JOINED (MAX_CHILD + 8)
/* A job member's child: 57-58 pages on both engines, most of them its
 * agent thread's start (63-77 when the forks took every lock). */
#define MAX_CHILD_JOB 72

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

static void* Worker(void* arg) { return arg; }

/* num_threads of /proc/self/stat (field 20, counted after the comm's ')'). */
static int Threads(void) {
  FILE* f = fopen("/proc/self/stat", "r");
  MG_EXPECT(f != NULL);
  char buf[512];
  const size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* p = strrchr(buf, ')');
  MG_EXPECT(p != NULL);
  for (int field = 2; field < 20 && p != NULL; ++field) p = strchr(p + 1, ' ');
  MG_EXPECT(p != NULL);
  return atoi(p + 1);
}

/* Starts a thread and joins it, then waits for the kernel to stop counting
 * it (it wakes the joiner a little before). */
static void StartAndJoinAThread(void) {
  pthread_t t;
  MG_EXPECT(pthread_create(&t, NULL, Worker, NULL) == 0);
  MG_EXPECT(pthread_join(t, NULL) == 0);
  for (int i = 0; i < 2000 && Threads() != 1; ++i) {
    const struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  MG_EXPECT(Threads() == 1);
}

int main(int argc, char** argv) {
  const int joined = argc > 1 && strcmp(argv[1], "joined") == 0;
  const int job = argc > 1 && strcmp(argv[1], "job") == 0;
  if (joined) StartAndJoinAThread();
  if (job) {
    MG_EXPECT(getenv("MEMGROUP_JOB") != NULL);  // run by `memgroup run`
    const struct timespec wait = {0, 300 * 1000000};
    nanosleep(&wait, NULL);
  }
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

  const long max_parent = joined || job ? MAX_PARENT_JOINED : MAX_PARENT;
  const long max_child =
      job ? MAX_CHILD_JOB : joined ? MAX_CHILD_JOINED : MAX_CHILD;
  // A job member's agent may be awake (a late first publication on a busy
  // machine): its forks then take every lock, so a job gets three tries.
  long parent = 0, children = 0;
  for (int round = 0; round < (job ? 3 : 1); ++round) {
    parent = 0;
    const long children_before = MinorFaults(RUSAGE_CHILDREN);
    for (int i = 0; i < kForks; ++i) {
      const long before = MinorFaults(RUSAGE_SELF);
      ForkAndWait();
      parent += MinorFaults(RUSAGE_SELF) - before;
    }
    children = MinorFaults(RUSAGE_CHILDREN) - children_before;
    printf("fork_pages: %.1f pages per fork in the parent, %.1f in a child\n",
           (double)parent / kForks, (double)children / kForks);
    if (parent <= max_parent * kForks && children <= max_child * kForks) break;
  }
  MG_EXPECT(parent <= max_parent * kForks);
  MG_EXPECT(children <= max_child * kForks);
  for (int i = 1; i < kSmall; i += 2) {
    MG_EXPECT(Check(small[i], 16, (unsigned)i));
    free(small[i]);
  }
  free(mid);
  free(big);
  printf("fork_pages: OK\n");
  return 0;
}
