// Tests of the engine (src/engine), run once per engine (CTest sets
// MEMGROUP_ENGINE; names end in .jemalloc or .mimalloc): placement of every
// block in its group's chunks, the automatic-tcache trap, cross-thread frees,
// realloc staying in the owner group, the mimalloc engine's group cap,
// statistics and purge, and isolation of the private jemalloc from
// MALLOC_CONF (jemalloc only); thread exit and fork: engine_thread_test.cc. The test binary itself uses glibc malloc; the engine is a
// separate, renamed jemalloc or a privately loaded mimalloc.
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/limits.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/owner_table.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

using EngineTest = testing::EngineFixture;

bool IsZero(const void* p, size_t n) {
  const unsigned char* c = static_cast<const unsigned char*>(p);
  if (n <= 2 * kMiB) {
    for (size_t i = 0; i < n; ++i) {
      if (c[i] != 0) return false;
    }
    return true;
  }
  // Large blocks: every 64th byte plus both ends.
  for (size_t i = 0; i < 4096; ++i) {
    if (c[i] != 0 || c[n - 1 - i] != 0) return false;
  }
  for (size_t i = 0; i < n; i += 64) {
    if (c[i] != 0) return false;
  }
  return true;
}

const size_t kSizes[] = {1,       8,       15,       16,       17,
                         100,     1000,    4096,     10000,    32768,
                         40000,   1 * kMiB, 2 * kMiB, 3 * kMiB + kMiB / 2,
                         9 * kMiB, 33 * kMiB};
const size_t kAligns[] = {0, 16, 64, 4096, 64 * 1024, 2 * kMiB};

void CheckPlacement(uint32_t group) {
  for (size_t size : kSizes) {
    for (size_t align : kAligns) {
      for (bool zero : {false, true}) {
        void* p = engine::Alloc(group, size, align, zero);
        ASSERT_NE(p, nullptr) << size << " " << align;
        EXPECT_EQ(engine::OwnerOf(p), group) << size << " " << align;
        EXPECT_EQ(owner_table::OwnerOf(p), group);
        if (align != 0) {
          EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u)
              << size << " " << align;
        }
        size_t usable = engine::UsableSize(p);
        EXPECT_GE(usable, size);
        EXPECT_EQ(usable, engine::GoodSize(size, align)) << size << " " << align;
        if (zero) {
          EXPECT_TRUE(IsZero(p, size)) << size << " " << align;
        }
        // Dirty it so that a later zeroed reuse is really checked.
        memset(p, 0xab, size);
        engine::Free(p, group);
      }
    }
  }
}

TEST_F(EngineTest, PlacementBoundGroup) {
  std::thread t([] {
    ASSERT_TRUE(engine::BindThread(3));
    // The thread's front cache now holds group 3's blocks.
    ASSERT_TRUE(engine::ThreadFront() != nullptr || engine::g_usable_of_class[1] == 0);
    if (engine::ThreadFront() != nullptr) {
      EXPECT_EQ(engine::ThreadFront()->group, 3u);
    }
    CheckPlacement(3);
    engine::ThreadExit();
  });
  t.join();
}

TEST_F(EngineTest, PlacementOtherGroupsAndUnboundThread) {
  std::thread t([] {
    EXPECT_EQ(engine::ThreadFront(), nullptr);  // Never bound: no front cache.
    CheckPlacement(4);  // Never bound: explicit tcache path.
    ASSERT_TRUE(engine::BindThread(5));
    CheckPlacement(4);  // Bound to another group.
    CheckPlacement(0);  // The root group is an ordinary group.
    engine::ThreadExit();
  });
  t.join();
}

TEST_F(EngineTest, ForeignPointersHaveNoOwner) {
  static int global_var = 1;
  int stack_var = 2;
  void* libc_block = malloc(100);
  std::vector<char> vec(1000);
  EXPECT_EQ(engine::OwnerOf(&global_var), kNoGroup);
  EXPECT_EQ(engine::OwnerOf(&stack_var), kNoGroup);
  EXPECT_EQ(engine::OwnerOf(libc_block), kNoGroup);
  EXPECT_EQ(engine::OwnerOf(vec.data()), kNoGroup);
  EXPECT_EQ(engine::OwnerOf(nullptr), kNoGroup);
  EXPECT_EQ(engine::OwnerOf(reinterpret_cast<void*>(~uintptr_t{0})), kNoGroup);
  // Inside the reservation but past every claimed chunk.
  uintptr_t end = owner_table::g_va_base.load() + owner_table::g_va_bytes.load();
  EXPECT_EQ(engine::OwnerOf(reinterpret_cast<void*>(end - 64)), kNoGroup);
  free(libc_block);
}

