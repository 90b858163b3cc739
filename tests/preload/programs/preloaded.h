// Helpers for the preload test programs that reach the library's C ABI
// without linking it: `need` looks a symbol up in the preloaded library
// (exit 1 with a message when it is not there), `MG_NEED(var, fn)` declares
// `var`, a pointer of fn's own type (from memgroup/memgroup.h or libc's
// headers) set to the library's fn, and `RssAnonKib` reads the
// process's anonymous RSS. The program defines _GNU_SOURCE (RTLD_DEFAULT)
// before its first include.
#ifndef MEMGROUP_TESTS_PRELOAD_PROGRAMS_PRELOADED_H_
#define MEMGROUP_TESTS_PRELOAD_PROGRAMS_PRELOADED_H_

#include <dlfcn.h>

#include "common.h"

static inline void* need(const char* name) {
  void* f = dlsym(RTLD_DEFAULT, name);
  if (f == NULL) {
    fprintf(stderr, "%s not found (not preloaded?)\n", name);
    exit(1);
  }
  return f;
}

#define MG_NEED(var, fn) __typeof__(&fn) var = (__typeof__(&fn))need(#fn)

// RssAnon of /proc/self/status, in KiB.
static inline long RssAnonKib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "RssAnon:", 8) == 0) kib = strtol(line + 8, NULL, 10);
  }
  if (f != NULL) fclose(f);
  MG_EXPECT(kib >= 0);
  return kib;
}

#endif  // MEMGROUP_TESTS_PRELOAD_PROGRAMS_PRELOADED_H_
