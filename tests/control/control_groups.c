/* A job member with groups of its own, for the control tests: creates
 * /tenant, /tenant/a and /tenant/b through the C ABI, prints
 * "ready PID", then runs commands read from stdin one byte at a time (so
 * that a later program of the same shell gets the rest):
 *   alloc a|b MIB   allocate MIB MiB in /tenant/a or /tenant/b, touched;
 *                   prints "alloc G ok" or "alloc G enomem"
 *   destroy         free everything, destroy the three groups; "destroyed"
 *   create          create them again; "created"
 *   quit            exit 0 without freeing or destroying anything
 *   threshold a|b|r BYTES registers a usage threshold on the group (r: the
 *                   root group, mg_root()) (mg_threshold_register);
 *                   "threshold G ok"
 *   pressure a|b|r LEVEL  registers a pressure-level callback on the group
 *                   (mg_pressure_register) and a reclaim callback that
 *                   releases nothing (so that reclaim rounds report
 *                   pressure); "pressure G ok"
 *   cross a|b|r MIB N  N times: charge MIB MiB to the group (mg_charge), then
 *                   uncharge it; "cross G done" or "cross G enomem"
 *   reclaim a|b|r MIB  proactive reclaim of the group (mg_group_reclaim);
 *                   "reclaim G RELEASED"
 *   calls           the calls the callbacks received, counted by them:
 *                   "calls above=A below=B low=L medium=M critical=C
 *                   last_above=T last_below=T"
 * At end of input it exits 0 too. */
#include <memgroup/memgroup.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB (1024 * 1024)
#define MAX_BLOCKS 256

static mg_group_t tenant, group_a, group_b;
static void* blocks[MAX_BLOCKS];
static int nblocks;

static void create(void) {
  if (mg_group_create(mg_root(), "tenant", &tenant) != 0 ||
      mg_group_create(tenant, "a", &group_a) != 0 ||
      mg_group_create(tenant, "b", &group_b) != 0) {
    fprintf(stderr, "control_groups: cannot create the groups\n");
    exit(4);
  }
}

/* The callbacks' own tallies (a callback may run in the control agent's
 * thread: `memgroup reclaim`). */
static uint64_t calls_above, calls_below, calls_level[4];
static int64_t last_above = -1, last_below = -1;

static void on_threshold(mg_group_t group, int64_t threshold, int above,
                         void* arg) {
  (void)group;
  (void)arg;
  __atomic_fetch_add(above ? &calls_above : &calls_below, 1, __ATOMIC_RELAXED);
  __atomic_store_n(above ? &last_above : &last_below, threshold,
                   __ATOMIC_RELAXED);
}

static void on_pressure(mg_group_t group, int level, void* arg) {
  (void)group;
  (void)arg;
  if (level >= 1 && level <= 3) {
    __atomic_fetch_add(&calls_level[level], 1, __ATOMIC_RELAXED);
  }
}

static int64_t reclaim_nothing(mg_group_t group, int64_t target, void* arg) {
  (void)group;
  (void)target;
  (void)arg;
  return 0;
}

/* The group a command names: a, b, or r (the root group). */
static int named(char g) { return g == 'a' || g == 'b' || g == 'r'; }
static mg_group_t pick(char g) {
  return g == 'a' ? group_a : g == 'b' ? group_b : mg_root();
}

static int read_line(char* buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    char c;
    ssize_t r = read(0, &c, 1);
    if (r <= 0) return n > 0 ? (int)n : -1;
    if (c == '\n') break;
    if (n + 1 < cap) buf[n++] = c;
  }
  buf[n] = '\0';
  return (int)n;
}

int main(void) {
  create();
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  char line[128];
  while (read_line(line, sizeof(line)) >= 0) {
    char g = 0;
    int mib = 0;
    int count = 0;
    long long value = 0;
    if (sscanf(line, "alloc %c %d", &g, &mib) == 2 && (g == 'a' || g == 'b') &&
        mib > 0 && mib <= 64) {
      void* p = nblocks < MAX_BLOCKS
                    ? mg_malloc_in(g == 'a' ? group_a : group_b,
                                   (size_t)mib * MIB)
                    : NULL;
      if (p != NULL) {
        memset(p, 0x5a, (size_t)mib * MIB);
        blocks[nblocks++] = p;
      }
      printf("alloc %c %s\n", g, p != NULL ? "ok" : "enomem");
    } else if (sscanf(line, "threshold %c %lld", &g, &value) == 2 &&
               named(g)) {
      int handle = 0;
      int e = mg_threshold_register(pick(g),
                                    (int64_t)value, on_threshold, NULL,
                                    &handle);
      printf(e == 0 ? "threshold %c ok\n" : "threshold %c failed\n", g);
    } else if (sscanf(line, "pressure %c %d", &g, &mib) == 2 &&
               named(g)) {
      int h1 = 0, h2 = 0;
      mg_group_t grp = pick(g);
      int e = mg_pressure_register(grp, mib, on_pressure, NULL, &h1);
      if (e == 0) e = mg_reclaim_register(grp, reclaim_nothing, NULL, &h2);
      printf(e == 0 ? "pressure %c ok\n" : "pressure %c failed\n", g);
    } else if (sscanf(line, "cross %c %d %d", &g, &mib, &count) == 3 &&
               named(g) && mib > 0 && mib <= 64 && count > 0) {
      mg_group_t grp = pick(g);
      int e = 0;
      for (int i = 0; i < count && e == 0; ++i) {
        e = mg_charge(grp, (int64_t)mib * MIB);
        if (e == 0) e = mg_uncharge(grp, (int64_t)mib * MIB);
      }
      printf(e == 0 ? "cross %c done\n" : "cross %c enomem\n", g);
    } else if (sscanf(line, "reclaim %c %d", &g, &mib) == 2 &&
               named(g) && mib > 0) {
      int64_t released = 0;
      mg_group_reclaim(pick(g), (int64_t)mib * MIB,
                       &released);
      printf("reclaim %c %lld\n", g, (long long)released);
    } else if (strcmp(line, "calls") == 0) {
      printf("calls above=%llu below=%llu low=%llu medium=%llu "
             "critical=%llu last_above=%lld last_below=%lld\n",
             (unsigned long long)__atomic_load_n(&calls_above, __ATOMIC_RELAXED),
             (unsigned long long)__atomic_load_n(&calls_below, __ATOMIC_RELAXED),
             (unsigned long long)__atomic_load_n(&calls_level[1],
                                                 __ATOMIC_RELAXED),
             (unsigned long long)__atomic_load_n(&calls_level[2],
                                                 __ATOMIC_RELAXED),
             (unsigned long long)__atomic_load_n(&calls_level[3],
                                                 __ATOMIC_RELAXED),
             (long long)__atomic_load_n(&last_above, __ATOMIC_RELAXED),
             (long long)__atomic_load_n(&last_below, __ATOMIC_RELAXED));
    } else if (strcmp(line, "destroy") == 0) {
      for (int i = 0; i < nblocks; ++i) free(blocks[i]);
      nblocks = 0;
      int e = mg_group_destroy(group_a);
      if (e == 0) e = mg_group_destroy(group_b);
      if (e == 0) e = mg_group_destroy(tenant);
      printf(e == 0 ? "destroyed\n" : "destroy failed %d\n", e);
    } else if (strcmp(line, "create") == 0) {
      create();
      printf("created\n");
    } else if (strcmp(line, "quit") == 0) {
      printf("quit\n");
      fflush(stdout);
      return 0;
    } else {
      printf("unknown command\n");
    }
    fflush(stdout);
  }
  return 0;
}
