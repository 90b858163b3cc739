// Randomised property test of ParseSize against a straightforward reference
// model: a million random strings over the interesting alphabet (digits,
// suffixes, "max", whitespace, signs, dots, junk) must never crash, never
// read past the NUL, and must agree with the model on acceptance and value.
#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <random>
#include <string>

#include "base/parse_size.h"

namespace memgroup::internal {
namespace {

// The kernel's rules, written the obvious way with 128-bit arithmetic.
bool Model(const std::string& in, int64_t* out) {
  size_t b = 0, e = in.size();
  while (b < e && std::isspace(static_cast<unsigned char>(in[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(in[e - 1]))) --e;
  std::string s = in.substr(b, e - b);
  if (s.empty()) return false;
  std::string lower;
  for (char c : s) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "max") {
    *out = kUnlimited;
    return true;
  }
  size_t i = 0;
  unsigned __int128 v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
    if (v > static_cast<unsigned __int128>(INT64_MAX)) return false;
    ++i;
  }
  if (i == 0) return false;
  int shift = 0;
  if (i < s.size()) {
    switch (lower[i]) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
      default: return false;
    }
    if (i + 1 != s.size()) return false;
  }
  v <<= shift;
  if (v > static_cast<unsigned __int128>(INT64_MAX)) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

TEST(ParseSizeFuzzTest, AgreesWithTheReferenceModelOnRandomInputs) {
  static const char kAlphabet[] =
      "0123456789012345678901234567890123456789kKmMgGtTqQmaxMAX \t\n-+.xe\x01\xff";
  std::mt19937_64 rng(12345);
  for (int n = 0; n < 1000000; ++n) {
    size_t len = rng() % 24;
    std::string s;
    for (size_t k = 0; k < len; ++k) s += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
    if (rng() % 16 == 0) s = std::to_string(rng()) + "KMGT"[rng() % 4];
    int64_t got = -7, want = -7;
    bool ok = ParseSize(s.c_str(), &got) == ParseSizeError::kOk;
    bool model_ok = Model(s, &want);
    ASSERT_EQ(ok, model_ok) << "input '" << s << "'";
    if (ok) {
      ASSERT_EQ(got, want) << "input '" << s << "'";
    }
  }
}

}  // namespace
}  // namespace memgroup::internal
