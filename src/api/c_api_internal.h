// Helpers shared by the C ABI's files: the Errc -> errno mapping and
// the resolution of a group id (initialising the library first).
// Must never: be included outside src/api. Allocates: never.
#ifndef MEMGROUP_SRC_API_C_API_INTERNAL_H_
#define MEMGROUP_SRC_API_C_API_INTERNAL_H_

#include <errno.h>

#include <cstdint>

#include "alloc/init.h"
#include "group/errc.h"
#include "group/registry.h"
#include "memgroup/memgroup.h"

namespace memgroup::internal::api {

inline int ToErrno(Errc e) {
  switch (e) {
    case Errc::kOk: return 0;
    case Errc::kInvalidArgument: return EINVAL;
    case Errc::kNotFound: return ENOENT;
    case Errc::kAlreadyExists: return EEXIST;
    case Errc::kFailedPrecondition: return EBUSY;
    case Errc::kResourceExhausted: return ENOSPC;
  }
  return EINVAL;
}

// Initialises the library if needed and resolves `group` to a slot index.
inline int Resolve(mg_group_t group, uint32_t* index) {
  if (!alloc::EnsureInit()) return EAGAIN;
  return ToErrno(GlobalRegistry().Resolve(group, index));
}

}  // namespace memgroup::internal::api

#endif  // MEMGROUP_SRC_API_C_API_INTERNAL_H_
