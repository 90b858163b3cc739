// The usage text of the `memgroup` command.
#ifndef MEMGROUP_SRC_CLI_USAGE_H_
#define MEMGROUP_SRC_CLI_USAGE_H_

namespace memgroup::internal::cli {

// The full usage text, ending in a newline.
extern const char kUsage[];

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_USAGE_H_
