// Error codes of the group layer. c_api maps them to errno values, the C++
// layer to absl::Status codes.
#ifndef MEMGROUP_SRC_GROUP_ERRC_H_
#define MEMGROUP_SRC_GROUP_ERRC_H_

namespace memgroup::internal {

enum class [[nodiscard]] Errc {
  kOk = 0,
  kInvalidArgument,     // EINVAL: malformed name, limit or path
  kNotFound,            // ENOENT: unknown or stale group id
  kAlreadyExists,       // EEXIST: duplicate name under one parent
  kFailedPrecondition,  // EBUSY: group has children, or it is the root
  kResourceExhausted,   // ENOSPC: no group slot left
};

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_ERRC_H_
