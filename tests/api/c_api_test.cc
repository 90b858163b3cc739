// The public C ABI (include/memgroup/memgroup.h) end to end, through
// libmemgroup.so linked as the process's malloc. gtest's own allocations are
// charged to the root group, so every test makes its own groups and checks
// those, never the root. While the thread is in a limited group the test
// allocates nothing of its own (containers are reserved first, assertions
// run after moving back to the root).
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

namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * 1024;

// Keeps the compiler from eliding malloc/free pairs.
void Escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

void* Touch(void* p, size_t n) {
  if (p != nullptr) {
    memset(p, 0x5a, n);
    Escape(p);
  }
  return p;
}

int64_t Usable(const void* p) {
  return static_cast<int64_t>(malloc_usable_size(const_cast<void*>(p)));
}

int64_t Current(mg_group_t g) {
  int64_t v = -1;
  EXPECT_EQ(0, mg_group_current(g, 1, &v));
  return v;
}

// A group's exact usage after its free engine pages went back (reclaim):
// the slabs of small blocks are charged whole (docs/architecture.md, "What
// is charged"), so after every block is freed a group still holds each
// size class's spare slab, and the slabs of regions that the calling
// thread's caches hold, until a reclaim returns them.
int64_t CurrentAfterReclaim(mg_group_t g) {
  int64_t released = 0;
  EXPECT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  return Current(g);
}

mg_stat_t Stat(mg_group_t g) {
  mg_stat_t s;
  memset(&s, 0, sizeof(s));
  mg_group_current(g, 1, &s.current);  // drain stocks first
  EXPECT_EQ(0, mg_group_stat(g, &s));
  return s;
}

mg_events_t Events(mg_group_t g, int local = 1) {
  mg_events_t e;
  memset(&e, 0, sizeof(e));
  EXPECT_EQ(0, mg_group_events(g, local, &e));
  return e;
}

mg_group_t ThreadGroup() {
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
void* MallocInGroup(mg_group_t g, size_t n, int* err) {
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

// --- Errors -----------------------------------------------------------------

TEST_F(CApiTest, CreateRejectsMalformedNamesWithEinval) {
  mg_group_t g = 0;
  EXPECT_EQ(EINVAL, mg_group_create(root_, nullptr, &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "a/b", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "has space", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "bang!", &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, std::string(64, 'x').c_str(), &g));
  EXPECT_EQ(EINVAL, mg_group_create(root_, "fine", nullptr));
  EXPECT_EQ(0u, g);
}

TEST_F(CApiTest, CreateAcceptsEveryAllowedCharacterUpTo63Bytes) {
  std::string name = "Az09._-" + std::string(56, 'q');
  ASSERT_EQ(63u, name.size());
  mg_group_t g = 0;
  ASSERT_EQ(0, mg_group_create(root_, name.c_str(), &g));
  groups_.push_back(g);
  EXPECT_NE(0u, g);
  char path[128];
  ASSERT_EQ(0, mg_group_path(g, path, sizeof(path)));
  EXPECT_EQ("/" + name, std::string(path));
}

TEST_F(CApiTest, CreateDuplicateSiblingNameReturnsEexist) {
  mg_group_t a = Make();
  char path[128];
  ASSERT_EQ(0, mg_group_path(a, path, sizeof(path)));
  mg_group_t b = 0;
  EXPECT_EQ(EEXIST, mg_group_create(root_, path + 1, &b));
  // The same name under another parent is fine.
  mg_group_t child = 0;
  ASSERT_EQ(0, mg_group_create(a, path + 1, &child));
  groups_.push_back(child);
}

TEST_F(CApiTest, LookupFindsNestedPathAndReportsEnoentAndEinval) {
  mg_group_t a = Make();
  mg_group_t b = Make(a);
  char pa[128], pb[256];
  ASSERT_EQ(0, mg_group_path(a, pa, sizeof(pa)));
  ASSERT_EQ(0, mg_group_path(b, pb, sizeof(pb)));
  EXPECT_EQ(std::string(pa) + "/", std::string(pb).substr(0, strlen(pa) + 1));
  mg_group_t found = 0;
  ASSERT_EQ(0, mg_group_lookup(pb, &found));
  EXPECT_EQ(b, found);
  ASSERT_EQ(0, mg_group_lookup("/", &found));
  EXPECT_EQ(root_, found);
  EXPECT_EQ(ENOENT, mg_group_lookup("/no-such-group-here", &found));
  EXPECT_EQ(EINVAL, mg_group_lookup(pb, nullptr));
  EXPECT_EQ(EINVAL, mg_group_lookup(nullptr, &found));
}

TEST_F(CApiTest, RootPathIsSlash) {
  char path[8];
  ASSERT_EQ(0, mg_group_path(root_, path, sizeof(path)));
  EXPECT_STREQ("/", path);
  EXPECT_EQ(EINVAL, mg_group_path(root_, nullptr, 8));
  EXPECT_EQ(EINVAL, mg_group_path(root_, path, 0));
}

TEST_F(CApiTest, DestroyGroupWithChildrenReturnsEbusy) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  EXPECT_EQ(EBUSY, mg_group_destroy(parent));
  EXPECT_EQ(0, mg_group_destroy(child));
  EXPECT_EQ(0, mg_group_destroy(parent));
}

TEST_F(CApiTest, DestroyRootReturnsEbusy) {
  EXPECT_EQ(EBUSY, mg_group_destroy(root_));
}

TEST_F(CApiTest, ZeroIsNeverAValidGroup) {
  int64_t v;
  mg_group_t g;
  EXPECT_EQ(ENOENT, mg_group_current(0, 0, &v));
  EXPECT_EQ(ENOENT, mg_group_create(0, "x", &g));
  EXPECT_EQ(ENOENT, mg_thread_set_group(0));
}

TEST_F(CApiTest, EveryCallOnADestroyedGroupReturnsEnoent) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_destroy(g));
  void* block = malloc(64);
  ASSERT_NE(nullptr, block);
  int64_t v = 0;
  mg_events_t ev;
  mg_stat_t st;
  mg_pressure_t pr;
  mg_group_t out;
  char buf[64];
  int h;
  EXPECT_EQ(ENOENT, mg_group_create(g, "child", &out));
  EXPECT_EQ(ENOENT, mg_group_destroy(g));
  EXPECT_EQ(ENOENT, mg_group_path(g, buf, sizeof(buf)));
  EXPECT_EQ(ENOENT, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  EXPECT_EQ(ENOENT, mg_group_get_limit(g, MG_LIMIT_MAX, &v));
  EXPECT_EQ(ENOENT, mg_group_set_oom_policy(g, MG_OOM_ENOMEM, 0));
  EXPECT_EQ(ENOENT, mg_group_set_oom_handler(g, nullptr, nullptr));
  EXPECT_EQ(ENOENT, mg_reclaim_register(g, &Cache::Reclaim, nullptr, &h));
  EXPECT_EQ(ENOENT, mg_group_reclaim(g, 4096, &v));
  EXPECT_EQ(ENOENT, mg_thread_set_group(g));
  EXPECT_EQ(ENOENT, mg_charge(g, 4096));
  EXPECT_EQ(ENOENT, mg_uncharge(g, 4096));
  EXPECT_EQ(ENOENT, mg_transfer(&block, g));
  EXPECT_EQ(ENOENT, mg_group_current(g, 1, &v));
  EXPECT_EQ(ENOENT, mg_group_peak(g, &v));
  EXPECT_EQ(ENOENT, mg_group_reset_peak(g));
  EXPECT_EQ(ENOENT, mg_group_failcnt(g, &v));
  EXPECT_EQ(ENOENT, mg_group_events(g, 0, &ev));
  EXPECT_EQ(ENOENT, mg_group_stat(g, &st));
  EXPECT_EQ(ENOENT, mg_group_pressure(g, &pr));
  EXPECT_EQ(ENOENT,
            mg_threshold_register(
                g, kMiB, [](mg_group_t, int64_t, int, void*) {}, nullptr, &h));
  EXPECT_EQ(ENOENT, mg_pressure_register(
                        g, MG_PRESSURE_LOW, [](mg_group_t, int, void*) {},
                        nullptr, &h));
  errno = 0;
  EXPECT_EQ(nullptr, mg_malloc_in(g, 64));
  EXPECT_EQ(ENOENT, errno);
  free(block);
}