// The tcache trap: with the automatic tcache, a block freed in one group
// comes back for an allocation in another. Alternate bound A and other B.
TEST_F(EngineTest, TcacheTrapNeverMixesGroups) {
  std::thread t([] {
    constexpr uint32_t kA = 7, kB = 8;
    ASSERT_TRUE(engine::BindThread(kA));
    int mismatches = 0;
    for (int round = 0; round < 2000; ++round) {
      size_t size = 8 + static_cast<size_t>(round % 50) * 24;
      void* a = engine::Alloc(kA, size, 0, false);
      void* b = engine::Alloc(kB, size, 0, false);
      mismatches += engine::OwnerOf(a) != kA;
      mismatches += engine::OwnerOf(b) != kB;
      // Free in both orders so each cache sees the other's size classes.
      if (round % 2 == 0) {
        engine::Free(a, kA);
        engine::Free(b, kB);
      } else {
        engine::Free(b, kB);
        engine::Free(a, kA);
      }
      void* a2 = engine::Alloc(kA, size, 0, false);
      void* b2 = engine::Alloc(kB, size, 0, false);
      mismatches += engine::OwnerOf(a2) != kA;
      mismatches += engine::OwnerOf(b2) != kB;
      mismatches += a2 == b;
      mismatches += b2 == a;
      engine::Free(a2, kA);
      engine::Free(b2, kB);
    }
    EXPECT_EQ(mismatches, 0);
    // Rebinding flushes: B's blocks must not leak into A after a switch.
    for (int round = 0; round < 200; ++round) {
      uint32_t bound = round % 2 == 0 ? kB : kA;
      uint32_t other = bound == kA ? kB : kA;
      ASSERT_TRUE(engine::BindThread(bound));
      void* ps[16];
      for (void*& p : ps) p = engine::Alloc(bound, 64, 0, false);
      for (void* p : ps) {
        mismatches += engine::OwnerOf(p) != bound;
        engine::Free(p, bound);
      }
      void* q = engine::Alloc(other, 64, 0, false);
      mismatches += engine::OwnerOf(q) != other;
      engine::Free(q, other);
    }
    EXPECT_EQ(mismatches, 0);
    engine::ThreadExit();
  });
  t.join();
}

