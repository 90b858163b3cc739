#include "base/raw_log.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>

#include "base/check.h"

namespace memgroup::internal {
namespace {

TEST(RawFormatTest, FormatsSubset) {
  char buf[128];
  RawFormat(buf, sizeof(buf), "%s=%d %u %ld %llu %zu %x %c%%", "k", -42, 7u,
            LONG_MIN, ULLONG_MAX, static_cast<size_t>(99), 255u, 'z');
  EXPECT_STREQ(buf, "k=-42 7 -9223372036854775808 18446744073709551615 99 ff z%");
}

TEST(RawFormatTest, TruncatesSafely) {
  char buf[8];
  size_t n = RawFormat(buf, sizeof(buf), "%s", "0123456789");
  EXPECT_EQ(n, 7u);
  EXPECT_STREQ(buf, "0123456");
}

TEST(RawFormatTest, NullString) {
  char buf[16];
  const char* volatile null_str = nullptr;
  RawFormat(buf, sizeof(buf), "%s", null_str);
  EXPECT_STREQ(buf, "(null)");
}

TEST(CheckDeathTest, CheckFailureNamesConditionAndAborts) {
  EXPECT_DEATH(MG_CHECK_MSG(1 + 1 == 3, "arithmetic"),
               "check failed at .*1 \\+ 1 == 3 arithmetic");
}

}  // namespace
}  // namespace memgroup::internal
