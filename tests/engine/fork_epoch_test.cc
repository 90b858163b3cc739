// Blocks made before a fork (src/engine/fork_epoch.h), on both engines: a
// fork child reads its parent's large blocks as inherited and its own as
// not, at every level of nested forks; a slab emptied of regions the child
// inherited returns their charge as inherited (the charger's
// uncharge_inherited, the process's own counters only), keeps none of it
// as free pages, and the child's next regions are charged anew. A fake
// charger records what the engine charges and uncharges: its own
// executable, the charger is process-wide.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/engine.h"
#include "engine/fork_epoch.h"
#include "engine/free_pages.h"
#include "engine/page_charge.h"
#include "engine/slab.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

using engine::g_usable_of_class;

// A group slot every engine has an arena for (mimalloc: fewer than 63).
constexpr uint32_t kG = 21;

int64_t g_charged = 0;
int64_t g_uncharged = 0;
int64_t g_inherited = 0;
bool Charge(uint32_t group, int64_t bytes) {
  if (group == kG) g_charged += bytes;
  return true;
}
void Uncharge(uint32_t group, int64_t bytes) {
  if (group == kG) g_uncharged += bytes;
}
void UnchargeInherited(uint32_t group, int64_t bytes) {
  if (group == kG) g_inherited += bytes;
}
constexpr engine::PageCharger kCharger{Charge, Uncharge, Charge,
                                       UnchargeInherited};

class ForkEpochTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InitEngineOnce();
    ASSERT_NE(g_usable_of_class[1], 0u) << "front cache (and slabs) disabled";
    ASSERT_TRUE(engine::EnsureGroup(kG));
    engine::SetPageCharger(&kCharger);
  }
  void TearDown() override { engine::SetPageCharger(nullptr); }
};

bool Inherited(const void* p) {
  return engine::LargeInherited(p, engine::UsableSize(p));
}

// Runs `child` in a fork child and returns its exit code (-1: no exit).
template <typename F>
int InChild(F child) {
  const pid_t pid = fork();
  if (pid == 0) _exit(child());
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
    return -1;
  }
  return WEXITSTATUS(status);
}

TEST_F(ForkEpochTest, LargeBlocksMadeBeforeAForkAreInherited) {
  void* a = engine::Alloc(kG, 1 << 20, 0, false);
  ASSERT_NE(a, nullptr);
  memset(a, 1, 1 << 20);
  EXPECT_FALSE(Inherited(a));
  const int rc = InChild([a] {
    if (!Inherited(a)) return 1;
    void* b = engine::Alloc(kG, 256 << 10, 0, false);
    if (b == nullptr || Inherited(b)) return 2;
    // One level down, both are the parent's; a new block is not.
    const int nested = InChild([a, b] {
      void* c = engine::Alloc(kG, 1 << 20, 0, false);
      if (!Inherited(a) || !Inherited(b)) return 3;
      if (c == nullptr || Inherited(c)) return 4;
      return 0;
    });
    if (nested != 0) return nested;
    if (Inherited(b) || !Inherited(a)) return 5;  // Back in the child.
    engine::Free(b, kG);
    engine::Free(a, kG);
    return 0;
  });
  EXPECT_EQ(rc, 0);
  EXPECT_FALSE(Inherited(a));
  engine::Free(a, kG);
}

// Takes `bytes` of regions of class `cls` straight from kG's slabs.
std::vector<void*> Take(uint32_t cls, size_t bytes) {
  std::vector<void*> got;
  while (got.size() * g_usable_of_class[cls] < bytes) {
    void* batch[64];
    const uint32_t n = engine::slab::AllocBatch(kG, cls, batch, 64);
    if (n == 0) break;
    for (uint32_t i = 0; i < n; ++i) memset(batch[i], 1, g_usable_of_class[cls]);
    got.insert(got.end(), batch, batch + n);
  }
  return got;
}
void GiveBack(uint32_t cls, const std::vector<void*>& ps) {
  for (void* p : ps) engine::slab::FreeOne(kG, cls, p);
}

TEST_F(ForkEpochTest, ASlabEmptiedOfInheritedRegionsKeepsNoCharge) {
  constexpr size_t kBytes = size_t{2} << 20;
  const uint32_t cls = engine::ClassOfUsable(engine::GoodSize(2000, 0));
  const int64_t before = g_charged;
  std::vector<void*> held = Take(cls, kBytes);
  ASSERT_GE(held.size() * g_usable_of_class[cls], kBytes);
  const int64_t charged = g_charged - before;
  ASSERT_GE(charged, static_cast<int64_t>(kBytes));
  const int rc = InChild([&] {
    // As the allocation layer's child handler does (engine.h).
    (void)engine::ChildForkDropInherited();
    g_charged = g_uncharged = g_inherited = 0;
    GiveBack(cls, held);
    // Every slab but the bin's spare one went back: their pages were the
    // parent's charge, none the child's, and none is kept as free pages.
    if (g_uncharged != 0) return 1;
    if (g_inherited < charged - static_cast<int64_t>(engine::slab::kSlabBytes)) {
      return 2;
    }
    if (engine::FreePagesOf(kG) != 0) return 3;
    // The child's own regions are charged as they are handed out.
    std::vector<void*> own = Take(cls, kBytes);
    if (g_charged < static_cast<int64_t>(kBytes - engine::slab::kSlabBytes)) {
      return 4;
    }
    // Its own slabs keep their charge (free pages) as usual.
    GiveBack(cls, own);
    if (g_inherited > charged) return 5;
    return 0;
  });
  EXPECT_EQ(rc, 0);
  // The parent's slabs are its own: their charge stays with it.
  g_inherited = 0;
  GiveBack(cls, held);
  EXPECT_EQ(g_inherited, 0);
  engine::Purge(kG);
}

}  // namespace
}  // namespace memgroup::internal
