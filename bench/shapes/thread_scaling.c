/* Shape 6, thread scaling: THREADS threads (1, 2, 4, ...) each replace
 * random slots of their own 256-slot working set by blocks of 8 to 512
 * bytes, a fixed number of times; prints the operations (one free and one
 * malloc) per second, all threads together.
 *
 * MODE `shared` runs every thread in one group; `separate` gives each thread
 * its own group. Groups are memgroup's: when the program runs under
 * libmemgroup.so (LD_PRELOAD or `memgroup run`) the C interface is found
 * with dlsym(RTLD_DEFAULT, ...), `shared` creates one group under the root
 * for all threads and `separate` one per thread. Under another allocator
 * there are no groups: `shared` is the plain run and `separate` prints
 * "result ops_per_s n/a". The same binary runs under every allocator.
 * usage: thread_scaling THREADS shared|separate [OPS_PER_THREAD]
 *        (default OPS_PER_THREAD 2000000) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "shape_common.h"

enum { kSlots = 256, kMaxThreads = 64 };

/* The few calls of memgroup's C interface used here, with the signatures of
 * memgroup.h (not included: this program must not need memgroup). */
typedef uint64_t group_t;
typedef group_t (*root_fn)(void);
typedef int (*create_fn)(group_t parent, const char* name, group_t* out);
typedef int (*set_group_fn)(group_t group);
typedef int (*destroy_fn)(group_t group);

static struct {
  root_fn root;
  create_fn create;
  set_group_fn set_group;
  destroy_fn destroy;
} g_mg;

typedef struct worker {
  pthread_t thread;
  long ops;
  uint64_t seed;
  group_t group; /* 0: stay where the thread starts */
} worker_t;

static void* run_worker(void* arg) {
  worker_t* w = arg;
  if (w->group != 0 && g_mg.set_group(w->group) != 0) {
    fprintf(stderr, "thread_scaling: mg_thread_set_group failed\n");
    exit(1);
  }
  void* slots[kSlots] = {0};
  uint64_t rng = w->seed;
  for (long n = 0; n < w->ops; ++n) {
    const uint64_t r = shape_rand(&rng);
    const unsigned idx = (unsigned)(r % kSlots);
    const size_t size = 8 + (size_t)((r >> 32) % 505);
    free(slots[idx]);
    slots[idx] = malloc(size);
    shape_keep(slots[idx]);
  }
  for (int i = 0; i < kSlots; ++i) free(slots[i]);
  if (w->group != 0) g_mg.set_group(g_mg.root());
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3 || (strcmp(argv[2], "shared") != 0 && strcmp(argv[2], "separate") != 0)) {
    fprintf(stderr, "usage: %s THREADS shared|separate [OPS_PER_THREAD]\n", argv[0]);
    return 2;
  }
  const long threads = shape_arg(argc, argv, 1, 1);
  const int separate = strcmp(argv[2], "separate") == 0;
  const long ops = shape_arg(argc, argv, 3, 2000000);
  if (threads > kMaxThreads) {
    fprintf(stderr, "thread_scaling: at most %d threads\n", kMaxThreads);
    return 2;
  }
  g_mg.root = (root_fn)dlsym(RTLD_DEFAULT, "mg_root");
  g_mg.create = (create_fn)dlsym(RTLD_DEFAULT, "mg_group_create");
  g_mg.set_group = (set_group_fn)dlsym(RTLD_DEFAULT, "mg_thread_set_group");
  g_mg.destroy = (destroy_fn)dlsym(RTLD_DEFAULT, "mg_group_destroy");
  const int have_groups = g_mg.root && g_mg.create && g_mg.set_group && g_mg.destroy;
  if (separate && !have_groups) {
    printf("result ops_per_s n/a\n");
    return 0;
  }
  worker_t workers[kMaxThreads];
  group_t shared_group = 0;
  if (have_groups && !separate &&
      g_mg.create(g_mg.root(), "shape-shared", &shared_group) != 0) {
    fprintf(stderr, "thread_scaling: mg_group_create failed\n");
    return 1;
  }
  for (long t = 0; t < threads; ++t) {
    workers[t].ops = ops;
    workers[t].seed = 6 + (uint64_t)t;
    workers[t].group = shared_group;
    if (separate) {
      char name[32];
      snprintf(name, sizeof name, "shape-t%ld", t);
      if (g_mg.create(g_mg.root(), name, &workers[t].group) != 0) {
        fprintf(stderr, "thread_scaling: mg_group_create failed\n");
        return 1;
      }
    }
  }
  const double start = shape_now();
  for (long t = 0; t < threads; ++t) {
    if (pthread_create(&workers[t].thread, NULL, run_worker, &workers[t]) != 0) {
      fprintf(stderr, "thread_scaling: pthread_create failed\n");
      return 1;
    }
  }
  for (long t = 0; t < threads; ++t) pthread_join(workers[t].thread, NULL);
  const double elapsed = shape_now() - start;
  if (separate) {
    for (long t = 0; t < threads; ++t) g_mg.destroy(workers[t].group);
  } else if (shared_group != 0) {
    g_mg.destroy(shared_group);
  }
  shape_result("ops_per_s", (double)(threads * ops) / elapsed);
  return 0;
}
