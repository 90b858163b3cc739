// The C ABI in library mode (mg_api over src/alloc, no interposition), so
// that the engine and the C ABI run in every preset, TSan and ASan+UBSan
// included: groups, limits and refusals, the OOM policy's timeout bounds,
// explicit charges, blocks in other groups, transfers, a destroyed group's
// live blocks, threads moving between groups; every group back to exactly 0.
// Blocks are freed through src/alloc's free entry point (what
// libmemgroup.so's free forwards to): here the process's free is libc's.
#include "memgroup/memgroup.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "alloc/alloc_path.h"
#include "alloc/resize.h"

namespace {

namespace ma = memgroup::internal::alloc;

constexpr int64_t kMiB = 1024 * 1024;

int64_t Current(mg_group_t g) {
  int64_t v = -1;
  EXPECT_EQ(0, mg_group_current(g, 1, &v));
  return v;
}

// A group's exact usage after its free engine pages went back: small blocks
// are charged by their 64 KiB slab (docs/architecture.md, "What is
// charged"), which stays charged while free regions of it sit in the
// calling thread's caches or it is its size class's spare.
int64_t CurrentAfterReclaim(mg_group_t g) {
  int64_t released = 0;
  EXPECT_EQ(0, mg_group_reclaim(g, INT64_MAX / 2, &released));
  return Current(g);
}

std::string Unique(const char* base) {
  static int n = 0;
  return std::string(base) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(++n);
}

mg_group_t Create(mg_group_t parent, const std::string& name) {
  mg_group_t g = 0;
  EXPECT_EQ(0, mg_group_create(parent, name.c_str(), &g));
  return g;
}

TEST(CApiLibraryTest, GroupTreeAndErrors) {
  const std::string name = Unique("tree");
  mg_group_t a = Create(mg_root(), name);
  mg_group_t b = Create(a, "b");
  mg_group_t dup = 0;
  EXPECT_EQ(EEXIST, mg_group_create(a, "b", &dup));
  EXPECT_EQ(EINVAL, mg_group_create(a, "bad/name", &dup));
  mg_group_t found = 0;
  ASSERT_EQ(0, mg_group_lookup(("/" + name + "/b").c_str(), &found));
  EXPECT_EQ(found, b);
  char path[128];
  ASSERT_EQ(0, mg_group_path(b, path, sizeof(path)));
  EXPECT_EQ(std::string(path), "/" + name + "/b");
  EXPECT_EQ(EBUSY, mg_group_destroy(a));
  EXPECT_EQ(0, mg_group_destroy(b));
  EXPECT_EQ(ENOENT, mg_group_destroy(b));  // stale id
  EXPECT_EQ(0, mg_group_destroy(a));
  EXPECT_EQ(EBUSY, mg_group_destroy(mg_root()));
}

TEST(CApiLibraryTest, OomWaitTimeoutIsBoundedByItsNanoseconds) {
  mg_group_t g = Create(mg_root(), Unique("oom"));
  EXPECT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, -1));
  EXPECT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, 0));
  // The largest timeout whose nanoseconds fit in int64, and one more.
  EXPECT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_WAIT, INT64_MAX / 1000000));
  EXPECT_EQ(EINVAL,
            mg_group_set_oom_policy(g, MG_OOM_WAIT, INT64_MAX / 1000000 + 1));
  EXPECT_EQ(EINVAL, mg_group_set_oom_policy(g, MG_OOM_WAIT, INT64_MAX));
  EXPECT_EQ(EINVAL, mg_group_set_oom_policy(g, MG_OOM_WAIT, -2));
  EXPECT_EQ(EINVAL, mg_group_set_oom_policy(
                        g, static_cast<mg_oom_policy_t>(99), 0));
  EXPECT_EQ(0, mg_group_set_oom_policy(g, MG_OOM_ENOMEM, 0));
  EXPECT_EQ(0, mg_group_destroy(g));
}

TEST(CApiLibraryTest, LimitsRefuseChargesAndCountThem) {
  mg_group_t g = Create(mg_root(), Unique("limit"));
  ASSERT_EQ(0, mg_group_set_limit(g, MG_LIMIT_MAX, 1 * kMiB));
  int64_t max = 0;
  ASSERT_EQ(0, mg_group_get_limit(g, MG_LIMIT_MAX, &max));
  EXPECT_EQ(max, 1 * kMiB);
  EXPECT_EQ(EINVAL, mg_group_set_limit(g, MG_LIMIT_MAX, -5));
  errno = 0;
  EXPECT_EQ(nullptr, mg_malloc_in(g, 2 * kMiB));
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_EQ(ENOMEM, mg_charge(g, 2 * kMiB));
  void* p = mg_malloc_in(g, 512 * 1024);
  ASSERT_NE(p, nullptr);
  memset(p, 1, 512 * 1024);
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(p, &owner));
  EXPECT_EQ(owner, g);
  int64_t failcnt = 0;
  ASSERT_EQ(0, mg_group_failcnt(g, &failcnt));
  EXPECT_GE(failcnt, 2);
  mg_events_t ev;
  ASSERT_EQ(0, mg_group_events(g, 1, &ev));
  EXPECT_GE(ev.max, 2u);
  ma::FreeImpl(p);
  EXPECT_EQ(0, CurrentAfterReclaim(g));  // the block's pages were kept
  EXPECT_EQ(0, mg_group_destroy(g));
}

