// The C ABI's hierarchical semantics through libmemgroup.so: PSI stall time
// and events counted in every ancestor (the root included, events.local
// staying local), explicit charges reparented when their group is destroyed,
// and the memory.stat identity heap + mmap + explicit + stock + engine_free
// + engine_cached + engine_slack = current in every group across
// create/charge/destroy sequences.
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "memgroup/memgroup.h"

namespace {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;

void Escape(void* p) { __asm__ volatile("" : : "g"(p) : "memory"); }

mg_group_t Make(mg_group_t parent, const char* tag) {
  static std::atomic<int> seq{0};
  std::string name = std::string(tag) + std::to_string(getpid()) + "-" +
                     std::to_string(seq.fetch_add(1));
  mg_group_t g = 0;
  EXPECT_EQ(0, mg_group_create(parent, name.c_str(), &g));
  return g;
}

mg_events_t Events(mg_group_t g, int local) {
  mg_events_t e;
  memset(&e, 0, sizeof(e));
  EXPECT_EQ(0, mg_group_events(g, local, &e));
  return e;
}

uint64_t SomeTotalUsec(mg_group_t g) {
  mg_pressure_t p;
  memset(&p, 0, sizeof(p));
  EXPECT_EQ(0, mg_group_pressure(g, &p));
  return p.some_total_usec;
}

// The breakdown adds up: heap + mmap + explicit + stock + engine_free +
// engine_cached + engine_slack = current, with no part negative. Drains
// stocks first so the figures are exact.
void ExpectBreakdownAddsUp(mg_group_t g, const char* where) {
  int64_t cur = 0;
  ASSERT_EQ(0, mg_group_current(g, 1, &cur));
  mg_stat_t s;
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(0, mg_group_stat(g, &s));
  char path[256] = {};
  mg_group_path(g, path, sizeof(path));
  EXPECT_EQ(s.heap + s.mmap + s.explicit_bytes + s.stock + s.engine_free +
                s.engine_cached + s.engine_slack,
            s.current)
      << where << " " << path << ": heap " << s.heap << " mmap " << s.mmap
      << " explicit " << s.explicit_bytes << " stock " << s.stock
      << " engine_free " << s.engine_free << " engine_cached "
      << s.engine_cached << " engine_slack " << s.engine_slack;
  // The slack is the remainder, clamped at 0: not clamped here.
  EXPECT_LE(s.heap + s.engine_free + s.engine_cached,
            s.current - s.mmap - s.explicit_bytes - s.stock)
      << where << " " << path;
  EXPECT_GE(s.heap, 0) << where << " " << path;
  EXPECT_GE(s.mmap, 0) << where << " " << path;
  EXPECT_GE(s.explicit_bytes, 0) << where << " " << path;
}

TEST(HierarchyTest, StallsAndEventsOfAGrandchildCountInEveryAncestor) {
  mg_group_t root = mg_root();
  mg_group_t p = Make(root, "psi-p");
  mg_group_t c = Make(p, "psi-c");
  const uint64_t root_before = SomeTotalUsec(root);
  const mg_events_t root_events_before = Events(root, 0);
  const mg_events_t root_local_before = Events(root, 1);
  // Far above a small high: the thread is throttled (a stall in /p/c).
  ASSERT_EQ(0, mg_group_set_limit(c, MG_LIMIT_HIGH, 512 * kKiB));
  mg_group_t prev = 0;
  ASSERT_EQ(0, mg_thread_get_group(&prev));
  ASSERT_EQ(0, mg_thread_set_group(c));
  std::vector<void*> blocks;
  for (int i = 0; i < 6; ++i) {
    void* b = malloc(128 * kKiB);
    Escape(b);
    blocks.push_back(b);
  }
  ASSERT_EQ(0, mg_thread_set_group(prev));
  for (void* b : blocks) free(b);

  EXPECT_GT(Events(c, 1).high, 0u);
  EXPECT_EQ(Events(c, 0).high, Events(c, 1).high);
  EXPECT_EQ(Events(p, 1).high, 0u);  // local stays local
  EXPECT_EQ(Events(p, 0).high, Events(c, 1).high);
  EXPECT_EQ(Events(root, 1).high, root_local_before.high);
  EXPECT_GE(Events(root, 0).high,
            root_events_before.high + Events(c, 1).high);

  const uint64_t c_stall = SomeTotalUsec(c);
  EXPECT_GT(c_stall, 0u);
  EXPECT_GE(SomeTotalUsec(p), c_stall);
  EXPECT_GE(SomeTotalUsec(root) - root_before, c_stall);
  EXPECT_EQ(0, mg_group_destroy(c));
  EXPECT_EQ(0, mg_group_destroy(p));
}

TEST(HierarchyTest, OomEventsOfAChildCountInTheRootsHierarchicalEvents) {
  mg_group_t root = mg_root();
  mg_group_t c = Make(root, "oom-c");
  ASSERT_EQ(0, mg_group_set_limit(c, MG_LIMIT_MAX, kMiB));
  const mg_events_t before = Events(root, 0);
  const mg_events_t local_before = Events(root, 1);
  EXPECT_EQ(ENOMEM, mg_charge(c, 2 * kMiB));
  EXPECT_EQ(Events(root, 0).max, before.max + 1);
  EXPECT_EQ(Events(root, 0).oom, before.oom + 1);
  EXPECT_EQ(Events(root, 1).oom, local_before.oom);
  EXPECT_EQ(0, mg_group_destroy(c));
}

TEST(ReparentTest, ExplicitChargesOfADestroyedGroupAreUnchargedThroughTheParent) {
  mg_group_t root = mg_root();
  mg_group_t p = Make(root, "rep-p");
  mg_group_t c = Make(p, "rep-c");
  ASSERT_EQ(0, mg_charge(c, kMiB));
  ASSERT_EQ(0, mg_group_destroy(c));
  EXPECT_EQ(ENOENT, mg_uncharge(c, kMiB));
  mg_stat_t s;
  ASSERT_EQ(0, mg_group_stat(p, &s));
  EXPECT_EQ(s.explicit_bytes, kMiB);
  ExpectBreakdownAddsUp(p, "after destroy");
  EXPECT_EQ(EINVAL, mg_uncharge(p, kMiB + 1));
  ASSERT_EQ(0, mg_uncharge(p, kMiB));
  int64_t cur = -1;
  ASSERT_EQ(0, mg_group_current(p, 1, &cur));
  EXPECT_EQ(cur, 0);
  ExpectBreakdownAddsUp(p, "after uncharge");
  EXPECT_EQ(0, mg_group_destroy(p));
}

TEST(ReparentTest, ChargesOfANestedDestroyedChainReachTheLiveAncestor) {
  mg_group_t root = mg_root();
  mg_group_t a = Make(root, "chain-a");
  mg_group_t b = Make(a, "chain-b");
  mg_group_t c = Make(b, "chain-c");
  ASSERT_EQ(0, mg_charge(c, 3 * kMiB));
  ASSERT_EQ(0, mg_charge(b, kMiB));
  ASSERT_EQ(0, mg_group_destroy(c));
  ASSERT_EQ(0, mg_group_destroy(b));
  mg_stat_t s;
  ASSERT_EQ(0, mg_group_stat(a, &s));
  EXPECT_EQ(s.explicit_bytes, 4 * kMiB);
  ASSERT_EQ(0, mg_uncharge(a, 4 * kMiB));
  int64_t cur = -1;
  ASSERT_EQ(0, mg_group_current(a, 1, &cur));
  EXPECT_EQ(cur, 0);
  // The destroyed slots hold nothing any more: they can be reused.
  EXPECT_EQ(0, mg_group_destroy(a));
}

TEST(BreakdownTest, HeapMmapExplicitAndStockAddUpToCurrentAcrossSequences) {
  mg_group_t root = mg_root();
  mg_group_t top = Make(root, "sum-top");
  std::vector<mg_group_t> live = {top};
  struct Block {
    void* p;
    size_t n;
    bool mapped;
  };
  std::vector<Block> blocks;
  // Independent of the breakdown's arithmetic: what the top's subtree was
  // explicitly charged and still has mapped, destroyed groups included.
  int64_t charged = 0, mapped = 0;
  auto check_all = [&](const char* where) {
    for (mg_group_t g : live) ExpectBreakdownAddsUp(g, where);
    mg_stat_t s;
    ASSERT_EQ(0, mg_group_stat(top, &s));
    EXPECT_EQ(s.explicit_bytes, charged) << where;
    EXPECT_EQ(s.mmap, mapped) << where;
  };
  unsigned rng = 12345;
  auto next = [&rng] { return rng = rng * 1103515245u + 12345u; };
  for (int round = 0; round < 40; ++round) {
    mg_group_t g = live[next() % live.size()];
    switch (next() % 6) {
      case 0:
        if (live.size() < 8) live.push_back(Make(g, "sum"));
        break;
      case 1: {  // heap, in the group
        size_t n = 1 + next() % (256 * kKiB);
        void* p = mg_malloc_in(g, n);
        ASSERT_NE(nullptr, p);
        memset(p, 1, n);
        blocks.push_back({p, n, false});
        break;
      }
      case 2: {  // an anonymous mapping by a thread in the group
        mg_group_t prev = 0;
        mg_thread_get_group(&prev);
        ASSERT_EQ(0, mg_thread_set_group(g));
        size_t n = (1 + next() % 16) * 4096;
        void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT_EQ(0, mg_thread_set_group(prev));
        ASSERT_NE(MAP_FAILED, p);
        blocks.push_back({p, n, true});
        mapped += static_cast<int64_t>(n);
        break;
      }
      case 3: {
        const int64_t n = static_cast<int64_t>(1 + next() % kMiB);
        ASSERT_EQ(0, mg_charge(g, n));
        charged += n;
        break;
      }
      case 4: {  // destroy a leaf (never the top)
        for (size_t i = live.size(); i-- > 1;) {
          if (mg_group_destroy(live[i]) == 0) {
            live.erase(live.begin() + static_cast<long>(i));
            break;
          }
        }
        break;
      }
      case 5:
        if (!blocks.empty()) {
          size_t k = next() % blocks.size();
          if (blocks[k].mapped) {
            munmap(blocks[k].p, blocks[k].n);
            mapped -= static_cast<int64_t>(blocks[k].n);
          } else {
            free(blocks[k].p);
          }
          blocks.erase(blocks.begin() + static_cast<long>(k));
        }
        break;
    }
    check_all("round");
  }
  for (const Block& b : blocks) {
    if (b.mapped) {
      munmap(b.p, b.n);
      mapped -= static_cast<int64_t>(b.n);
    } else {
      free(b.p);
    }
  }
  check_all("after freeing");
  // Every explicit charge left in the subtree is now the top's or a live
  // descendant's; uncharging them all leaves nothing.
  while (live.size() > 1) {
    for (size_t i = live.size(); i-- > 1;) {
      if (mg_group_destroy(live[i]) == 0) {
        live.erase(live.begin() + static_cast<long>(i));
      }
    }
  }
  // The free pages of the groups' freed large blocks go back first.
  int64_t released = 0;
  ASSERT_EQ(0, mg_group_reclaim(top, INT64_MAX / 2, &released));
  mg_stat_t s;
  ASSERT_EQ(0, mg_group_stat(top, &s));
  ASSERT_EQ(0, mg_uncharge(top, s.explicit_bytes));
  int64_t cur = -1;
  ASSERT_EQ(0, mg_group_current(top, 1, &cur));
  EXPECT_EQ(cur, 0);
  ExpectBreakdownAddsUp(top, "at the end");
  EXPECT_EQ(0, mg_group_destroy(top));
}

}  // namespace