TEST_F(CApiTest, DestroyedIdStaysInvalidAfterTheNameIsReused) {
  std::vector<mg_group_t> old;
  old.reserve(64);
  for (int i = 0; i < 50; ++i) {
    mg_group_t g = 0;
    ASSERT_EQ(0, mg_group_create(root_, "reused-name", &g));
    for (mg_group_t o : old) ASSERT_NE(o, g);
    ASSERT_EQ(0, mg_group_destroy(g));
    old.push_back(g);
  }
  int64_t v;
  for (mg_group_t o : old) EXPECT_EQ(ENOENT, mg_group_current(o, 0, &v));
}

TEST_F(CApiTest, NullOutputsAndNegativeSizesReturnEinval) {
  mg_group_t g = Make();
  int h = 0;
  EXPECT_EQ(EINVAL, mg_group_current(g, 0, nullptr));
  EXPECT_EQ(EINVAL, mg_group_peak(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_failcnt(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_events(g, 0, nullptr));
  EXPECT_EQ(EINVAL, mg_group_stat(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_pressure(g, nullptr));
  EXPECT_EQ(EINVAL, mg_group_get_limit(g, MG_LIMIT_MAX, nullptr));
  EXPECT_EQ(EINVAL, mg_thread_get_group(nullptr));
  EXPECT_EQ(EINVAL, mg_block_group(nullptr, &g));
  void* p = malloc(16);
  EXPECT_EQ(EINVAL, mg_block_group(p, nullptr));
  free(p);
  int64_t released;
  EXPECT_EQ(EINVAL, mg_group_reclaim(g, 4096, nullptr));
  EXPECT_EQ(EINVAL, mg_group_reclaim(g, -1, &released));
  EXPECT_EQ(EINVAL, mg_reclaim_register(g, nullptr, nullptr, &h));
  EXPECT_EQ(EINVAL, mg_reclaim_register(g, &Cache::Reclaim, nullptr, nullptr));
  EXPECT_EQ(EINVAL, mg_threshold_register(g, kMiB, nullptr, nullptr, &h));
  EXPECT_EQ(EINVAL, mg_threshold_register(
                        g, -1, [](mg_group_t, int64_t, int, void*) {}, nullptr,
                        &h));
  EXPECT_EQ(EINVAL, mg_pressure_register(g, 0, [](mg_group_t, int, void*) {},
                                         nullptr, &h));
  EXPECT_EQ(EINVAL, mg_pressure_register(g, 4, [](mg_group_t, int, void*) {},
                                         nullptr, &h));
  EXPECT_EQ(EINVAL, mg_transfer(nullptr, g));
  void* null_block = nullptr;
  EXPECT_EQ(EINVAL, mg_transfer(&null_block, g));
  // Sizes.
  EXPECT_EQ(EINVAL, mg_group_set_limit(g, MG_LIMIT_MAX, -1));
  EXPECT_EQ(EINVAL, mg_group_set_limit(g, MG_LIMIT_HIGH, -4096));
  EXPECT_EQ(EINVAL, mg_group_set_limit(g, static_cast<mg_limit_t>(9), kMiB));
  int64_t v;
  EXPECT_EQ(EINVAL, mg_group_get_limit(g, static_cast<mg_limit_t>(9), &v));
  EXPECT_EQ(EINVAL, mg_charge(g, -1));
  EXPECT_EQ(EINVAL, mg_uncharge(g, -1));
  // Policies.
  EXPECT_EQ(EINVAL,
            mg_group_set_oom_policy(g, static_cast<mg_oom_policy_t>(5), -1));
  EXPECT_EQ(EINVAL,
            mg_group_set_oom_policy(g, static_cast<mg_oom_policy_t>(-1), -1));
  EXPECT_EQ(EINVAL, mg_group_set_oom_policy(g, MG_OOM_WAIT, -2));
}

TEST_F(CApiTest, UnregisteringUnknownHandlesFails) {
  EXPECT_NE(0, mg_reclaim_unregister(0));
  EXPECT_NE(0, mg_reclaim_unregister(123456));
  EXPECT_NE(0, mg_threshold_unregister(-3));
  EXPECT_NE(0, mg_pressure_unregister(999999));
  mg_group_t g = Make();
  Cache c;
  int h = 0;
  ASSERT_EQ(0, mg_reclaim_register(g, &Cache::Reclaim, &c, &h));
  EXPECT_EQ(0, mg_reclaim_unregister(h));
  EXPECT_NE(0, mg_reclaim_unregister(h));  // twice
}

// --- Limits -----------------------------------------------------------------

TEST_F(CApiTest, NewGroupStartsUnlimitedWithoutProtection) {
  mg_group_t g = Make();
  int64_t v = -1;
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_MAX, &v));
  EXPECT_EQ(MG_UNLIMITED, v);
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_HIGH, &v));
  EXPECT_EQ(MG_UNLIMITED, v);
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_LOW, &v));
  EXPECT_EQ(0, v);
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_MIN, &v));
  EXPECT_EQ(0, v);
}

TEST_F(CApiTest, LimitsRoundTripThroughSetAndGet) {
  mg_group_t g = Make();
  const struct {
    mg_limit_t which;
    int64_t value;
  } cases[] = {{MG_LIMIT_MAX, 64 * kMiB},  {MG_LIMIT_HIGH, 48 * kMiB},
               {MG_LIMIT_LOW, 8 * kMiB},   {MG_LIMIT_MIN, 4 * kMiB},
               {MG_LIMIT_MAX, 12345},      {MG_LIMIT_MAX, MG_UNLIMITED},
               {MG_LIMIT_HIGH, MG_UNLIMITED}, {MG_LIMIT_LOW, 0},
               {MG_LIMIT_MIN, 0}};
  for (const auto& c : cases) {
    ASSERT_EQ(0, mg_group_set_limit(g, c.which, c.value));
    int64_t v = -1;
    ASSERT_EQ(0, mg_group_get_limit(g, c.which, &v));
    EXPECT_EQ(c.value, v) << "limit " << c.which;
  }
}

// --- Charging and ownership -------------------------------------------------

