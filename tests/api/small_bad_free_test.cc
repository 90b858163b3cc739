// free, realloc, malloc_usable_size (and, in the preload build, sized
// operator delete) of a pointer inside a small block, for every small size
// class (8 B to 14 KiB, slab regions): the pointer is reported in the
// default mode, at once, with a glibc-style line naming the call, then
// abort (docs/preload.md, "Invalid frees"). The offsets tried are the ones
// an alignment test cannot see: a multiple of the class's largest power-of-
// two divisor (p + 16 of a 48-byte block, p + 4096 of a 12 KiB one), the
// first and the last such offset in the block; power-of-two classes get
// p + size/2. Valid frees of every class, across several slabs, are never
// reported. On either engine (the test names end in .jemalloc or .mimalloc).
// Built twice: `small_bad_free_test` calls src/alloc's entry points in
// library mode (every preset, the sanitizers included), and
// `small_bad_free_preload_test` (MG_BAD_FREE_PRELOAD) the process's malloc,
// which is libmemgroup.so's.
#include "memgroup/memgroup.h"

#include <signal.h>
#include <stdlib.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#ifndef MG_BAD_FREE_PRELOAD
#include "alloc/alloc_path.h"
#include "alloc/resize.h"
#include "alloc/slow_path.h"
#endif

namespace {

#ifdef MG_BAD_FREE_PRELOAD
void* Malloc(size_t n) { return malloc(n); }
void Free(void* p) { free(p); }
void* Realloc(void* p, size_t n) { return realloc(p, n); }
size_t Usable(void* p) { return malloc_usable_size(p); }
#else
namespace ma = memgroup::internal::alloc;
void* Malloc(size_t n) { return ma::AllocImpl(n, 0, false); }
void Free(void* p) { ma::FreeImpl(p); }
void* Realloc(void* p, size_t n) { return ma::Realloc(p, n); }
size_t Usable(void* p) { return ma::UsableSize(p); }
#endif

void Escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

constexpr size_t kSmallMax = 14 * 1024;  // the largest small class

// The small classes, as the allocator reports them: the distinct usable
// sizes of malloc(1) .. malloc(14 KiB).
std::vector<size_t> SmallClasses() {
  std::vector<size_t> classes;
  for (size_t n = 1; n <= kSmallMax; ++n) {
    void* p = Malloc(n);
    EXPECT_NE(p, nullptr);
    const size_t usable = Usable(p);
    Free(p);
    if (classes.empty() || classes.back() != usable) classes.push_back(usable);
  }
  return classes;
}

// The first offset inside a block of `size` that an alignment test passes:
// the largest power of two dividing the size (at most a page: regions are
// not aligned beyond it), or half the size for a power of two.
size_t FirstInterior(size_t size) {
  size_t step = size & (~size + 1);
  if (step > 4096) step = 4096;
  return step < size ? step : size / 2;
}
// The last one.
size_t LastInterior(size_t size) {
  const size_t step = FirstInterior(size);
  return size / step * step == size ? size - step : step;
}

// The line memgroup writes for `call` and `what` (a regex; the address
// differs in the child a death test runs).
std::string Report(const char* call, const char* what) {
  return std::string("memgroup: ") + call + "\\(\\): " + what +
         " 0x[0-9a-f]+\n";
}

char* Block(size_t size) {
  char* p = static_cast<char*>(Malloc(size));
  EXPECT_NE(p, nullptr);
  Escape(p);
  return p;
}

// Each death test re-runs the binary (threadsafe style): the environment
// (MEMGROUP_ENGINE) reaches the child's library init.
class SmallBadFreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    classes_ = SmallClasses();
  }
  std::vector<size_t> classes_;
};

TEST_F(SmallBadFreeTest, FindsEveryClass) {
  // jemalloc's 36 small classes and memgroup's 4 between 4 and 8 KiB.
  EXPECT_EQ(classes_.size(), 40u);
  EXPECT_EQ(classes_.front(), 8u);
  EXPECT_EQ(classes_.back(), kSmallMax);
}

