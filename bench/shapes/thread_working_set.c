/* Shape 2, the shape of glibc's bench-malloc-thread: each thread keeps a
 * working set of 1,024 slots and, in a loop, replaces a random slot by a
 * block of a random size from 4 B to 32 KiB drawn from an inverse-square
 * distribution (most blocks small, a long tail of large ones). The random
 * slots and sizes are drawn before the timed loop. Runs 2 threads (or
 * THREADS) for a fixed duration and prints the operations (one free and one
 * malloc) per second, all threads together.
 * With OPS, each thread instead stops after OPS operations (rounded up to
 * a multiple of 256) and MILLISECONDS is ignored: a fixed amount of work,
 * for instruction counts under callgrind, where a duration buys a varying
 * number of operations.
 * usage: thread_working_set [THREADS [MILLISECONDS [OPS]]]   (default 2 1000) */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "shape_common.h"

enum {
  kSlots = 1024,
  kSizes = 8192,        /* pre-drawn sizes, cycled */
  kOffsets = 4 * 1024,  /* pre-drawn slot indices, cycled */
  kMinSize = 4,
  kMaxSize = 32768,
  kCheckEvery = 256,    /* iterations between two looks at the stop flag */
};

static unsigned g_sizes[kSizes];
static unsigned g_offsets[kOffsets];
/* Written once by main when the duration has passed, read by the workers.
 * Relaxed both sides: it carries no data, only "stop soon". */
static atomic_int g_stop;

/* Inverse-square distribution on [kMinSize, kMaxSize]: the inverse of its
 * CDF applied to a uniform u in [0, 1). */
static unsigned inverse_square_size(double u) {
  const double lo = 1.0 / kMinSize, hi = 1.0 / kMaxSize;
  double size = 1.0 / (lo - u * (lo - hi));
  if (size < kMinSize) size = kMinSize;
  if (size > kMaxSize) size = kMaxSize;
  return (unsigned)size;
}

typedef struct worker {
  pthread_t thread;
  unsigned first; /* where this thread starts in the pre-drawn tables */
  uint64_t limit; /* operations to run; 0: until g_stop */
  uint64_t ops;
} worker_t;

static void* run_worker(void* arg) {
  worker_t* w = arg;
  void* slots[kSlots] = {0};
  unsigned o = w->first % kOffsets, s = w->first % kSizes;
  uint64_t ops = 0;
  while (w->limit != 0 ? ops < w->limit
                       : !atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    for (int k = 0; k < kCheckEvery; ++k) {
      const unsigned idx = g_offsets[o];
      free(slots[idx]);
      slots[idx] = malloc(g_sizes[s]);
      shape_keep(slots[idx]);
      if (++o == kOffsets) o = 0;
      if (++s == kSizes) s = 0;
    }
    ops += kCheckEvery;
  }
  for (int i = 0; i < kSlots; ++i) free(slots[i]);
  w->ops = ops;
  return NULL;
}

int main(int argc, char** argv) {
  const long threads = shape_arg(argc, argv, 1, 2);
  const long millis = shape_arg(argc, argv, 2, 1000);
  const long limit = argc > 3 ? shape_arg(argc, argv, 3, 1) : 0;
  if (threads > 64) {
    fprintf(stderr, "thread_working_set: at most 64 threads\n");
    return 2;
  }
  uint64_t rng = 2;
  for (int i = 0; i < kSizes; ++i) {
    g_sizes[i] = inverse_square_size((double)(shape_rand(&rng) >> 11) * 0x1p-53);
  }
  for (int i = 0; i < kOffsets; ++i) {
    g_offsets[i] = (unsigned)(shape_rand(&rng) % kSlots);
  }
  worker_t workers[64];
  const double start = shape_now();
  for (long t = 0; t < threads; ++t) {
    workers[t].first = (unsigned)(t * 997);
    workers[t].limit = (uint64_t)limit;
    workers[t].ops = 0;
    if (pthread_create(&workers[t].thread, NULL, run_worker, &workers[t]) != 0) {
      fprintf(stderr, "thread_working_set: pthread_create failed\n");
      return 1;
    }
  }
  const struct timespec duration = {millis / 1000, (millis % 1000) * 1000000};
  if (limit == 0) {
    nanosleep(&duration, NULL);
    atomic_store_explicit(&g_stop, 1, memory_order_relaxed);
  }
  uint64_t ops = 0;
  for (long t = 0; t < threads; ++t) {
    pthread_join(workers[t].thread, NULL);
    ops += workers[t].ops;
  }
  const double elapsed = shape_now() - start;
  /* The count itself, for runs whose speed is not the point (callgrind's
   * instructions per operation). */
  fprintf(stderr, "thread_working_set: %llu operations in %.3f s\n",
          (unsigned long long)ops, elapsed);
  shape_result("ops_per_s", (double)ops / elapsed);
  return 0;
}
