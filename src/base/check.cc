// Implements the failure path of check.h. Allocates: never.
#include "base/check.h"

#include <cstdlib>

#include "base/raw_log.h"

namespace memgroup::internal {

void CheckFailed(const char* file, int line, const char* cond,
                 const char* msg) {
  RawLog("check failed at %s:%d: %s %s", file, line, cond, msg);
  abort();
}

}  // namespace memgroup::internal
