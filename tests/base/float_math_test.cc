// Exp, Log and Round (base/float_math.h) against libm's exp, log and round:
// within 2 ulp over their ranges, and C's special values.
#include "base/float_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace memgroup::internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int64_t Ordered(double x) {
  int64_t b;
  std::memcpy(&b, &x, sizeof(b));
  return b < 0 ? INT64_MIN - b : b;
}

// The distance in units in the last place between two finite doubles.
int64_t UlpDistance(double a, double b) {
  const int64_t d = Ordered(a) - Ordered(b);
  return d < 0 ? -d : d;
}

// A deterministic spread of doubles in [lo, hi].
template <typename F>
void ForSpread(double lo, double hi, int n, F f) {
  uint64_t state = 88172645463325252ull;
  for (int i = 0; i <= n; ++i) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;
    f(lo + (hi - lo) * (i % 2 == 0 ? static_cast<double>(i) / n : u));
  }
}

TEST(FloatMathTest, ExpMatchesLibm) {
  ForSpread(-745.0, 709.7, 200000, [](double x) {
    ASSERT_LE(UlpDistance(Exp(x), std::exp(x)), 2) << x;
  });
  ForSpread(-1.0, 1.0, 100000, [](double x) {
    ASSERT_LE(UlpDistance(Exp(x), std::exp(x)), 2) << x;
  });
  // Subnormal results, whose ulp is 2^-1074.
  ForSpread(-745.1, -708.0, 20000, [](double x) {
    ASSERT_LE(UlpDistance(Exp(x), std::exp(x)), 2) << x;
  });
}

TEST(FloatMathTest, ExpSpecialValues) {
  EXPECT_EQ(Exp(0.0), 1.0);
  EXPECT_EQ(Exp(-0.0), 1.0);
  EXPECT_EQ(Exp(kInf), kInf);
  EXPECT_EQ(Exp(-kInf), 0.0);
  EXPECT_EQ(Exp(710.0), kInf);
  EXPECT_EQ(Exp(-746.0), 0.0);
  EXPECT_TRUE(std::isnan(Exp(kNaN)));
  EXPECT_EQ(Exp(709.782712893383), std::exp(709.782712893383));
  EXPECT_GT(Exp(-744.0), 0.0);  // a subnormal, not 0
}

TEST(FloatMathTest, LogMatchesLibm) {
  ForSpread(1e-300, 1e300, 100000, [](double x) {
    ASSERT_LE(UlpDistance(Log(x), std::log(x)), 2) << x;
  });
  ForSpread(0.5, 2.0, 200000, [](double x) {
    // Near 1 the result is tiny: 2 ulp of the argument's scale.
    ASSERT_NEAR(Log(x), std::log(x), 4e-16 * std::fabs(std::log(x)) + 1e-30)
        << x;
  });
  ForSpread(1e-320, 1e-300, 10000, [](double x) {  // subnormals included
    ASSERT_LE(UlpDistance(Log(x), std::log(x)), 2) << x;
  });
  for (double x = 1e-308; x < 1e308; x *= 3.7) {
    ASSERT_LE(UlpDistance(Log(x), std::log(x)), 2) << x;
  }
}

TEST(FloatMathTest, LogSpecialValues) {
  EXPECT_EQ(Log(1.0), 0.0);
  EXPECT_EQ(Log(0.0), -kInf);
  EXPECT_EQ(Log(-0.0), -kInf);
  EXPECT_EQ(Log(kInf), kInf);
  EXPECT_TRUE(std::isnan(Log(-1.0)));
  EXPECT_TRUE(std::isnan(Log(-kInf)));
  EXPECT_TRUE(std::isnan(Log(kNaN)));
  EXPECT_EQ(Log(std::numeric_limits<double>::denorm_min()),
            std::log(std::numeric_limits<double>::denorm_min()));
}

TEST(FloatMathTest, RoundMatchesLibm) {
  const double cases[] = {0.0,
                          -0.0,
                          0.4999999999999999,
                          0.5,
                          -0.5,
                          1.5,
                          -1.5,
                          2.5,
                          -2.5,
                          0.7,
                          -0.7,
                          1e15 + 0.5,
                          -(1e15 + 0.5),
                          4503599627370495.5,
                          4503599627370496.0,
                          9007199254740993.0,
                          1e300,
                          -1e300,
                          1e-300,
                          -1e-300,
                          kInf,
                          -kInf};
  for (double x : cases) {
    const double r = Round(x);
    EXPECT_EQ(r, std::round(x)) << x;
    EXPECT_EQ(std::signbit(r), std::signbit(std::round(x))) << x;
  }
  EXPECT_TRUE(std::isnan(Round(kNaN)));
  ForSpread(-1e6, 1e6, 200000, [](double x) {
    ASSERT_EQ(Round(x), std::round(x)) << x;
    ASSERT_EQ(Round(x + 0.5), std::round(x + 0.5)) << x;
  });
}

}  // namespace
}  // namespace memgroup::internal