// 4 threads, each bound to its own group, 100k mixed operations in total;
// half the blocks are freed by another thread.
TEST_F(EngineTest, CrossThreadFreesKeepOwners) {
  constexpr int kThreads = 4;
  constexpr int kOpsPerThread = 25000;
  constexpr uint32_t kFirstGroup = 10;
  struct Block {
    void* p;
    uint32_t group;
    size_t size;
  };
  std::mutex mu;
  std::vector<Block> handoff[kThreads];
  std::atomic<int> mismatches{0};
  std::atomic<int> done{0};
  auto worker = [&](int id) {
    ASSERT_TRUE(engine::BindThread(kFirstGroup + id));
    std::mt19937 rng(id + 1);
    std::vector<Block> mine;
    int bad = 0;
    auto check_free = [&](const Block& b) {
      bad += engine::OwnerOf(b.p) != b.group;
      bad += static_cast<unsigned char*>(b.p)[0] != (b.group & 0xff);
      engine::Free(b.p, engine::OwnerOf(b.p));
    };
    for (int op = 0; op < kOpsPerThread; ++op) {
      uint32_t r = rng();
      if (r % 3 != 0 || mine.empty()) {
        uint32_t group = r % 4 == 0 ? kFirstGroup + (r >> 8) % kThreads
                                    : kFirstGroup + id;
        size_t size = (r >> 4) % 8 == 0 ? 1 + (r >> 12) % 200000
                                        : 1 + (r >> 12) % 2048;
        void* p = engine::Alloc(group, size, (r >> 20) % 5 == 0 ? 64 : 0,
                                (r >> 24) % 7 == 0);
        if (p == nullptr) {
          ++bad;
          continue;
        }
        bad += engine::OwnerOf(p) != group;
        static_cast<unsigned char*>(p)[0] = static_cast<unsigned char>(group);
        Block b{p, group, size};
        if ((r >> 28) % 2 == 0) {
          std::lock_guard<std::mutex> l(mu);
          handoff[(id + 1) % kThreads].push_back(b);
        } else {
          mine.push_back(b);
        }
      } else {
        check_free(mine.back());
        mine.pop_back();
      }
      if (op % 64 == 0) {
        std::vector<Block> theirs;
        {
          std::lock_guard<std::mutex> l(mu);
          theirs.swap(handoff[id]);
        }
        for (const Block& b : theirs) check_free(b);
      }
    }
    for (const Block& b : mine) check_free(b);
    done.fetch_add(1);
    while (done.load() < kThreads) std::this_thread::yield();
    std::vector<Block> theirs;
    {
      std::lock_guard<std::mutex> l(mu);
      theirs.swap(handoff[id]);
    }
    for (const Block& b : theirs) check_free(b);
    mismatches.fetch_add(bad);
    engine::ThreadExit();
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
  for (int i = 0; i < kThreads; ++i) EXPECT_TRUE(handoff[i].empty());
}

using testing::CheckReallocChain;

TEST_F(EngineTest, ReallocStaysInOwnerGroup) {
  std::thread t([] {
    ASSERT_TRUE(engine::BindThread(20));
    CheckReallocChain(20);  // The bound group.
    CheckReallocChain(21);  // Another group, from a thread bound to 20.
    engine::ThreadExit();
  });
  t.join();
  std::thread u([] { CheckReallocChain(22); });  // Never-bound thread.
  u.join();
}

TEST_F(EngineTest, UsableSizeMatchesGoodSize) {
  for (size_t size = 1; size < 70000; size = size * 5 / 4 + 1) {
    for (size_t align : {size_t{0}, size_t{32}, size_t{256}, size_t{8192}}) {
      void* p = engine::Alloc(1, size, align, false);
      ASSERT_NE(p, nullptr);
      EXPECT_GE(engine::UsableSize(p), size);
      EXPECT_EQ(engine::UsableSize(p), engine::GoodSize(size, align));
      engine::Free(p, 1);
    }
  }
  EXPECT_EQ(engine::GoodSize(~size_t{0} - 4096, 0), 0u);
  EXPECT_EQ(engine::Alloc(1, size_t{1} << 62, 0, false), nullptr);
}

// A group whose first block is large (or aligned above a page) gets its
// arena then, on either engine.
TEST_F(EngineTest, FirstBlockOfAGroupIsLarge) {
  std::thread t([] {
    void* p = engine::Alloc(36, 100000, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(engine::OwnerOf(p), 36u);
    EXPECT_EQ(engine::UsableSize(p), engine::GoodSize(100000, 0));
    void* q = engine::Alloc(37, 5 * kMiB, 64 * 1024, true);
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(engine::OwnerOf(q), 37u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % (64 * 1024), 0u);
    EXPECT_TRUE(IsZero(q, 5 * kMiB));
    engine::Free(p, 36);
    engine::Free(q, 37);
    engine::Purge(36);  // This thread never had a heap in 36's arena left.
    engine::ThreadExit();
  });
  t.join();
}

TEST_F(EngineTest, ManyGroups) {
  // The mimalloc engine has arenas for slots 0 to 62 (64 in mimalloc 2.0.9,
  // one kept free): slots from 41 (above the other tests' groups) to 62.
  const bool mi = testing::OnMimalloc();
  const uint32_t kFirst = mi ? 41 : 100, kCount = mi ? 22 : 250;
  std::vector<void*> blocks;
  for (uint32_t g = kFirst; g < kFirst + kCount; ++g) {
    ASSERT_TRUE(engine::EnsureGroup(g)) << g;
    void* p = engine::Alloc(g, 48 + g, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(engine::OwnerOf(p), g);
    blocks.push_back(p);
  }
  for (uint32_t g = kFirst; g < kFirst + kCount; ++g) {
    engine::Free(blocks[g - kFirst], g);
  }
  if (mi) {
    // The 64th group slot has no arena, and never falls back to anything.
    EXPECT_FALSE(engine::EnsureGroup(kFirst + kCount));
    EXPECT_FALSE(engine::BindThread(kFirst + kCount));
    EXPECT_EQ(engine::Alloc(kFirst + kCount, 8, 0, false), nullptr);
    EXPECT_EQ(engine::Alloc(kFirst + kCount, 100000, 0, false), nullptr);
    EXPECT_FALSE(engine::EnsureGroup(kFirst + kCount + 1000));
  }
  EXPECT_FALSE(engine::EnsureGroup(kMaxGroups));
  EXPECT_FALSE(engine::BindThread(kNoGroup));
  EXPECT_EQ(engine::Alloc(kMaxGroups, 8, 0, false), nullptr);
}

TEST_F(EngineTest, StatsAndPurge) {
  constexpr uint32_t kG = 40;
  EngineGroupStats st{};
  EXPECT_FALSE(engine::GroupStats(kMaxGroups - 1, &st));  // No arena.
  std::thread t([] {
    ASSERT_TRUE(engine::BindThread(kG));
    std::vector<void*> ps;
    for (int i = 0; i < 1000; ++i) ps.push_back(engine::Alloc(kG, 1000, 0, false));
    void* big = engine::Alloc(kG, 10 * kMiB, 0, false);
    memset(big, 1, 10 * kMiB);
    EngineGroupStats s{};
    ASSERT_TRUE(engine::GroupStats(kG, &s));
    EXPECT_GE(s.allocated_bytes, 1000u * 1000 + 10 * kMiB);
    EXPECT_GE(s.active_bytes, s.allocated_bytes);
    EXPECT_GE(s.mapped_bytes, s.active_bytes);
    EXPECT_GT(s.resident_bytes, 10 * kMiB);
    // mimalloc counts its metadata per process, not per arena.
    if (!testing::OnMimalloc()) {
      EXPECT_GT(s.metadata_bytes, 0u);
    }
    for (void* p : ps) engine::Free(p, kG);
    engine::Free(big, kG);
    engine::Purge(kG);
    EngineGroupStats after{};
    ASSERT_TRUE(engine::GroupStats(kG, &after));
    EXPECT_LT(after.allocated_bytes, s.allocated_bytes);
    EXPECT_LT(after.resident_bytes, s.resident_bytes);
    EXPECT_EQ(after.mapped_bytes, s.mapped_bytes);  // VA is never returned.
    engine::ThreadExit();
  });
  t.join();
}

// jemalloc's own decay is off in the groups' arenas (memgroup's decays
// them, free_pages.h) and on in arena 0 (jemalloc_glue.cc's 10 s).
TEST_F(EngineTest, GroupArenasHaveJemallocsDecayOff) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "jemalloc only";
  constexpr uint32_t kG = 41;
  void* p = engine::Alloc(kG, 100 * 1024, 0, false);
  ASSERT_NE(p, nullptr);
  const unsigned ind = engine::ArenaOf(kG);
  ASSERT_NE(ind, 0u);
  ssize_t ms = 0;
  size_t len = sizeof(ms);
  ASSERT_EQ(engine::Mallctl("arenas.dirty_decay_ms", &ms, &len, nullptr, 0),
            0);
  EXPECT_EQ(ms, -1);
  const std::string group_arena =
      "arena." + std::to_string(ind) + ".dirty_decay_ms";
  ASSERT_EQ(engine::Mallctl(group_arena.c_str(), &ms, &len, nullptr, 0), 0);
  EXPECT_EQ(ms, -1);
  // Arena 0 is the root group's.
  ASSERT_EQ(engine::Mallctl("arena.0.dirty_decay_ms", &ms, &len, nullptr, 0),
            0);
  EXPECT_EQ(ms, -1);
  engine::Free(p, kG);
  engine::Purge(kG);
}

// The root group's arena is jemalloc's arena 0, carrying the group's hooks
// (engine_init.cc), so a process makes no second arena for it: its blocks,
// small and large, are in the root group's chunks.
TEST_F(EngineTest, RootGroupLivesInArenaZero) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "jemalloc only";
  ASSERT_TRUE(engine::EnsureGroup(kRootGroup));
  EXPECT_EQ(engine::ArenaOf(kRootGroup), engine::kArenaZero);
  EXPECT_EQ(engine::JeArena(engine::ArenaOf(kRootGroup)), 0u);
  for (size_t size : {size_t{64}, size_t{5000}, size_t{20 << 10},
                      size_t{300 << 10}, size_t{5 << 20}}) {
    void* p = engine::Alloc(kRootGroup, size, 0, false);
    ASSERT_NE(p, nullptr) << size;
    EXPECT_EQ(engine::OwnerOf(p), kRootGroup) << size;
    engine::Free(p, kRootGroup);
  }
  void* hooks = nullptr;
  size_t len = sizeof(hooks);
  ASSERT_EQ(engine::Mallctl("arena.0.extent_hooks", &hooks, &len, nullptr, 0),
            0);
  // Set through jemalloc's internals (engine_init.cc, TakeArenaZero), read
  // back through mallctl: the group's growth, and not jemalloc's default
  // hooks, which an arena made without hooks has.
  size_t limit = 0;
  size_t limit_len = sizeof(limit);
  ASSERT_EQ(engine::Mallctl("arena.0.retain_grow_limit", &limit, &limit_len,
                            nullptr, 0),
            0);
  EXPECT_EQ(limit, owner_table::kChunkBytes);
  unsigned ind = 0;
  size_t ind_len = sizeof(ind);
  ASSERT_EQ(engine::Mallctl("arenas.create", &ind, &ind_len, nullptr, 0), 0);
  const std::string name = "arena." + std::to_string(ind) + ".extent_hooks";
  void* defaults = nullptr;
  ASSERT_EQ(engine::Mallctl(name.c_str(), &defaults, &len, nullptr, 0), 0);
  EXPECT_NE(hooks, defaults);
  EXPECT_EQ(
      engine::Mallctl(("arena." + std::to_string(ind) + ".destroy").c_str(),
                      nullptr, nullptr, nullptr, 0),
      0);
  engine::Purge(kRootGroup);
}

// A process whose threads use the root group alone, with blocks jemalloc
// does not cache, never builds jemalloc's control interface (EnsureCtl);
// its first need does.
TEST_F(EngineTest, OneGroupProcessNeedsNoControlInterface) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "jemalloc only";
  ASSERT_TRUE(engine::EnsureGroup(kRootGroup));
  testing::OnBoundThread(kRootGroup, [] {
    for (size_t size : {size_t{64}, size_t{5000}, size_t{300 << 10}}) {
      void* p = engine::Alloc(kRootGroup, size, 0, false);
      ASSERT_NE(p, nullptr) << size;
      engine::Free(p, kRootGroup);
    }
  });
  EXPECT_FALSE(engine::g_ctl_ready.load());
  ASSERT_TRUE(engine::EnsureGroup(43));
  EXPECT_TRUE(engine::g_ctl_ready.load());
}

