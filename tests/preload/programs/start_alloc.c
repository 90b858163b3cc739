/* A C program whose start needs memory: a constructor allocates a 256 KiB
 * table before main (as a program's static initialisers do), and main
 * allocates 256 KiB more and prints "start_alloc: started". Exits 3 when
 * the constructor's allocation fails and 4 when main's does, each with the
 * program's own message, as a program that cannot start would.
 *
 * With the argument "own": after starting, creates a group with a 64 KiB
 * max through the C ABI (mg_* found with dlsym) and allocates 1 MiB in it,
 * which must be refused (NULL, ENOMEM): a limit the program set itself.
 * Prints "start_alloc: own limit refused".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>

#include "preloaded.h"
#include "memgroup/memgroup.h"

#define TABLE_BYTES (256 * 1024)

static unsigned char* g_table;

__attribute__((constructor)) static void BuildTable(void) {
  g_table = malloc(TABLE_BYTES);
  if (g_table == NULL) {
    fprintf(stderr, "start_alloc: cannot allocate the table\n");
    exit(3);
  }
  Fill(g_table, TABLE_BYTES, 1);
}

static void OwnLimit(void) {
  MG_NEED(root, mg_root);
  MG_NEED(create, mg_group_create);
  MG_NEED(set_limit, mg_group_set_limit);
  MG_NEED(malloc_in, mg_malloc_in);
  mg_group_t g = 0;
  MG_EXPECT(create(root(), "own", &g) == 0);
  MG_EXPECT(set_limit(g, MG_LIMIT_MAX, 64 * 1024) == 0);
  errno = 0;
  void* p = malloc_in(g, 1 << 20);
  MG_EXPECT(p == NULL && errno == ENOMEM);
  printf("start_alloc: own limit refused\n");
}

int main(int argc, char** argv) {
  unsigned char* more = malloc(TABLE_BYTES);
  if (more == NULL) {
    fprintf(stderr, "start_alloc: out of memory in main\n");
    return 4;
  }
  Fill(more, TABLE_BYTES, 2);
  printf("start_alloc: started\n");
  if (argc > 1 && strcmp(argv[1], "own") == 0) OwnLimit();
  free(more);
  free(g_table);
  return 0;
}
