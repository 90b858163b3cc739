// Implements size.h.
#include "cli/size.h"

#include <cstdint>
#include <string>

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

}  // namespace memgroup::internal::cli
