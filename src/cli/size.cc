// Implements size.h.
#include "cli/size.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"

namespace memgroup::internal::cli {

SizeError ParseSize(absl::string_view text, int64_t* bytes) {
  text = absl::StripAsciiWhitespace(text);
  if (text.empty()) return SizeError::kEmpty;
  if (absl::EqualsIgnoreCase(text, "max")) {
    *bytes = kUnlimitedBytes;
    return SizeError::kOk;
  }
  if (!absl::ascii_isdigit(static_cast<unsigned char>(text.front()))) {
    return SizeError::kNotANumber;
  }
  uint64_t value = 0;
  size_t i = 0;
  for (; i < text.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(text[i]));
       ++i) {
    const uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (static_cast<uint64_t>(INT64_MAX) - digit) / 10) {
      return SizeError::kOverflow;
    }
    value = value * 10 + digit;
  }
  int shift = 0;
  if (i < text.size()) {
    switch (absl::ascii_tolower(static_cast<unsigned char>(text[i]))) {
      case 'k':
        shift = 10;
        break;
      case 'm':
        shift = 20;
        break;
      case 'g':
        shift = 30;
        break;
      case 't':
        shift = 40;
        break;
      default:
        return SizeError::kBadSuffix;
    }
    if (i + 1 != text.size()) return SizeError::kBadSuffix;
  }
  if (value > (static_cast<uint64_t>(INT64_MAX) >> shift)) {
    return SizeError::kOverflow;
  }
  *bytes = static_cast<int64_t>(value << shift);
  return SizeError::kOk;
}

const char* SizeErrorString(SizeError e) {
  switch (e) {
    case SizeError::kOk:
      return "ok";
    case SizeError::kEmpty:
      return "empty value";
    case SizeError::kNotANumber:
      return "not a number";
    case SizeError::kBadSuffix:
      return "unknown suffix (use K, M, G or T)";
    case SizeError::kOverflow:
      return "too large";
  }
  return "invalid";
}

bool IsValidOomPolicy(absl::string_view text) {
  if (text == "enomem" || text == "abort" || text == "kill" || text == "wait") {
    return true;
  }
  constexpr absl::string_view kWait = "wait:";
  if (text.substr(0, kWait.size()) != kWait) return false;
  absl::string_view seconds = text.substr(kWait.size());
  if (seconds.empty()) return false;
  for (char c : seconds) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  uint32_t value = 0;
  return absl::SimpleAtoi(seconds, &value) && value > 0;
}

bool IsValidEngine(absl::string_view text) {
  return text == "jemalloc" || text == "mimalloc";
}

}  // namespace memgroup::internal::cli
