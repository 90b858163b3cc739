// Implements oom_handler.h. The handler and its argument live in the
// group's GroupState: arg stored first (relaxed), fn last (release), read
// fn first (acquire), so a handler is never called with a stale argument.
#include "group/oom_handler.h"

#include "group/thread_binding.h"

namespace memgroup::internal {

Errc SetOomHandler(uint32_t group, OomHandlerFn fn, void* arg) {
  GroupState& st = GlobalRegistry().state(group);
  // Relaxed arg, then release fn: pairs with RunOomHandler's acquire of fn.
  st.oom_handler_arg.store(arg, std::memory_order_relaxed);
  st.oom_handler_fn.store(reinterpret_cast<void*>(fn),
                          std::memory_order_release);
  return Errc::kOk;
}

int RunOomHandler(uint32_t group, int64_t bytes) {
  GroupState& st = GlobalRegistry().state(group);
  // Pairs with SetOomHandler's release store.
  auto fn = reinterpret_cast<OomHandlerFn>(
      st.oom_handler_fn.load(std::memory_order_acquire));
  if (fn == nullptr) return kOomFail;
  // Relaxed: ordered by the acquire load of fn above.
  void* arg = st.oom_handler_arg.load(std::memory_order_relaxed);
  DepthGuard depth;
  int verdict = fn(GlobalRegistry().IdOf(group), bytes, arg);
  return (verdict == kOomRetry || verdict == kOomForce) ? verdict : kOomFail;
}

}  // namespace memgroup::internal
