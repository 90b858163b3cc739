// Size parsing with the kernel's rules for memory.max and friends: a decimal
// number of bytes with an optional binary suffix K, M, G or T (case
// insensitive, e.g. "512M", "1g", "4096"), or "max" for unlimited (kUnlimited).
// Allocates: never (usable before main under LD_PRELOAD).
#ifndef MEMGROUP_SRC_BASE_PARSE_SIZE_H_
#define MEMGROUP_SRC_BASE_PARSE_SIZE_H_

#include <cstddef>
#include <cstdint>

#include "base/limits.h"

namespace memgroup::internal {

enum class ParseSizeError {
  kOk,
  kEmpty,          // "" or only whitespace
  kNotANumber,     // no digits where a number was expected
  kBadSuffix,      // trailing characters other than one K/M/G/T suffix
  kOverflow,       // does not fit in int64 bytes
};

// Parses `text` (NUL-terminated). On success stores bytes into *out. Leading
// and trailing ASCII whitespace is ignored (a trailing newline from `echo`).
[[nodiscard]] ParseSizeError ParseSize(const char* text, int64_t* out);

// A short English description of the error, for messages.
const char* ParseSizeErrorString(ParseSizeError e);

// Formats bytes as the kernel prints them: "max" for kUnlimited, else the
// decimal number. Returns characters written. Allocates: never.
size_t FormatSize(int64_t bytes, char* buf, size_t cap);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_BASE_PARSE_SIZE_H_