TEST(CApiLibraryTest, ExplicitChargesBalance) {
  mg_group_t g = Create(mg_root(), Unique("explicit"));
  ASSERT_EQ(0, mg_charge(g, 12345));
  EXPECT_EQ(12345, Current(g));
  mg_stat_t st;
  ASSERT_EQ(0, mg_group_stat(g, &st));
  EXPECT_EQ(st.explicit_bytes, 12345);
  EXPECT_EQ(EINVAL, mg_uncharge(g, 12346));
  EXPECT_EQ(EINVAL, mg_charge(g, -1));
  ASSERT_EQ(0, mg_uncharge(g, 12345));
  EXPECT_EQ(0, Current(g));
  EXPECT_EQ(0, mg_group_destroy(g));
}

TEST(CApiLibraryTest, TransferAndReallocKeepContentsAndCharges) {
  mg_group_t a = Create(mg_root(), Unique("xa"));
  mg_group_t b = Create(mg_root(), Unique("xb"));
  char* p = static_cast<char*>(mg_malloc_in(a, 100));
  ASSERT_NE(p, nullptr);
  memcpy(p, "memgroup", 9);
  void* moved = p;
  ASSERT_EQ(0, mg_transfer(&moved, b));
  EXPECT_STREQ(static_cast<char*>(moved), "memgroup");
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(moved, &owner));
  EXPECT_EQ(owner, b);
  EXPECT_EQ(0, CurrentAfterReclaim(a));  // the block's old slab is free
  EXPECT_GT(Current(b), 0);
  // realloc stays in the block's group, whoever calls it.
  void* grown = ma::Realloc(moved, 3 * kMiB);
  ASSERT_NE(grown, nullptr);
  EXPECT_STREQ(static_cast<char*>(grown), "memgroup");
  EXPECT_GE(Current(b), 3 * kMiB);
  EXPECT_EQ(0, Current(a));
  ma::FreeImpl(grown);
  EXPECT_EQ(0, CurrentAfterReclaim(b));
  EXPECT_EQ(0, mg_group_destroy(a));
  EXPECT_EQ(0, mg_group_destroy(b));
}

TEST(CApiLibraryTest, DestroyedGroupsBlocksStayChargedToTheParentUntilFreed) {
  mg_group_t parent = Create(mg_root(), Unique("parent"));
  mg_group_t child = Create(parent, "child");
  void* small = mg_malloc_in(child, 48);
  void* large = mg_malloc_in(child, 2 * kMiB);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  const int64_t held = Current(child);
  EXPECT_GE(held, 2 * kMiB + 48);
  ASSERT_EQ(0, mg_group_destroy(child));
  EXPECT_EQ(held, Current(parent));
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(small, &owner));
  EXPECT_EQ(owner, parent);  // the nearest live ancestor
  ma::FreeImpl(small);
  ma::FreeImpl(large);
  // The small block's slab (the destroyed child's) is free: reclaim of the
  // parent returns it.
  EXPECT_EQ(0, CurrentAfterReclaim(parent));
  EXPECT_EQ(0, mg_group_destroy(parent));
}

TEST(CApiLibraryTest, ThreadsChargeTheirGroupAndExitHoldingBlocks) {
  mg_group_t g = Create(mg_root(), Unique("threads"));
  mg_group_t h = Create(mg_root(), Unique("threads"));
  void* kept[2] = {nullptr, nullptr};
  std::thread t([&] {
    ASSERT_EQ(0, mg_thread_set_group(g));
    mg_group_t mine = 0;
    ASSERT_EQ(0, mg_thread_get_group(&mine));
    EXPECT_EQ(mine, g);
    for (int i = 0; i < 1000; ++i) ma::FreeImpl(ma::AllocImpl(64, 0, false));
    kept[0] = ma::AllocImpl(200, 0, false);
    ASSERT_EQ(0, mg_thread_set_group(h));
    kept[1] = ma::AllocImpl(70000, 0, false);
  });
  t.join();
  ASSERT_NE(kept[0], nullptr);
  ASSERT_NE(kept[1], nullptr);
  mg_group_t owner = 0;
  ASSERT_EQ(0, mg_block_group(kept[0], &owner));
  EXPECT_EQ(owner, g);
  ASSERT_EQ(0, mg_block_group(kept[1], &owner));
  EXPECT_EQ(owner, h);
  EXPECT_GT(Current(g), 0);
  ma::FreeImpl(kept[0]);
  ma::FreeImpl(kept[1]);
  EXPECT_EQ(0, CurrentAfterReclaim(g));
  EXPECT_EQ(0, CurrentAfterReclaim(h));
  EXPECT_EQ(0, mg_group_destroy(g));
  EXPECT_EQ(0, mg_group_destroy(h));
}

}  // namespace
