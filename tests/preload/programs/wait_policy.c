/* MEMGROUP_OOM=wait on an unmodified program (run with MEMGROUP_MAX=5M).
 * The main thread mallocs and touches 3 MiB blocks; the second one does not
 * fit under 5M, so the thread pauses at the limit. A helper thread, created
 * before, sleeps 300 ms (from when the first block is in) and then raises the root group's max to 10 MiB
 * through mg_group_set_limit, found with dlsym (the program does not link
 * memgroup). The paused malloc must then succeed, after at least 250 ms.
 * Prints "wait_policy: OK" and exits 0 on success.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "common.h"

#define MIB ((size_t)1 << 20)
#define BLOCK (3 * MIB)
#define NBLOCKS 2 /* 6 MiB: over 5M, under 10M */

typedef uint64_t (*root_fn)(void);
typedef int (*set_limit_fn)(uint64_t group, int which, int64_t bytes);

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile int g_raise_err = -1;
static volatile int64_t g_raised_at = -1;
/* Set by the main thread once the first block is in (and touched), so that
 * the helper's 300 ms start when the main thread is about to pause. */
static atomic_int g_first_block_done;

static void* raise_limit(void* arg) {
  (void)arg;
  while (atomic_load(&g_first_block_done) == 0) {
    struct timespec tick = {0, 1000 * 1000};
    nanosleep(&tick, NULL);
  }
  struct timespec d = {0, 300 * 1000 * 1000};
  while (nanosleep(&d, &d) != 0 && errno == EINTR) {
  }
  root_fn mg_root = (root_fn)dlsym(RTLD_DEFAULT, "mg_root");
  set_limit_fn set_limit =
      (set_limit_fn)dlsym(RTLD_DEFAULT, "mg_group_set_limit");
  if (mg_root == NULL || set_limit == NULL) {
    fprintf(stderr, "memgroup API not found (not preloaded?)\n");
    g_raise_err = -2;
    return NULL;
  }
  g_raised_at = now_ms();
  g_raise_err = set_limit(mg_root(), 0 /* MG_LIMIT_MAX */, (int64_t)10 * MIB);
  return NULL;
}

int main(void) {
  pthread_t helper;
  MG_EXPECT(pthread_create(&helper, NULL, raise_limit, NULL) == 0);

  void* blocks[NBLOCKS];
  int64_t longest = 0;
  int64_t start = now_ms();
  for (int i = 0; i < NBLOCKS; ++i) {
    int64_t t0 = now_ms();
    blocks[i] = malloc(BLOCK);
    int64_t waited = now_ms() - t0;
    if (blocks[i] == NULL) {
      fprintf(stderr, "malloc #%d failed after %lld ms (errno %d)\n", i,
              (long long)waited, errno);
      return 1;
    }
    Fill(blocks[i], BLOCK, (unsigned)i);
    printf("block %d: %zu MiB after %lld ms\n", i, BLOCK / MIB,
           (long long)waited);
    if (waited > longest) longest = waited;
    atomic_store(&g_first_block_done, 1);
  }
  int64_t done = now_ms();
  MG_EXPECT(pthread_join(helper, NULL) == 0);

  MG_EXPECT(g_raise_err == 0);
  printf("limit raised after %lld ms; longest pause %lld ms\n",
         (long long)(g_raised_at - start), (long long)longest);
  /* Paused at the limit until the helper raised it. */
  MG_EXPECT(longest >= 250);
  MG_EXPECT(done >= g_raised_at);
  for (int i = 0; i < NBLOCKS; ++i) {
    MG_EXPECT(Check(blocks[i], BLOCK, (unsigned)i));
    free(blocks[i]);
  }
  printf("wait_policy: OK\n");
  return 0;
}
