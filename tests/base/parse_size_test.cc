#include "base/parse_size.h"

#include <gtest/gtest.h>

namespace memgroup::internal {
namespace {

int64_t Parse(const char* s) {
  int64_t v = -1;
  EXPECT_EQ(ParseSize(s, &v), ParseSizeError::kOk) << s;
  return v;
}

ParseSizeError Err(const char* s) {
  int64_t v = 0;
  return ParseSize(s, &v);
}

TEST(ParseSizeTest, AcceptsKernelForms) {
  EXPECT_EQ(Parse("4096"), 4096);
  EXPECT_EQ(Parse("0"), 0);
  EXPECT_EQ(Parse("512M"), 512LL << 20);
  EXPECT_EQ(Parse("1g"), 1LL << 30);
  EXPECT_EQ(Parse("3k"), 3 * 1024);
  EXPECT_EQ(Parse("2T"), 2LL << 40);
  EXPECT_EQ(Parse("max"), kUnlimited);
  EXPECT_EQ(Parse("MAX"), kUnlimited);
  EXPECT_EQ(Parse(" 10M\n"), 10LL << 20);
}

TEST(ParseSizeTest, RejectsMalformed) {
  EXPECT_EQ(Err(""), ParseSizeError::kEmpty);
  EXPECT_EQ(Err("  "), ParseSizeError::kEmpty);
  EXPECT_EQ(Err(nullptr), ParseSizeError::kEmpty);
  EXPECT_EQ(Err("-1"), ParseSizeError::kNotANumber);
  EXPECT_EQ(Err("M"), ParseSizeError::kNotANumber);
  EXPECT_EQ(Err("12Q"), ParseSizeError::kBadSuffix);
  EXPECT_EQ(Err("12MB"), ParseSizeError::kBadSuffix);
  EXPECT_EQ(Err("1.5G"), ParseSizeError::kBadSuffix);
  EXPECT_EQ(Err("maximum"), ParseSizeError::kNotANumber);
}

TEST(ParseSizeTest, RejectsOverflow) {
  EXPECT_EQ(Err("9223372036854775807"), ParseSizeError::kOk);
  EXPECT_EQ(Err("9223372036854775808"), ParseSizeError::kOverflow);
  EXPECT_EQ(Err("99999999999999999999999"), ParseSizeError::kOverflow);
  EXPECT_EQ(Err("8388608T"), ParseSizeError::kOverflow);
  EXPECT_EQ(Err("8388607T"), ParseSizeError::kOk);
}

TEST(ParseSizeTest, FormatsMaxAndBytes) {
  char buf[32];
  FormatSize(kUnlimited, buf, sizeof(buf));
  EXPECT_STREQ(buf, "max");
  FormatSize(1234, buf, sizeof(buf));
  EXPECT_STREQ(buf, "1234");
}

}  // namespace
}  // namespace memgroup::internal
