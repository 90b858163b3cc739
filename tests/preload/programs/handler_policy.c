// The handler OOM policy on an otherwise unmodified program: the program
// installs an OOM handler through dlsym'ed mg_* calls (so it also builds and
// runs without memgroup linked) and drives the process group to its limit
// (MEMGROUP_MAX=16M, set by the test). The handler first frees a cache and
// asks for a retry (the allocation succeeds), then forces one charge over the
// limit, then fails (malloc returns NULL with ENOMEM).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

typedef uint64_t mg_group_t;
typedef int (*handler_fn)(mg_group_t, int64_t, void*);

// volatile: the compiler may assume malloc() does not call back into the
// program, but the OOM handler runs inside it.
static void* volatile g_cache = NULL;
static volatile int g_calls = 0;
static int g_verdicts[3] = {0 /*retry*/, 2 /*force*/, 1 /*fail*/};

static int Handler(mg_group_t group, int64_t bytes, void* arg) {
  (void)group;
  (void)bytes;
  (void)arg;
  int verdict = g_verdicts[g_calls < 3 ? g_calls : 2];
  ++g_calls;
  if (verdict == 0 && g_cache != NULL) {
    free(g_cache);  // release memory, then ask for a retry
    g_cache = NULL;
  }
  return verdict;
}

int main(void) {
  mg_group_t (*root)(void) = (mg_group_t(*)(void))dlsym(RTLD_DEFAULT, "mg_root");
  int (*set_policy)(mg_group_t, int, int64_t) =
      (int (*)(mg_group_t, int, int64_t))dlsym(RTLD_DEFAULT,
                                               "mg_group_set_oom_policy");
  int (*set_handler)(mg_group_t, handler_fn, void*) =
      (int (*)(mg_group_t, handler_fn, void*))dlsym(RTLD_DEFAULT,
                                                    "mg_group_set_oom_handler");
  int (*current)(mg_group_t, int, int64_t*) =
      (int (*)(mg_group_t, int, int64_t*))dlsym(RTLD_DEFAULT,
                                                "mg_group_current");
  MG_EXPECT(root && set_policy && set_handler && current);
  MG_EXPECT(set_handler(root(), Handler, NULL) == 0);
  MG_EXPECT(set_policy(root(), 4 /*MG_OOM_HANDLER*/, -1) == 0);

  g_cache = malloc(6 << 20);
  MG_EXPECT(g_cache != NULL);
  memset(g_cache, 1, 6 << 20);
  void* blocks[64];
  int n = 0;
  // Fill up to the limit: the first refusal frees the cache (retry).
  for (; n < 64; ++n) {
    blocks[n] = malloc(1 << 20);
    if (blocks[n] == NULL) break;
    memset(blocks[n], 2, 1 << 20);
    if (g_calls >= 2) {  // the forced charge happened
      ++n;
      break;
    }
  }
  MG_EXPECT(g_calls >= 2);
  MG_EXPECT(g_cache == NULL);
  int64_t usage = 0;
  MG_EXPECT(current(root(), 1, &usage) == 0);
  MG_EXPECT(usage > (16 << 20));  // over max by the program's choice
  errno = 0;
  void* refused = malloc(1 << 20);
  MG_EXPECT(refused == NULL && errno == ENOMEM);
  MG_EXPECT(g_calls == 3);
  for (int i = 0; i < n; ++i) free(blocks[i]);
  printf("handler_policy: %d handler calls, usage peaked at %lld\n", g_calls,
         (long long)usage);
  puts("handler_policy: OK");
  return 0;
}
