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
  t.generation = reg.Bind(group);
  if (t.library == 0) MemberJoin(group);
  // No stock under fault injection: every allocation call then reaches the
  // charger, where the fault is drawn per call (fault_injection.h).
  t.stock = FaultInjectionEnabled() ? nullptr : reg.stocks().Acquire();
  reg.stocks().SetPrimary(t.stock, group);
}

void MarkLibraryThread() {
  ThreadState& t = t_thread;
  if (t.library != 0) return;
  if (t.status == kThreadReady) MemberLeave(t.group);
  t.library = 1;
}

void TeardownThread() {
  ThreadState& t = t_thread;
  ThreadStock* ts = t.stock;
  t.stock = nullptr;
  t.status = kThreadExited;
  if (t.library == 0) MemberLeave(t.group);
  Registry& reg = GlobalRegistry();
  reg.stocks().Release(ts);
  // The thread's last charges (other thread-exit destructors) go directly
  // to its group, or to the live ancestor of a destroyed one: once unbound,
  // the slot may hold another group.
  const uint32_t group = t.group;
  t.group = reg.LiveAncestor(group);
  reg.Unbind(group);
}

void BindThreadGroup(uint32_t group) {
  ThreadState& t = t_thread;
  Registry& reg = GlobalRegistry();
  if (t.group == group) {
    // Re-confirms the generation of the group living in the slot.
    t.generation = GenerationOf(reg.IdOf(group));
    return;
  }
  {
    const uint32_t generation = reg.Bind(group);
    reg.stocks().DrainOwn(t.stock);
    reg.stocks().SetPrimary(t.stock, group);
    if (t.library == 0) {
      MemberLeave(t.group);
      MemberJoin(group);
    }
    // After the drain (and the caller's flush of the engine's caches): the
    // old slot may be reused from here on.
    reg.Unbind(t.group);
    t.group = group;
    t.generation = generation;
  }
}

uint32_t LiveBindingTarget() {
  const ThreadState& t = t_thread;
  const Registry& reg = GlobalRegistry();
  GroupId now = reg.IdOf(t.group);
  // Destroyed: the nearest live ancestor (its charges reparented the same
  // way). The slot stays a zombie, parent link included, while this thread
  // is bound to it (Registry::Bind), so the ancestry is always known.
  if (now == kInvalidGroupId) return reg.LiveAncestor(t.group);
  // A live group of another generation: only reachable if the thread bound
  // an index whose group was destroyed and replaced in between (a join
  // racing with a destroy). The parent is not known then.
  if (GenerationOf(now) != t.generation) return kRootGroup;
  return t.group;
}

}  // namespace memgroup::internal
