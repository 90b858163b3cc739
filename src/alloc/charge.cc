// Implements charge.h.
#include "alloc/charge.h"

#include "alloc/thread.h"
#include "base/macros.h"
#include "engine/engine.h"
#include "engine/page_charge.h"
#include "group/charger.h"
#include "group/reclaim.h"
#include "group/registry.h"

namespace memgroup::internal::alloc {

size_t GuardedUsable(size_t size, size_t align) {
  const size_t usable = engine::GoodSize(size, align);
  return usable <= static_cast<size_t>(INT64_MAX) ? usable : 0;
}

void Uncharge(uint32_t owner, int64_t bytes) {
  if (MG_UNLIKELY(t_thread.status == kThreadNew)) PrepareThread();
  UnchargeSlow(owner, bytes);
}

namespace {

bool ChargeEnginePages(uint32_t group, int64_t bytes) {
  return ChargeSlow(group, bytes, ChargeKind::kEnginePages) ==
         ChargeResult::kOk;
}

void UnchargeEnginePages(uint32_t group, int64_t bytes) {
  Uncharge(group, bytes);
}

// On the counter only: no stock, reclaim or OOM policy, and a refusal is
// not counted (RetryCharge).
bool TryChargeEnginePages(uint32_t group, int64_t bytes) {
  uint32_t failed = 0;
  return RetryCharge(group, bytes, &failed) == ChargeResult::kOk;
}

constexpr engine::PageCharger kPageCharger{
    ChargeEnginePages, UnchargeEnginePages, TryChargeEnginePages,
    UnchargeInherited};

// The groups one pass of a page reclaim collects (the registry lock is held
// while collecting, not while purging).
constexpr int kMaxPurgeGroups = 256;

}  // namespace

int64_t ReleaseFreePages(uint32_t target) {
  (void)engine::TakeUnchargedPages();
  // kMaxPurgeGroups at a time (the registry lock is not held while the
  // engine purges): pass k takes the groups numbered k * kMaxPurgeGroups
  // and up in the subtree's pre-order.
  for (int first = 0;; first += kMaxPurgeGroups) {
    uint32_t groups[kMaxPurgeGroups];
    int n = 0, seen = 0;
    GlobalRegistry().ForEachChargedInSubtree(target, [&](uint32_t g) {
      if (seen++ >= first && n < kMaxPurgeGroups) groups[n++] = g;
    });
    for (int i = 0; i < n; ++i) engine::Purge(groups[i]);
    if (seen <= first + kMaxPurgeGroups) break;
  }
  return engine::TakeUnchargedPages();
}

void InstallPageCharger() {
  engine::SetPageCharger(&kPageCharger);
  SetPageReclaimHook(ReleaseFreePages);
}

void SettleCharge(uint32_t owner, int64_t charged, int64_t actual) {
  if (actual < charged) {
    Uncharge(owner, charged - actual);
  } else if (actual > charged) {
    GlobalRegistry().tree().Charge(owner, actual - charged);
  }
}

}  // namespace memgroup::internal::alloc
