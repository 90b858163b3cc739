// The program's OOM handler of each group (the `handler` OOM policy): its
// registration and the call that asks it for a verdict.
// Must never: hold a lock while the handler runs (it runs with the thread's
// slow-path depth raised), allocate, call the engine or any layer above.
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_OOM_HANDLER_H_
#define MEMGROUP_SRC_GROUP_OOM_HANDLER_H_

#include <cstdint>

#include "group/errc.h"
#include "group/registry.h"

namespace memgroup::internal {

// Decides a refused charge: returns kOomRetry, kOomFail or kOomForce.
using OomHandlerFn = int (*)(GroupId group, int64_t bytes, void* arg);

inline constexpr int kOomRetry = 0;
inline constexpr int kOomFail = 1;
inline constexpr int kOomForce = 2;

Errc SetOomHandler(uint32_t group, OomHandlerFn fn, void* arg);
// Runs the group's OOM handler; kOomFail when none is set.
int RunOomHandler(uint32_t group, int64_t bytes);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_OOM_HANDLER_H_
