// Implements parse_size.h. Allocates: never.
#include "base/parse_size.h"

#include "base/ascii.h"
#include "base/raw_log.h"

namespace memgroup::internal {

ParseSizeError ParseSize(const char* text, int64_t* out) {
  if (text == nullptr) return ParseSizeError::kEmpty;
  const char* p = text;
  while (IsAsciiSpace(*p)) ++p;
  const char* end = p;
  while (*end) ++end;
  while (end > p && IsAsciiSpace(end[-1])) --end;
  if (p == end) return ParseSizeError::kEmpty;

  if (end - p == 3 && AsciiLower(p[0]) == 'm' && AsciiLower(p[1]) == 'a' &&
      AsciiLower(p[2]) == 'x') {
    *out = kUnlimited;
    return ParseSizeError::kOk;
  }
  if (*p < '0' || *p > '9') return ParseSizeError::kNotANumber;
  uint64_t value = 0;
  while (p < end && *p >= '0' && *p <= '9') {
    uint64_t digit = static_cast<uint64_t>(*p - '0');
    if (value > (static_cast<uint64_t>(INT64_MAX) - digit) / 10) {
      return ParseSizeError::kOverflow;
    }
    value = value * 10 + digit;
    ++p;
  }
  int shift = 0;
  if (p < end) {
    switch (AsciiLower(*p)) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
      default: return ParseSizeError::kBadSuffix;
    }
    ++p;
    if (p != end) return ParseSizeError::kBadSuffix;
  }
  if (shift != 0 && value > (static_cast<uint64_t>(INT64_MAX) >> shift)) {
    return ParseSizeError::kOverflow;
  }
  *out = static_cast<int64_t>(value << shift);
  return ParseSizeError::kOk;
}

const char* ParseSizeErrorString(ParseSizeError e) {
  switch (e) {
    case ParseSizeError::kOk: return "ok";
    case ParseSizeError::kEmpty: return "empty value";
    case ParseSizeError::kNotANumber: return "not a number";
    case ParseSizeError::kBadSuffix: return "unknown suffix (use K, M, G or T)";
    case ParseSizeError::kOverflow: return "too large";
  }
  return "invalid";
}

size_t FormatSize(int64_t bytes, char* buf, size_t cap) {
  if (bytes == kUnlimited) return RawFormat(buf, cap, "max");
  return RawFormat(buf, cap, "%lld", static_cast<long long>(bytes));
}

}  // namespace memgroup::internal
