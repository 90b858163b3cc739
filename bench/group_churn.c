/* What groups cost: run under the preload (LD_PRELOAD=libmemgroup.so), it
 * finds the C ABI with dlsym and measures, through RssAnon of
 * /proc/self/status:
 *   empty   N empty groups created: RSS per group; destroyed: RSS left over;
 *           then creates+destroys of one empty group per second;
 *   used    N groups, each with a few blocks (64 B, 1000 B, 40 KB, 300 KB),
 *           all live at once (as many as can allocate), then destroyed:
 *           RSS per group while live and left over after;
 *   churn   ROUNDS rounds of N groups created, used as above and destroyed,
 *           WINDOW of them live at a time: RSS left over after each round,
 *           and groups (create + use + destroy) per second.
 * TOUCH is the bytes written at the start of each block (default: all of
 * it); 64 measures the engine's own cost, not the program's page faults
 * (as preload.group_churn does).
 * Usage: group_churn [empty|used|churn|all] [N] [ROUNDS] [WINDOW] [TOUCH]
 * Prints one "key value" line per figure. Plain C, no memgroup link. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memgroup/memgroup.h"

typedef mg_group_t (*root_fn)(void);
typedef int (*create_fn)(mg_group_t, const char*, mg_group_t*);
typedef int (*destroy_fn)(mg_group_t);
typedef void* (*malloc_in_fn)(mg_group_t, size_t);

static root_fn p_root;
static create_fn p_create;
static destroy_fn p_destroy;
static malloc_in_fn p_malloc_in;

static void* need(const char* name) {
  void* f = dlsym(RTLD_DEFAULT, name);
  if (f == NULL) {
    fprintf(stderr, "%s not found (run under LD_PRELOAD=libmemgroup.so)\n",
            name);
    exit(2);
  }
  return f;
}

/* RssAnon in KiB. */
static long RssAnonKib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof(line), f) != NULL) {
    if (strncmp(line, "RssAnon:", 8) == 0) {
      kib = strtol(line + 8, NULL, 10);
      break;
    }
  }
  fclose(f);
  return kib;
}

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const size_t kSizes[] = {64, 1000, 40000, 300000};
enum { kNumSizes = sizeof(kSizes) / sizeof(kSizes[0]) };
/* Bytes written at the start of each block (TOUCH). */
static size_t g_touch = (size_t)-1;

/* Allocates one block of each size in g, touching them; false if any
 * allocation fails (what is allocated stays in blocks[]). */
static int Use(mg_group_t g, void** blocks) {
  int ok = 1;
  for (int k = 0; k < kNumSizes; ++k) {
    blocks[k] = p_malloc_in(g, kSizes[k]);
    if (blocks[k] == NULL) {
      ok = 0;
      continue;
    }
    memset(blocks[k], k + 1, kSizes[k] < g_touch ? kSizes[k] : g_touch);
  }
  return ok;
}
static void Unuse(void** blocks) {
  for (int k = 0; k < kNumSizes; ++k) {
    free(blocks[k]);
    blocks[k] = NULL;
  }
}

static void Empty(int n) {
  mg_group_t* g = calloc((size_t)n, sizeof(*g));
  long before = RssAnonKib();
  int made = 0;
  for (; made < n; ++made) {
    char name[32];
    snprintf(name, sizeof(name), "e%d", made);
    if (p_create(p_root(), name, &g[made]) != 0) break;
  }
  long live = RssAnonKib();
  for (int i = 0; i < made; ++i) p_destroy(g[i]);
  long after = RssAnonKib();
  printf("empty.groups %d\n", made);
  printf("empty.rss_per_group_bytes %.0f\n",
         made ? (double)(live - before) * 1024.0 / made : 0.0);
  printf("empty.rss_left_after_destroy_kib %ld\n", after - before);
  /* Create + destroy of one empty group, repeated. */
  const int reps = 20000;
  double t0 = Now();
  for (int i = 0; i < reps; ++i) {
    mg_group_t x;
    if (p_create(p_root(), "cd", &x) != 0 || p_destroy(x) != 0) {
      fprintf(stderr, "create+destroy failed at %d\n", i);
      exit(1);
    }
  }
  double dt = Now() - t0;
  printf("empty.create_destroy_per_s %.0f\n", reps / dt);
  free(g);
}

