#include "group/registry.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace memgroup::internal {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : reg_(new Registry()) { EXPECT_TRUE(reg_->Init()); }
  GroupId MustCreate(GroupId parent, const char* name) {
    GroupId id = kInvalidGroupId;
    EXPECT_EQ(reg_->Create(parent, name, &id), Errc::kOk) << name;
    return id;
  }
  uint32_t Index(GroupId id) {
    uint32_t i = kNoParent;
    EXPECT_EQ(reg_->Resolve(id, &i), Errc::kOk);
    return i;
  }
  std::string PathOf(GroupId id) {
    char buf[256];
    reg_->Path(Index(id), buf, sizeof(buf));
    return buf;
  }
  std::unique_ptr<Registry> reg_;
};

TEST_F(RegistryTest, RootExistsAndIsUnlimited) {
  uint32_t i;
  ASSERT_EQ(reg_->Resolve(reg_->root(), &i), Errc::kOk);
  EXPECT_EQ(i, kRootGroup);
  EXPECT_EQ(reg_->tree().Max(i), kUnlimited);
  EXPECT_EQ(PathOf(reg_->root()), "/");
  GroupId found;
  ASSERT_EQ(reg_->Lookup("/", &found), Errc::kOk);
  EXPECT_EQ(found, reg_->root());
}

TEST_F(RegistryTest, RootEntryAndNodeShareAPageTable) {
  // Every process writes the root's state, slot record and counter node:
  // each slot's state and record lie side by side, the entries running
  // downward from the tree's start, so the root's three lie in the two
  // pages around it, in one 2 MiB region (one page table).
  const auto region = [](const void* p) {
    return reinterpret_cast<uintptr_t>(p) >> 21;
  };
  const char* root_state =
      reinterpret_cast<const char*>(&reg_->state(kRootGroup));
  const char* root_node =
      reinterpret_cast<const char*>(&reg_->tree().node(kRootGroup));
  EXPECT_LT(root_state, root_node);
  EXPECT_EQ(region(root_state), region(root_node));
  // A later slot's entry lies one entry below: a state and a record.
  const GroupId a = MustCreate(reg_->root(), "a");
  const char* a_state = reinterpret_cast<const char*>(&reg_->state(Index(a)));
  const size_t stride = static_cast<size_t>(root_state - a_state);
  EXPECT_GE(stride, sizeof(GroupState) + sizeof(GroupSlot));
  EXPECT_LE(static_cast<size_t>(root_node - root_state), stride);
  EXPECT_EQ(reg_->tree().Usage(Index(a)), 0);
}

TEST_F(RegistryTest, CreateAndLookupByPath) {
  GroupId a = MustCreate(reg_->root(), "tenant-a");
  GroupId b = MustCreate(a, "query_1.x");
  EXPECT_EQ(PathOf(b), "/tenant-a/query_1.x");
  GroupId found;
  ASSERT_EQ(reg_->Lookup("/tenant-a/query_1.x", &found), Errc::kOk);
  EXPECT_EQ(found, b);
  ASSERT_EQ(reg_->Lookup("tenant-a//query_1.x/", &found), Errc::kOk);
  EXPECT_EQ(found, b);
  EXPECT_EQ(reg_->Lookup("/tenant-a/nope", &found), Errc::kNotFound);
  EXPECT_EQ(reg_->Lookup("/bad name", &found), Errc::kInvalidArgument);
  // New groups hang under their parent in the counter tree.
  EXPECT_EQ(reg_->tree().Parent(Index(b)), Index(a));
}

TEST_F(RegistryTest, RejectsBadAndDuplicateNames) {
  GroupId id;
  EXPECT_EQ(reg_->Create(reg_->root(), "", &id), Errc::kInvalidArgument);
  EXPECT_EQ(reg_->Create(reg_->root(), "a/b", &id), Errc::kInvalidArgument);
  EXPECT_EQ(reg_->Create(reg_->root(), "..", &id), Errc::kInvalidArgument);
  EXPECT_EQ(reg_->Create(reg_->root(), "sp ace", &id), Errc::kInvalidArgument);
  EXPECT_EQ(reg_->Create(reg_->root(), std::string(64, 'x').c_str(), &id),
            Errc::kInvalidArgument);
  EXPECT_EQ(reg_->Create(reg_->root(), std::string(63, 'x').c_str(), &id),
            Errc::kOk);
  MustCreate(reg_->root(), "dup");
  EXPECT_EQ(reg_->Create(reg_->root(), "dup", &id), Errc::kAlreadyExists);
  EXPECT_EQ(reg_->Create(MakeGroupId(77, 3), "x", &id), Errc::kNotFound);
}

