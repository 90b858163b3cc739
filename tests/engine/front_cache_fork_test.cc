// The front cache across fork(2): a child's allocations, another thread's
// cache, a flush under way in another thread, concurrent use (front_cache_
// test_util.h says what the front cache tests cover).
#include "front_cache_test_util.h"

#include "engine/free_pages.h"
#include "engine/mimalloc_engine.h"
#include "engine/tcache_slots.h"

namespace memgroup::internal {
namespace {

// ---------------------------------------------------------------------------
// fork(2).
// ---------------------------------------------------------------------------

// Reports a failed check in a fork child on stderr (no allocation: a stack
// buffer and write(2)) and returns its non-zero code.
int ChildFail(int code, const char* what, uint32_t group, size_t size,
              const void* p) {
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "fork child: check %d (%s) failed: group %u size %zu p %p "
                   "owner %u entry %#x expected %#x\n",
                   code, what, group, size, p,
                   p != nullptr ? engine::OwnerOf(p) : kNoGroup,
                   p != nullptr ? PageEntry(p) : 0u,
                   p != nullptr ? ExpectedEntry(p, group) : 0u);
  if (n > 0) (void)!write(2, buf, static_cast<size_t>(n));
  return code;
}

// The child runs this and exits with the code of the first failed check
// (0: all passed).
int ChildAllocates(uint32_t group) {
  const size_t sizes[] = {8, 48, 4000, 5000, 256 * kKiB, kMiB, 3 * kMiB,
                          5 * kMiB};
  auto use = [&](uint32_t g, int code) {
    for (size_t size : sizes) {
      void* p = engine::Alloc(g, size, 0, false);
      if (p == nullptr) return ChildFail(code, "alloc", g, size, p);
      if (engine::OwnerOf(p) != g) return ChildFail(code + 1, "owner", g, size, p);
      if (PageEntry(p) != ExpectedEntry(p, g)) {
        return ChildFail(code + 2, "page entry", g, size, p);
      }
      memset(p, 1, size);
      FreeAsProgram(p, g);
    }
    return 0;
  };
  int rc = 0;
  if ((rc = use(group, 10)) != 0) return rc;      // unbound: other-group path
  if ((rc = use(group + 1, 20)) != 0) return rc;
  if (!engine::BindThread(group)) return ChildFail(30, "bind", group, 0, nullptr);
  FrontCache* fc = engine::ThreadFront();
  if (fc == nullptr || fc->group != group) {
    return ChildFail(31, "t_front", group, 0, nullptr);
  }
  if ((rc = use(group, 40)) != 0) return rc;      // bound: front cache path
  if ((rc = use(group + 1, 50)) != 0) return rc;
  // Reuse through the child's own cache.
  for (size_t size : sizes) {
    if (ClassOfUsable(engine::GoodSize(size, 0)) == 0) continue;
    void* p = engine::Alloc(group, size, 0, false);
    FreeAsProgram(p, group);
    void* q = engine::Alloc(group, size, 0, false);
    if (q != p) return ChildFail(60, "reuse", group, size, q);
    FreeAsProgram(q, group);
  }
  engine::ThreadExit();
  return 0;
}

// A thread holding blocks in its front cache at fork: in the child, the
// other thread does not exist; its cache is left alone (fork may have caught
// it mid-update, see ForkDuringAnotherThreadsFlushFreesNothingTwice), so its
// blocks stay allocated in the child, and the child allocates normally.
TEST_F(FrontCacheTest, ForkChildLeavesOtherThreadsCacheAlone) {
  constexpr uint32_t kG = 290;
  ASSERT_TRUE(engine::EnsureGroup(kG));
  ASSERT_TRUE(engine::EnsureGroup(kG + 1));
  const uint64_t base = AllocatedBytes(kG);
  std::atomic<int> ready{0};
  std::atomic<bool> stop{false};
  uint64_t held = 0;
  std::thread holder([&] {
    ASSERT_TRUE(engine::BindThread(kG));
    for (size_t size : {size_t{48}, size_t{4000}, 256 * kKiB, kMiB}) {
      void* ps[16];
      const int n = size > 16 * kKiB ? 1 : 16;
      for (int i = 0; i < n; ++i) ps[i] = engine::Alloc(kG, size, 0, false);
      for (int i = 0; i < n; ++i) FreeAsProgram(ps[i], kG);
    }
    // Only the front cache holds blocks of kG now.
    engine::FlushBoundTcache();
    const FrontCache* fc = engine::ThreadFront();
    for (uint32_t c = 1; c < kFrontClasses; ++c) {
      held += uint64_t{fc->bins[c].count} * fc->bins[c].size;
    }
    ready.store(1, std::memory_order_release);
    while (!stop.load(std::memory_order_acquire)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    engine::ThreadExit();
  });
  while (ready.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  ASSERT_GT(held, 0u);
  ASSERT_EQ(AllocatedBytes(kG), base + held);
  for (int i = 0; i < 3; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The holder's cached blocks are neither freed nor reused.
      EngineGroupStats s{};
      int bad = engine::GroupStats(kG, &s) ? 0 : 1;
      bad += s.allocated_bytes != base + held;
      if (bad != 0) _exit(ChildFail(1, "allocated_bytes", kG, 0, nullptr));
      _exit(ChildAllocates(kG));
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "fork " << i;
    // The parent's holder still owns its blocks.
    EXPECT_EQ(AllocatedBytes(kG), base + held);
  }
  stop.store(true, std::memory_order_release);
  holder.join();
  EXPECT_EQ(AllocatedBytes(kG), base);
}

// jemalloc's experimental dalloc hook (include/jemalloc/internal/hook.h of
// jemalloc 5.3, private ABI, installed with mallctl
// "experimental.hooks.install"): called on the freeing thread before every
// deallocation, outside jemalloc's locks.
struct JeHooks {
  void (*alloc_hook)(void*, int, void*, uintptr_t, uintptr_t*);
  void (*dalloc_hook)(void* extra, int type, void* address, uintptr_t* args);
  void (*expand_hook)(void*, int, void*, size_t, size_t, uintptr_t,
                      uintptr_t*);
  void* extra;
};

// The thread the hook pauses, the frees it has seen since it was armed, and
// the handshake with the forking thread.
std::atomic<pthread_t> g_pause_thread{};
std::atomic<bool> g_pause_armed{false};
std::atomic<int> g_pause_frees{0};
std::atomic<bool> g_paused{false};
std::atomic<bool> g_resume{false};

void PauseOnSecondFree(void*, int, void*, uintptr_t*) {
  if (!g_pause_armed.load() || !pthread_equal(g_pause_thread.load(), pthread_self())) {
    return;
  }
  if (g_pause_frees.fetch_add(1) != 1) return;  // the second free: pause
  g_paused.store(true);
  while (!g_resume.load()) sched_yield();
}

// Regression test: threads update their front caches with plain stores and
// nothing orders that with fork() (the fast paths take no lock), so a thread
// forked in the middle of a flush (rebind, Purge, exit) or of front::Push
// (large eviction, half flush of a full small bin) has returned some blocks
// while its bin still lists them. A child that reclaimed the lost threads'
// caches freed those blocks a second time (SIGSEGV in
// large_dalloc_prep_impl for large blocks); front::ChildFork therefore
// leaves them alone. Here the owner is paused (deterministically, by a
// jemalloc dalloc hook) inside engine::Purge -> front::Flush after the
// first of its cached large blocks went back to jemalloc and before the
// next one did (small blocks go to the slabs, which jemalloc's hooks do not
// see); it has no bound tcache (tcache_slots.h) so that these frees reach
// the arena at once. Expected: the child's arena counts exactly what the
// parent's did at fork (nothing freed twice).
TEST_F(FrontCacheTest, ForkDuringAnotherThreadsFlushFreesNothingTwice) {
  constexpr uint32_t kG = 300;
  constexpr size_t kSize = 48;
  // Three large classes, one cached block each, flushed in this order.
  constexpr size_t kLarge[] = {20 * kKiB, 24 * kKiB, 28 * kKiB};
  ASSERT_TRUE(engine::EnsureGroup(kG));
  // A few blocks in use, so that the arena's count has room below it.
  std::vector<void*> live;
  OnBoundThread(kG, [&] {
    for (int i = 0; i < 4; ++i) live.push_back(engine::Alloc(kG, kSize, 0, false));
  });
  const uint64_t base = AllocatedBytes(kG);
  ASSERT_EQ(base, 4 * kSize);

  JeHooks hooks{nullptr, PauseOnSecondFree, nullptr, nullptr};
  void* handle = nullptr;
  size_t hlen = sizeof(handle);
  ASSERT_EQ(engine::Mallctl("experimental.hooks.install", &handle, &hlen,
                            &hooks, sizeof(hooks)),
            0);
  g_pause_frees = 0;
  g_paused = false;
  g_resume = false;
  std::atomic<uint32_t> cached{0};
  std::thread owner([&] {
    ASSERT_TRUE(engine::BindThread(kG));
    engine::t_bound_tc = MALLOCX_TCACHE_NONE;  // As if none could be made.
    void* ps[3];
    for (int i = 0; i < 3; ++i) ps[i] = engine::Alloc(kG, kLarge[i], 0, false);
    for (void* p : ps) FreeAsProgram(p, kG);
    cached.store(CachedBlocks(engine::ThreadFront()));
    ASSERT_EQ(cached.load(), 3u);
    g_pause_thread.store(pthread_self());
    g_pause_armed.store(true);
    engine::Purge(kG);  // FlushAll: paused on its second mgje_free
    g_pause_armed.store(false);
    EXPECT_EQ(CachedBlocks(engine::ThreadFront()), 0u);
    engine::ThreadExit();
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!g_paused.load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  if (!g_paused.load()) {
    g_resume.store(true);
    owner.join();
    (void)engine::Mallctl("experimental.hooks.remove", nullptr, nullptr,
                          &handle, sizeof(handle));
    FAIL() << "the dalloc hook never paused the owner";
  }
  // The owner sits between two frees: the first large block is back in the
  // arena, the cache still lists all three.
  const uint64_t parent_before = AllocatedBytes(kG);
  EXPECT_EQ(parent_before, base + kLarge[1] + kLarge[2]);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // ChildFork ran and left the owner's cache alone.
    EngineGroupStats s{};
    int rc = engine::GroupStats(kG, &s) ? 0 : 2;
    if (rc == 0 && s.allocated_bytes != parent_before) {
      char buf[160];
      int n = snprintf(buf, sizeof(buf),
                       "fork child: allocated_bytes %llu, expected %llu "
                       "(block(s) freed twice)\n",
                       static_cast<unsigned long long>(s.allocated_bytes),
                       static_cast<unsigned long long>(parent_before));
      if (n > 0) (void)!write(2, buf, static_cast<size_t>(n));
      rc = 1;
    }
    _exit(rc);
  }
  g_resume.store(true);
  owner.join();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "the fork child freed blocks the paused owner had already returned "
         "(parent had "
      << parent_before << " allocated bytes in the group at fork, base "
      << base << ")";
  ASSERT_EQ(engine::Mallctl("experimental.hooks.remove", nullptr, nullptr,
                            &handle, sizeof(handle)),
            0);
  // The parent is consistent: only `live` is allocated.
  EXPECT_EQ(AllocatedBytes(kG), base);
  OnBoundThread(kG, [&] {
    for (void* p : live) FreeAsProgram(p, kG);
  });
  EXPECT_EQ(AllocatedBytes(kG), 0u);
}

// The ForkWithConcurrentAllocation pattern (engine_test.cc) with threads
// whose front caches churn the sizes the child then uses, including large
// evictions (a 3 MiB free while holding 1 MiB and 256 KiB blocks).
TEST_F(FrontCacheTest, ForkWithConcurrentFrontCacheUse) {
  constexpr uint32_t kG = 295;
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&stop, &started, i] {
      ASSERT_TRUE(engine::BindThread(kG + i));
      started.fetch_add(1);
      const size_t sizes[] = {8, 48, 4000, 5000, 256 * kKiB, kMiB, 3 * kMiB};
      void* held[8] = {};
      uint32_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        uint32_t g = kG + i;
        size_t size = sizes[n % 7];
        void* p = engine::Alloc(g, size, 0, n % 11 == 0);
        uint32_t slot = n % 8;
        if (held[slot] != nullptr) FreeAsProgram(held[slot], g);
        held[slot] = p;
        if (n % 5 == 0) {  // the other worker's group: not cached here
          void* q = engine::Alloc(kG + 1 - i, size, 0, false);
          FreeAsProgram(q, kG + 1 - i);
        }
        ++n;
      }
      for (void* p : held) {
        if (p != nullptr) FreeAsProgram(p, kG + i);
      }
      engine::ThreadExit();
    });
  }
  while (started.load() < 2) std::this_thread::yield();
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) _exit(ChildAllocates(kG));
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "fork " << i << ": exit code "
        << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ", signal "
        << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
}

