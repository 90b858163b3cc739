// Fuzz target for the size parser (src/base/parse_size): the input, up to
// its first NUL, is a size value. Properties: the parser agrees with a
// reference model of the kernel's rules (error code and value); a refused
// value leaves the output untouched; an accepted size formats (FormatSize)
// to its canonical text, which parses back to the same bytes, as does the
// same size written with its largest exact suffix; case and surrounding
// whitespace do not matter; FormatSize never writes past a small buffer and
// truncates to a prefix.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/limits.h"
#include "base/parse_size.h"
#include "fuzz_support.h"

namespace memgroup::fuzz {
namespace {

using internal::ParseSizeError;

// The kernel's memparse-like rules written the obvious way, with 128-bit
// arithmetic and the parser's order of checks.
ParseSizeError Model(std::string_view in, int64_t* out) {
  const std::string s = Lower(Trimmed(in));
  if (s.empty()) return ParseSizeError::kEmpty;
  if (s == "max") {
    *out = internal::kUnlimited;
    return ParseSizeError::kOk;
  }
  size_t i = 0;
  unsigned __int128 v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
    if (v > static_cast<unsigned __int128>(INT64_MAX)) {
      return ParseSizeError::kOverflow;
    }
    ++i;
  }
  if (i == 0) return ParseSizeError::kNotANumber;
  if (i < s.size()) {
    std::string_view suffixes = "kmgt";
    size_t k = suffixes.find(s[i]);
    if (k == std::string_view::npos || i + 1 != s.size()) {
      return ParseSizeError::kBadSuffix;
    }
    v <<= 10 * (k + 1);
  }
  if (v > static_cast<unsigned __int128>(INT64_MAX)) {
    return ParseSizeError::kOverflow;
  }
  *out = static_cast<int64_t>(v);
  return ParseSizeError::kOk;
}

constexpr int64_t kSentinel = -12345;

ParseSizeError Parse(std::string_view text, int64_t* out) {
  CString c(text);
  *out = kSentinel;
  return internal::ParseSize(c.get(), out);
}

std::string Format(int64_t bytes) {
  char buf[32];
  size_t n = internal::FormatSize(bytes, buf, sizeof(buf));
  return std::string(buf, n);
}

void CheckSize(std::string_view text) {
  const std::string ctx = "input '" + Escaped(text) + "'";
  int64_t got = 0;
  const ParseSizeError e = Parse(text, &got);
  int64_t want = kSentinel;
  const ParseSizeError model = Model(text, &want);
  FUZZ_CHECK(e == model,
             ctx + ": error " + std::to_string(static_cast<int>(e)) +
                 ", model " + std::to_string(static_cast<int>(model)));
  if (e != ParseSizeError::kOk) {
    FUZZ_CHECK(got == kSentinel, ctx + ": a refused value wrote the output");
    FUZZ_CHECK(*internal::ParseSizeErrorString(e) != '\0', ctx);
  } else {
    FUZZ_CHECK(got == want, ctx + ": " + std::to_string(got) + " vs model " +
                                std::to_string(want));
    FUZZ_CHECK(got >= 0, ctx);
    // Canonical text, and it parses back to the same bytes.
    const std::string canon = Format(got);
    FUZZ_CHECK(canon == (got == internal::kUnlimited ? std::string("max")
                                                     : std::to_string(got)),
               ctx + ": formatted as '" + canon + "'");
    int64_t again = 0;
    FUZZ_CHECK(Parse(canon, &again) == ParseSizeError::kOk && again == got,
               ctx + ": '" + canon + "' does not parse back");
    FUZZ_CHECK(Format(again) == canon, ctx);
    // The largest exact suffix gives the same bytes.
    if (got != internal::kUnlimited && got != 0) {
      for (int k = 4; k >= 1; --k) {
        const int64_t unit = int64_t{1} << (10 * k);
        if (got % unit == 0) {
          const std::string suffixed =
              std::to_string(got / unit) + "KMGT"[k - 1];
          FUZZ_CHECK(Parse(suffixed, &again) == ParseSizeError::kOk &&
                         again == got,
                     ctx + ": '" + suffixed + "' differs");
          FUZZ_CHECK(Parse(Lower(suffixed), &again) == ParseSizeError::kOk &&
                         again == got,
                     ctx + ": lower-case suffix differs");
          break;
        }
      }
    }
  }
  // Case and surrounding whitespace do not change the outcome.
  for (const std::string& variant : CaseAndSpaceVariants(text)) {
    int64_t v = 0;
    const ParseSizeError ve = Parse(variant, &v);
    FUZZ_CHECK(ve == e && (e != ParseSizeError::kOk || v == got),
               ctx + ": variant '" + Escaped(variant) + "' differs");
  }
  // FormatSize into small buffers: NUL-terminated prefixes, never past cap.
  const int64_t bytes = e == ParseSizeError::kOk ? got : static_cast<int64_t>(text.size());
  const std::string full = Format(bytes);
  for (size_t cap = 1; cap <= full.size() + 1; ++cap) {
    std::unique_ptr<char[]> small(new char[cap]);
    const size_t n = internal::FormatSize(bytes, small.get(), cap);
    FUZZ_CHECK(n < cap && small[n] == '\0' && full.compare(0, n, small.get()) == 0 &&
                   n == std::min(full.size(), cap - 1),
               ctx + ": FormatSize with cap " + std::to_string(cap));
  }
}

}  // namespace
}  // namespace memgroup::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  memgroup::fuzz::CheckSize(memgroup::fuzz::UpToNul(data, size));
  return 0;
}
