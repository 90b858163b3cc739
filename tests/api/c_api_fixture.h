// The fixture and helpers the C ABI tests share (c_api_*_test.cc, one
// binary, c_api_test): libmemgroup.so is linked as the process's malloc.
// gtest's own allocations are charged to the root group, so every test makes
// its own groups and checks those, never the root. While the thread is in a
// limited group the test allocates nothing of its own (containers are
// reserved first, assertions run after moving back to the root).
#ifndef MEMGROUP_TESTS_API_C_API_FIXTURE_H_
#define MEMGROUP_TESTS_API_C_API_FIXTURE_H_

#include "memgroup/memgroup.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace mg_capi_test {

using Clock = std::chrono::steady_clock;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * 1024;

// Keeps the compiler from eliding malloc/free pairs.
inline void Escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

inline void* Touch(void* p, size_t n) {
  if (p != nullptr) {
    memset(p, 0x5a, n);
    Escape(p);
  }
  return p;
}

inline int64_t Usable(const void* p) {
  return static_cast<int64_t>(malloc_usable_size(const_cast<void*>(p)));
}

inline int64_t Current(mg_group_t g) {
  int64_t v = -1;
  EXPECT_EQ(0, mg_group_current(g, 1, &v));
  return v;
}

// A group's exact usage after its free engine pages went back (reclaim):
// the slabs of small blocks are charged whole (docs/architecture.md, "What
// is charged"), so after every block is freed a group still holds each
// size class's spare slab, the slabs of regions that the calling thread's
// caches hold, and the pages of large blocks freed to its arena (its free
// pages), until a reclaim returns them.
inline int64_t CurrentAfterReclaim(mg_group_t g) {
  int64_t released = 0;
  EXPECT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  return Current(g);
}

inline mg_stat_t Stat(mg_group_t g) {
  mg_stat_t s;
  memset(&s, 0, sizeof(s));
  mg_group_current(g, 1, &s.current);  // drain stocks first
  EXPECT_EQ(0, mg_group_stat(g, &s));
  return s;
}

inline mg_events_t Events(mg_group_t g, int local = 1) {
  mg_events_t e;
  memset(&e, 0, sizeof(e));
  EXPECT_EQ(0, mg_group_events(g, local, &e));
  return e;
}

inline mg_group_t ThreadGroup() {
  mg_group_t g = 0;
  EXPECT_EQ(0, mg_thread_get_group(&g));
  return g;
}

// Moves the calling thread into `g` for a scope.
class InGroup {
 public:
  explicit InGroup(mg_group_t g) {
    mg_thread_get_group(&prev_);
    ok_ = mg_thread_set_group(g) == 0;
  }
  ~InGroup() { mg_thread_set_group(prev_); }
  bool ok() const { return ok_; }

 private:
  mg_group_t prev_ = 0;
  bool ok_ = false;
};

// malloc(n) while the calling thread is in `g`; *err is errno right after.
inline void* MallocInGroup(mg_group_t g, size_t n, int* err) {
  InGroup in(g);
  errno = 0;
  void* p = malloc(n);
  *err = errno;
  return p;
}

// A cache of malloc'ed blocks in one group, emptied by a reclaim callback.
struct Cache {
  static constexpr int kCap = 64;
  std::array<void*, kCap> blocks{};
  std::atomic<int> count{0};
  std::atomic<int> calls{0};
  std::atomic<int64_t> asked{0};

  // Fills `n` blocks of `size` bytes charged to `g` (mg_malloc_in).
  void Fill(mg_group_t g, int n, size_t size) {
    for (int i = 0; i < n; ++i) {
      void* p = mg_malloc_in(g, size);
      ASSERT_NE(nullptr, p);
      Touch(p, size);
      blocks[count++] = p;
    }
  }
  int64_t EvictUntil(int64_t target) {
    int64_t released = 0;
    while (released < target && count > 0) {
      void* p = blocks[--count];
      released += Usable(p);
      free(p);
    }
    return released;
  }
  void Clear() { EvictUntil(INT64_MAX); }
  ~Cache() { Clear(); }

  static int64_t Reclaim(mg_group_t, int64_t target, void* arg) {
    Cache* c = static_cast<Cache*>(arg);
    c->calls++;
    c->asked += target;
    return c->EvictUntil(target);
  }
};

class CApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = mg_root();
    ASSERT_NE(0u, root_);
    ASSERT_EQ(0, mg_thread_set_group(root_));
  }

  void TearDown() override {
    mg_thread_set_group(root_);
    for (int h : reclaim_handles_) mg_reclaim_unregister(h);
    for (int h : threshold_handles_) mg_threshold_unregister(h);
    for (auto it = groups_.rbegin(); it != groups_.rend(); ++it) {
      mg_group_destroy(*it);
    }
  }

  // Creates a uniquely named group (under `parent`, default the root).
  mg_group_t Make(mg_group_t parent = 0) {
    static std::atomic<int> seq{0};
    std::string name = "api" + std::to_string(getpid()) + "-" +
                       std::to_string(seq.fetch_add(1));
    mg_group_t g = 0;
    EXPECT_EQ(0, mg_group_create(parent == 0 ? root_ : parent, name.c_str(), &g));
    if (g != 0) groups_.push_back(g);
    return g;
  }

  int RegisterReclaim(mg_group_t g, Cache* c) {
    int h = 0;
    EXPECT_EQ(0, mg_reclaim_register(g, &Cache::Reclaim, c, &h));
    reclaim_handles_.push_back(h);
    return h;
  }

  // Three siblings under a parent limited to 1 MiB: `guarded` (protected by
  // `which`, MG_LIMIT_MIN or MG_LIMIT_LOW, of 4 MiB) and `open` hold cached
  // 128 KiB blocks their reclaim callbacks give back; `worker` allocates.
  struct ProtectedSiblings {
    mg_group_t parent, guarded, open, worker;
    Cache gc, oc;
  };
  void MakeProtectedSiblings(ProtectedSiblings* s, mg_limit_t which) {
    s->parent = Make();
    s->guarded = Make(s->parent);
    s->open = Make(s->parent);
    s->worker = Make(s->parent);
    s->gc.Fill(s->guarded, 4, 128 * kKiB);
    s->oc.Fill(s->open, 3, 128 * kKiB);
    ASSERT_EQ(0, mg_group_set_limit(s->guarded, which, 4 * kMiB));
    ASSERT_EQ(0, mg_group_set_limit(s->parent, MG_LIMIT_MAX, kMiB));
    RegisterReclaim(s->guarded, &s->gc);
    RegisterReclaim(s->open, &s->oc);
  }

  mg_group_t root_ = 0;
  std::vector<mg_group_t> groups_;
  std::vector<int> reclaim_handles_;
  std::vector<int> threshold_handles_;
};

}  // namespace mg_capi_test

#endif  // MEMGROUP_TESTS_API_C_API_FIXTURE_H_