TEST_F(CApiTest, CurrentTracksMallocAndFreeOfAThreadInTheGroup) {
  mg_group_t g = Make();
  std::vector<void*> blocks;
  blocks.reserve(1000);
  int64_t during = -1, after = -1;
  {
    InGroup in(g);
    ASSERT_TRUE(in.ok());
    for (int i = 0; i < 1000; ++i) blocks.push_back(Touch(malloc(1024), 1024));
    mg_group_current(g, 1, &during);
    for (void* p : blocks) free(p);
    after = CurrentAfterReclaim(g);
  }
  for (void* p : blocks) EXPECT_NE(nullptr, p);
  // Slabs are charged whole: the last one partly used, and the thread's
  // cache may have taken regions of one more (63 regions of 1 KiB a slab).
  EXPECT_GE(during, 1000 * 1024);
  EXPECT_LE(during, 1000 * 1024 + 2 * 64 * kKiB);
  EXPECT_EQ(0, after);
}

TEST_F(CApiTest, SetGroupMovesOnlyFutureAllocations) {
  mg_group_t a = Make();
  mg_group_t b = Make();
  void* pa;
  void* pb;
  {
    InGroup in(a);
    pa = Touch(malloc(100 * kKiB), 100 * kKiB);
    EXPECT_EQ(0, mg_thread_set_group(b));
    EXPECT_EQ(b, ThreadGroup());
    pb = Touch(malloc(100 * kKiB), 100 * kKiB);
  }
  mg_group_t ga = 0, gb = 0;
  ASSERT_EQ(0, mg_block_group(pa, &ga));
  ASSERT_EQ(0, mg_block_group(pb, &gb));
  EXPECT_EQ(a, ga);
  EXPECT_EQ(b, gb);
  EXPECT_GE(Current(a), 100 * kKiB);
  EXPECT_GE(Current(b), 100 * kKiB);
  free(pa);
  free(pb);
  EXPECT_EQ(0, Current(a));
  EXPECT_EQ(0, Current(b));
}

TEST_F(CApiTest, FreeFromAnotherThreadUnchargesTheOwnerGroup) {
  mg_group_t owner = Make();
  mg_group_t other = Make();
  std::vector<void*> blocks;
  blocks.reserve(64);
  {
    InGroup in(owner);
    for (int i = 0; i < 64; ++i) blocks.push_back(Touch(malloc(4096), 4096));
  }
  ASSERT_GE(Current(owner), 64 * 4096);
  std::thread t([&] {
    mg_thread_set_group(other);
    for (void* p : blocks) free(p);
  });
  t.join();
  // The freeing thread exited (its caches are flushed); the owner keeps its
  // spare slab until reclaim.
  EXPECT_EQ(0, CurrentAfterReclaim(owner));
  EXPECT_EQ(0, Current(other));
}

TEST_F(CApiTest, ReallocByAnotherThreadKeepsTheBlockInItsOwnerGroup) {
  mg_group_t owner = Make();
  mg_group_t other = Make();
  void* p;
  {
    InGroup in(owner);
    p = malloc(1000);
    ASSERT_NE(nullptr, p);
    memset(p, 0x42, 1000);
  }
  void* q = nullptr;
  std::thread t([&] {
    mg_thread_set_group(other);
    q = realloc(p, 512 * kKiB);
  });
  t.join();
  ASSERT_NE(nullptr, q);
  mg_group_t g = 0;
  ASSERT_EQ(0, mg_block_group(q, &g));
  EXPECT_EQ(owner, g);
  const unsigned char* c = static_cast<const unsigned char*>(q);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(0x42, c[i]) << i;
  EXPECT_GE(Current(owner), 512 * kKiB);
  EXPECT_EQ(0, Current(other));
  free(q);
  // The 1000-byte block's slab is free, kept as its bin's spare.
  EXPECT_EQ(0, CurrentAfterReclaim(owner));
}

TEST_F(CApiTest, ReallocGrowthIsRefusedByTheOwnerGroupsMax) {
  mg_group_t owner = Make();
  ASSERT_EQ(0, mg_group_set_limit(owner, MG_LIMIT_MAX, kMiB));
  void* p = mg_malloc_in(owner, 64 * kKiB);
  ASSERT_NE(nullptr, p);
  // This thread stays in the unlimited root: the growth is still charged to
  // (and refused by) the owner.
  errno = 0;
  void* q = realloc(p, 2 * kMiB);
  int err = errno;
  EXPECT_EQ(nullptr, q);
  EXPECT_EQ(ENOMEM, err);
  free(q == nullptr ? p : q);
  EXPECT_EQ(0, Current(owner));
}

TEST_F(CApiTest, MallocInChargesTheNamedGroupWithoutMovingTheThread) {
  mg_group_t g = Make();
  void* p = mg_malloc_in(g, 100 * kKiB);
  ASSERT_NE(nullptr, p);
  Touch(p, 100 * kKiB);
  EXPECT_EQ(root_, ThreadGroup());
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(p, &owner));
  EXPECT_EQ(g, owner);
  EXPECT_GE(Current(g), 100 * kKiB);
  free(p);
  EXPECT_EQ(0, Current(g));
}

TEST_F(CApiTest, MallocInFailsWithEnomemAtTheGroupsMax) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  errno = 0;
  void* p = mg_malloc_in(g, 2 * kMiB);
  int err = errno;
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(ENOMEM, err);
  free(p);
}

TEST_F(CApiTest, TransferMovesTheChargeAndPreservesContents) {
  mg_group_t from = Make();
  mg_group_t to = Make();
  const size_t n = 200 * kKiB;
  void* p = mg_malloc_in(from, n);
  ASSERT_NE(nullptr, p);
  for (size_t i = 0; i < n; ++i) static_cast<unsigned char*>(p)[i] = i * 13;
  const int64_t before = Current(from);
  ASSERT_GE(before, static_cast<int64_t>(n));
  ASSERT_EQ(0, mg_transfer(&p, to));
  ASSERT_NE(nullptr, p);
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(p, &owner));
  EXPECT_EQ(to, owner);
  EXPECT_EQ(0, Current(from));
  EXPECT_GE(Current(to), static_cast<int64_t>(n));
  for (size_t i = 0; i < n; ++i) {
    ASSERT_EQ(static_cast<unsigned char>(i * 13),
              static_cast<unsigned char*>(p)[i]) << i;
  }
  // Transfer to the group it is already in is a no-op.
  void* same = p;
  EXPECT_EQ(0, mg_transfer(&p, to));
  EXPECT_EQ(same, p);
  free(p);
  EXPECT_EQ(0, Current(to));
}

TEST_F(CApiTest, TransferRefusedByTheTargetsMaxLeavesTheBlockInPlace) {
  mg_group_t from = Make();
  mg_group_t to = Make();
  ASSERT_EQ(0, mg_group_set_limit(to, MG_LIMIT_MAX, 64 * kKiB));
  void* p = mg_malloc_in(from, 256 * kKiB);
  ASSERT_NE(nullptr, p);
  void* orig = p;
  EXPECT_EQ(ENOMEM, mg_transfer(&p, to));
  EXPECT_EQ(orig, p);
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(p, &owner));
  EXPECT_EQ(from, owner);
  EXPECT_EQ(0, Current(to));
  free(p);
}

