// The usage text of the `memgroup` command and the usage-error exit.
#ifndef MEMGROUP_SRC_CLI_USAGE_H_
#define MEMGROUP_SRC_CLI_USAGE_H_

#include "absl/strings/string_view.h"

namespace memgroup::internal::cli {

// The full usage text, ending in a newline.
extern const char kUsage[];

inline constexpr int kExitUsage = 2;

// Prints "memgroup: MESSAGE" and the usage to stderr; returns kExitUsage.
int UsageError(absl::string_view message);

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_USAGE_H_
