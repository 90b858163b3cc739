// Allocation stress of the whole library, in the shape of mimalloc's
// test-stress (threads exchanging blocks through a shared transfer array,
// random sizes with a long tail, iterations of short-lived threads) and of
// the kernel's memcg selftests (a group tree with limits, charges refused
// at max, reparenting, a forked child, every counter back to exactly 0).
//
// Each iteration: the main thread (in the root group) destroys and creates
// some of the churn groups, some with blocks still live in them, and starts
// the workers. A worker moves between the groups (mg_thread_set_group),
// allocates 1 B to 6 MiB (mostly small), frees, runs realloc chains,
// allocates in other groups (mg_malloc_in), moves blocks (mg_transfer),
// charges explicitly (mg_charge), swaps blocks with the shared transfer
// array, destroys and recreates churn groups while others are bound to
// them, forks (the child allocates, frees, checks its own counters and
// exits) and exits holding blocks, which the next iteration's worker of the
// same index adopts. Refused charges must come back as NULL with ENOMEM.
// Every block carries a pattern derived from its id, checked before each
// free, realloc and transfer: an overlap or a corrupting copy fails.
// After the last iteration every block is freed and, once the free slabs
// went back (mg_group_reclaim: small blocks are charged by their 64 KiB
// slab), every test group, destroyed ones included through their
// ancestors, reads exactly 0.
//
// glibc's thread descriptors: glibc allocates each new thread's DTV (the
// dynamic thread vector, (max TLS module id + 16) * 16 bytes: 304 with this
// program's three TLS modules, charged as 320, its size class) through
// calloc in the thread that calls pthread_create, and keeps it with the
// thread's stack in its stack cache after the join. Under
// the preload that calloc is memgroup's, so it is charged to the creator's
// group and outlives the thread. Here only the main thread creates threads,
// and it stays in the root group, outside the test's subtree: the DTVs are
// charged to "/", which the test does not check, and the subtree's zero is
// exact. DtvOfANewThreadIsChargedToItsCreator (alloc_stress_dtv_test.cc,
// preload build only) measures that charge (the slab of the DTV's size
// class).
//
// Two builds of this file:
//   alloc_stress_preload_test: linked with libmemgroup.so, which is the
//     program's malloc (the released library, as under LD_PRELOAD).
//   alloc_stress_test: library mode (mg_api over src/alloc, no
//     interposition), calling src/alloc's malloc, free and realloc entry
//     points directly; built in every preset, so it runs under TSan and
//     ASan too.
// MG_STRESS_ITERATIONS, MG_STRESS_THREADS and MG_STRESS_OPS change the
// iterations (default 200; 20 in sanitizer builds), the workers per
// iteration (default 4, at most 16) and each worker's operations per
// iteration (default 1000). Each test runs once per engine
// (MEMGROUP_ENGINE, names ending in .jemalloc or .mimalloc).
#include "alloc_stress_support.h"

#if defined(__SANITIZE_THREAD__)
#define MG_STRESS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MG_STRESS_TSAN 1
#endif
#endif
#ifdef MG_STRESS_TSAN
// The fork steps need TSan's deadlock detector off: jemalloc's fork handler
// holds every arena's mutexes at once, more than the 64 locks per thread
// the detector can track (it stops with a CHECK failure). Races are still
// reported; TSAN_OPTIONS still overrides this default.
extern "C" const char* __tsan_default_options() { return "detect_deadlocks=0"; }
#endif

