/* A C host that dlopens a C++ plugin (argv[1]) several times, calls it, and
 * frees in the host memory the plugin allocated (and the reverse). The
 * plugin's failing operator new must throw and its nothrow forms return
 * nullptr, with the C++ runtime loaded only locally, by the plugin. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef long (*RunFn)(int);
typedef long (*NamesFn)(void);
typedef long (*FailFn)(void);

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s PLUGIN.so\n", argv[0]);
    return 2;
  }
  long first = -1;
  for (int cycle = 0; cycle < 5; ++cycle) {
    char* before = malloc(1000);
    memset(before, 'a', 1000);
    void* handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
      fprintf(stderr, "dlopen: %s\n", dlerror());
      return 1;
    }
    RunFn run = (RunFn)dlsym(handle, "plugin_run");
    NamesFn names = (NamesFn)dlsym(handle, "plugin_names");
    if (run == NULL || names == NULL) {
      fprintf(stderr, "dlsym: %s\n", dlerror());
      return 1;
    }
    FailFn fail_new = (FailFn)dlsym(handle, "plugin_fail_new");
    if (fail_new == NULL) {
      fprintf(stderr, "dlsym: %s\n", dlerror());
      return 1;
    }
    if (fail_new() != 7) {
      fprintf(stderr, "failing operator new in the plugin: %ld, want 7\n",
              fail_new());
      return 1;
    }
    if (names() != 1000) {
      fprintf(stderr, "constructor did not run: %ld names\n", names());
      return 1;
    }
    long result = run(50);
    if (first == -1) first = result;
    if (result != first) {
      fprintf(stderr, "cycle %d: result %ld != %ld\n", cycle, result, first);
      return 1;
    }
    free(before); /* allocated before dlopen, freed after */
    if (dlclose(handle) != 0) {
      fprintf(stderr, "dlclose: %s\n", dlerror());
      return 1;
    }
  }
  printf("dlopen_host: 5 cycles, result %ld\n", first);
  puts("dlopen_host: OK");
  return 0;
}