TEST_F(RegistryTest, StaleIdsNeverReachANewGroup) {
  GroupId a = MustCreate(reg_->root(), "a");
  uint32_t ia = Index(a);
  ASSERT_EQ(reg_->Destroy(a), Errc::kOk);
  uint32_t i;
  EXPECT_EQ(reg_->Resolve(a, &i), Errc::kNotFound);
  EXPECT_EQ(reg_->Destroy(a), Errc::kNotFound);
  // The slot is reused (no charges left) under a new generation.
  GroupId b = MustCreate(reg_->root(), "b");
  EXPECT_EQ(Index(b), ia);
  EXPECT_NE(b, a);
  EXPECT_EQ(reg_->Resolve(a, &i), Errc::kNotFound);
  EXPECT_EQ(reg_->Create(a, "child", &b), Errc::kNotFound);
}

TEST_F(RegistryTest, DestroyRefusesRootAndGroupsWithChildren) {
  GroupId a = MustCreate(reg_->root(), "a");
  GroupId b = MustCreate(a, "b");
  EXPECT_EQ(reg_->Destroy(reg_->root()), Errc::kFailedPrecondition);
  EXPECT_EQ(reg_->Destroy(a), Errc::kFailedPrecondition);
  EXPECT_EQ(reg_->Destroy(b), Errc::kOk);
  EXPECT_EQ(reg_->Destroy(a), Errc::kOk);
}

TEST_F(RegistryTest, DestroyWithChargesReparentsAndFreesReachZero) {
  GroupId a = MustCreate(reg_->root(), "a");
  GroupId b = MustCreate(a, "b");
  uint32_t ia = Index(a), ib = Index(b);
  CounterTree& t = reg_->tree();
  ThreadStock* ts = reg_->stocks().Acquire();
  uint32_t failed;
  ASSERT_TRUE(reg_->stocks().TryCharge(ts, ib, 5000, &failed));
  ASSERT_EQ(reg_->Destroy(b), Errc::kOk);
  // Destroy drained b's stock; the live block's charge stays in a and root.
  EXPECT_EQ(t.Usage(ia), 5000);
  EXPECT_EQ(t.Usage(kRootGroup), 5000);
  EXPECT_EQ(reg_->LiveAncestor(ib), ia);
  // The zombie slot is not reused while it holds charges.
  GroupId c = MustCreate(reg_->root(), "c");
  EXPECT_NE(Index(c), ib);
  // A later free of the block uncharges the parent chain.
  reg_->stocks().Refill(ts, ib, 5000);
  reg_->stocks().DrainOwn(ts);
  EXPECT_EQ(t.Usage(ia), 0);
  EXPECT_EQ(t.Usage(kRootGroup), 0);
  EXPECT_EQ(t.Usage(ib), 0);
  GroupId d = MustCreate(reg_->root(), "d");
  EXPECT_EQ(Index(d), ib);  // now reusable
  reg_->stocks().Release(ts);
}

TEST_F(RegistryTest, ThousandsOfGroupsThenExhaustion) {
  GroupId id;
  char name[16];
  uint32_t created = 0;
  for (uint32_t k = 0;; ++k) {
    snprintf(name, sizeof(name), "g%u", k);
    Errc e = reg_->Create(reg_->root(), name, &id);
    if (e == Errc::kResourceExhausted) break;
    ASSERT_EQ(e, Errc::kOk);
    ++created;
  }
  EXPECT_EQ(created, kMaxGroups - 1);
  uint32_t live = 0;
  for (uint32_t i = 0; i < kMaxGroups; ++i) live += reg_->IsLive(i) ? 1 : 0;
  EXPECT_EQ(live, kMaxGroups);
  ASSERT_EQ(reg_->Lookup("/g4000", &id), Errc::kOk);
  ASSERT_EQ(reg_->Destroy(id), Errc::kOk);
  EXPECT_EQ(reg_->Create(reg_->root(), "again", &id), Errc::kOk);
}