TEST_F(CApiTest, ExplicitChargeObeysMaxAndUnchargeRefusesMoreThanCharged) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  EXPECT_EQ(0, mg_charge(g, 600 * kKiB));
  EXPECT_EQ(600 * kKiB, Current(g));
  EXPECT_EQ(ENOMEM, mg_charge(g, 600 * kKiB));
  EXPECT_EQ(600 * kKiB, Current(g));
  EXPECT_EQ(0, mg_charge(g, 424 * kKiB));  // exactly at max
  EXPECT_EQ(kMiB, Current(g));
  EXPECT_EQ(kMiB, Stat(g).explicit_bytes);
  EXPECT_EQ(0, mg_charge(g, 0));
  EXPECT_NE(0, mg_uncharge(g, kMiB + 1));
  EXPECT_EQ(kMiB, Current(g));
  EXPECT_EQ(0, mg_uncharge(g, kMiB));
  EXPECT_EQ(0, Current(g));
  EXPECT_NE(0, mg_uncharge(g, 1));
  EXPECT_EQ(0, Current(g));
}

TEST_F(CApiTest, ExplicitChargeCountsInAncestorsAndIsLimitedByThem) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  ASSERT_EQ(0, mg_group_set_limit(parent, MG_LIMIT_MAX, kMiB));
  EXPECT_EQ(0, mg_charge(child, 700 * kKiB));
  EXPECT_EQ(700 * kKiB, Current(parent));
  EXPECT_EQ(ENOMEM, mg_charge(child, 400 * kKiB));
  mg_events_t pe = Events(parent);
  mg_events_t ce = Events(child);
  EXPECT_EQ(1u, pe.max);  // the refusing level is the parent
  EXPECT_EQ(0u, ce.max);
  EXPECT_EQ(0u, Events(child, 0).max);  // the child is not an ancestor
  EXPECT_EQ(0, mg_uncharge(child, 700 * kKiB));
  EXPECT_EQ(0, Current(parent));
}

// --- At max: the OOM policies -----------------------------------------------

TEST_F(CApiTest, MallocAtMaxWithoutReclaimReturnsNullWithEnomem) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  void* small = nullptr;
  void* big = nullptr;
  void* zeroed = nullptr;
  int err_big = 0, err_zeroed = 0;
  {
    InGroup in(g);
    small = Touch(malloc(512 * kKiB), 512 * kKiB);
    errno = 0;
    big = malloc(768 * kKiB);
    err_big = errno;
    errno = 0;
    zeroed = calloc(768, kKiB);
    err_zeroed = errno;
  }
  EXPECT_NE(nullptr, small);
  EXPECT_EQ(nullptr, big);
  EXPECT_EQ(ENOMEM, err_big);
  EXPECT_EQ(nullptr, zeroed);
  EXPECT_EQ(ENOMEM, err_zeroed);
  free(small);
  free(big);
  free(zeroed);
  EXPECT_EQ(0, Current(g));
}

int g_new_handler_calls = 0;
void CountingNewHandler() {
  ++g_new_handler_calls;
  std::set_new_handler(nullptr);
}

TEST_F(CApiTest, OperatorNewAtMaxCallsNewHandlerThenThrowsBadAlloc) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  g_new_handler_calls = 0;
  bool threw = false;
  void* p = nullptr;
  void* nothrow_p = reinterpret_cast<void*>(1);
  {
    InGroup in(g);
    std::set_new_handler(&CountingNewHandler);
    try {
      p = ::operator new(2 * kMiB);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    std::set_new_handler(nullptr);
    nothrow_p = ::operator new(2 * kMiB, std::nothrow);
  }
  EXPECT_TRUE(threw);
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(1, g_new_handler_calls);
  EXPECT_EQ(nullptr, nothrow_p);
  if (p != nullptr) ::operator delete(p);
  if (nothrow_p != nullptr) ::operator delete(nothrow_p);
}

TEST_F(CApiTest, OomEventsAndFailcntCountEachRefusedMalloc) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  constexpr int kN = 7;
  int nulls = 0;
  {
    InGroup in(g);
    for (int i = 0; i < kN; ++i) {
      void* p = malloc(2 * kMiB);
      if (p == nullptr) ++nulls;
      free(p);
    }
  }
  EXPECT_EQ(kN, nulls);
  mg_events_t e = Events(g);
  EXPECT_EQ(static_cast<uint64_t>(kN), e.oom);
  EXPECT_EQ(static_cast<uint64_t>(kN), e.max);
  EXPECT_EQ(0u, e.oom_kill);
  int64_t failcnt = -1;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt));
  EXPECT_EQ(kN, failcnt) << "failcnt should count refused charges";
}

// A nothrow operator new with no new_handler installed is one refused
// charge, like malloc: it must not try the charge a second time (each try
// runs the whole over-limit path: drain, reclaim callbacks, OOM policy).
TEST_F(CApiTest, NothrowNewWithoutHandlerIsOneRefusedCharge) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  std::set_new_handler(nullptr);
  void* plain = reinterpret_cast<void*>(1);
  void* aligned = reinterpret_cast<void*>(1);
  {
    InGroup in(g);
    plain = ::operator new(2 * kMiB, std::nothrow);
    aligned = ::operator new(2 * kMiB, std::align_val_t{64}, std::nothrow);
  }
  EXPECT_EQ(nullptr, plain);
  EXPECT_EQ(nullptr, aligned);
  int64_t failcnt = -1;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt));
  EXPECT_EQ(2, failcnt);
  EXPECT_EQ(2u, Events(g).max);
}

TEST_F(CApiTest, HierarchicalEventsIncludeDescendantsLocalOnlyTheGroup) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  ASSERT_EQ(0, mg_group_set_limit(child, MG_LIMIT_MAX, kMiB));
  {
    InGroup in(child);
    void* p = malloc(2 * kMiB);
    Escape(p);
    free(p);
  }
  EXPECT_EQ(1u, Events(child, 1).oom);
  EXPECT_EQ(1u, Events(child, 0).oom);
  EXPECT_EQ(0u, Events(parent, 1).oom);
  EXPECT_EQ(1u, Events(parent, 0).oom);
}

TEST_F(CApiTest, ReclaimCallbackThatFreesCachedBlocksLetsTheAllocationSucceed) {
  mg_group_t g = Make();
  Cache cache;
  cache.Fill(g, 7, 128 * kKiB);  // 896 KiB cached
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  RegisterReclaim(g, &cache);
  void* p = nullptr;
  {
    InGroup in(g);
    p = Touch(malloc(300 * kKiB), 300 * kKiB);
  }
  ASSERT_NE(nullptr, p);
  EXPECT_GE(cache.calls.load(), 1);
  EXPECT_LT(cache.count.load(), 7);
  EXPECT_GE(cache.count.load(), 3) << "evicted far more than the shortfall";
  EXPECT_LE(Current(g), kMiB);
  mg_stat_t st = Stat(g);
  EXPECT_EQ(cache.calls.load(), st.reclaim_calls);
  EXPECT_EQ((7 - cache.count.load()) * 128 * kKiB, st.reclaimed);
  mg_events_t e = Events(g);
  EXPECT_GE(e.max, 1u);
  EXPECT_EQ(0u, e.oom);
  free(p);
}

