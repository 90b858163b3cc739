/* An installed memgroup's C user: memgroup.h only. Its link must not need
 * Abseil (install_test.sh checks the executable's DT_NEEDED entries). */
#include <stdio.h>
#include <stdlib.h>

#include "memgroup/memgroup.h"

int main(void) {
  mg_group_t g;
  int64_t used = 0;
  void* p;
  if (mg_group_create(mg_root(), "install-consumer-c", &g) != 0) return 1;
  if (mg_group_set_limit(g, MG_LIMIT_MAX, 64 << 20) != 0) return 1;
  if (mg_thread_set_group(g) != 0) return 1;
  p = malloc(1 << 20);
  mg_thread_set_group(mg_root());
  if (p == NULL || mg_group_current(g, 1, &used) != 0 || used < (1 << 20)) {
    fprintf(stderr, "consumer_c: expected at least 1 MiB charged, got %lld\n",
            (long long)used);
    return 1;
  }
  free(p);
  printf("C: %lld bytes charged\nok\n", (long long)used);
  return mg_group_destroy(g) == 0 ? 0 : 1;
}