static void Used(int n) {
  mg_group_t* g = calloc((size_t)n, sizeof(*g));
  void** blocks = calloc((size_t)n * kNumSizes, sizeof(void*));
  long before = RssAnonKib();
  int made = 0, used = 0;
  double t0 = Now();
  for (; made < n; ++made) {
    char name[32];
    snprintf(name, sizeof(name), "u%d", made);
    if (p_create(p_root(), name, &g[made]) != 0) break;
    if (Use(g[made], &blocks[(size_t)made * kNumSizes])) ++used;
  }
  double t1 = Now();
  long live = RssAnonKib();
  for (int i = 0; i < made; ++i) {
    Unuse(&blocks[(size_t)i * kNumSizes]);
    p_destroy(g[i]);
  }
  double t2 = Now();
  long after = RssAnonKib();
  printf("used.groups %d\n", made);
  printf("used.groups_allocating %d\n", used);
  printf("used.rss_per_group_bytes %.0f\n",
         made ? (double)(live - before) * 1024.0 / made : 0.0);
  printf("used.rss_left_after_destroy_kib %ld\n", after - before);
  printf("used.create_use_per_s %.0f\n", made / (t1 - t0));
  printf("used.free_destroy_per_s %.0f\n", made / (t2 - t1));
  free(blocks);
  free(g);
}

static void Churn(int n, int rounds, int window) {
  if (window > n) window = n;
  mg_group_t* g = calloc((size_t)window, sizeof(*g));
  void** blocks = calloc((size_t)window * kNumSizes, sizeof(void*));
  long before = RssAnonKib();
  long peak = before;
  for (int r = 0; r < rounds; ++r) {
    double t0 = Now();
    int failed = 0;
    for (int i = 0; i < n + window; ++i) {
      const int w = i % window;
      if (i >= window) {  /* The oldest live group goes. */
        Unuse(&blocks[(size_t)w * kNumSizes]);
        p_destroy(g[w]);
      }
      if (i >= n) continue;
      char name[32];
      snprintf(name, sizeof(name), "c%d", i);
      if (p_create(p_root(), name, &g[w]) != 0) {
        fprintf(stderr, "create failed in round %d at %d\n", r, i);
        exit(1);
      }
      if (!Use(g[w], &blocks[(size_t)w * kNumSizes])) ++failed;
      if (i % 1000 == 999) {
        long rss = RssAnonKib();
        if (rss > peak) peak = rss;
      }
    }
    double dt = Now() - t0;
    long after = RssAnonKib();
    printf("churn.round%d.groups_per_s %.0f\n", r, n / dt);
    printf("churn.round%d.failed_groups %d\n", r, failed);
    printf("churn.round%d.rss_left_kib %ld\n", r, after - before);
  }
  printf("churn.peak_rss_over_start_kib %ld\n", peak - before);
  free(blocks);
  free(g);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "all";
  int n = argc > 2 ? atoi(argv[2]) : 1000;
  int rounds = argc > 3 ? atoi(argv[3]) : 3;
  int window = argc > 4 ? atoi(argv[4]) : 1000;
  long touch = argc > 5 ? atol(argv[5]) : 1;
  if (n <= 0 || rounds <= 0 || window <= 0 || touch <= 0) {
    fprintf(stderr, "usage: group_churn [empty|used|churn|all] [N] [ROUNDS]"
                    " [WINDOW] [TOUCH]\n");
    return 2;
  }
  if (argc > 5) g_touch = (size_t)touch;
  p_root = (root_fn)need("mg_root");
  p_create = (create_fn)need("mg_group_create");
  p_destroy = (destroy_fn)need("mg_group_destroy");
  p_malloc_in = (malloc_in_fn)need("mg_malloc_in");
  printf("start.rss_anon_kib %ld\n", RssAnonKib());
  const int all = strcmp(mode, "all") == 0;
  if (all || strcmp(mode, "empty") == 0) Empty(n);
  if (all || strcmp(mode, "used") == 0) Used(n);
  if (all || strcmp(mode, "churn") == 0) Churn(n, rounds, window);
  printf("end.rss_anon_kib %ld\n", RssAnonKib());
  return 0;
}
