/* How many groups a process can hold, through the C ABI (mg_* found with
 * dlsym; memgroup.h for the types only). Creates children of the root group
 * until mg_group_create fails or 200 exist, allocating small and large
 * blocks in each and checking their owner (mg_block_group). With
 * MEMGROUP_ENGINE=mimalloc the 64th group (root included) must get ENOSPC,
 * and nothing before it; with the jemalloc engine all 200 must succeed.
 * Then frees everything, checks each group reads exactly 0, destroys the
 * groups and creates one again (the slots are reused).
 * Prints "group_cap: OK" and exits 0 on success.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>

#include "preloaded.h"
#include "memgroup/memgroup.h"

#define MAX_TRY 200


int main(void) {
  MG_NEED(root, mg_root);
  MG_NEED(create, mg_group_create);
  MG_NEED(destroy, mg_group_destroy);
  MG_NEED(malloc_in, mg_malloc_in);
  MG_NEED(block_group, mg_block_group);
  MG_NEED(current, mg_group_current);
  MG_NEED(reclaim, mg_group_reclaim);
  const char* engine = getenv("MEMGROUP_ENGINE");
  const int mi = engine != NULL && strcmp(engine, "mimalloc") == 0;
  /* Children that must succeed: 62 under mimalloc (63 groups with "/"). */
  const int expect_children = mi ? 62 : MAX_TRY;

  static mg_group_t groups[MAX_TRY];
  static void* small[MAX_TRY];
  static void* large[MAX_TRY];
  int n = 0, err = 0;
  for (; n < MAX_TRY; ++n) {
    char name[32];
    snprintf(name, sizeof(name), "g%d", n);
    err = create(root(), name, &groups[n]);
    if (err != 0) break;
    small[n] = malloc_in(groups[n], 64);
    large[n] = malloc_in(groups[n], 300000);
    MG_EXPECT(small[n] != NULL && large[n] != NULL);
    Fill(small[n], 64, (unsigned)n);
    Fill(large[n], 300000, (unsigned)n);
    mg_group_t g = 0;
    MG_EXPECT(block_group(small[n], &g) == 0 && g == groups[n]);
    MG_EXPECT(block_group(large[n], &g) == 0 && g == groups[n]);
  }
  if (n != expect_children) {
    fprintf(stderr, "created %d child groups (expected %d); last error %d\n",
            n, expect_children, err);
    return 1;
  }
  if (mi) MG_EXPECT(err == ENOSPC);
  for (int i = 0; i < n; ++i) {
    free(small[i]);
    free(large[i]);
    /* The small block's 64 KiB slab stays charged (this thread's cache, or
     * its class's spare) until reclaim returns it. */
    int64_t bytes = -1, released = 0;
    MG_EXPECT(reclaim(groups[i], INT64_MAX / 2, &released) == 0);
    MG_EXPECT(current(groups[i], 1, &bytes) == 0);
    if (bytes != 0) {
      fprintf(stderr, "group %d reads %lld after its blocks were freed\n", i,
              (long long)bytes);
      return 1;
    }
    MG_EXPECT(destroy(groups[i]) == 0);
  }
  /* A slot freed by destroy serves a new group. */
  mg_group_t again = 0;
  MG_EXPECT(create(root(), "again", &again) == 0);
  void* p = malloc_in(again, 1000);
  mg_group_t g = 0;
  MG_EXPECT(p != NULL && block_group(p, &g) == 0 && g == again);
  free(p);
  MG_EXPECT(destroy(again) == 0);
  printf("group_cap: OK\n");
  return 0;
}