// The thread's own cache takes the free (free's inline path).
TEST_F(SmallBadFreeTest, InteriorFreeOfEveryClassAborts) {
  for (size_t size : classes_) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    EXPECT_EXIT(Free(p + FirstInterior(size)),
                ::testing::KilledBySignal(SIGABRT),
                Report("free", "invalid pointer"));
    Free(p);
  }
}

TEST_F(SmallBadFreeTest, LastInteriorOffsetOfEveryClassAborts) {
  for (size_t size : classes_) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    EXPECT_EXIT(Free(p + LastInterior(size)),
                ::testing::KilledBySignal(SIGABRT),
                Report("free", "invalid pointer"));
    Free(p);
  }
}

// A block of a group freed by a thread of another group: free's miss path.
TEST_F(SmallBadFreeTest, InteriorFreeFromAnotherGroupAborts) {
  const std::string name = "small-bad-free-" + std::to_string(getpid());
  mg_group_t g = 0;
  ASSERT_EQ(0, mg_group_create(mg_root(), name.c_str(), &g));
  for (size_t size : classes_) {
    SCOPED_TRACE(size);
    ASSERT_EQ(0, mg_thread_set_group(g));
    char* p = Block(size);
    ASSERT_EQ(0, mg_thread_set_group(mg_root()));
    EXPECT_EXIT(Free(p + FirstInterior(size)),
                ::testing::KilledBySignal(SIGABRT),
                Report("free", "invalid pointer"));
    Free(p);
  }
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  EXPECT_EQ(0, mg_group_destroy(g));
}

TEST_F(SmallBadFreeTest, InteriorReallocOfEveryClassAborts) {
  for (size_t size : classes_) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    EXPECT_EXIT(Escape(Realloc(p + FirstInterior(size), size * 2)),
                ::testing::KilledBySignal(SIGABRT),
                Report("realloc", "invalid pointer"));
    Free(p);
  }
}

TEST_F(SmallBadFreeTest, UsableSizeOfAnInteriorPointerOfEveryClassAborts) {
  for (size_t size : classes_) {
    SCOPED_TRACE(size);
    char* p = Block(size);
    EXPECT_EQ(Usable(p), size);
    EXPECT_EXIT(
        Escape(reinterpret_cast<void*>(Usable(p + FirstInterior(size)))),
        ::testing::KilledBySignal(SIGABRT),
        Report("malloc_usable_size", "invalid pointer"));
    Free(p);
  }
}

#ifdef MG_BAD_FREE_PRELOAD
// Sized delete takes free's path.
TEST_F(SmallBadFreeTest, InteriorSizedDeleteOfEveryClassAborts) {
  for (size_t size : classes_) {
    SCOPED_TRACE(size);
    char* p = static_cast<char*>(::operator new(size));
    Escape(p);
    EXPECT_EXIT(::operator delete(p + FirstInterior(size), size / 2),
                ::testing::KilledBySignal(SIGABRT),
                Report("free", "invalid pointer"));
    ::operator delete(p, size);
  }
}
#endif

// Valid blocks of every class, enough for several slabs each (slabs differ
// in where their first region lies), freed by the thread that allocated
// them, by another thread, and resized within and across classes: none is
// reported.
TEST_F(SmallBadFreeTest, ValidFreesOfEveryClassPass) {
  for (size_t size : classes_) {
    SCOPED_TRACE(size);
    const size_t count = std::max<size_t>(3 * 64 * 1024 / size, 16);
    std::vector<char*> blocks;
    for (size_t i = 0; i < count; ++i) {
      char* p = Block(size);
      p[0] = 1;
      p[size - 1] = 2;
      EXPECT_EQ(Usable(p), size);
      blocks.push_back(p);
    }
    // Every other one from another thread, the rest here (newest first).
    std::thread([&] {
      for (size_t i = 0; i < blocks.size(); i += 2) Free(blocks[i]);
    }).join();
    for (size_t i = blocks.size(); i-- > 0;) {
      if (i % 2 == 1) Free(blocks[i]);
    }
    char* q = Block(size);
    q = static_cast<char*>(Realloc(q, size * 2));
    ASSERT_NE(q, nullptr);
    q = static_cast<char*>(Realloc(q, size));
    ASSERT_NE(q, nullptr);
    Free(q);
  }
}

}  // namespace
