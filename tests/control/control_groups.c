/* A job member with groups of its own, for the control tests: creates
 * /tenant, /tenant/a and /tenant/b through the C ABI, prints
 * "ready PID", then runs commands read from stdin one byte at a time (so
 * that a later program of the same shell gets the rest):
 *   alloc a|b MIB   allocate MIB MiB in /tenant/a or /tenant/b, touched;
 *                   prints "alloc G ok" or "alloc G enomem"
 *   destroy         free everything, destroy the three groups; "destroyed"
 *   create          create them again; "created"
 *   quit            exit 0 without freeing or destroying anything
 * At end of input it exits 0 too. */
#include <memgroup/memgroup.h>
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