TEST_F(CApiTest, ReclaimCallbackMayAllocateAndFree) {
  mg_group_t g = Make();
  struct Arg {
    Cache cache;
    int allocations_ok = 0;
  } arg;
  arg.cache.Fill(g, 6, 128 * kKiB);
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  int h = 0;
  ASSERT_EQ(0, mg_reclaim_register(
                   g,
                   [](mg_group_t, int64_t target, void* a) -> int64_t {
                     Arg* arg = static_cast<Arg*>(a);
                     void* scratch = malloc(256);  // nested: charged directly
                     if (scratch != nullptr) ++arg->allocations_ok;
                     Escape(scratch);
                     free(scratch);
                     return arg->cache.EvictUntil(target);
                   },
                   &arg, &h));
  reclaim_handles_.push_back(h);
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(512 * kKiB), 512 * kKiB);
  }
  EXPECT_NE(nullptr, p);
  EXPECT_GE(arg.allocations_ok, 1);
  free(p);
  arg.cache.Clear();
  EXPECT_EQ(0, Current(g));
}

TEST_F(CApiTest, ReclaimCallbackThatReleasesNothingEndsInEnomem) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  Cache empty;
  RegisterReclaim(g, &empty);
  int err = 0;
  void* p = MallocInGroup(g, 2 * kMiB, &err);
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(ENOMEM, err);
  EXPECT_GE(empty.calls.load(), 1);
  EXPECT_LE(empty.calls.load(), 17) << "gives up after 16 rounds";
  EXPECT_EQ(1u, Events(g).oom);
}

TEST_F(CApiTest, MinProtectedGroupIsNeverAskedToReclaim) {
  ProtectedSiblings s;
  MakeProtectedSiblings(&s, MG_LIMIT_MIN);
  const mg_group_t worker = s.worker;
  Cache& gc = s.gc;
  Cache& oc = s.oc;
  void* p;
  {
    InGroup in(worker);
    p = Touch(malloc(256 * kKiB), 256 * kKiB);
  }
  EXPECT_NE(nullptr, p);
  EXPECT_EQ(0, gc.calls.load());
  EXPECT_EQ(4, gc.count.load());
  EXPECT_GE(oc.calls.load(), 1);
  // And when only the min-protected group could give, the charge fails.
  void* q;
  {
    InGroup in(worker);
    q = malloc(700 * kKiB);
  }
  EXPECT_EQ(nullptr, q);
  EXPECT_EQ(0, gc.calls.load());
  free(p);
  free(q);
}

TEST_F(CApiTest, LowProtectedGroupIsAskedOnlyWhenNothingElseGave) {
  ProtectedSiblings s;
  MakeProtectedSiblings(&s, MG_LIMIT_LOW);
  const mg_group_t guarded = s.guarded, worker = s.worker;
  Cache& gc = s.gc;
  Cache& oc = s.oc;
  // 1. The unprotected group can give: the low-protected one is spared.
  void* p;
  {
    InGroup in(worker);
    p = Touch(malloc(256 * kKiB), 256 * kKiB);
  }
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(0, gc.calls.load());
  EXPECT_GE(oc.calls.load(), 1);
  EXPECT_EQ(0u, Events(guarded).low);
  // 2. Empty the unprotected cache: now only the protected group can give,
  //    and is asked (raising its `low` event).
  oc.Clear();
  void* q;
  {
    InGroup in(worker);
    q = Touch(malloc(512 * kKiB), 512 * kKiB);
  }
  EXPECT_NE(nullptr, q);
  EXPECT_GE(gc.calls.load(), 1);
  EXPECT_LT(gc.count.load(), 4);
  EXPECT_GE(Events(guarded).low, 1u);
  free(p);
  free(q);
}

TEST_F(CApiTest, MaxBelowCurrentUsageIsAllowedAndLaterChargesFailUntilFreed) {
  mg_group_t g = Make();
  void* held;
  {
    InGroup in(g);
    held = Touch(malloc(2 * kMiB), 2 * kMiB);
  }
  ASSERT_NE(nullptr, held);
  EXPECT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  int64_t max = 0;
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_MAX, &max));
  EXPECT_EQ(kMiB, max);
  // Nothing already allocated is invalidated.
  EXPECT_GE(Current(g), 2 * kMiB);
  memset(held, 1, 2 * kMiB);
  void* refused;
  void* refused_small;
  void* later;
  {
    InGroup in(g);
    refused = malloc(64 * kKiB);
    refused_small = malloc(64);
  }
  EXPECT_EQ(nullptr, refused);
  EXPECT_EQ(nullptr, refused_small);
  free(held);
  {
    InGroup in(g);
    later = Touch(malloc(64 * kKiB), 64 * kKiB);
  }
  EXPECT_NE(nullptr, later);
  free(later);
  EXPECT_EQ(0, Current(g));
}

TEST_F(CApiTest, LoweringMaxRunsReclaimDownToTheNewLimit) {
  mg_group_t g = Make();
  Cache cache;
  cache.Fill(g, 16, 128 * kKiB);  // 2 MiB
  RegisterReclaim(g, &cache);
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  EXPECT_GE(cache.calls.load(), 1);
  EXPECT_LE(Current(g), kMiB);
}

TEST_F(CApiTest, HandlerPolicyRetryAfterFreeingSucceeds) {
  mg_group_t g = Make();
  struct Arg {
    void* victim = nullptr;
    int calls = 0;
  } arg;
  arg.victim = mg_malloc_in(g, 768 * kKiB);
  ASSERT_NE(nullptr, arg.victim);
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  ASSERT_EQ(0, mg_group_set_oom_handler(
                   g,
                   [](mg_group_t, int64_t, void* a) {
                     Arg* arg = static_cast<Arg*>(a);
                     ++arg->calls;
                     free(arg->victim);
                     arg->victim = nullptr;
                     return MG_OOM_RETRY;
                   },
                   &arg));
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(512 * kKiB), 512 * kKiB);
  }
  EXPECT_NE(nullptr, p);
  EXPECT_EQ(1, arg.calls);
  EXPECT_EQ(nullptr, arg.victim);
  EXPECT_EQ(1u, Events(g).oom);
  free(p);
  mg_group_set_oom_handler(g, nullptr, nullptr);
}

TEST_F(CApiTest, HandlerPolicyFailReturnsNullWithEnomem) {
  mg_group_t g = Make();
  int calls = 0;
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  ASSERT_EQ(0, mg_group_set_oom_handler(
                   g,
                   [](mg_group_t, int64_t bytes, void* a) {
                     *static_cast<int*>(a) += bytes >= 2 * kMiB ? 1 : 1000;
                     return MG_OOM_FAIL;
                   },
                   &calls));
  int err = 0;
  void* p = MallocInGroup(g, 2 * kMiB, &err);
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(ENOMEM, err);
  EXPECT_EQ(1, calls) << "called once, with the refused size";
  mg_group_set_oom_handler(g, nullptr, nullptr);
}

TEST_F(CApiTest, HandlerPolicyForceChargesOverTheLimit) {
  mg_group_t g = Make();
  int calls = 0;
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  ASSERT_EQ(0, mg_group_set_oom_handler(
                   g,
                   [](mg_group_t, int64_t, void* a) {
                     ++*static_cast<int*>(a);
                     return MG_OOM_FORCE;
                   },
                   &calls));
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(2 * kMiB), 2 * kMiB);
  }
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(1, calls);
  EXPECT_GE(Current(g), 2 * kMiB);
  EXPECT_GE(Events(g).max, 1u);
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(p, &owner));
  EXPECT_EQ(g, owner);
  free(p);
  EXPECT_EQ(0, Current(g));
  mg_group_set_oom_handler(g, nullptr, nullptr);
}

