// Implements size.h.
#include "cli/size.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "base/parse_size.h"

namespace memgroup::internal::cli {

SizeError ParseSize(absl::string_view text, int64_t* bytes) {
  // One parser for the command and the library's environment, so that both
  // accept exactly the same values.
  std::string nul_terminated(text);
  switch (internal::ParseSize(nul_terminated.c_str(), bytes)) {
    case internal::ParseSizeError::kOk:
      return SizeError::kOk;
    case internal::ParseSizeError::kEmpty:
      return SizeError::kEmpty;
    case internal::ParseSizeError::kNotANumber:
      return SizeError::kNotANumber;
    case internal::ParseSizeError::kBadSuffix:
      return SizeError::kBadSuffix;
    case internal::ParseSizeError::kOverflow:
      return SizeError::kOverflow;
  }
  return SizeError::kNotANumber;
}

const char* SizeErrorString(SizeError e) {
  switch (e) {
    case SizeError::kOk:
      return internal::ParseSizeErrorString(internal::ParseSizeError::kOk);
    case SizeError::kEmpty:
      return internal::ParseSizeErrorString(internal::ParseSizeError::kEmpty);
    case SizeError::kNotANumber:
      return internal::ParseSizeErrorString(
          internal::ParseSizeError::kNotANumber);
    case SizeError::kBadSuffix:
      return internal::ParseSizeErrorString(
          internal::ParseSizeError::kBadSuffix);
    case SizeError::kOverflow:
      return internal::ParseSizeErrorString(internal::ParseSizeError::kOverflow);
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
  // The only engine this build has (the library refuses any other name).
  return text == "jemalloc";
}

}  // namespace memgroup::internal::cli