TEST_F(EngineTest, MallctlForwardsToPrivateInstance) {
  if (testing::OnMimalloc()) {
    // No jemalloc in a mimalloc-engine process: the family says so.
    size_t len = 0;
    EXPECT_EQ(engine::Mallctl("opt.retain", nullptr, &len, nullptr, 0), ENOENT);
    size_t mib[4];
    size_t miblen = 4;
    EXPECT_EQ(engine::MallctlNameToMib("epoch", mib, &miblen), ENOENT);
    return;
  }
  bool retain = false;
  size_t len = sizeof(retain);
  ASSERT_EQ(engine::Mallctl("opt.retain", &retain, &len, nullptr, 0), 0);
  EXPECT_TRUE(retain);
  size_t mib[4];
  size_t miblen = 4;
  ASSERT_EQ(engine::MallctlNameToMib("opt.narenas", mib, &miblen), 0);
  unsigned narenas = 0;
  len = sizeof(narenas);
  ASSERT_EQ(engine::MallctlByMib(mib, miblen, &narenas, &len, nullptr, 0), 0);
  EXPECT_EQ(narenas, 1u);
  std::string out;
  engine::MallocStatsPrint(
      [](void* o, const char* s) { static_cast<std::string*>(o)->append(s); },
      &out, "gblxe");
  EXPECT_NE(out.find("jemalloc"), std::string::npos);
}

