// The C ABI's group tree, limits and OOM policy (include/memgroup/memgroup.h):
// create, look up, destroy, name, limits through the group layer's SetLimit,
// OOM policy and handler. Errors map from Errc to positive errno values; no
// exceptions, no allocation through malloc. In a job member, a group is in
// the job's group table when mg_group_create returns and out of it when
// mg_group_destroy returns; limit and policy changes are republished at
// once (group/job_groups.h).
#include "memgroup/memgroup.h"

#include <errno.h>

#include "alloc/thread.h"
#include "api/c_api_internal.h"
#include "engine/engine.h"
#include "group/job_groups.h"
#include "group/limits.h"
#include "group/oom_handler.h"
#include "group/thread_binding.h"

using namespace memgroup::internal;
using namespace memgroup::internal::alloc;
using namespace memgroup::internal::api;

namespace {

// Destroyed groups retried per mg_group_create (engine::RetirePending).
constexpr uint32_t kRetireBudget = 16;

}  // namespace

extern "C" {

MG_EXPORT mg_group_t mg_root(void) {
  (void)EnsureInit();
  return GlobalRegistry().root();
}

MG_EXPORT int mg_group_create(mg_group_t parent, const char* name,
                              mg_group_t* out) {
  if (out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  // What destroyed groups left behind (arenas, slots) goes back first.
  (void)engine::RetirePending(kRetireBudget);
  GroupId id;
  Errc e = GlobalRegistry().Create(parent, name, &id);
  if (e != Errc::kOk) return ToErrno(e);
  // The jemalloc engine creates the group's arena on its first allocation:
  // an empty group costs its registry entries only. The mimalloc engine's
  // arenas are few (63) and fixed: the group gets one now, or ENOSPC.
  if (engine::SelectedEngine() == EngineChoice::kMimalloc) {
    if (!engine::EnsureGroup(IndexOf(id))) {
      (void)GlobalRegistry().Destroy(id);
      return ENOSPC;
    }
    // A destroyed group's slot keeps its arena on this engine, and the
    // retirement its destroy set (no spare slabs, no free pages kept). The
    // registry reuses a slot only once nothing of that group is charged,
    // so none of its blocks is left to free: the new group keeps them again.
    engine::SetGroupRetired(IndexOf(id), false);
  }
  *out = id;
  PublishGroups();
  return 0;
}

MG_EXPORT int mg_group_lookup(const char* path, mg_group_t* out) {
  if (out == nullptr) return EINVAL;
  if (!EnsureInit()) return EAGAIN;
  return ToErrno(GlobalRegistry().Lookup(path, out));
}

MG_EXPORT int mg_group_destroy(mg_group_t group) {
  if (!EnsureInit()) return EAGAIN;
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  err = ToErrno(GlobalRegistry().Destroy(group));
  if (err != 0) return err;
  if (t_thread.group == index) {
    (void)MoveThread(GlobalRegistry().LiveAncestor(index));
  }
  // Its bins keep no spare slab from now on (its charge reaches 0 with its
  // last block); its free pages go back now, and its arena and chunks as
  // soon as nothing of it is left (now, if its blocks were all freed).
  engine::SetGroupRetired(index, true);
  engine::ReleaseGroup(index);
  PublishGroups();
  return 0;
}

MG_EXPORT int mg_group_path(mg_group_t group, char* buf, size_t cap) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (buf == nullptr || cap == 0) return EINVAL;
  GlobalRegistry().Path(index, buf, cap);
  return 0;
}

MG_EXPORT int mg_group_set_limit(mg_group_t group, mg_limit_t which,
                                 int64_t bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  LimitKind kind;
  switch (which) {
    case MG_LIMIT_MAX: kind = LimitKind::kMax; break;
    case MG_LIMIT_HIGH: kind = LimitKind::kHigh; break;
    case MG_LIMIT_LOW: kind = LimitKind::kLow; break;
    case MG_LIMIT_MIN: kind = LimitKind::kMin; break;
    default: return EINVAL;
  }
  err = ToErrno(SetLimit(index, kind, bytes));
  if (err == 0) PublishGroups();
  return err;
}

MG_EXPORT int mg_group_get_limit(mg_group_t group, mg_limit_t which,
                                 int64_t* bytes) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  if (bytes == nullptr) return EINVAL;
  const CounterTree& t = GlobalRegistry().tree();
  switch (which) {
    case MG_LIMIT_MAX: *bytes = t.Max(index); return 0;
    case MG_LIMIT_HIGH: *bytes = t.High(index); return 0;
    case MG_LIMIT_LOW: *bytes = t.Low(index); return 0;
    case MG_LIMIT_MIN: *bytes = t.Min(index); return 0;
  }
  return EINVAL;
}

MG_EXPORT int mg_group_set_oom_policy(mg_group_t group, mg_oom_policy_t policy,
                                      int64_t timeout_ms) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  // A timeout whose nanoseconds do not fit in int64 (292 years) is refused,
  // as the environment's wait:SECONDS is.
  if (policy < MG_OOM_ENOMEM || policy > MG_OOM_HANDLER || timeout_ms < -1 ||
      timeout_ms > INT64_MAX / 1000000) {
    return EINVAL;
  }
  GroupState& st = GlobalRegistry().state(index);
  // Relaxed: see GroupState.
  st.oom_wait_ns.store(timeout_ms < 0 ? -1 : timeout_ms * 1000000,
                       std::memory_order_relaxed);
  st.oom_policy.store(static_cast<uint32_t>(policy), std::memory_order_relaxed);
  PublishGroups();
  return 0;
}

MG_EXPORT int mg_group_set_oom_handler(mg_group_t group, mg_oom_handler_fn fn,
                                       void* arg) {
  uint32_t index;
  int err = Resolve(group, &index);
  if (err != 0) return err;
  return ToErrno(SetOomHandler(index, reinterpret_cast<OomHandlerFn>(fn), arg));
}

}  // extern "C"
