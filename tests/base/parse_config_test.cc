// Tests of base/parse_config.h: the value parsers shared by the library's
// environment and the `memgroup run` command.
#include "base/parse_config.h"

#include <gtest/gtest.h>

#include <string>

namespace memgroup::internal {
namespace {

ParseConfigError Oom(const char* text, OomSetting* s = nullptr) {
  OomSetting local;
  return ParseOomPolicy(text, s != nullptr ? s : &local);
}

TEST(ParseOomPolicyTest, AcceptsEveryPolicyInAnyCase) {
  OomSetting s;
  ASSERT_EQ(Oom("enomem", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.policy, OomPolicyChoice::kEnomem);
  ASSERT_EQ(Oom("ABORT", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.policy, OomPolicyChoice::kAbort);
  ASSERT_EQ(Oom(" Kill\n", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.policy, OomPolicyChoice::kKill);
  ASSERT_EQ(Oom("wait", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.policy, OomPolicyChoice::kWait);
  EXPECT_EQ(s.wait_ns, -1);
}

TEST(ParseOomPolicyTest, WaitTimeoutIsSecondsUpToTheInt64Limit) {
  OomSetting s;
  ASSERT_EQ(Oom("WAIT:5", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.policy, OomPolicyChoice::kWait);
  EXPECT_EQ(s.wait_ns, 5'000'000'000);
  ASSERT_EQ(Oom("wait:0", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.wait_ns, 0);
  ASSERT_EQ(Oom("wait:9223372036", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.wait_ns, 9'223'372'036'000'000'000);
  EXPECT_EQ(Oom("wait:9223372037"), ParseConfigError::kOutOfRange);
  EXPECT_EQ(Oom("wait:10000000009"), ParseConfigError::kOutOfRange);
  EXPECT_EQ(Oom("wait:99999999999999999999999"), ParseConfigError::kOutOfRange);
}

TEST(ParseOomPolicyTest, RefusesEverythingElse) {
  EXPECT_EQ(Oom(""), ParseConfigError::kEmpty);
  EXPECT_EQ(Oom("  "), ParseConfigError::kEmpty);
  EXPECT_EQ(Oom("handler"), ParseConfigError::kUnknown);
  EXPECT_EQ(Oom("waits"), ParseConfigError::kUnknown);
  EXPECT_EQ(Oom("wait:"), ParseConfigError::kBadNumber);
  EXPECT_EQ(Oom("wait:-1"), ParseConfigError::kBadNumber);
  EXPECT_EQ(Oom("wait:+1"), ParseConfigError::kBadNumber);
  EXPECT_EQ(Oom("wait:1s"), ParseConfigError::kBadNumber);
  EXPECT_EQ(Oom("wait: 1"), ParseConfigError::kBadNumber);
}

TEST(ParseOomPolicyTest, FailureLeavesOutputUntouched) {
  OomSetting s;
  s.wait_ns = 77;
  EXPECT_NE(Oom("wait:x", &s), ParseConfigError::kOk);
  EXPECT_EQ(s.wait_ns, 77);
}

TEST(ParseEngineNameTest, JemallocOrMimallocInAnyCase) {
  EngineChoice c = EngineChoice::kJemalloc;
  EXPECT_EQ(ParseEngineName(" MiMalloc", &c), ParseConfigError::kOk);
  EXPECT_EQ(c, EngineChoice::kMimalloc);
  EXPECT_EQ(ParseEngineName("jemalloc", &c), ParseConfigError::kOk);
  EXPECT_EQ(c, EngineChoice::kJemalloc);
  EXPECT_EQ(ParseEngineName("mimallocx", &c), ParseConfigError::kUnknown);
  EXPECT_EQ(c, EngineChoice::kJemalloc);
  EXPECT_EQ(ParseEngineName("jemalloc"), ParseConfigError::kOk);
  EXPECT_EQ(ParseEngineName("JEMALLOC"), ParseConfigError::kOk);
  EXPECT_EQ(ParseEngineName("Jemalloc "), ParseConfigError::kOk);
  EXPECT_EQ(ParseEngineName("tcmalloc"), ParseConfigError::kUnknown);
  EXPECT_EQ(ParseEngineName("jemallocx"), ParseConfigError::kUnknown);
  EXPECT_EQ(ParseEngineName(""), ParseConfigError::kEmpty);
}

TEST(ParseProbabilityTest, AcceptsZeroToOne) {
  double p = -1;
  ASSERT_EQ(ParseProbability("0", &p), ParseConfigError::kOk);
  EXPECT_EQ(p, 0);
  ASSERT_EQ(ParseProbability("0.25", &p), ParseConfigError::kOk);
  EXPECT_DOUBLE_EQ(p, 0.25);
  ASSERT_EQ(ParseProbability("1", &p), ParseConfigError::kOk);
  EXPECT_EQ(p, 1);
  ASSERT_EQ(ParseProbability("1.000", &p), ParseConfigError::kOk);
  EXPECT_EQ(p, 1);
  ASSERT_EQ(ParseProbability("00.001", &p), ParseConfigError::kOk);
  EXPECT_DOUBLE_EQ(p, 0.001);
}

TEST(ParseProbabilityTest, RefusesOthers) {
  double p = 0;
  EXPECT_EQ(ParseProbability("", &p), ParseConfigError::kEmpty);
  EXPECT_EQ(ParseProbability("1.5", &p), ParseConfigError::kOutOfRange);
  EXPECT_EQ(ParseProbability("10", &p), ParseConfigError::kOutOfRange);
  EXPECT_EQ(ParseProbability("2", &p), ParseConfigError::kOutOfRange);
  EXPECT_EQ(ParseProbability("1.0001", &p), ParseConfigError::kOutOfRange);
  // Above 1 by less than a double can show: still above 1.
  EXPECT_EQ(ParseProbability("1.00000000000000000100001", &p),
            ParseConfigError::kOutOfRange);
  EXPECT_EQ(ParseProbability("1.0000000000000000000000000000001", &p),
            ParseConfigError::kOutOfRange);
  EXPECT_EQ(ParseProbability(".5", &p), ParseConfigError::kBadNumber);
  EXPECT_EQ(ParseProbability("0.", &p), ParseConfigError::kBadNumber);
  EXPECT_EQ(ParseProbability("-0.1", &p), ParseConfigError::kBadNumber);
  EXPECT_EQ(ParseProbability("1e-3", &p), ParseConfigError::kBadNumber);
  EXPECT_EQ(ParseProbability("0.1%", &p), ParseConfigError::kBadNumber);
}

TEST(ParseSeedTest, AcceptsTheWholeUint64Range) {
  uint64_t s = 1;
  ASSERT_EQ(ParseSeed("0", &s), ParseConfigError::kOk);
  EXPECT_EQ(s, 0u);
  ASSERT_EQ(ParseSeed("18446744073709551615", &s), ParseConfigError::kOk);
  EXPECT_EQ(s, UINT64_MAX);
  EXPECT_EQ(ParseSeed("18446744073709551616", &s),
            ParseConfigError::kOutOfRange);
  EXPECT_EQ(ParseSeed("-1", &s), ParseConfigError::kBadNumber);
  EXPECT_EQ(ParseSeed("0x10", &s), ParseConfigError::kBadNumber);
  EXPECT_EQ(ParseSeed("", &s), ParseConfigError::kEmpty);
}

TEST(ParseStatsPathTest, NonEmptyAndShorterThanTheLibrarysBuffer) {
  EXPECT_EQ(ParseStatsPath("stderr"), ParseConfigError::kOk);
  EXPECT_EQ(ParseStatsPath("-"), ParseConfigError::kOk);
  EXPECT_EQ(ParseStatsPath(" "), ParseConfigError::kOk);  // taken as given
  EXPECT_EQ(ParseStatsPath(""), ParseConfigError::kEmpty);
  EXPECT_EQ(ParseStatsPath(nullptr), ParseConfigError::kEmpty);
  std::string path(kStatsPathCapacity - 1, 'p');
  EXPECT_EQ(ParseStatsPath(path.c_str()), ParseConfigError::kOk);
  path += 'p';
  EXPECT_EQ(ParseStatsPath(path.c_str()), ParseConfigError::kOutOfRange);
}

}  // namespace
}  // namespace memgroup::internal