// Programs such as redis-server enable jemalloc's background threads through
// mallctl; the engine refuses (engine.h, Mallctl) by name and by MIB, and
// reads still work.
TEST_F(EngineTest, RefusesBackgroundThreads) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "jemalloc only";
  for (const char* name : {"background_thread", "max_background_threads"}) {
    SCOPED_TRACE(name);
    size_t mib[4];
    size_t miblen = 4;
    ASSERT_EQ(engine::MallctlNameToMib(name, mib, &miblen), 0);
    if (std::string(name) == "background_thread") {
      bool on = true;
      EXPECT_EQ(engine::Mallctl(name, nullptr, nullptr, &on, sizeof(on)), EPERM);
      EXPECT_EQ(engine::MallctlByMib(mib, miblen, nullptr, nullptr, &on,
                                     sizeof(on)),
                EPERM);
      bool now = true;
      size_t len = sizeof(now);
      ASSERT_EQ(engine::Mallctl(name, &now, &len, nullptr, 0), 0);
      EXPECT_FALSE(now);
    } else {
      size_t n = 4;
      EXPECT_EQ(engine::Mallctl(name, nullptr, nullptr, &n, sizeof(n)), EPERM);
      EXPECT_EQ(
          engine::MallctlByMib(mib, miblen, nullptr, nullptr, &n, sizeof(n)),
          EPERM);
      size_t now = 0;
      size_t len = sizeof(now);
      EXPECT_EQ(engine::Mallctl(name, &now, &len, nullptr, 0), 0);
    }
  }
}

