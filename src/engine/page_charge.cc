// Implements page_charge.h.
//
// SYNCHRONIZATION: g_charger is written once at init, before any thread but
// the initialising one allocates (release), and read by every slab creation
// and release (acquire). t_uncharged is the calling thread's own.
#include "engine/page_charge.h"

#include <atomic>

#include "engine/free_pages.h"

namespace memgroup::internal::engine {
namespace {

constinit std::atomic<const PageCharger*> g_charger{nullptr};
MG_TLS int64_t t_uncharged = 0;

}  // namespace

void SetPageCharger(const PageCharger* c) {
  // Pairs with the acquire loads below: the struct is complete when seen.
  g_charger.store(c, std::memory_order_release);
}

bool ChargePages(uint32_t group, int64_t bytes) {
  // Pairs with SetPageCharger's release store.
  const PageCharger* c = g_charger.load(std::memory_order_acquire);
  if (c == nullptr) return true;
  // The group's free pages (free_pages.h) are charged already: the arena
  // serves the new pages from them first.
  const int64_t taken = TakeFreePages(group, bytes);
  if (taken == bytes || c->charge(group, bytes - taken)) return true;
  // Refused, after a reclaim that purged the group's arena: the pages taken
  // are gone too.
  if (taken > 0) UnchargePages(group, taken);
  return false;
}

bool TryChargePages(uint32_t group, int64_t bytes) {
  // Pairs with SetPageCharger's release store.
  const PageCharger* c = g_charger.load(std::memory_order_acquire);
  return c == nullptr || c->try_charge(group, bytes);
}

void UnchargePages(uint32_t group, int64_t bytes) {
  // Pairs with SetPageCharger's release store.
  const PageCharger* c = g_charger.load(std::memory_order_acquire);
  if (c == nullptr) return;
  c->uncharge(group, bytes);
  t_uncharged += bytes;
}

void UnchargeFreePages(uint32_t group, int64_t bytes) {
  const int64_t taken = TakeFreePages(group, bytes);
  if (taken > 0) UnchargePages(group, taken);
}

void UnchargeInheritedPages(uint32_t group, int64_t bytes) {
  // Pairs with SetPageCharger's release store.
  const PageCharger* c = g_charger.load(std::memory_order_acquire);
  if (c == nullptr || c->uncharge_inherited == nullptr || bytes <= 0) return;
  c->uncharge_inherited(group, bytes);
  t_uncharged += bytes;
}

int64_t TakeUnchargedPages() {
  const int64_t n = t_uncharged;
  t_uncharged = 0;
  return n;
}

}  // namespace memgroup::internal::engine
