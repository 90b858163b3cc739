// Freed large blocks' pages are charged while the engine keeps them, and
// go back (src/engine/free_pages.h). Run under `memgroup run --max MAX_MIB
// --oom enomem`; every mode first churns large blocks: 5 to 25 MiB, touched
// page by page, at most two alive, 100 times, checking after each block
// that RssAnon stays within MAX x 1.02 + 4 MiB and that no block is
// refused (their pages are reused or purged, never left uncharged). Then:
//   decay    frees everything and idles: within 10 s RssAnon and the root's
//            `current` fall back near where they started (the decay, driven
//            by the job's control agent), and the root's stat.engine_free
//            reads 0 while stat.engine_returned grew;
//   reclaim  frees everything, then mg_group_reclaim of the root releases
//            the free pages at once: RssAnon and `current` fall back;
//   refusal  a child group frees a 40 MiB block (its pages stay charged to
//            it, hence to the root, as free pages), then the root asks for
//            40 MiB beyond what its max leaves: the refused charge's
//            reclaim purges the child's free pages and the block is made;
//   shift    frees everything, then fills 3/4 of the limit with blocks of
//            one size, frees them and fills it with blocks of another size
//            that cannot reuse their extents (512 KiB -> 2 MiB, 256 KiB ->
//            4 MiB, 128 KiB -> 1 MiB, 32 KiB -> 1 MiB, 512 KiB -> 64 KiB,
//            and the smallest large classes, 16 KiB and 20 KiB -> 1 MiB),
//            RssAnon within the bound throughout.
// Usage: large_churn MAX_MIB MODE. Prints "large_churn: OK".
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "memgroup/memgroup.h"
#include "preloaded.h"

enum { kMiB = 1 << 20, kRounds = 100, kSlots = 2 };

static void Touch(char* p, size_t n) {
  for (size_t off = 0; off < n; off += 4096) p[off] = 1;
  Escape(p);
}

static long NowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// The value of `key` ("stat.engine_free") in the root's block of
// mg_stats_write (the first block), or -1.
static long long RootStat(const char* key) {
  MG_NEED(stats_write, mg_stats_write);
  char path[] = "/tmp/large_churn_XXXXXX";
  int fd = mkstemp(path);
  MG_EXPECT(fd >= 0);
  unlink(path);
  MG_EXPECT(stats_write(fd) == 0);
  char text[16384];
  ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  close(fd);
  MG_EXPECT(n > 0);
  text[n] = '\0';
  char* end = strstr(text, "\n\n");  // the root's block ends there
  if (end != NULL) *end = '\0';
  const size_t klen = strlen(key);
  for (char* line = text; line != NULL && *line != '\0';) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
      return strtoll(line + klen + 1, NULL, 10);
    }
    line = strchr(line, '\n');
    if (line != NULL) ++line;
  }
  return -1;
}

static int64_t RootCurrent(void) {
  MG_NEED(root, mg_root);
  MG_NEED(current, mg_group_current);
  int64_t bytes = 0;
  MG_EXPECT(current(root(), 1, &bytes) == 0);
  return bytes;
}