// MALLOC_CONF must not reach our instance. Runs this binary again with a
// hostile MALLOC_CONF; the child half is EngineConfChild.ReadsForcedOptions.
TEST_F(EngineTest, MallocConfEnvironmentIsIgnored) {
  if (testing::OnMimalloc()) GTEST_SKIP() << "jemalloc only";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    setenv("MALLOC_CONF",
           "retain:false,narenas:3,tcache:true,junk:true,abort_conf:true,"
           "background_thread:true",
           1);
    setenv("MG_ENGINE_TEST_CONF_CHILD", "1", 1);
    execl("/proc/self/exe", "engine_test",
          "--gtest_filter=EngineConfChild.ReadsForcedOptions", nullptr);
    _exit(127);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(EngineConfChild, ReadsForcedOptions) {
  if (getenv("MG_ENGINE_TEST_CONF_CHILD") == nullptr) {
    GTEST_SKIP() << "child half of EngineTest.MallocConfEnvironmentIsIgnored";
  }
  ASSERT_NE(getenv("MALLOC_CONF"), nullptr);
  ASSERT_TRUE(engine::Init());
  bool b = false;
  size_t len = sizeof(b);
  ASSERT_EQ(engine::Mallctl("opt.retain", &b, &len, nullptr, 0), 0);
  EXPECT_TRUE(b);
  ASSERT_EQ(engine::Mallctl("opt.tcache", &b, &len, nullptr, 0), 0);
  EXPECT_FALSE(b);
  ASSERT_EQ(engine::Mallctl("opt.background_thread", &b, &len, nullptr, 0), 0);
  EXPECT_FALSE(b);
  unsigned narenas = 0;
  len = sizeof(narenas);
  ASSERT_EQ(engine::Mallctl("opt.narenas", &narenas, &len, nullptr, 0), 0);
  EXPECT_EQ(narenas, 1u);
  const char* junk = nullptr;
  len = sizeof(junk);
  ASSERT_EQ(engine::Mallctl("opt.junk", &junk, &len, nullptr, 0), 0);
  EXPECT_STREQ(junk, "false");
  void* p = engine::Alloc(1, 100, 0, false);
  EXPECT_EQ(engine::OwnerOf(p), 1u);
  engine::Free(p, 1);
}

}  // namespace
}  // namespace memgroup::internal
