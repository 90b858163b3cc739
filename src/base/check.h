// Invariant checks in two tiers. MG_CHECK is always on; MG_DCHECK is on in
// debug builds (MG_DEBUG). A failure formats its message on the stack, writes
// it with write(2) and aborts.
// Allocates: never.
#ifndef MEMGROUP_SRC_BASE_CHECK_H_
#define MEMGROUP_SRC_BASE_CHECK_H_

#include "base/macros.h"

namespace memgroup::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond,
                              const char* msg) MG_COLD MG_NOINLINE;
// A pointer passed to free/realloc that is no live block of ours: reports
// like glibc, one line "memgroup: <call>(): <what> 0x..." written to fd 2
// without allocating, then aborts.
[[noreturn]] void BadPointer(const char* call, const char* what,
                             const void* p) MG_COLD MG_NOINLINE;
}  // namespace memgroup::internal

#define MG_CHECK_MSG(cond, msg)                                          \
  do {                                                                   \
    if (MG_UNLIKELY(!(cond)))                                            \
      ::memgroup::internal::CheckFailed(__FILE__, __LINE__, #cond, msg); \
  } while (0)
#define MG_CHECK(cond) MG_CHECK_MSG(cond, "")

#if defined(MG_DEBUG)
#define MG_DCHECK(cond) MG_CHECK(cond)
#else
#define MG_DCHECK(cond) \
  do {                  \
    (void)sizeof(cond); \
  } while (0)
#endif

#endif  // MEMGROUP_SRC_BASE_CHECK_H_
