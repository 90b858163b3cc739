// The OOM policies of a group (what a refused charge does last), one each:
// enomem (fail), abort (report, abort()), kill (report, SIGKILL), wait
// (futex wait for frees or a raised limit, with an optional timeout) and
// handler (the program's callback decides: retry, fail or force); and the
// wake-up of waiters when a limit rises or memory is released.
// Must never: hold a lock while the handler runs or while waiting, allocate,
// call the engine or any layer above (the report's engine figures come
// through the one report hook, stats_report.h).
// Allocates: never.
#ifndef MEMGROUP_SRC_GROUP_OOM_POLICY_H_
#define MEMGROUP_SRC_GROUP_OOM_POLICY_H_

#include <cstdint>

#include "group/charger.h"

namespace memgroup::internal {

// Applies the OOM policy of `refusing` (the level that refused a charge of
// `bytes` to `group`, after drain and reclaim), raises its `oom` event and,
// first, writes the process's one refusal notice if the limit is
// MEMGROUP_MAX's or a job's (refusal_notice.h).
// kOk when the policy got the charge through; abort and kill never return.
ChargeResult RunOomPolicy(uint32_t group, uint32_t refusing, int64_t bytes);

// Wakes threads waiting under the `wait` policy in `group`'s subtree after
// its (or an ancestor's) limit was raised or memory was released.
// Allocates: never.
void NotifyLimitChanged(uint32_t group);

}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_GROUP_OOM_POLICY_H_
