// The C++ layer over the C ABI, linked with libmemgroup.so.
#include "memgroup/memgroup.hpp"

#include <malloc.h>

#include <climits>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

namespace memgroup {
namespace {

TEST(GroupTest, CreateLookupAndCanonicalErrors) {
  auto g = Group::Create(Group::Root(), "hpp-a");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(*g->Path(), "/hpp-a");
  EXPECT_EQ(Group::Create(Group::Root(), "hpp-a").status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Group::Create(Group::Root(), "bad name").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Group::Lookup("/nope").status().code(),
            absl::StatusCode::kNotFound);
  auto child = Group::Create(*g, "c");
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(g->Destroy().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(child->Destroy().ok());
  mg_group_t stale = g->id();
  ASSERT_TRUE(g->Destroy().ok());
  int64_t v;
  EXPECT_EQ(mg_group_current(stale, 0, &v), ENOENT);
}

TEST(GroupTest, OwnedHandleDestroysTheGroup) {
  mg_group_t id;
  {
    auto g = Group::Create(Group::Root(), "hpp-owned");
    ASSERT_TRUE(g.ok());
    id = g->id();
  }
  EXPECT_EQ(Group::Lookup("/hpp-owned").status().code(),
            absl::StatusCode::kNotFound);
  int64_t v;
  EXPECT_EQ(mg_group_current(id, 0, &v), ENOENT);
}

TEST(ScopedGroupTest, TagsAndRestoresTheThread) {
  auto g = Group::Create(Group::Root(), "hpp-scoped");
  ASSERT_TRUE(g.ok());
  mg_group_t before = Group::OfThisThread().id();
  int64_t usable = 0;
  {
    ScopedGroup scope(*g);
    ASSERT_TRUE(scope.ok());
    EXPECT_EQ(Group::OfThisThread().id(), g->id());
    std::vector<char> v(100000);
    EXPECT_GE(*g->Current(), 100000);
    usable = static_cast<int64_t>(malloc_usable_size(v.data()));
  }
  EXPECT_EQ(Group::OfThisThread().id(), before);
  // The freed block stays charged while the engine holds its pages (the
  // thread's front cache, flushed when the scope rebinds the thread, keeps
  // them as the group's free pages on the jemalloc engine:
  // docs/preload.md, "Cached memory"); a reclaim returns exactly that.
  const int64_t kept = *g->Current();
  EXPECT_TRUE(kept == 0 || kept == usable) << kept << " " << usable;
  EXPECT_EQ(*g->Reclaim(INT64_MAX / 2), kept);
  EXPECT_EQ(*g->Current(), 0);
}

TEST(GroupAllocatorTest, ChargesTheGivenGroupAndThrowsAtMax) {
  auto g = Group::Create(Group::Root(), "hpp-alloc");
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(g->SetLimit(Limit::kMax, 1 << 20).ok());
  EXPECT_EQ(*g->GetLimit(Limit::kMax), 1 << 20);
  {
    std::vector<int, GroupAllocator<int>> v{GroupAllocator<int>(*g)};
    v.resize(10000);
    EXPECT_GE(*g->Current(), 40000);
    EXPECT_THROW(v.resize(1 << 20), std::bad_alloc);
    EXPECT_GE(g->Events()->oom, 1u);
  }
  // The vector's freed buffer stays charged as the group's free pages
  // until a reclaim returns them.
  ASSERT_TRUE(g->Reclaim(INT64_MAX / 2).ok());
  EXPECT_EQ(*g->Current(), 0);
}

TEST(ReclaimerTest, CallableReleasesAndThrowingCountsAsNothing) {
  auto g = Group::Create(Group::Root(), "hpp-reclaim");
  ASSERT_TRUE(g.ok());
  std::vector<void*> cache;
  // Grown outside the group: reclaim returns a group's free slabs before it
  // asks reclaimers, so the vector's freed buffers must not be g's.
  cache.reserve(16);
  {
    ScopedGroup scope(*g);
    for (int i = 0; i < 16; ++i) cache.push_back(malloc(64 * 1024));
  }
  auto r = Reclaimer::Register(*g, [&](int64_t target) -> int64_t {
    int64_t released = 0;
    while (released < target && !cache.empty()) {
      free(cache.back());
      cache.pop_back();
      released += 64 * 1024;
    }
    return released;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_GE(*g->Reclaim(256 * 1024), 256 * 1024);
  EXPECT_EQ(cache.size(), 12u);
  auto thrower = Reclaimer::Register(
      *g, [](int64_t) -> int64_t { throw std::runtime_error("no"); });
  ASSERT_TRUE(thrower.ok());
  r->reset();
  EXPECT_EQ(*g->Reclaim(64 * 1024), 0);  // the thrower gives nothing
  for (void* p : cache) free(p);
}

}  // namespace
}  // namespace memgroup
