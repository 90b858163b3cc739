// Implements the failure paths of check.h. Allocates: never.
#include "base/check.h"

#include <cstdlib>

#include "base/raw_log.h"

namespace memgroup::internal {

void CheckFailed(const char* file, int line, const char* cond,
                 const char* msg) {
  RawLog("check failed at %s:%d: %s %s", file, line, cond, msg);
  abort();
}

void BadPointer(const char* call, const char* what, const void* p) {
  RawPrint(2, "memgroup: %s(): %s %p\n", call, what, p);
  abort();
}

}  // namespace memgroup::internal
