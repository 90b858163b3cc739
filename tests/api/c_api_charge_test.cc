// The C ABI's charging through libmemgroup.so (binary c_api_test): who is
// charged for malloc, free, realloc, mg_malloc_in, transfers and explicit
// charges, and what happens to a destroyed group's blocks and threads.
#include "c_api_fixture.h"

namespace mg_capi_test {
namespace {

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
  EXPECT_EQ(0, CurrentAfterReclaim(a));
  EXPECT_EQ(0, CurrentAfterReclaim(b));
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
  EXPECT_EQ(0, CurrentAfterReclaim(owner));
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
  EXPECT_EQ(0, CurrentAfterReclaim(g));
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
  EXPECT_EQ(0, CurrentAfterReclaim(from));
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
  EXPECT_EQ(0, CurrentAfterReclaim(to));
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
}  // namespace mg_capi_test