TEST_F(RegistryTest, NamesAreFoundPerParentThroughDestroyAndReuse) {
  GroupId a = MustCreate(reg_->root(), "a");
  GroupId b = MustCreate(reg_->root(), "b");
  // The same name under two parents, and many siblings in one bucket walk.
  GroupId ax = MustCreate(a, "x");
  GroupId bx = MustCreate(b, "x");
  char name[16];
  for (int k = 0; k < 2000; ++k) {
    snprintf(name, sizeof(name), "n%d", k);
    MustCreate(a, name);
  }
  GroupId id;
  ASSERT_EQ(reg_->Lookup("/a/x", &id), Errc::kOk);
  EXPECT_EQ(id, ax);
  ASSERT_EQ(reg_->Lookup("/b/x", &id), Errc::kOk);
  EXPECT_EQ(id, bx);
  ASSERT_EQ(reg_->Lookup("/a/n1999", &id), Errc::kOk);
  EXPECT_EQ(reg_->Create(a, "n1999", &id), Errc::kAlreadyExists);
  EXPECT_EQ(reg_->Create(b, "n1999", &id), Errc::kOk);
  // A destroyed name is gone, and can be created again.
  ASSERT_EQ(reg_->Destroy(ax), Errc::kOk);
  EXPECT_EQ(reg_->Lookup("/a/x", &id), Errc::kNotFound);
  ASSERT_EQ(reg_->Lookup("/b/x", &id), Errc::kOk);
  EXPECT_EQ(id, bx);
  GroupId ax2 = MustCreate(a, "x");
  EXPECT_NE(ax2, ax);
  ASSERT_EQ(reg_->Lookup("/a/x", &id), Errc::kOk);
  EXPECT_EQ(id, ax2);
}

TEST_F(RegistryTest, SlotHeldByTheEngineIsNotReused) {
  GroupId a = MustCreate(reg_->root(), "a");
  const uint32_t ia = Index(a);
  reg_->SetEngineHeld(ia, true);
  ASSERT_EQ(reg_->Destroy(a), Errc::kOk);
  EXPECT_TRUE(reg_->EngineReleasable(ia));
  GroupId b = MustCreate(reg_->root(), "b");
  EXPECT_NE(Index(b), ia);  // The engine still holds the zombie's slot.
  EXPECT_FALSE(reg_->EngineReleasable(Index(b)));  // Live, not a zombie.
  reg_->SetEngineHeld(ia, false);
  GroupId c = MustCreate(reg_->root(), "c");
  EXPECT_EQ(Index(c), ia);  // Let go: the lowest reusable zombie.
  EXPECT_FALSE(reg_->EngineReleasable(ia));
  EXPECT_LE(Index(c) + 1, reg_->SlotLimit());
}

TEST_F(RegistryTest, SubtreeVisitIsPreOrder) {
  GroupId a = MustCreate(reg_->root(), "a");
  MustCreate(a, "b");
  MustCreate(a, "c");
  int n = 0;
  uint32_t first = kNoParent;
  reg_->ForEachInSubtree(Index(a), [&](uint32_t i) {
    if (n++ == 0) first = i;
  });
  EXPECT_EQ(n, 3);
  EXPECT_EQ(first, Index(a));
}

TEST(GroupNameTest, Validation) {
  size_t len;
  EXPECT_TRUE(IsValidGroupName("a.b-c_9", &len));
  EXPECT_EQ(len, 7u);
  EXPECT_FALSE(IsValidGroupName(".", &len));
  EXPECT_FALSE(IsValidGroupName("a:b", &len));
  EXPECT_FALSE(IsValidGroupName(nullptr, &len));
}

}  // namespace
}  // namespace memgroup::internal