namespace {

// --- The shared state (static storage: under the preload, no bookkeeping
// --- of the test is charged to a test group).

constexpr int kMaxWorkers = 16;
constexpr int kTransferSlots = 512;
constexpr int kLocal = 256;   // blocks a worker holds at most
constexpr int kKeep = 24;     // blocks a worker exits holding at most
// Group slots: 0-3 are stable, 4-7 are destroyed and recreated.
//   0: /P/s0 (no limit)    1: /P/s1 (max 8M)    2: /P/s1/s2 (max 2M)
//   3: /P/s0/s3 (no limit) 4-7: under P, s0 or s1, random max or none.
constexpr int kGroups = 8;
constexpr int kStable = 4;
constexpr int64_t kMaxS1 = 8 * kMiB;
constexpr int64_t kMaxS2 = 2 * kMiB;

struct TransferSlot {
  std::mutex mu;
  Block b;  // guarded by mu
};

struct Shared {
  mg_group_t parent = 0;
  std::atomic<mg_group_t> groups[kGroups];
  std::mutex churn_mu;  // one destroy-and-create of a churn slot at a time
  uint64_t churn_serial = 0;  // guarded by churn_mu
  TransferSlot transfer[kTransferSlots];
  Block left[kMaxWorkers][kKeep];  // blocks a worker exited holding
  int left_count[kMaxWorkers] = {};
  std::atomic<uint64_t> next_id{1};
  // Tallies.
  std::atomic<uint64_t> ops{0}, allocs{0}, refused{0}, frees{0},
      reallocs{0}, transfers{0}, swaps{0}, destroys{0}, moves{0}, forks{0};
  std::atomic<uint64_t> failures{0};
};
Shared g;

void Fail(const char* what, const Block& b) {
  g.failures.fetch_add(1, std::memory_order_relaxed);
  ADD_FAILURE() << what << ": block id " << b.id << " size " << b.size
                << " at " << b.p;
}

// Destroys churn slot `i` (live blocks may remain in it) and creates a new
// group there under P, s0 or s1, with a random max (or none).
void Churn(int i, std::mt19937_64& rng) {
  std::lock_guard<std::mutex> l(g.churn_mu);
  const mg_group_t old = g.groups[i].load();
  int err = mg_group_destroy(old);
  if (err != 0 && err != ENOENT) {
    ADD_FAILURE() << "mg_group_destroy: " << err;
    g.failures.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  g.destroys.fetch_add(1, std::memory_order_relaxed);
  const mg_group_t parents[3] = {g.parent, g.groups[0].load(),
                                 g.groups[1].load()};
  char name[32];
  snprintf(name, sizeof(name), "c%d-%llu", i,
           static_cast<unsigned long long>(g.churn_serial++));
  mg_group_t ng = 0;
  err = mg_group_create(parents[rng() % 3], name, &ng);
  if (err != 0) {
    ADD_FAILURE() << "mg_group_create: " << err;
    g.failures.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (rng() % 2 == 0) {
    EXPECT_EQ(0, mg_group_set_limit(ng, MG_LIMIT_MAX,
                                    static_cast<int64_t>(1 + rng() % 16) * kMiB));
  }
  g.groups[i].store(ng);
}

// The child of a fork: single-threaded, with a copy of the parent's heap.
// Frees some inherited blocks, allocates and frees in its group and checks
// that its group reads what it read before. Returns the exit status.
int ForkChild(Block* mine, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  mg_group_t me = 0;
  if (mg_thread_get_group(&me) != 0) return 10;
  for (int k = 0; k < n && k < 8; ++k) {
    if (!Intact(mine[k], mine[k].size)) return 11;
    Release(mine[k].p);
  }
  // Small blocks are charged by the slab pages their regions have crossed:
  // the group's free slabs go back (reclaim) before each reading, so the
  // two compare what is held. The blocks below may raise the marks of
  // slabs that other blocks keep (src/engine/slab.h): each refill by at
  // most its batch (32 KiB at most) and the two pages it may straddle.
  int64_t before = -1, after = -1, released = 0;
  if (mg_group_reclaim(me, INT64_MAX / 2, &released) != 0) return 12;
  if (mg_group_current(me, 1, &before) != 0) return 12;
  Block blocks[64];
  int held = 0;
  for (int k = 0; k < 64; ++k) {
    Block b{Allocate(1 + rng() % 2048), 0, 1000000 + static_cast<uint64_t>(k)};
    if (b.p == nullptr) continue;  // the group may be at its max
    b.size = Usable(b.p) < 2048 ? Usable(b.p) : 2048;
    Stamp(b);
    blocks[held++] = b;
  }
  for (int k = 0; k < held; ++k) {
    if (!Intact(blocks[k], blocks[k].size)) return 13;
    Release(blocks[k].p);
  }
  if (mg_group_reclaim(me, INT64_MAX / 2, &released) != 0) return 14;
  if (mg_group_current(me, 1, &after) != 0) return 14;
  if (after < before || after - before > held * (32 + 8) * 1024) return 15;
  return 0;
}

class Worker {
 public:
  Worker(int index, uint64_t seed, bool forks, bool churns)
      : index_(index), rng_(seed), forks_(forks), churns_(churns) {}

  void Run(size_t ops) {
    // Adopt what the previous worker of this index exited holding.
    for (int k = 0; k < g.left_count[index_]; ++k) {
      mine_[n_++] = g.left[index_][k];
    }
    g.left_count[index_] = 0;
    MoveTo(static_cast<int>(rng_() % kGroups));
    const size_t fork_at = forks_ ? ops / 2 : ops;
    for (size_t k = 0; k < ops; ++k) {
      if (k == fork_at) Fork();
      Step();
    }
    // Explicit charges are returned: the group they went to is stable.
    if (explicit_bytes_ != 0) {
      EXPECT_EQ(0, mg_uncharge(explicit_group_, explicit_bytes_));
    }
    // Exit holding up to kKeep blocks; free the rest.
    const int keep = static_cast<int>(rng_() % (kKeep + 1));
    while (n_ > keep) FreeAt(n_ - 1);
    for (int k = 0; k < n_; ++k) g.left[index_][k] = mine_[k];
    g.left_count[index_] = n_;
    g.ops.fetch_add(ops, std::memory_order_relaxed);
  }

 private:
  void MoveTo(int slot) {
    const int err = mg_thread_set_group(g.groups[slot].load());
    // ENOENT: a churning worker destroyed the group in between.
    if (err != 0 && err != ENOENT) {
      ADD_FAILURE() << "mg_thread_set_group: " << err;
      g.failures.fetch_add(1, std::memory_order_relaxed);
    }
    g.moves.fetch_add(1, std::memory_order_relaxed);
  }

  void Keep(const Block& b) {
    if (n_ == kLocal) FreeAt(static_cast<int>(rng_() % kLocal));
    mine_[n_++] = b;
  }

  void FreeAt(int k) {
    const Block b = mine_[k];
    mine_[k] = mine_[--n_];
    if (!Intact(b, b.size)) Fail("pattern broken before free", b);
    Release(b.p);
    g.frees.fetch_add(1, std::memory_order_relaxed);
  }

  // A refused allocation: NULL with errno ENOMEM, only where a max applies
  // (every test group with a max is under s1, s2 or a churn slot).
  void Refused(size_t size) {
    if (errno != ENOMEM) {
      ADD_FAILURE() << "allocation of " << size << " failed with errno "
                    << errno;
      g.failures.fetch_add(1, std::memory_order_relaxed);
    }
    g.refused.fetch_add(1, std::memory_order_relaxed);
  }

  void AllocateHere() {
    const size_t size = RandomSize(rng_);
    errno = 0;
    Block b{Allocate(size), size, g.next_id.fetch_add(1)};
    if (b.p == nullptr) return Refused(size);
    g.allocs.fetch_add(1, std::memory_order_relaxed);
    Stamp(b);
    Keep(b);
  }

  void AllocateIn() {
    const size_t size = RandomSize(rng_);
    errno = 0;
    Block b{mg_malloc_in(g.groups[rng_() % kGroups].load(), size), size,
            g.next_id.fetch_add(1)};
    if (b.p == nullptr) {
      if (errno == ENOENT) return;  // destroyed by a churning worker
      return Refused(size);
    }
    g.allocs.fetch_add(1, std::memory_order_relaxed);
    Stamp(b);
    Keep(b);
  }

  // A chain of 2 to 6 reallocs of one block, in its owner group.
  void ReallocChain() {
    const int k = static_cast<int>(rng_() % n_);
    Block& b = mine_[k];
    const int steps = 2 + static_cast<int>(rng_() % 5);
    for (int s = 0; s < steps; ++s) {
      if (!Intact(b, b.size)) return Fail("pattern broken before realloc", b);
      const size_t size = RandomSize(rng_);
      errno = 0;
      void* q = Resize(b.p, size);
      if (q == nullptr) {
        Refused(size);
        if (!Intact(b, b.size)) Fail("realloc failed and broke the block", b);
        return;
      }
      b.p = q;
      const size_t kept = b.size < size ? b.size : size;
      if (!Intact(b, kept)) Fail("realloc did not keep the contents", b);
      b.size = size;
      Stamp(b);
      g.reallocs.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void Transfer() {
    Block& b = mine_[rng_() % n_];
    if (!Intact(b, b.size)) return Fail("pattern broken before transfer", b);
    void* p = b.p;
    const int err = mg_transfer(&p, g.groups[rng_() % kGroups].load());
    if (err == 0) {
      b.p = p;
      if (!Intact(b, b.size)) Fail("transfer did not keep the contents", b);
      g.transfers.fetch_add(1, std::memory_order_relaxed);
    } else if (err != ENOMEM && err != ENOENT) {
      ADD_FAILURE() << "mg_transfer: " << err;
      g.failures.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // Swaps a block (or nothing) with a slot of the transfer array: blocks
  // are freed, resized and moved by threads of other groups than theirs.
  void Swap() {
    TransferSlot& slot = g.transfer[rng_() % kTransferSlots];
    Block give;
    if (n_ != 0 && rng_() % 4 != 0) {
      const int k = static_cast<int>(rng_() % n_);
      give = mine_[k];
      mine_[k] = mine_[--n_];
    }
    Block got;
    {
      std::lock_guard<std::mutex> l(slot.mu);
      got = slot.b;
      slot.b = give;
    }
    if (got.p != nullptr) Keep(got);
    g.swaps.fetch_add(1, std::memory_order_relaxed);
  }

  void ExplicitCharge() {
    if (explicit_bytes_ != 0) {
      EXPECT_EQ(0, mg_uncharge(explicit_group_, explicit_bytes_));
      explicit_bytes_ = 0;
      return;
    }
    explicit_group_ = g.groups[rng_() % kStable].load();
    const int64_t bytes = 1 + static_cast<int64_t>(rng_() % (256 * kKiB));
    const int err = mg_charge(explicit_group_, bytes);
    if (err == 0) {
      explicit_bytes_ = bytes;
    } else if (err != ENOMEM) {
      ADD_FAILURE() << "mg_charge: " << err;
      g.failures.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void Fork() {
    const uint64_t seed = rng_();
    const pid_t pid = fork();
    if (pid == 0) _exit(ForkChild(mine_, n_, seed));
    ASSERT_GT(pid, 0) << "fork: " << strerror(errno);
    int status = 0;
    ASSERT_EQ(pid, waitpid(pid, &status, 0));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "fork child status " << status;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      g.failures.fetch_add(1, std::memory_order_relaxed);
    }
    g.forks.fetch_add(1, std::memory_order_relaxed);
  }

  void Step() {
    const uint64_t r = rng_() % 1000;
    if (r < 8) return MoveTo(static_cast<int>(rng_() % kGroups));
    if (r < 10 && churns_) {
      return Churn(kStable + static_cast<int>(rng_() % (kGroups - kStable)),
                   rng_);
    }
    if (r < 20) return ExplicitCharge();
    if (r < 120) return Swap();
    if (n_ == 0 || r < 520) return r < 470 ? AllocateHere() : AllocateIn();
    if (r < 560) return ReallocChain();
    if (r < 580) return Transfer();
    return FreeAt(static_cast<int>(rng_() % n_));
  }

  const int index_;
  std::mt19937_64 rng_;
  const bool forks_, churns_;
  Block mine_[kLocal];
  int n_ = 0;
  mg_group_t explicit_group_ = 0;
  int64_t explicit_bytes_ = 0;
};

mg_group_t MakeGroup(mg_group_t parent, const char* name, int64_t max) {
  mg_group_t gr = 0;
  EXPECT_EQ(0, mg_group_create(parent, name, &gr));
  if (max != MG_UNLIMITED) {
    EXPECT_EQ(0, mg_group_set_limit(gr, MG_LIMIT_MAX, max));
  }
  return gr;
}

// Deterministic refusals, every iteration: a charge above s2's max fails
// (NULL, ENOMEM), in the calling thread's group and with mg_malloc_in.
void CheckRefusalAtMax() {
  errno = 0;
  void* p = mg_malloc_in(g.groups[2].load(), kMaxS2 + 1);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(errno, ENOMEM);
  mg_group_t home = 0;
  ASSERT_EQ(0, mg_thread_get_group(&home));
  ASSERT_EQ(0, mg_thread_set_group(g.groups[2].load()));
  errno = 0;
  p = Allocate(kMaxS2 + 1);
  EXPECT_EQ(p, nullptr);
  EXPECT_EQ(errno, ENOMEM);
  ASSERT_EQ(0, mg_thread_set_group(home));
  g.refused.fetch_add(2, std::memory_order_relaxed);
}

// A fork with every worker joined: the child frees blocks of the transfer
// array and allocates in s0; the parent's counters do not move.
void CheckQuiescentFork(uint64_t seed) {
  const int64_t before = Current(g.parent);
  const pid_t pid = fork();
  if (pid == 0) {
    if (mg_thread_set_group(g.groups[0].load()) != 0) _exit(20);
    Block some[8];
    int n = 0;
    for (int k = 0; k < kTransferSlots && n < 8; ++k) {
      if (g.transfer[k].b.p != nullptr) some[n++] = g.transfer[k].b;
    }
    _exit(ForkChild(some, n, seed));
  }
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "fork child status " << status;
  EXPECT_EQ(before, Current(g.parent)) << "a child's frees reached the parent";
  g.forks.fetch_add(1, std::memory_order_relaxed);
}

TEST(AllocStressTest, ThreadsExchangeBlocksAcrossGroupsAndEveryGroupEndsAtZero) {
#if defined(MG_SANITIZER_BUILD)
  constexpr size_t kDefaultIterations = 20;
#else
  constexpr size_t kDefaultIterations = 200;
#endif
  const size_t iterations =
      EnvCount("MG_STRESS_ITERATIONS", kDefaultIterations);
  const size_t threads = EnvCount("MG_STRESS_THREADS", 4);
  ASSERT_LE(threads, static_cast<size_t>(kMaxWorkers));
  const size_t ops = EnvCount("MG_STRESS_OPS", 1000);
  const auto start = std::chrono::steady_clock::now();

  mg_group_t main_group = 0;
  ASSERT_EQ(0, mg_thread_get_group(&main_group));
  ASSERT_EQ(main_group, mg_root()) << "threads are created from the root";
  char name[32];
  snprintf(name, sizeof(name), "stress-%d", static_cast<int>(getpid()));
  g.parent = MakeGroup(mg_root(), name, MG_UNLIMITED);
  g.groups[0].store(MakeGroup(g.parent, "s0", MG_UNLIMITED));
  g.groups[1].store(MakeGroup(g.parent, "s1", kMaxS1));
  g.groups[2].store(MakeGroup(g.groups[1].load(), "s2", kMaxS2));
  g.groups[3].store(MakeGroup(g.groups[0].load(), "s3", MG_UNLIMITED));
  for (int i = kStable; i < kGroups; ++i) {
    snprintf(name, sizeof(name), "c%d", i);
    g.groups[i].store(MakeGroup(g.parent, name, MG_UNLIMITED));
  }
  std::mt19937_64 rng(20261205);

  for (size_t it = 0; it < iterations && g.failures.load() == 0; ++it) {
    // Between iterations: churn groups that still hold blocks.
    for (int i = kStable; i < kGroups; ++i) {
      if (rng() % 3 == 0) Churn(i, rng);
    }
    CheckRefusalAtMax();
    std::vector<std::thread> workers;
    for (size_t w = 0; w < threads; ++w) {
      const bool forks = w == 0 && it % 16 == 5;
      const bool churns = w + 1 == threads;
      const uint64_t seed = rng();
      workers.emplace_back([w, seed, forks, churns, ops] {
        Worker(static_cast<int>(w), seed, forks, churns).Run(ops);
      });
    }
    for (std::thread& t : workers) t.join();
    if (it % 16 == 9) CheckQuiescentFork(rng());
  }

  // The end: every block freed, from the root.
  for (TransferSlot& slot : g.transfer) {
    if (slot.b.p == nullptr) continue;
    EXPECT_TRUE(Intact(slot.b, slot.b.size)) << "block id " << slot.b.id;
    Release(slot.b.p);
    slot.b = Block{};
  }
  for (int w = 0; w < kMaxWorkers; ++w) {
    for (int k = 0; k < g.left_count[w]; ++k) {
      const Block& b = g.left[w][k];
      EXPECT_TRUE(Intact(b, b.size)) << "block id " << b.id;
      Release(b.p);
    }
    g.left_count[w] = 0;
  }
  // Exactly 0 everywhere once the free slabs went back (every worker
  // exited; reclaim flushes this thread's caches): P (which holds what
  // destroyed groups were charged) and every live group.
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(g.parent, INT64_MAX / 2, &released));
  EXPECT_EQ(0, Current(g.parent));
  for (int i = 0; i < kGroups; ++i) {
    EXPECT_EQ(0, Current(g.groups[i].load())) << "group slot " << i;
  }
  mg_stat_t st;
  ASSERT_EQ(0, mg_group_stat(g.parent, &st));
  EXPECT_EQ(0, st.heap);
  EXPECT_EQ(0, st.explicit_bytes);
  EXPECT_EQ(0, st.stock);
  // Only s1, s2 and churn groups have a max: some charges were refused
  // in the run (two per iteration at least, CheckRefusalAtMax).
  int64_t failcnt = 0;
  ASSERT_EQ(0, mg_group_failcnt(g.groups[2].load(), &failcnt));
  EXPECT_GT(failcnt, 0);

  for (int i = kGroups - 1; i >= 0; --i) {
    // Children before parents: 7..4 are leaves, then s3, s2, s1, s0.
    EXPECT_EQ(0, mg_group_destroy(g.groups[i].load())) << "group slot " << i;
  }
  EXPECT_EQ(0, mg_group_destroy(g.parent));

  const double seconds = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  printf("alloc stress: %zu iterations x %zu threads x %zu ops in %.1f s: "
         "%llu allocations (%llu refused), %llu frees, %llu reallocs, "
         "%llu transfers, %llu swaps, %llu group destroys, %llu moves, "
         "%llu forks\n",
         iterations, threads, ops, seconds,
         static_cast<unsigned long long>(g.allocs.load()),
         static_cast<unsigned long long>(g.refused.load()),
         static_cast<unsigned long long>(g.frees.load()),
         static_cast<unsigned long long>(g.reallocs.load()),
         static_cast<unsigned long long>(g.transfers.load()),
         static_cast<unsigned long long>(g.swaps.load()),
         static_cast<unsigned long long>(g.destroys.load()),
         static_cast<unsigned long long>(g.moves.load()),
         static_cast<unsigned long long>(g.forks.load()));
}

}  // namespace
