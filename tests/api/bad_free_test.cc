// free and realloc of pointers that are no live memgroup block: interior
// pointers and double frees abort with a glibc-style line (docs/preload.md,
// "Invalid frees"); foreign pointers are a counted no-op. Small blocks
// (slab regions), through libmemgroup.so as the program's malloc, on either
// engine (MEMGROUP_ENGINE; the test names end in .jemalloc or .mimalloc).
#include "memgroup/memgroup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

namespace {

void Escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

// The value of "stat.foreign_frees" in mg_stats_write's output, or -1.
long long ForeignFrees() {
  FILE* f = tmpfile();
  if (f == nullptr || mg_stats_write(fileno(f)) != 0) return -1;
  rewind(f);
  char line[256];
  long long v = -1;
  while (fgets(line, sizeof(line), f) != nullptr) {
    if (sscanf(line, "stat.foreign_frees %lld", &v) == 1) break;
  }
  fclose(f);
  return v;
}

class BadFreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Each death test re-runs the binary: MEMGROUP_CHECK set here reaches
    // the child's library init.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_F(BadFreeTest, InteriorFreeAborts) {
  char* p = static_cast<char*>(malloc(1000));
  Escape(p);
  EXPECT_DEATH(free(p + 16), "memgroup: free\\(\\): invalid pointer 0x");
  free(p);
}

TEST_F(BadFreeTest, InteriorReallocAborts) {
  char* p = static_cast<char*>(malloc(48));
  Escape(p);
  EXPECT_DEATH(Escape(realloc(p + 16, 2000)),
               "memgroup: realloc\\(\\): invalid pointer 0x");
  free(p);
}

// Default mode: the block's second free is seen when the thread's cache
// gives it back to the slab, where it is already free.
TEST_F(BadFreeTest, DoubleFreeAbortsWhenTheBlockReturnsToItsSlab) {
  EXPECT_DEATH(
      {
        mg_group_t g = 0;
        if (mg_group_create(mg_root(), "double-free", &g) != 0) _exit(3);
        mg_thread_set_group(g);
        void* p = malloc(64);
        Escape(p);
        free(p);
        mg_thread_set_group(mg_root());  // p goes back to its slab
        mg_thread_set_group(g);
        free(p);
        mg_thread_set_group(mg_root());  // and again: found free
      },
      "memgroup: free\\(\\): double free 0x");
}

// In a new group, allocates `n` (at most 64) blocks of 64 bytes together,
// frees them in that order (and the fourth a second time if `twice`), then
// leaves the group, which gives them back to their slab together, as a
// run of neighbours (slab_batch.cc, PutBackRunLocked).
void FreeNeighbours(const char* name, int n, bool twice) {
  mg_group_t g = 0;
  if (mg_group_create(mg_root(), name, &g) != 0) _exit(3);
  mg_thread_set_group(g);
  void* p[64];
  for (int i = 0; i < n; ++i) {
    p[i] = malloc(64);
    Escape(p[i]);
  }
  for (int i = 0; i < n; ++i) free(p[i]);
  if (twice) free(p[3]);
  mg_thread_set_group(mg_root());
}

// A block freed twice among its neighbours is found when their run
// reaches it the second time.
TEST_F(BadFreeTest, DoubleFreeAmongNeighboursAbortsInTheirRun) {
  EXPECT_DEATH(FreeNeighbours("double-free-run", 8, true),
               "memgroup: free\\(\\): double free 0x");
}

// The same run in check mode (MEMGROUP_CHECK=1, where free's inline
// region test is off) goes back without a report.
TEST_F(BadFreeTest, CheckModeGivesNeighboursBackTogether) {
  setenv("MEMGROUP_CHECK", "1", 1);
  EXPECT_EXIT(
      {
        FreeNeighbours("check-run", 64, false);
        _exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  unsetenv("MEMGROUP_CHECK");
}

TEST_F(BadFreeTest, CheckModeFindsADoubleFreeAtOnce) {
  setenv("MEMGROUP_CHECK", "1", 1);
  EXPECT_DEATH(
      {
        void* p = malloc(64);
        Escape(p);
        free(p);
        free(p);
      },
      "memgroup: free\\(\\): double free 0x");
  EXPECT_DEATH(
      {
        char* p = static_cast<char*>(malloc(48));
        Escape(p);
        free(p + 16);
      },
      "memgroup: free\\(\\): invalid pointer 0x");
  unsetenv("MEMGROUP_CHECK");
}

TEST_F(BadFreeTest, ForeignFreeIsCountedAndHarmless) {
  const long long before = ForeignFrees();
  ASSERT_GE(before, 0);
  int on_stack = 0;
  Escape(&on_stack);
  free(&on_stack);
  void* a = malloc(64);
  void* b = malloc(64);
  EXPECT_NE(a, b);
  free(a);
  free(b);
  EXPECT_EQ(before + 1, ForeignFrees());
}

}  // namespace
