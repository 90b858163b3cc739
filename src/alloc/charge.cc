// Implements charge.h.
#include "alloc/charge.h"

#include "alloc/thread.h"
#include "base/macros.h"
#include "engine/engine.h"
#include "group/charger.h"
#include "group/registry.h"

namespace memgroup::internal::alloc {

size_t GuardedUsable(size_t size, size_t align) {
  const size_t usable = engine::GoodSize(size, align);
  return usable <= static_cast<size_t>(INT64_MAX) ? usable : 0;
}

void Uncharge(uint32_t owner, int64_t bytes, int64_t extra) {
  if (MG_UNLIKELY(t_thread.status == kThreadNew)) PrepareThread();
  UnchargeSlow(owner, bytes, extra);
}

void SettleCharge(uint32_t owner, int64_t charged, int64_t actual) {
  if (actual < charged) {
    Uncharge(owner, charged - actual);
  } else if (actual > charged) {
    GlobalRegistry().tree().Charge(owner, actual - charged);
  }
}

}  // namespace memgroup::internal::alloc
