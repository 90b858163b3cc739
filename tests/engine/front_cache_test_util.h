// The fixture and helpers the front cache tests share
// (front_cache_*_test.cc, one binary each, which includes this header from
// its one source: engine_test_support.h defines __tsan_default_options).
// They test the engine's front cache (src/engine/front_cache*.{h,cc}) and
// the page map it relies on (owner_table.h: PageEntry/PublishBlock/
// MakeEntry), as used by engine::Alloc/Free/Realloc/ResizeInPlace/
// BindThread/ThreadExit/Purge and the fork handlers (dispatch.cc, fork.cc).
//
// Every scenario runs on its own std::thread (the gtest thread is never
// bound) and uses its own groups, so the tests do not depend on each other
// even when a whole binary runs in one process.
#ifndef MEMGROUP_TESTS_ENGINE_FRONT_CACHE_TEST_UTIL_H_
#define MEMGROUP_TESTS_ENGINE_FRONT_CACHE_TEST_UTIL_H_

#include <pthread.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "engine/engine.h"
#include "engine/front_cache.h"
#include "engine/owner_table.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

// The private jemalloc's nallocx (defined in the renamed archive mg_engine
// links): the reference GoodSize must agree with. Declared here rather than
// through engine/jemalloc_private.h, which only engine sources may include.
extern "C" size_t mgje_nallocx(size_t size, int flags) noexcept;

namespace memgroup::internal {
namespace {

using engine::ClassOfUsable;
using engine::FrontCache;
using engine::g_usable_of_class;
using engine::g_class_of_size8;
using engine::kFrontClasses;
using engine::kFrontFirstLarge;
using engine::kFrontLargeBudget;
using engine::kFrontMaxBytes;
using engine::kFrontSmallMax;
using owner_table::MakeEntry;
using owner_table::PageEntry;

constexpr size_t kKiB = size_t{1} << 10;
constexpr size_t kMiB = size_t{1} << 20;

class FrontCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InitEngineOnce();
    // Every other test needs the front cache on (InitClasses succeeded).
    ASSERT_NE(g_usable_of_class[1], 0u) << "front cache disabled";
  }
};

using testing::OnBoundThread;

// Frees p of `owner` as the program's free does (alloc layer, FreeImpl): a
// large block of the bound group goes to the thread's front cache when it
// has room (engine::CacheLarge), anything else to engine::Free.
inline void FreeAsProgram(void* p, uint32_t owner) {
  const uint32_t cls = PageEntry(p) & ((1u << owner_table::kEntryGroupShift) - 1);
  FrontCache* fc = engine::ThreadFront();
  if (cls >= kFrontFirstLarge && fc != nullptr && fc->group == owner &&
      engine::CacheLarge(fc, p, cls)) {
    return;
  }
  engine::Free(p, owner);
}

// memgroup's own classes: in (kExtraFrom, 2 * kExtraFrom], the midpoints
// between jemalloc's classes there (which are kExtraFrom / 4 apart).
inline bool IsExtraClass(size_t size) {
  return size > engine::kExtraFrom && size <= 2 * engine::kExtraFrom &&
         size % (engine::kExtraFrom / 4) == engine::kExtraFrom / 8;
}

// The class a request of `n` bytes (no alignment) gets: jemalloc's, or the
// extra class below it when `n` fits there.
inline size_t ExpectedClass(size_t n) {
  const size_t je = mgje_nallocx(n, 0);
  const size_t mid = je - engine::kExtraFrom / 8;
  return IsExtraClass(mid) && n <= mid ? mid : je;
}

// The page-map entry every block handed out must carry.
inline uint32_t ExpectedEntry(const void* p, uint32_t group) {
  return MakeEntry(group, ClassOfUsable(engine::UsableSize(p)));
}

// Whether a block handed out carries the start record it must: live at its
// own offset for a large block (16 KiB and more); small blocks have none.
inline bool StartRecorded(const void* p) {
  if (engine::UsableSize(p) < 16 * kKiB) return true;
  return owner_table::LargeStartRecord(p) ==
         owner_table::StartRecordOf(reinterpret_cast<uintptr_t>(p));
}

// Bytes the large bins of `fc` hold (each bin at most one block).
inline uint64_t HeldLargeBytes(const FrontCache* fc) {
  uint64_t sum = 0;
  for (uint32_t c = kFrontFirstLarge; c < kFrontClasses; ++c) {
    sum += uint64_t{fc->bins[c].count} * fc->bins[c].size;
  }
  return sum;
}

// The i-th block of a bin's list (0: the most recently freed).
inline void* BinBlock(const engine::FrontBin& b, uint32_t i) {
  void* p = b.head;
  for (uint32_t k = 0; k < i; ++k) p = *static_cast<void* const*>(p);
  return p;
}

// The most blocks a large bin of `size`-byte blocks holds: 512 KiB of
// them, 1 to 8 (front_cache.cc, LargeCap).
inline uint32_t LargeBinCap(uint32_t size) {
  const uint32_t cap = (uint32_t{512} << 10) / size;
  return cap < 1 ? 1 : cap > 8 ? 8 : cap;
}

inline bool InCache(const FrontCache* fc, const void* p) {
  for (uint32_t c = 1; c < kFrontClasses; ++c) {
    const engine::FrontBin& b = fc->bins[c];
    for (uint32_t i = 0; i < b.count; ++i) {
      if (BinBlock(b, i) == p) return true;
    }
  }
  return false;
}

inline uint32_t CachedBlocks(const FrontCache* fc) {
  uint32_t n = 0;
  for (uint32_t c = 1; c < kFrontClasses; ++c) n += fc->bins[c].count;
  return n;
}

inline uint64_t AllocatedBytes(uint32_t group) {
  EngineGroupStats s{};
  EXPECT_TRUE(engine::GroupStats(group, &s));
  return s.allocated_bytes;
}

inline std::map<uint64_t, uint64_t> Histogram(uint32_t group) {
  EngineSizeClass classes[256];
  size_t n = engine::GroupHistogram(group, classes, 256);
  std::map<uint64_t, uint64_t> m;
  for (size_t i = 0; i < n; ++i) m[classes[i].size] = classes[i].count;
  return m;
}

}  // namespace
}  // namespace memgroup::internal

#endif  // MEMGROUP_TESTS_ENGINE_FRONT_CACHE_TEST_UTIL_H_