// The charges a fork child inherits from the engine leave it in the
// child's handler (engine.h, ChildForkDropInherited, which the allocation
// layer's child handler runs): the forking thread's cached large blocks go
// back to the engine (on the mimalloc engine set aside, unwritten, until
// the bins' next use) and no group keeps free pages, so the child's next
// block of that size is charged afresh. The parent keeps its cache.
TEST_F(FrontCacheTest, ForkChildDropsInheritedCachedLargeBlocks) {
  constexpr uint32_t kG = 46;  // below the mimalloc engine's 63 groups
  OnBoundThread(kG, [] {
    void* p = engine::Alloc(kG, 256 * kKiB, 0, false);
    ASSERT_NE(p, nullptr);
    memset(p, 1, 256 * kKiB);
    FreeAsProgram(p, kG);
    ASSERT_EQ(engine::CachedLargeOf(kG), static_cast<int64_t>(256 * kKiB));
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      (void)engine::ChildForkDropInherited();
      engine::FrontCache* fc = engine::ThreadFront();
      int rc = 0;
      if (engine::CachedLargeOf(kG) != 0) {
        rc = 1;
      } else if (engine::UsesMimalloc() ? !fc->large_set_aside
                                        : fc->large_bytes != 0) {
        rc = 2;
      } else if (engine::FreePagesOf(kG) != 0) {
        rc = 3;
      } else if (engine::FrontPop(fc, engine::ClassOfUsable(256 * kKiB)) !=
                 nullptr) {
        rc = 4;  // the parent's block served uncharged
      } else if (fc->large_bytes != 0 || fc->large_set_aside) {
        rc = 5;  // the set-aside blocks not freed by the bins' first use
      }
      _exit(rc);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "exit code " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    EXPECT_EQ(engine::CachedLargeOf(kG), static_cast<int64_t>(256 * kKiB));
  });
}

}  // namespace
}  // namespace memgroup::internal
