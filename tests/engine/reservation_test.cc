// Tests of the engine's address-space reservation (owner_table::Init with
// va_budget.h): its size under RLIMIT_AS, the refusal when the limit leaves
// too little, exhaustion (a claim that does not fit fails without using up
// what is left), and the maps' layout (the first chunk's side slot and tag
// share a 2 MiB region, its page-map entries lie in the next; tagging an
// untagged chunk). Each case initialises the owner table in a forked
// child with its own RLIMIT_AS; the parent never initialises it.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>

#include "base/limits.h"
#include "engine/owner_table.h"
#include "engine/va_budget.h"
#include "gtest/gtest.h"

namespace memgroup::internal {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kGiB = size_t{1} << 30;
constexpr size_t kChunk = owner_table::kChunkBytes;

size_t Target(uint64_t limit, uint64_t used) {
  return va_budget::TargetBytes({limit, used}, owner_table::kVaBytes,
                                owner_table::kMinVaBytes, kChunk, 2);
}

TEST(VaBudgetTest, NoLimitTakesTheDefault) {
  EXPECT_EQ(Target(va_budget::kNoLimit, 0), owner_table::kVaBytes);
  EXPECT_EQ(Target(va_budget::kNoLimit, 5 * kGiB), owner_table::kVaBytes);
}

TEST(VaBudgetTest, TakesAShareOfWhatTheLimitLeaves) {
  // ulimit -v 4000000 with 20 MiB in use.
  const uint64_t limit = uint64_t{4000000} * 1024;
  const size_t t = Target(limit, 20 * kMiB);
  EXPECT_EQ(t % kChunk, 0u);
  const uint64_t share = (limit - 20 * kMiB) >> va_budget::kShareShift;
  // The reservation and its maps (2 per mille) fit the share...
  EXPECT_LE(t + t / 500 + kChunk, share);
  // ...and leave at most a few chunks of it unused.
  EXPECT_GE(t + t / 500 + 3 * kChunk, share);
  // A huge limit is capped at the default.
  EXPECT_EQ(Target(uint64_t{1} << 50, 0), owner_table::kVaBytes);
}

TEST(VaBudgetTest, RefusesWhenTheLimitLeavesTooLittle) {
  const uint64_t floor_footprint = 2 * (owner_table::kMinVaBytes + 2 * kChunk);
  EXPECT_EQ(Target(100 * kMiB, 100 * kMiB), 0u);
  EXPECT_EQ(Target(100 * kMiB, 200 * kMiB), 0u);  // Already over.
  EXPECT_EQ(Target(30 * kMiB, 0), 0u);
  EXPECT_EQ(Target(floor_footprint, 0), owner_table::kMinVaBytes);
}

// VmSize in bytes, read the simple way (the test may allocate).
uint64_t VmBytes() {
  FILE* f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f != nullptr) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return uint64_t{pages} * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

// Runs `body` in a child whose RLIMIT_AS is VmSize + `headroom` (or no
// limit for 0); the child's gtest failures fail the parent's test.
void InChild(uint64_t headroom, const std::function<void()>& body) {
  fflush(nullptr);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (headroom != 0) {
      struct rlimit rl;
      rl.rlim_cur = rl.rlim_max = VmBytes() + headroom;
      if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
    }
    body();
    fflush(nullptr);
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died, status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ReservationTest, WithoutLimit) {
  InChild(0, [] {
    ASSERT_TRUE(owner_table::Init());
    const size_t va = owner_table::g_va_bytes.load();
    // kVaBytes, or a power-of-two fallback where no 1 TiB hole exists
    // (ThreadSanitizer).
    EXPECT_LE(va, owner_table::kVaBytes);
    EXPECT_GE(va, owner_table::kMinVaBytes);
    EXPECT_EQ(owner_table::Reservation().limit_bytes, va_budget::kNoLimit);
  });
}

TEST(ReservationTest, SizedToTheLimit) {
  InChild(400 * kMiB, [] {
    ASSERT_TRUE(owner_table::Init());
    const size_t va = owner_table::g_va_bytes.load();
    const owner_table::ReservationInfo r = owner_table::Reservation();
    EXPECT_NE(r.limit_bytes, va_budget::kNoLimit);
    EXPECT_EQ(va, r.target_bytes);
    // Half of the ~400 MiB left, minus the maps and the alignment slack.
    EXPECT_GE(va, 150 * kMiB);
    EXPECT_LE(va, 200 * kMiB);
    EXPECT_EQ(va % kChunk, 0u);
  });
}

TEST(ReservationTest, RefusedWhenTheLimitLeavesTooLittle) {
  InChild(20 * kMiB, [] {
    EXPECT_FALSE(owner_table::Init());
    EXPECT_EQ(owner_table::Reservation().target_bytes, 0u);
    EXPECT_EQ(owner_table::g_va_bytes.load(), 0u);
  });
}

TEST(ReservationTest, ExhaustionKeepsWhatIsLeft) {
  InChild(200 * kMiB, [] {
    ASSERT_TRUE(owner_table::Init());
    const size_t num = owner_table::g_va_bytes.load() / kChunk;
    ASSERT_GE(num, 8u);
    ASSERT_NE(owner_table::ClaimChunks(num - 3, 1), nullptr);
    // Too large: fails, and the three chunks left stay claimable.
    EXPECT_EQ(owner_table::ClaimChunks(4, 1), nullptr);
    EXPECT_NE(owner_table::ClaimChunks(2, 2), nullptr);
    void* last = owner_table::ClaimChunks(1, 3);
    ASSERT_NE(last, nullptr);
    EXPECT_EQ(owner_table::OwnerOf(last), 3u);
    EXPECT_EQ(owner_table::ClaimChunks(1, 1), nullptr);
    EXPECT_EQ(owner_table::ClaimedBytes(), num * kChunk);
  });
}

TEST(ReservationTest, FirstChunksEntriesShareRegions) {
  for (const uint64_t headroom : {uint64_t{0}, uint64_t{200 * kMiB}}) {
    InChild(headroom, [] {
      ASSERT_TRUE(owner_table::Init());
      void* first = owner_table::ClaimChunks(1, 4);
      ASSERT_NE(first, nullptr);
      ASSERT_EQ(owner_table::ChunkIndexOf(first), 0u);
      const auto region = [](const void* p) {
        return reinterpret_cast<uintptr_t>(p) >> 21;
      };
      // The side map runs downward from its end, where the table starts.
      char* side_end = owner_table::g_side_map.load();
      void* slot = owner_table::SideSlot(first);
      EXPECT_EQ(static_cast<char*>(slot) + owner_table::kSideSlotBytes,
                side_end);
      void* last_slot =
          owner_table::SideSlot(static_cast<char*>(first) + kChunk - 1);
      const auto* tag = owner_table::g_table.load();
      EXPECT_EQ(static_cast<const void*>(tag), side_end);
      EXPECT_EQ(region(last_slot), region(tag));
      EXPECT_EQ(region(slot), region(tag));
      const auto* page_map = owner_table::g_page_map.load();
      EXPECT_EQ(region(page_map), region(tag) + 1);
      // Every map stays writable where the claim made it so.
      memset(last_slot, 1, owner_table::kSideSlotBytes);
      owner_table::PublishBlock(static_cast<char*>(first) + kChunk - 1, 7);
      EXPECT_EQ(owner_table::PageEntry(static_cast<char*>(first) + kChunk - 1),
                7u);
      EXPECT_EQ(owner_table::OwnerOf(first), 4u);
    });
  }
}

TEST(ReservationTest, TagIfUntaggedTagsOnlyAnUntaggedChunk) {
  InChild(0, [] {
    ASSERT_TRUE(owner_table::Init());
    void* run = owner_table::ClaimUntaggedChunks(2);
    ASSERT_NE(run, nullptr);
    const size_t c = owner_table::ChunkIndexOf(run);
    EXPECT_EQ(owner_table::OwnerOf(run), kNoGroup);
    EXPECT_EQ(owner_table::TagIfUntagged(c, 6), 6u);
    EXPECT_EQ(owner_table::OwnerOf(run), 6u);
    // Tagged already: left as it is, and said.
    EXPECT_EQ(owner_table::TagIfUntagged(c, 8), 6u);
    EXPECT_EQ(owner_table::OwnerOf(run), 6u);
    EXPECT_EQ(owner_table::TagIfUntagged(c + 1, 8), 8u);
    EXPECT_EQ(owner_table::OwnerOf(owner_table::ChunkAt(c + 1)), 8u);
  });
}

}  // namespace
}  // namespace memgroup::internal
