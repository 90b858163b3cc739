// Helpers shared by the preload test programs: a failure macro that prints
// and exits 1, and an escape that stops the compiler from eliding
// allocations (new/delete and malloc/free pairs may otherwise be removed).
#ifndef MEMGROUP_TESTS_PRELOAD_PROGRAMS_COMMON_H_
#define MEMGROUP_TESTS_PRELOAD_PROGRAMS_COMMON_H_

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MG_EXPECT(cond)                                                        \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

static inline void Escape(void* p) {
  __asm__ volatile("" : : "g"(p) : "memory");
}

// Fills [p, p+n) with a pattern derived from `seed`.
static inline void Fill(void* p, size_t n, unsigned seed) {
  unsigned char* c = (unsigned char*)p;
  for (size_t i = 0; i < n; ++i) c[i] = (unsigned char)(seed + i * 7);
  Escape(p);
}

// Returns whether [p, p+n) still holds the pattern of Fill(p, n, seed).
static inline int Check(const void* p, size_t n, unsigned seed) {
  const unsigned char* c = (const unsigned char*)p;
  for (size_t i = 0; i < n; ++i) {
    if (c[i] != (unsigned char)(seed + i * 7)) return 0;
  }
  return 1;
}

#endif  // MEMGROUP_TESTS_PRELOAD_PROGRAMS_COMMON_H_