TEST_F(CApiTest, HandlerPolicyWithoutHandlerFails) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_HANDLER, -1));
  void* p;
  {
    InGroup in(g);
    p = malloc(2 * kMiB);
  }
  EXPECT_EQ(nullptr, p);
}

// A thread of `g` that allocates `bytes` and records how long it took.
struct Waiter {
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  void* block = nullptr;
  int64_t blocked_ms = -1;
  std::thread thread;

  Waiter(mg_group_t g, size_t bytes) {
    thread = std::thread([this, g, bytes] {
      mg_thread_set_group(g);
      started = true;
      auto t0 = Clock::now();
      block = malloc(bytes);
      blocked_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       Clock::now() - t0).count();
      Touch(block, block ? bytes : 0);
      done = true;
    });
  }
};

TEST_F(CApiTest, WaitPolicyResumesWhenAnotherThreadFrees) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, 20000));
  void* held = mg_malloc_in(g, 768 * kKiB);
  ASSERT_NE(nullptr, held);
  mg_pressure_t before;
  ASSERT_EQ(0, mg_group_pressure(g, &before));
  Waiter w(g, 512 * kKiB);
  while (!w.started.load()) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(w.done.load()) << "should be waiting at the limit";
  free(held);
  w.thread.join();
  EXPECT_NE(nullptr, w.block);
  EXPECT_GE(w.blocked_ms, 250);
  EXPECT_LT(w.blocked_ms, 10000);
  mg_stat_t st = Stat(g);
  EXPECT_GE(st.oom_wait_usec, 250000);
  mg_pressure_t after;
  ASSERT_EQ(0, mg_group_pressure(g, &after));
  EXPECT_GE(after.some_total_usec, before.some_total_usec + 250000);
  EXPECT_EQ(1u, Events(g).oom);
  free(w.block);
}

TEST_F(CApiTest, WaitPolicyResumesWhenTheLimitIsRaised) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, -1));
  void* held = mg_malloc_in(g, 768 * kKiB);
  ASSERT_NE(nullptr, held);
  Waiter w(g, 512 * kKiB);
  while (!w.started.load()) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(w.done.load()) << "should be waiting at the limit";
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, 2 * kMiB));
  w.thread.join();
  EXPECT_NE(nullptr, w.block);
  EXPECT_GE(w.blocked_ms, 250);
  EXPECT_LT(w.blocked_ms, 10000);
  free(w.block);
  free(held);
}

TEST_F(CApiTest, WaitPolicyFallsBackToEnomemAfterTheTimeout) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  ASSERT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, 200));
  int err = 0;
  auto t0 = Clock::now();
  void* p = MallocInGroup(g, 2 * kMiB, &err);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                Clock::now() - t0).count();
  EXPECT_EQ(nullptr, p);
  EXPECT_EQ(ENOMEM, err);
  EXPECT_GE(ms, 190);
  EXPECT_LT(ms, 5000);
  mg_pressure_t pr;
  ASSERT_EQ(0, mg_group_pressure(g, &pr));
  EXPECT_GE(pr.some_total_usec, 190000u);
  EXPECT_GE(Stat(g).oom_wait_usec, 190000);
}

// The child half of the policy death tests: a group `name` limited to
// 1 MiB with `policy`, then a 2 MiB malloc, which must not return.
[[noreturn]] void OverLimitInChild(const char* name, mg_oom_policy_t policy) {
  mg_group_t g = 0;
  if (mg_group_create(mg_root(), name, &g) != 0) _exit(3);
  mg_group_set_limit(g, MG_LIMIT_MAX, kMiB);
  mg_group_set_oom_policy(g, policy, -1);
  mg_thread_set_group(g);
  void* p = malloc(2 * kMiB);
  Escape(p);
  _exit(p == nullptr ? 4 : 5);  // survived: wrong
}

TEST(CApiDeathTest, AbortPolicyReportsAndAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(OverLimitInChild("dies-abort", MG_OOM_ABORT),
              ::testing::KilledBySignal(SIGABRT),
              "out of memory in group /dies-abort");
}

TEST(CApiDeathTest, KillPolicyReportsAndSigkills) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(OverLimitInChild("dies-kill", MG_OOM_KILL),
              ::testing::KilledBySignal(SIGKILL),
              "out of memory in group /dies-kill");
}

// --- high -------------------------------------------------------------------

TEST_F(CApiTest, HighNeverFailsButCountsHighEvents) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_HIGH, 4 * kMiB));
  std::vector<void*> blocks;
  blocks.reserve(8);
  {
    InGroup in(g);
    for (int i = 0; i < 5; ++i) blocks.push_back(Touch(malloc(kMiB), kMiB));
  }
  for (void* p : blocks) EXPECT_NE(nullptr, p);
  EXPECT_GE(Events(g).high, 1u);
  EXPECT_EQ(0u, Events(g).oom);
  for (void* p : blocks) free(p);
}

// --- Observation ------------------------------------------------------------

TEST_F(CApiTest, PeakRecordsTheHighestUsageAndResetSetsItToCurrent) {
  mg_group_t g = Make();
  void* big;
  {
    InGroup in(g);
    big = Touch(malloc(3 * kMiB), 3 * kMiB);
  }
  ASSERT_NE(nullptr, big);
  free(big);
  ASSERT_EQ(0, Current(g));
  int64_t peak = -1;
  ASSERT_EQ(0, mg_group_peak(g, &peak));
  EXPECT_GE(peak, 3 * kMiB);
  void* small = mg_malloc_in(g, 256 * kKiB);
  ASSERT_NE(nullptr, small);
  const int64_t cur = Current(g);
  ASSERT_EQ(0, mg_group_reset_peak(g));
  ASSERT_EQ(0, mg_group_peak(g, &peak));
  EXPECT_EQ(cur, peak);
  free(small);
  ASSERT_EQ(0, mg_group_peak(g, &peak));
  EXPECT_EQ(cur, peak) << "peak does not fall with usage";
}

struct Crossing {
  int64_t threshold;
  int above;
};
struct Crossings {
  std::array<Crossing, 64> log{};
  std::atomic<int> n{0};
  static void Fn(mg_group_t, int64_t threshold, int above, void* arg) {
    Crossings* c = static_cast<Crossings*>(arg);
    int i = c->n++;
    if (i < 64) c->log[i] = {threshold, above};
  }
};

TEST_F(CApiTest, ThresholdFiresUpwardsAndDownwards) {
  mg_group_t g = Make();
  Crossings c;
  int h = 0;
  ASSERT_EQ(0, mg_threshold_register(g, kMiB, &Crossings::Fn, &c, &h));
  threshold_handles_.push_back(h);
  void* p;
  {
    InGroup in(g);
    p = Touch(malloc(2 * kMiB), 2 * kMiB);
  }
  ASSERT_NE(nullptr, p);
  ASSERT_EQ(1, c.n.load());
  EXPECT_EQ(kMiB, c.log[0].threshold);
  EXPECT_EQ(1, c.log[0].above);
  free(p);
  Current(g);  // drain stocks: the counter reaches its real value
  ASSERT_EQ(2, c.n.load());
  EXPECT_EQ(kMiB, c.log[1].threshold);
  EXPECT_EQ(0, c.log[1].above);
  // Unregistered: no more calls.
  ASSERT_EQ(0, mg_threshold_unregister(h));
  threshold_handles_.clear();
  p = mg_malloc_in(g, 2 * kMiB);
  free(p);
  Current(g);
  EXPECT_EQ(2, c.n.load());
}

