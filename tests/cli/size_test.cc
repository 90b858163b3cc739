#include "cli/size.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace memgroup::internal::cli {
namespace {

int64_t Parsed(const char* text) {
  int64_t bytes = -1;
  EXPECT_EQ(ParseSize(text, &bytes), SizeError::kOk) << text;
  return bytes;
}

SizeError Error(const char* text) {
  int64_t bytes = 0;
  return ParseSize(text, &bytes);
}

TEST(ParseSizeTest, AcceptsBinarySuffixesCaseInsensitive) {
  EXPECT_EQ(Parsed("512M"), int64_t{512} << 20);
  EXPECT_EQ(Parsed("1g"), int64_t{1} << 30);
  EXPECT_EQ(Parsed("1G"), int64_t{1} << 30);
  EXPECT_EQ(Parsed("3k"), 3072);
  EXPECT_EQ(Parsed("2T"), int64_t{2} << 40);
  EXPECT_EQ(Parsed("0"), 0);
}

TEST(ParseSizeTest, AcceptsPlainBytes) { EXPECT_EQ(Parsed("4096"), 4096); }

TEST(ParseSizeTest, MaxMeansUnlimitedInAnyCase) {
  EXPECT_EQ(Parsed("max"), kUnlimitedBytes);
  EXPECT_EQ(Parsed("MAX"), kUnlimitedBytes);
  EXPECT_EQ(Parsed("Max"), kUnlimitedBytes);
}

TEST(ParseSizeTest, IgnoresSurroundingWhitespace) {
  EXPECT_EQ(Parsed(" 1M\n"), int64_t{1} << 20);
}

TEST(ParseSizeTest, AcceptsLargestValues) {
  EXPECT_EQ(Parsed("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(Parsed("8388607T"), int64_t{8388607} << 40);
}

TEST(ParseSizeTest, RejectsOverflow) {
  EXPECT_EQ(Error("99999999999T"), SizeError::kOverflow);
  EXPECT_EQ(Error("8388608T"), SizeError::kOverflow);
  EXPECT_EQ(Error("9223372036854775808"), SizeError::kOverflow);
  EXPECT_EQ(Error("99999999999999999999999"), SizeError::kOverflow);
}

TEST(ParseSizeTest, RejectsUnknownSuffix) {
  EXPECT_EQ(Error("12Q"), SizeError::kBadSuffix);
  EXPECT_EQ(Error("12MB"), SizeError::kBadSuffix);
  EXPECT_EQ(Error("12 M"), SizeError::kBadSuffix);
  EXPECT_EQ(Error("1.5G"), SizeError::kBadSuffix);
  EXPECT_EQ(Error("0x10"), SizeError::kBadSuffix);
}

TEST(ParseSizeTest, RejectsEmptyAndNonNumbers) {
  EXPECT_EQ(Error(""), SizeError::kEmpty);
  EXPECT_EQ(Error("   "), SizeError::kEmpty);
  EXPECT_EQ(Error("-1"), SizeError::kNotANumber);
  EXPECT_EQ(Error("+1"), SizeError::kNotANumber);
  EXPECT_EQ(Error("M"), SizeError::kNotANumber);
  EXPECT_EQ(Error("maximum"), SizeError::kNotANumber);
}

TEST(ParseSizeTest, FailureLeavesOutputUntouched) {
  int64_t bytes = 77;
  EXPECT_NE(ParseSize("12Q", &bytes), SizeError::kOk);
  EXPECT_EQ(bytes, 77);
}

}  // namespace
}  // namespace memgroup::internal::cli
