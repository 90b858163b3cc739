// Implements thread_binding.h.
//
// SYNCHRONIZATION
// - t_thread is owner-only (initial-exec TLS); nothing else reads it.
// - Stocks follow the busy/frozen protocol of charge_stock.h; this file only
//   calls ChargeStocks.
#include "group/thread_binding.h"

#include "group/fault_injection.h"
#include "group/pressure.h"

namespace memgroup::internal {

MG_TLS ThreadState t_thread = {};

void SetupThread() {
  ThreadState& t = t_thread;
  if (t.status != kThreadNew) return;
  Registry& reg = GlobalRegistry();
  t.status = kThreadReady;
  uint32_t group = kRootGroup;
  if (t.inherited_group_plus1 != 0) {
    group = reg.LiveAncestor(t.inherited_group_plus1 - 1);
  }
  t.group = group;
  t.generation = GenerationOf(reg.IdOf(group));
  MemberJoin(group);
  // No stock under fault injection: every allocation call then reaches the
  // charger, where the fault is drawn per call (fault_injection.h).
  t.stock = FaultInjectionEnabled() ? nullptr : reg.stocks().Acquire();
  reg.stocks().SetPrimary(t.stock, group);
}

void TeardownThread() {
  ThreadState& t = t_thread;
  ThreadStock* ts = t.stock;
  t.stock = nullptr;
  t.status = kThreadExited;
  MemberLeave(t.group);
  GlobalRegistry().stocks().Release(ts);
}

void BindThreadGroup(uint32_t group) {
  ThreadState& t = t_thread;
  Registry& reg = GlobalRegistry();
  if (t.group != group) {
    reg.stocks().DrainOwn(t.stock);
    reg.stocks().SetPrimary(t.stock, group);
    MemberLeave(t.group);
    MemberJoin(group);
    t.group = group;
  }
  t.generation = GenerationOf(reg.IdOf(group));
}

uint32_t LiveBindingTarget() {
  const ThreadState& t = t_thread;
  const Registry& reg = GlobalRegistry();
  GroupId now = reg.IdOf(t.group);
  // Destroyed: the nearest live ancestor (its charges reparented the same
  // way).
  if (now == kInvalidGroupId) return reg.LiveAncestor(t.group);
  // Destroyed, and the slot already reused by another group.
  if (GenerationOf(now) != t.generation) return kRootGroup;
  return t.group;
}

}  // namespace memgroup::internal
