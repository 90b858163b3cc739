/* cache_reclaim: a cache that lives under a memory limit and shrinks on
 * demand instead of failing.
 *
 * The cache keeps its entries (malloc'ed blocks) in the group "/cache",
 * limited to 8 MiB. It never checks its own size: when an insertion would
 * take the group over its max, memgroup drains the per-thread stocks and then
 * calls the reclaim callback registered here, which evicts least recently
 * used entries until the requested number of bytes is free. The program
 * inserts 64 MiB worth of entries (and looks some up, which keeps them hot),
 * then prints what happened.
 *
 * Exit status 0 only if no insertion failed, the group's usage never went
 * above its max, and reclaim really ran.
 *
 * Build: cc -std=c11 cache_reclaim.c -I include -L build/release -lmemgroup
 * Run:   LD_LIBRARY_PATH=build/release ./a.out
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h> /* malloc_usable_size: the bytes an entry holds */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memgroup/memgroup.h"

#define CACHE_MAX ((int64_t)8 << 20)      /* the group's max */
#define TOTAL_INSERTED ((int64_t)64 << 20) /* bytes inserted over the run */
#define NKEYS 4096                         /* key space (a direct index) */

/* One cached value: an LRU list node followed by its payload. */
typedef struct entry {
  struct entry *prev, *next; /* LRU list: head = most recent */
  unsigned key;
  size_t len;
  unsigned char data[];
} entry_t;

typedef struct cache {
  mg_group_t group;
  entry_t *head, *tail;
  entry_t *index[NKEYS]; /* key -> entry (static storage, never charged) */
  int64_t entries;
  int64_t evictions;
  int64_t reclaim_calls;
} cache_t;

static cache_t g_cache;