TEST_F(CApiTest, ThresholdOnAParentSeesChildUsage) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  Crossings c;
  int h = 0;
  ASSERT_EQ(0, mg_threshold_register(parent, 512 * kKiB, &Crossings::Fn, &c, &h));
  threshold_handles_.push_back(h);
  void* p = mg_malloc_in(child, kMiB);
  ASSERT_NE(nullptr, p);
  EXPECT_EQ(1, c.n.load());
  EXPECT_EQ(1, c.log[0].above);
  free(p);
  Current(parent);
  EXPECT_EQ(2, c.n.load());
  EXPECT_EQ(0, c.log[1].above);
}

TEST_F(CApiTest, ProactiveReclaimReportsReleasedBytes) {
  mg_group_t g = Make();
  Cache cache;
  cache.Fill(g, 16, 64 * kKiB);  // 1 MiB
  RegisterReclaim(g, &cache);
  const int64_t before = Current(g);
  int64_t released = -1;
  ASSERT_EQ(0, mg_group_reclaim(g, 256 * kKiB, &released));
  EXPECT_GE(released, 256 * kKiB);
  EXPECT_LE(released, 256 * kKiB + 64 * kKiB);
  EXPECT_EQ((16 - cache.count.load()) * 64 * kKiB, released);
  EXPECT_EQ(before - released, Current(g));
  // Asking for more than there is releases what there is.
  ASSERT_EQ(0, mg_group_reclaim(g, 100 * kMiB, &released));
  EXPECT_EQ(0, cache.count.load());
  EXPECT_EQ(0, Current(g));
  // No pressure: no events.
  EXPECT_EQ(0u, Events(g).max);
  EXPECT_EQ(0u, Events(g).oom);
}

TEST_F(CApiTest, ProactiveReclaimWithoutCallbacksReleasesNothing) {
  mg_group_t g = Make();
  int64_t released = -1;
  ASSERT_EQ(0, mg_group_reclaim(g, kMiB, &released));
  EXPECT_EQ(0, released);
}

TEST_F(CApiTest, ProactiveReclaimReachesDescendants) {
  mg_group_t parent = Make();
  mg_group_t child = Make(parent);
  Cache cache;
  cache.Fill(child, 8, 64 * kKiB);
  RegisterReclaim(child, &cache);
  int64_t released = -1;
  ASSERT_EQ(0, mg_group_reclaim(parent, 128 * kKiB, &released));
  EXPECT_GE(released, 128 * kKiB);
  EXPECT_GE(cache.calls.load(), 1);
}

TEST_F(CApiTest, PressureCallbackFiresWhenReclaimFallsShort) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  Cache empty;
  RegisterReclaim(g, &empty);
  struct Arg {
    std::atomic<int> calls{0};
    std::atomic<int> worst{0};
  } arg;
  int h = 0;
  ASSERT_EQ(0, mg_pressure_register(
                   g, MG_PRESSURE_MEDIUM,
                   [](mg_group_t, int level, void* a) {
                     Arg* arg = static_cast<Arg*>(a);
                     arg->calls++;
                     if (level > arg->worst) arg->worst = level;
                   },
                   &arg, &h));
  void* p;
  {
    InGroup in(g);
    p = malloc(2 * kMiB);
  }
  EXPECT_EQ(nullptr, p);
  EXPECT_GE(arg.calls.load(), 1);
  EXPECT_EQ(MG_PRESSURE_CRITICAL, arg.worst.load());
  EXPECT_EQ(0, mg_pressure_unregister(h));
}

TEST_F(CApiTest, StatHeapMatchesLiveBlocks) {
  mg_group_t g = Make();
  std::vector<void*> blocks;
  blocks.reserve(100);
  {
    InGroup in(g);
    for (int i = 0; i < 100; ++i) {
      blocks.push_back(Touch(malloc(10 * kKiB), 10 * kKiB));
    }
  }
  int64_t live = 0;
  for (void* p : blocks) live += Usable(p);
  mg_stat_t st = Stat(g);
  // stat.heap is the live blocks' bytes (and the regions in this thread's
  // cache); `current` charges the pages of their slabs that regions have
  // crossed (6 regions of 10 KiB a 64 KiB slab: 17 slabs for 100 blocks,
  // each with under 8 KiB charged beyond its regions: its header and
  // colour before region 0, under 4 KiB, and the tail of its last page).
  EXPECT_GE(st.heap, live);
  EXPECT_LE(st.heap, live + 64 * kKiB);
  EXPECT_EQ(0, st.mmap);
  EXPECT_EQ(0, st.explicit_bytes);
  EXPECT_EQ(0, st.stock);  // drained by the exact read
  const int64_t slabs = st.current - st.mmap - st.explicit_bytes - st.stock;
  EXPECT_EQ(0, slabs % (4 * kKiB));
  EXPECT_GE(slabs, st.heap);
  EXPECT_LE(slabs, st.heap + 17 * 8 * kKiB);
  for (void* p : blocks) free(p);
  // This thread's cache for g held the last freed blocks: reclaim flushes it.
  EXPECT_EQ(0, CurrentAfterReclaim(g));
  st = Stat(g);
  EXPECT_EQ(0, st.heap);
  EXPECT_EQ(0, st.current);
}

