// The C ABI's program callbacks and reclaim (include/memgroup/memgroup.h):
// reclaimers, proactive reclaim, usage thresholds and pressure callbacks.
// No exceptions, no allocation through malloc.
#include "memgroup/memgroup.h"

#include <errno.h>

#include "api/c_api_internal.h"
#include "group/job_groups.h"
#include "group/pressure.h"
#include "group/reclaim.h"
#include "group/thresholds.h"

using namespace memgroup::internal;
using namespace memgroup::internal::alloc;
using namespace memgroup::internal::api;

extern "C" {

MG_EXPORT int mg_reclaim_register(mg_group_t group, mg_reclaim_fn fn,
                                  void* arg, int* handle) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  return ToErrno(RegisterReclaimer(index, reinterpret_cast<ReclaimFn>(fn), arg,
                                   handle));
}

MG_EXPORT int mg_reclaim_unregister(int handle) {
  return ToErrno(UnregisterReclaimer(handle));
}

MG_EXPORT int mg_group_reclaim(mg_group_t group, int64_t bytes,
                               int64_t* released) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes < 0 || released == nullptr) return EINVAL;
  *released = ProactiveReclaim(index, bytes);
  return 0;
}

MG_EXPORT int mg_threshold_register(mg_group_t group, int64_t threshold,
                                    mg_threshold_fn fn, void* arg,
                                    int* handle) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  err = ToErrno(RegisterThreshold(
      index, threshold, reinterpret_cast<ThresholdFn>(fn), arg, handle));
  // The root group's crossings are published from now on (job_groups.h).
  if (err == 0 && index == kRootGroup) WatchRootCrossings();
  return err;
}

MG_EXPORT int mg_threshold_unregister(int handle) {
  return ToErrno(UnregisterThreshold(handle));
}

MG_EXPORT int mg_pressure_register(mg_group_t group, int level,
                                   mg_pressure_fn fn, void* arg, int* handle) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  err = ToErrno(RegisterPressureCallback(
      index, level, reinterpret_cast<PressureFn>(fn), arg, handle));
  if (err == 0 && index == kRootGroup) WatchRootCrossings();
  return err;
}

MG_EXPORT int mg_pressure_unregister(int handle) {
  return ToErrno(UnregisterPressureCallback(handle));
}

}  // extern "C"