static void lru_unlink(cache_t *c, entry_t *e) {
  if (e->prev) e->prev->next = e->next; else c->head = e->next;
  if (e->next) e->next->prev = e->prev; else c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_front(cache_t *c, entry_t *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e; else c->tail = e;
  c->head = e;
}

/* Frees one entry and returns the bytes it held (a large entry's charge goes
 * at once; small ones are charged by their slab, which goes back once free). */
static int64_t drop(cache_t *c, entry_t *e) {
  int64_t bytes = (int64_t)malloc_usable_size(e);
  lru_unlink(c, e);
  c->index[e->key] = NULL;
  c->entries--;
  free(e);
  return bytes;
}

/* The reclaim callback: memgroup asks for `target` bytes when a charge in
 * /cache (or below it) would exceed a max, or on mg_group_reclaim(). It runs
 * on the allocating thread, with no memgroup lock held. */
static int64_t evict_lru(mg_group_t group, int64_t target, void *arg) {
  cache_t *c = arg;
  int64_t released = 0;
  (void)group;
  c->reclaim_calls++;
  while (released < target && c->tail != NULL) {
    released += drop(c, c->tail);
    c->evictions++;
  }
  return released;
}

static entry_t *lookup(cache_t *c, unsigned key) {
  entry_t *e = c->index[key];
  if (e != NULL) {
    lru_unlink(c, e);
    lru_push_front(c, e); /* hot again */
  }
  return e;
}

/* Inserts (or replaces) `key`. The thread is in /cache, so malloc charges
 * the group; at the limit it triggers evict_lru before it could fail. */
static int insert(cache_t *c, unsigned key, size_t len) {
  if (c->index[key] != NULL) drop(c, c->index[key]);
  entry_t *e = malloc(sizeof(*e) + len);
  if (e == NULL) return errno;
  e->key = key;
  e->len = len;
  memset(e->data, (int)(key & 0xff), len);
  c->index[key] = e;
  c->entries++;
  lru_push_front(c, e);
  return 0;
}

#define CHECK(call)                                                  \
  do {                                                               \
    int err_ = (call);                                               \
    if (err_ != 0) {                                                 \
      fprintf(stderr, "FAIL: %s: %s\n", #call, strerror(err_));      \
      return 1;                                                      \
    }                                                                \
  } while (0)

int main(void) {
  cache_t *c = &g_cache;
  mg_group_t root = mg_root();
  int handle = 0;

  CHECK(mg_group_create(root, "cache", &c->group));
  CHECK(mg_group_set_limit(c->group, MG_LIMIT_MAX, CACHE_MAX));
  CHECK(mg_reclaim_register(c->group, evict_lru, c, &handle));

  /* From here on this thread's allocations are charged to /cache. */
  CHECK(mg_thread_set_group(c->group));

  int64_t inserted = 0, max_seen = 0, failed = 0, hits = 0, lookups = 0;
  unsigned seed = 12345;
  while (inserted < TOTAL_INSERTED) {
    seed = seed * 1103515245u + 12345u;
    unsigned key = (seed >> 8) % NKEYS;
    size_t len = 1024 + ((seed >> 4) % (31 * 1024)); /* 1..32 KiB */
    if (insert(c, key, len) != 0) {
      failed++;
    } else {
      inserted += (int64_t)len;
    }
    /* Touch a few recent keys so that they stay near the LRU head. */
    for (int k = 0; k < 2; ++k) {
      unsigned hot = (seed >> (12 + k)) % 64;
      lookups++;
      if (lookup(c, hot) != NULL) hits++;
    }
    int64_t cur = 0;
    CHECK(mg_group_current(c->group, 0, &cur));
    if (cur > max_seen) max_seen = cur;
  }

  CHECK(mg_thread_set_group(root));

  int64_t current = 0, peak = 0, max = 0;
  mg_events_t ev;
  mg_stat_t st;
  CHECK(mg_group_current(c->group, 1, &current));
  CHECK(mg_group_peak(c->group, &peak));
  CHECK(mg_group_get_limit(c->group, MG_LIMIT_MAX, &max));
  CHECK(mg_group_events(c->group, 1, &ev));
  CHECK(mg_group_stat(c->group, &st));

  printf("inserted %" PRId64 " bytes in %" PRId64 " entries live at the end\n",
         inserted, c->entries);
  printf("lookups %" PRId64 " hits %" PRId64 "\n", lookups, hits);
  printf("evictions %" PRId64 "\n", c->evictions);
  printf("reclaim_calls %" PRId64 "\n", c->reclaim_calls);
  printf("reclaimed %" PRId64 "\n", st.reclaimed);
  printf("failed_inserts %" PRId64 "\n", failed);
  printf("events.max %" PRIu64 " events.oom %" PRIu64 "\n", ev.max, ev.oom);
  printf("max %" PRId64 "\n", max);
  printf("current %" PRId64 "\n", current);
  printf("peak %" PRId64 "\n", peak);
  printf("max_seen %" PRId64 "\n", max_seen);

  int ok = 1;
  if (failed != 0) { fprintf(stderr, "FAIL: %" PRId64 " inserts failed\n", failed); ok = 0; }
  if (max_seen > max || peak > max || current > max) {
    fprintf(stderr, "FAIL: usage went above max\n");
    ok = 0;
  }
  if (c->reclaim_calls == 0 || c->evictions == 0) {
    fprintf(stderr, "FAIL: reclaim never ran\n");
    ok = 0;
  }
  if (inserted <= max) {
    fprintf(stderr, "FAIL: inserted less than the limit\n");
    ok = 0;
  }

  /* Proactive reclaim (memory.reclaim): shrink by half on request. */
  int64_t released = 0;
  CHECK(mg_group_reclaim(c->group, current / 2, &released));
  printf("proactive_reclaim released %" PRId64 "\n", released);
  if (released < current / 2) {
    fprintf(stderr, "FAIL: proactive reclaim released too little\n");
    ok = 0;
  }

  /* Empty the cache: the group must read exactly 0 again once its free
   * pages went back. Small blocks are charged by the 64 KiB slab that holds
   * them, and a slab stays charged while its regions sit in a thread's
   * cache or it is its size class's one spare: a reclaim returns them. */
  while (c->tail != NULL) drop(c, c->tail);
  CHECK(mg_group_reclaim(c->group, INT64_MAX / 2, &released));
  CHECK(mg_group_current(c->group, 1, &current));
  printf("current_after_clear %" PRId64 "\n", current);
  if (current != 0) { fprintf(stderr, "FAIL: usage left after clear\n"); ok = 0; }

  CHECK(mg_reclaim_unregister(handle));
  CHECK(mg_group_destroy(c->group));
  if (!ok) return 1;
  printf("cache_reclaim: OK\n");
  return 0;
}