TEST_F(CApiTest, AnonymousMmapIsChargedAndMunmapUnchargesAlsoPartially) {
  mg_group_t g = Make();
  void* m;
  {
    InGroup in(g);
    m = mmap(nullptr, kMiB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  ASSERT_NE(MAP_FAILED, m);
  memset(m, 7, kMiB);
  mg_stat_t st = Stat(g);
  EXPECT_EQ(kMiB, st.mmap);
  EXPECT_EQ(kMiB, st.current);
  // Unmapped from the root group: still uncharges the group that was charged.
  ASSERT_EQ(0, munmap(static_cast<char*>(m) + kMiB / 2, kMiB / 2));
  st = Stat(g);
  EXPECT_EQ(kMiB / 2, st.mmap);
  EXPECT_EQ(kMiB / 2, st.current);
  ASSERT_EQ(0, munmap(m, kMiB / 2));
  st = Stat(g);
  EXPECT_EQ(0, st.mmap);
  EXPECT_EQ(0, st.current);
}

TEST_F(CApiTest, AnonymousMmapAboveMaxFailsWithEnomem) {
  mg_group_t g = Make();
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, kMiB));
  void* m;
  int err;
  {
    InGroup in(g);
    errno = 0;
    m = mmap(nullptr, 2 * kMiB, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    err = errno;
  }
  EXPECT_EQ(MAP_FAILED, m);
  EXPECT_EQ(ENOMEM, err);
  if (m != MAP_FAILED) munmap(m, 2 * kMiB);
}

TEST_F(CApiTest, StatsWriteListsTheGroup) {
  mg_group_t g = Make();
  char path[128];
  ASSERT_EQ(0, mg_group_path(g, path, sizeof(path)));
  int fds[2];
  ASSERT_EQ(0, pipe(fds));
  ASSERT_EQ(0, mg_stats_write(fds[1]));
  close(fds[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fds[0]);
  EXPECT_NE(std::string::npos, out.find(std::string("group ") + path + "\n"));
}

// --- Destruction and threads ------------------------------------------------

TEST_F(CApiTest, DestroyedGroupsBlocksStayChargedToTheParentUntilFreed) {
  mg_group_t parent = Make();
  mg_group_t child = 0;
  ASSERT_EQ(0, mg_group_create(parent, "doomed", &child));
  std::vector<void*> blocks;
  blocks.reserve(32);
  {
    InGroup in(child);
    for (int i = 0; i < 32; ++i) blocks.push_back(Touch(malloc(32 * kKiB), 32 * kKiB));
  }
  const int64_t held = Current(parent);
  ASSERT_GE(held, 32 * 32 * kKiB);
  ASSERT_EQ(0, mg_group_destroy(child));
  EXPECT_EQ(held, Current(parent));
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(blocks[0], &owner));
  EXPECT_EQ(parent, owner);
  // The name is free again while the old blocks are still out.
  mg_group_t again = 0;
  ASSERT_EQ(0, mg_group_create(parent, "doomed", &again));
  EXPECT_NE(child, again);
  std::thread t([&] {  // frees from another thread too
    for (size_t i = 0; i < blocks.size(); i += 2) free(blocks[i]);
  });
  t.join();
  for (size_t i = 1; i < blocks.size(); i += 2) free(blocks[i]);
  EXPECT_EQ(0, Current(again));
  EXPECT_EQ(0, Current(parent));
  EXPECT_EQ(0, mg_group_destroy(again));
}

TEST_F(CApiTest, ThreadInADestroyedGroupMovesToItsParent) {
  mg_group_t parent = Make();
  mg_group_t child = 0;
  ASSERT_EQ(0, mg_group_create(parent, "gone", &child));
  std::atomic<int> phase{0};
  mg_group_t seen = 0;
  void* p = nullptr;
  mg_group_t p_owner = 0;
  std::thread t([&] {
    mg_thread_set_group(child);
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    mg_thread_get_group(&seen);
    p = malloc(4096);
    mg_block_group(p, &p_owner);
    free(p);
  });
  while (phase.load() != 1) std::this_thread::yield();
  ASSERT_EQ(0, mg_group_destroy(child));
  phase = 2;
  t.join();
  EXPECT_EQ(parent, seen);
  EXPECT_EQ(parent, p_owner);
  // A thread destroying its own group moves at once.
  mg_group_t own = 0;
  ASSERT_EQ(0, mg_group_create(parent, "self", &own));
  ASSERT_EQ(0, mg_thread_set_group(own));
  ASSERT_EQ(0, mg_group_destroy(own));
  EXPECT_EQ(parent, ThreadGroup());
}

TEST_F(CApiTest, NewThreadStartsInItsCreatorsGroup) {
  mg_group_t g = Make();
  mg_group_t seen = 0;
  mg_group_t block_owner = 0;
  {
    InGroup in(g);
    std::thread t([&] {
      mg_thread_get_group(&seen);
      void* p = malloc(100);
      Escape(p);
      mg_block_group(p, &block_owner);
      free(p);
    });
    t.join();
  }
  EXPECT_EQ(g, seen);
  EXPECT_EQ(g, block_owner);
  // And a thread created from the root stays in the root.
  std::thread t2([&] { mg_thread_get_group(&seen); });
  t2.join();
  EXPECT_EQ(root_, seen);
}

TEST_F(CApiTest, ThreadGetGroupReturnsWhatSetGroupSet) {
  mg_group_t g = Make();
  EXPECT_EQ(root_, ThreadGroup());
  ASSERT_EQ(0, mg_thread_set_group(g));
  EXPECT_EQ(g, ThreadGroup());
  ASSERT_EQ(0, mg_thread_set_group(root_));
  EXPECT_EQ(root_, ThreadGroup());
}

TEST_F(CApiTest, BlockGroupOfAForeignPointerIsAnError) {
  static char not_heap[64];
  mg_group_t g = 0;
  EXPECT_NE(0, mg_block_group(not_heap, &g));
}

TEST_F(CApiTest, ManyThreadsFreeingAcrossGroupsLeaveEveryGroupAtZero) {
  constexpr int kThreads = 4;
  constexpr int kBlocks = 2000;
  std::vector<mg_group_t> gs;
  for (int i = 0; i < kThreads; ++i) gs.push_back(Make());
  std::vector<std::vector<void*>> blocks(kThreads);
  for (auto& b : blocks) b.resize(kBlocks);
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      mg_thread_set_group(gs[i]);
      for (int k = 0; k < kBlocks; ++k) {
        blocks[i][k] = Touch(malloc(16 + (k * 37) % 3000), 16);
      }
    });
  }
  for (auto& t : ts) t.join();
  ts.clear();
  for (int i = 0; i < kThreads; ++i) {
    ts.emplace_back([&, i] {
      // Frees the blocks of the next thread's group, realloc'ing half first.
      auto& b = blocks[(i + 1) % kThreads];
      for (int k = 0; k < kBlocks; ++k) {
        if (k % 2 == 0) b[k] = realloc(b[k], 5000);
        free(b[k]);
      }
    });
  }
  for (auto& t : ts) t.join();
  // Every thread exited: what each group still holds is its spare slabs.
  for (mg_group_t g : gs) EXPECT_EQ(0, CurrentAfterReclaim(g));
}

}  // namespace

namespace {

TEST_F(CApiTest, StatCountsAllocsFreesAndHistogramShowsLiveClasses) {
  mg_group_t g = Make();
  void* blocks[100];
  ASSERT_EQ(0, mg_thread_set_group(g));
  for (void*& b : blocks) b = malloc(200);  // size class 224
  ASSERT_EQ(0, mg_thread_set_group(root_));
  mg_stat_t st;
  ASSERT_EQ(0, mg_group_stat(g, &st));
  EXPECT_GE(st.allocs, 100);
  EXPECT_GE(st.heap, 100 * 224);
  mg_size_class_t classes[64];
  size_t n = 0;
  ASSERT_EQ(0, mg_group_histogram(g, classes, 64, &n));
  uint64_t live224 = 0;
  for (size_t i = 0; i < n; ++i) {
    if (classes[i].size == 224) live224 = classes[i].count;
    if (i > 0) {
      EXPECT_LT(classes[i - 1].size, classes[i].size);
    }
  }
  EXPECT_GE(live224, 100u);
  // Free them on a thread that then exits: its caches are flushed at exit,
  // so the engine has counted every free and no block is held out any more.
  std::thread freer([&] {
    for (void* b : blocks) free(b);
  });
  freer.join();
  ASSERT_EQ(0, mg_group_stat(g, &st));
  EXPECT_GE(st.frees, 100);
  ASSERT_EQ(0, mg_group_histogram(g, classes, 64, &n));
  for (size_t i = 0; i < n; ++i) {
    if (classes[i].size == 224) {
      EXPECT_LT(classes[i].count, live224);
    }
  }
  // The freed blocks' slab is the 224-byte bin's spare until reclaim.
  EXPECT_EQ(0, CurrentAfterReclaim(g));
  EXPECT_EQ(EINVAL, mg_group_histogram(g, nullptr, 4, &n));
}

}  // namespace
