// Size parsing for the `memgroup` command: the kernel's rules for memory.max
// and friends, through the same parser the library uses for its environment
// (src/base/parse_size), so both accept the same values. The other option
// values go straight to src/base/parse_config.h.
#ifndef MEMGROUP_SRC_CLI_SIZE_H_
#define MEMGROUP_SRC_CLI_SIZE_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace memgroup::internal::cli {

// The value "max" parses to: no limit.
inline constexpr int64_t kUnlimitedBytes = INT64_MAX;

enum class SizeError {
  kOk,
  kEmpty,       // "" or only whitespace
  kNotANumber,  // no digits where a number was expected ("-1", "abc")
  kBadSuffix,   // trailing characters other than one K/M/G/T suffix ("12Q")
  kOverflow,    // does not fit in int64 bytes ("99999999999T")
};

// Parses a size: decimal bytes with an optional binary suffix K, M, G or T
// (case-insensitive), or "max" (case-insensitive) for kUnlimitedBytes.
// Leading and trailing ASCII whitespace is ignored. On success stores the
// number of bytes in *bytes.
[[nodiscard]] SizeError ParseSize(absl::string_view text, int64_t* bytes);

// A short English description of `e`, for messages.
const char* SizeErrorString(SizeError e);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_SIZE_H_
