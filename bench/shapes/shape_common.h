/* Helpers shared by the workload-shape programs of bench/shapes: a clock,
 * a small deterministic random generator, an optimisation barrier and the
 * one-line result format that bench/shapes.sh reads. Plain C, no memgroup
 * header: the programs measure whatever allocator LD_PRELOAD puts in front
 * of libc. */
#ifndef MEMGROUP_BENCH_SHAPES_SHAPE_COMMON_H_
#define MEMGROUP_BENCH_SHAPES_SHAPE_COMMON_H_

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Monotonic time in seconds. */
static inline double shape_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64: a fixed seed gives every allocator the same sequence. */
static inline uint64_t shape_rand(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Makes a pointer escape so an allocation cannot be elided. */
static inline void shape_keep(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* The program's argument `i` as a positive integer, or `fallback` when it is
 * absent; exits 2 with a message when it is malformed. */
static inline long shape_arg(int argc, char** argv, int i, long fallback) {
  if (i >= argc) return fallback;
  char* end = NULL;
  long v = strtol(argv[i], &end, 10);
  if (end == argv[i] || *end != '\0' || v <= 0) {
    fprintf(stderr, "%s: argument %d must be a positive integer, got '%s'\n",
            argv[0], i, argv[i]);
    exit(2);
  }
  return v;
}

/* The result line: "result METRIC VALUE", one per program run. METRIC is
 * wall_s (lower is better) or a rate ending in _per_s (higher is better). */
static inline void shape_result(const char* metric, double value) {
  printf("result %s %.6g\n", metric, value);
  fflush(stdout);
}

#endif /* MEMGROUP_BENCH_SHAPES_SHAPE_COMMON_H_ */
