// The mimalloc engine's arenas (src/engine/mimalloc_arena.cc): mimalloc's
// own metadata, the heaps a thread makes for its groups, lies in the root
// group's arena, which mimalloc shares with it, in the reservation and in
// no other group's chunks; a group's blocks lie in its own arena's chunks.
// Runs on the mimalloc engine only (CMake sets MEMGROUP_ENGINE).
#include <cstdint>

#include "base/limits.h"
#include "engine/engine.h"
#include "engine/mimalloc_engine.h"
#include "engine/owner_table.h"
#include "engine_test_support.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

class MimallocArenaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::OnMimalloc()) GTEST_SKIP() << "the mimalloc engine's own";
    testing::InitEngineOnce();
  }
};

bool InReservation(const void* p) {
  const uintptr_t base =
      owner_table::g_va_base.load(std::memory_order_acquire);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  return a >= base &&
         a - base < owner_table::g_va_bytes.load(std::memory_order_acquire);
}

TEST_F(MimallocArenaTest, HeapsLieInTheRootGroupsArena) {
  // The root group's arena first, as in a process.
  constexpr uint32_t kGroups[] = {kRootGroup, 7};
  for (uint32_t group : kGroups) {
    ASSERT_TRUE(engine::EnsureGroup(group));
    // A large block: made by the thread's heap for the group.
    void* p = engine::Alloc(group, 40000, 0, false);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(owner_table::OwnerOf(p), group);
    const void* heap = engine::mi::ExistingHeap(group);
    ASSERT_NE(heap, nullptr);
    EXPECT_TRUE(InReservation(heap)) << "group " << group;
    const uint32_t owner = owner_table::OwnerOf(heap);
    EXPECT_TRUE(owner == kRootGroup || owner == kNoGroup)
        << "group " << group << ": a heap in the chunks of group " << owner;
    engine::Free(p, group);
  }
}

}  // namespace
}  // namespace memgroup::internal