int main(int argc, char** argv) {
  MG_EXPECT(argc == 3);
  const size_t max = (size_t)atol(argv[1]) * kMiB;
  const char* mode = argv[2];
  const size_t bound = max + max / 50 + 4 * (size_t)kMiB;
  const long base_kib = RssAnonKib();
  const int64_t base_current = RootCurrent();

  char* slot[kSlots] = {NULL};
  long peak_kib = 0;
  unsigned seed = 12345;
  for (int i = 0; i < kRounds; ++i) {
    char** s = &slot[i % kSlots];
    free(*s);
    seed = seed * 1103515245u + 12345u;
    const size_t size = (size_t)(5 + (seed >> 16) % 21) * kMiB;
    *s = malloc(size);
    if (*s == NULL) {
      fprintf(stderr, "large_churn: round %d: %zu MiB refused\n", i,
              size / kMiB);
      exit(1);
    }
    Touch(*s, size);
    const long kib = RssAnonKib();
    if (kib > peak_kib) peak_kib = kib;
  }
  printf("large_churn: peak RssAnon %ld KiB, bound %zu KiB\n", peak_kib,
         bound / 1024);
  MG_EXPECT((size_t)peak_kib * 1024 <= bound);
  for (int k = 0; k < kSlots; ++k) free(slot[k]);
  const long held_kib = RssAnonKib();
  const int64_t held_current = RootCurrent();
  printf("large_churn: freed: RssAnon %ld KiB (start %ld), current %lld"
         " (start %lld)\n",
         held_kib, base_kib, (long long)held_current,
         (long long)base_current);
  // What may stay: the job's stocks, slabs, a few pages per block.
  const long slack_kib = 8 * 1024;

  if (strcmp(mode, "decay") == 0) {
    const long long returned_before = RootStat("stat.engine_returned");
    MG_EXPECT(returned_before >= 0);
    const long start = NowMs();
    long kib = held_kib;
    int64_t cur = held_current;
    while (NowMs() - start < 10000) {
      kib = RssAnonKib();
      cur = RootCurrent();
      if (kib <= base_kib + slack_kib &&
          cur <= base_current + (int64_t)slack_kib * 1024) {
        break;
      }
      usleep(100 * 1000);
    }
    const long long kept = RootStat("stat.engine_free");
    const long long returned = RootStat("stat.engine_returned");
    printf("large_churn: after %ld ms idle: RssAnon %ld KiB, current %lld,"
           " engine_free %lld, engine_returned %lld -> %lld\n",
           NowMs() - start, kib, (long long)cur, kept, returned_before,
           returned);
    MG_EXPECT(kib <= base_kib + slack_kib);
    MG_EXPECT(cur <= base_current + (int64_t)slack_kib * 1024);
    MG_EXPECT(kept == 0);
    MG_EXPECT(returned >= returned_before);
  } else if (strcmp(mode, "reclaim") == 0) {
    MG_NEED(root, mg_root);
    MG_NEED(reclaim, mg_group_reclaim);
    int64_t released = 0;
    MG_EXPECT(reclaim(root(), INT64_MAX / 2, &released) == 0);
    const long kib = RssAnonKib();
    const int64_t cur = RootCurrent();
    printf("large_churn: reclaim released %lld: RssAnon %ld KiB, current"
           " %lld\n",
           (long long)released, kib, (long long)cur);
    MG_EXPECT(kib <= base_kib + slack_kib);
    MG_EXPECT(cur <= base_current + (int64_t)slack_kib * 1024);
  } else if (strcmp(mode, "refusal") == 0) {
    MG_NEED(root, mg_root);
    MG_NEED(create, mg_group_create);
    MG_NEED(set_group, mg_thread_set_group);
    mg_group_t child;
    MG_EXPECT(create(root(), "child", &child) == 0);
    MG_EXPECT(set_group(child) == 0);
    const size_t big = 40 * (size_t)kMiB;
    char* p = malloc(big);
    MG_EXPECT(p != NULL);
    Touch(p, big);
    free(p);
    MG_EXPECT(set_group(root()) == 0);
    const int64_t before = RootCurrent();
    printf("large_churn: the child freed 40 MiB: root current %lld\n",
           (long long)before);
    // The child's pages are charged while they stay resident (only a purge
    // of its free pages makes room for this block), or already gone.
    MG_EXPECT((size_t)before + big > max ||
              RssAnonKib() <= base_kib + slack_kib);
    char* q = malloc(big);
    MG_EXPECT(q != NULL);
    Touch(q, big);
    const long kib = RssAnonKib();
    printf("large_churn: 40 MiB in the root after the purge: RssAnon %ld"
           " KiB, current %lld\n",
           kib, (long long)RootCurrent());
    MG_EXPECT((size_t)kib * 1024 <= bound);
    free(q);
  } else if (strcmp(mode, "shift") == 0) {
    // Blocks of one size, 3/4 of the limit of them, freed, then as many
    // bytes of blocks of another size that cannot be placed in the freed
    // ones' extents (jemalloc keeps freed extents apart, and mimalloc's
    // pages hold one size each): the freed pages must be charged or given
    // back, so RssAnon stays within the bound throughout.
    static const size_t kShifts[][2] = {
        {512 << 10, 2 << 20}, {256 << 10, 4 << 20}, {128 << 10, 1 << 20},
        {32 << 10, 1 << 20},  {512 << 10, 64 << 10}, {16 << 10, 1 << 20},
        {20 << 10, 1 << 20}};
    const size_t phase = max / 4 * 3;
    char** blocks = malloc(sizeof(char*) * (phase / (16 << 10)));
    MG_EXPECT(blocks != NULL);
    long shift_peak_kib = 0;
    for (size_t k = 0; k < sizeof(kShifts) / sizeof(kShifts[0]); ++k) {
      for (int step = 0; step < 2; ++step) {
        const size_t size = kShifts[k][step];
        const size_t n = phase / size;
        for (size_t j = 0; j < n; ++j) {
          blocks[j] = malloc(size);
          if (blocks[j] == NULL) {
            fprintf(stderr, "large_churn: shift %zu: %zu-byte block %zu"
                    " refused\n", k, size, j);
            exit(1);
          }
          Touch(blocks[j], size);
          const long kib = RssAnonKib();
          if (kib > shift_peak_kib) shift_peak_kib = kib;
        }
        for (size_t j = 0; j < n; ++j) free(blocks[j]);
      }
      printf("large_churn: shift %zu -> %zu bytes: peak RssAnon %ld KiB\n",
             kShifts[k][0], kShifts[k][1], shift_peak_kib);
    }
    MG_EXPECT((size_t)shift_peak_kib * 1024 <= bound);
  } else {
    fprintf(stderr, "large_churn: unknown mode %s\n", mode);
    return 2;
  }
  printf("large_churn: OK\n");
  return 0;
}
