// Implements float_math.h: IEEE-754 binary64 by its bits, no libm call.
//
// Exp: x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in a high part with
// trailing zero bits, so k * ln2_hi is exact, and a low part), e^r by its
// Taylor polynomial to degree 13 (remainder below 1e-17 relative), then
// scaled by 2^k through the exponent bits (in two steps for subnormal
// results). Log: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2
// atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.172, by its odd series to
// s^23 (remainder below 1e-18), plus e ln2 in two parts.
#include "base/float_math.h"

#include <cstdint>
#include <cstring>
#include <limits>

namespace memgroup::internal {
namespace {

inline uint64_t Bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof(b));
  return b;
}

inline double FromBits(uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof(x));
  return x;
}

inline constexpr uint64_t kSignBit = uint64_t{1} << 63;
inline constexpr uint64_t kExpMask = uint64_t{0x7ff} << 52;
inline constexpr uint64_t kFracMask = (uint64_t{1} << 52) - 1;

// 2^k for k in [-1022, 1023] (a normal number).
inline double Pow2(int k) {
  return FromBits(static_cast<uint64_t>(k + 1023) << 52);
}

// ln 2 = kLn2Hi + kLn2Lo; kLn2Hi has 32 trailing zero bits, so k * kLn2Hi
// is exact for |k| < 2^20.
inline constexpr double kLn2Hi = 6.93147180369123816490e-01;
inline constexpr double kLn2Lo = 1.90821492927058770002e-10;
inline constexpr double kInvLn2 = 1.44269504088896338700e+00;
// Beyond these e^x overflows to infinity or underflows to 0.
inline constexpr double kExpOverflow = 7.09782712893383973096e+02;
inline constexpr double kExpUnderflow = -7.45133219101941108420e+02;

}  // namespace

double Exp(double x) {
  if (x != x) return x;  // NaN
  if (x > kExpOverflow) return std::numeric_limits<double>::infinity();
  if (x < kExpUnderflow) return 0.0;
  // k = nearest integer to x / ln2 (|x / ln2| < 1076 here).
  const double kf = x * kInvLn2;
  const int k = static_cast<int>(kf < 0 ? kf - 0.5 : kf + 0.5);
  const double hi = x - k * kLn2Hi;
  const double lo = k * kLn2Lo;
  const double r = hi - lo;
  // e^r, Horner from the degree-13 term.
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;  // 1/12!
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  // 1 + r + r^2 p(r), the small part added last for accuracy.
  const double er = 1.0 + (r + r * r * p);
  if (k > 1023) return er * 2.0 * Pow2(k - 1);  // e^x near the overflow bound
  if (k >= -1021) return er * Pow2(k);
  // Subnormal result: scale into range first, then by 2^-54 (one rounding
  // when the product becomes subnormal).
  return er * Pow2(k + 54) * Pow2(-54);
}

double Log(double x) {
  uint64_t b = Bits(x);
  if (x != x) return x;  // NaN
  if ((b & ~kSignBit) == 0) return -std::numeric_limits<double>::infinity();
  if ((b & kSignBit) != 0) return std::numeric_limits<double>::quiet_NaN();
  if ((b & kExpMask) == kExpMask) return x;  // +infinity
  int e = 0;
  if ((b & kExpMask) == 0) {  // subnormal: make it normal
    x *= Pow2(54);
    b = Bits(x);
    e = -54;
  }
  e += static_cast<int>((b & kExpMask) >> 52) - 1023;
  // m in [1, 2), then folded into [sqrt(1/2), sqrt(2)).
  double m = FromBits((b & kFracMask) | (uint64_t{1023} << 52));
  if (m > 1.41421356237309504880) {
    m *= 0.5;
    ++e;
  }
  const double f = m - 1.0;  // exact (Sterbenz)
  const double s = f / (2.0 + f);
  const double z = s * s;
  // atanh(s)/s - 1 = z/3 + z^2/5 + ... + z^11/23, Horner.
  double q = 1.0 / 23;
  q = q * z + 1.0 / 21;
  q = q * z + 1.0 / 19;
  q = q * z + 1.0 / 17;
  q = q * z + 1.0 / 15;
  q = q * z + 1.0 / 13;
  q = q * z + 1.0 / 11;
  q = q * z + 1.0 / 9;
  q = q * z + 1.0 / 7;
  q = q * z + 1.0 / 5;
  q = q * z + 1.0 / 3;
  q *= z;
  // ln m = 2 s (1 + q) = f - (f - 2 s) + 2 s q; f - 2 s = s f, exactly in
  // real arithmetic (2s = f - s f), computed as s * f for accuracy.
  const double lnm = f - (s * f - 2.0 * s * q);
  return e * kLn2Hi + (lnm + e * kLn2Lo);
}

double Round(double x) {
  const uint64_t b = Bits(x);
  const int exp = static_cast<int>((b & kExpMask) >> 52) - 1023;
  if (exp >= 52) return x;  // an integer already, or NaN or infinity
  if (exp < -1) return FromBits(b & kSignBit);  // |x| < 0.5: a signed zero
  // |x| < 2^52: truncation is exact, as is x - t.
  const double t = static_cast<double>(static_cast<int64_t>(x));
  const double d = x - t;
  double r = t;
  if (d >= 0.5) r = t + 1.0;
  if (d <= -0.5) r = t - 1.0;
  // Keep the sign of a zero result (round(-0.5) is -1, so only -0 < x < 0
  // reaches here with r = 0, and those returned above).
  return FromBits(Bits(r) | (b & kSignBit));
}

}  // namespace memgroup::internal
