/* A job member for the control tests: allocates STEPS pieces of 1 MiB,
 * touching each page, and prints "step N" after each (flushed), then
 * "done". A refused allocation prints "enomem at step N". With HOLD_FILE it
 * then keeps its memory until that file exists (polled every 10 ms, at
 * most 60 s), tries one more 1 MiB allocation ("extra ok" / "extra
 * enomem"), waits likewise for HOLD_FILE.end, frees everything and
 * exits: 0 if every step succeeded, 3 otherwise.
 * Usage: control_alloc STEPS [HOLD_FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static void await_file(const char* path) {
  for (int t = 0; t < 6000 && access(path, F_OK) != 0; ++t) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: control_alloc STEPS [HOLD_FILE]\n");
    return 2;
  }
  int steps = atoi(argv[1]);
  if (steps < 0 || steps > 4096) return 2;
  char** held = calloc((size_t)steps + 1, sizeof(char*));
  if (held == NULL) return 4;
  int ok = 1;
  for (int i = 0; i < steps; ++i) {
    held[i] = malloc(MIB);
    if (held[i] == NULL) {
      printf("enomem at step %d\n", i + 1);
      fflush(stdout);
      ok = 0;
      break;
    }
    memset(held[i], 0x5a, MIB);
    printf("step %d\n", i + 1);
    fflush(stdout);
  }
  if (ok) {
    printf("done\n");
    fflush(stdout);
  }
  if (argc > 2) {
    await_file(argv[2]);
    char* extra = malloc(MIB);
    if (extra != NULL) memset(extra, 1, MIB);
    printf("extra %s\n", extra != NULL ? "ok" : "enomem");
    fflush(stdout);
    free(extra);
    char end[4096];
    snprintf(end, sizeof(end), "%s.end", argv[2]);
    await_file(end);
  }
  for (int i = 0; i < steps; ++i) free(held[i]);
  free(held);
  return ok ? 0 : 3;
}
