// Implements the slow side of front_cache.h: the class tables, the caches'
// life cycle (metadata memory, recycled), refill from and flush to jemalloc.
// Owns g_front_lock (the list of all caches and the free list). Must never
// allocate through malloc or call jemalloc with a group other than the
// cache's (refill and flush run on the owner thread, bound to cache->group,
// through jemalloc's automatic tcache; the fork child uses no tcache).
#include "engine/front_cache_internal.h"

#include <atomic>
#include <cstring>

#include "base/limits.h"
#include "base/meta_alloc.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "engine/jemalloc_private.h"
#include "engine/owner_table.h"

namespace memgroup::internal::engine {

MG_TLS FrontCache* t_front = nullptr;
constinit uint8_t g_size_class[(kFrontSmallMax >> 3) + 1] = {};
constinit uint32_t g_class_size[kFrontClasses] = {};

namespace front {
namespace {

// Inline capacity of a small class: about 8 KiB of blocks, 8 to 64 slots.
// Together at most kFrontSmallBytesMax (~150 KiB) per thread.
uint16_t SmallCap(uint32_t size) {
  uint32_t cap = 65536 / size;
  if (cap < 8) cap = 8;
  if (cap > 64) cap = 64;
  return static_cast<uint16_t>(cap);
}
// Large classes hold at most one block each (and kFrontLargeBudget bytes
// together), pushed and popped by the engine's slow paths.
inline constexpr uint16_t kLargeCap = 1;

uint16_t RealCap(uint32_t cls) {
  return cls >= kFrontFirstLarge ? kLargeCap : SmallCap(g_class_size[cls]);
}

// Slots of one cache, for the size of its metadata block.
constinit uint32_t g_total_slots = 0;
constinit size_t g_cache_bytes = 0;
// Set once by InitClasses (under the engine's init lock, before any cache
// exists; published by the engine's init release store).
constinit bool g_enabled = false;

// Every cache ever made (linked through next_all) and the free ones (through
// next_free). Taken on thread bind/exit and at fork.
constinit SpinLock g_front_lock;
constinit FrontCache* g_all = nullptr;
constinit FrontCache* g_free = nullptr;

size_t ReadSize(const char* prefix, unsigned i) {
  char name[64];
  size_t n = 0;
  for (const char* s = prefix; *s != '\0'; ++s) name[n++] = *s;
  char digits[12];
  size_t k = 0;
  do {
    digits[k++] = static_cast<char>('0' + i % 10);
    i /= 10;
  } while (i != 0);
  while (k > 0) name[n++] = digits[--k];
  for (const char* s = ".size"; *s != '\0'; ++s) name[n++] = *s;
  name[n] = '\0';
  size_t v = 0;
  size_t len = sizeof(v);
  if (mgje_mallctl(name, &v, &len, nullptr, 0) != 0) return 0;
  return v;
}

// Returns blocks slots[0..n) of a bin to jemalloc.
void Release(void** slots, uint32_t n, bool via_tcache) {
  for (uint32_t i = 0; i < n; ++i) {
    if (via_tcache) {
      mgje_free(slots[i]);
    } else {
      mgje_dallocx(slots[i], MALLOCX_TCACHE_NONE);
    }
  }
}

void FlushAll(FrontCache* fc, bool via_tcache) {
  for (uint32_t cls = 1; cls < kFrontClasses; ++cls) {
    FrontBin& b = fc->bins[cls];
    Release(b.slots, b.count, via_tcache);
    b.count = 0;
  }
  fc->large_bytes = 0;
}

}  // namespace

namespace {

bool FillClasses() {
  unsigned nbins = 0;
  size_t len = sizeof(nbins);
  size_t page = 0;
  size_t plen = sizeof(page);
  if (mgje_mallctl("arenas.nbins", &nbins, &len, nullptr, 0) != 0 ||
      mgje_mallctl("arenas.page", &page, &plen, nullptr, 0) != 0 ||
      nbins + 1 != kFrontFirstLarge || page != (size_t{1} << owner_table::kPageShift)) {
    RawLog("engine: unexpected jemalloc size classes; front cache disabled");
    return false;
  }
  for (uint32_t cls = 1; cls < kFrontClasses; ++cls) {
    unsigned j = cls - 1;
    size_t size = j < nbins ? ReadSize("arenas.bin.", j)
                            : ReadSize("arenas.lextent.", j - nbins);
    if (size == 0 || size > UINT32_MAX) return false;
    g_class_size[cls] = static_cast<uint32_t>(size);
  }
  if (g_class_size[kFrontClasses - 1] != kFrontMaxBytes) {
    RawLog("engine: unexpected jemalloc size classes; front cache disabled");
    return false;
  }
  // Request -> class for small sizes: the first class that fits.
  uint32_t cls = 1;
  for (size_t i = 0; i <= (kFrontSmallMax >> 3); ++i) {
    size_t request = i == 0 ? 1 : i << 3;
    while (g_class_size[cls] < request) ++cls;
    g_size_class[i] = static_cast<uint8_t>(cls);
  }
  // ClassOfUsable's arithmetic must agree with jemalloc for every class.
  for (uint32_t c = 1; c < kFrontClasses; ++c) {
    if (ClassOfUsable(g_class_size[c]) != c) {
      RawLog("engine: size class %u (%u bytes) breaks the class formula; "
             "front cache disabled", c, g_class_size[c]);
      return false;
    }
  }
  return true;
}

}  // namespace

bool InitClasses() {
  if (!FillClasses()) {
    // Disabled: the tables read 0 everywhere, so nothing trusts them.
    memset(g_size_class, 0, sizeof(g_size_class));
    memset(g_class_size, 0, sizeof(g_class_size));
    return false;
  }
  uint32_t slots = 0;
  for (uint32_t c = 1; c < kFrontClasses; ++c) slots += RealCap(c);
  g_total_slots = slots;
  g_cache_bytes = sizeof(FrontCache) + slots * sizeof(void*);
  g_enabled = true;
  return true;
}

FrontCache* Acquire(uint32_t group) {
  if (!g_enabled) return nullptr;
  FrontCache* fc = nullptr;
  {
    SpinLockHolder holder(&g_front_lock);
    fc = g_free;
    if (fc != nullptr) g_free = fc->next_free;
  }
  if (fc == nullptr) {
    fc = static_cast<FrontCache*>(MetaMap(g_cache_bytes));
    if (fc == nullptr) return nullptr;
    void** slots = reinterpret_cast<void**>(fc + 1);
    for (uint32_t c = 1; c < kFrontClasses; ++c) {
      FrontBin& b = fc->bins[c];
      b.size = g_class_size[c];
      b.cap = c >= kFrontFirstLarge ? 0 : RealCap(c);
      b.slots = slots;
      slots += RealCap(c);
    }
    SpinLockHolder holder(&g_front_lock);
    fc->next_all = g_all;
    g_all = fc;
  }
  fc->in_use = true;
  SetGroup(fc, group);
  return fc;
}

void SetGroup(FrontCache* fc, uint32_t group) {
  fc->group = group;
  fc->tag = owner_table::MakeEntry(group, 0);
}

void Retire(FrontCache* fc) {
  FlushAll(fc, /*via_tcache=*/true);
  SpinLockHolder holder(&g_front_lock);
  fc->in_use = false;
  SetGroup(fc, kNoGroup);
  fc->next_free = g_free;
  g_free = fc;
}

void Flush(FrontCache* fc) { FlushAll(fc, /*via_tcache=*/true); }

void* Refill(FrontCache* fc, uint32_t cls) {
  FrontBin& b = fc->bins[cls];
  // Half the capacity, like jemalloc's tcache fill; one block for large.
  uint32_t want = cls >= kFrontFirstLarge ? 1 : (RealCap(cls) + 1) / 2;
  void* got[64];
  uint32_t n = 0;
  const uint32_t entry = owner_table::MakeEntry(fc->group, cls);
  while (n < want) {
    void* p = mgje_malloc(b.size);
    if (p == nullptr) break;
    if (MG_UNLIKELY(owner_table::OwnerOf(p) != fc->group)) {
      // jemalloc served another arena (its own reentrant threads, such as
      // its background threads, use arena 0 whatever thread.arena says).
      mgje_dallocx(p, MALLOCX_TCACHE_NONE);
      break;
    }
    owner_table::PublishBlock(p, entry);
    got[n++] = p;
  }
  if (n == 0) return nullptr;
  // got[0] is returned; the rest go on the stack so that got[1] pops next.
  for (uint32_t i = n - 1; i >= 1; --i) b.slots[b.count++] = got[i];
  return got[0];
}

bool Push(FrontCache* fc, void* p, uint32_t cls) {
  FrontBin& b = fc->bins[cls];
  if (cls >= kFrontFirstLarge) {
    if (b.count >= kLargeCap) return false;  // The caller frees it to jemalloc.
    // Over budget: the other large blocks go back, largest first (the newest
    // free is the likeliest to be reused).
    for (uint32_t c = kFrontClasses - 1;
         c >= kFrontFirstLarge && fc->large_bytes + b.size > kFrontLargeBudget;
         --c) {
      FrontBin& victim = fc->bins[c];
      Release(victim.slots, victim.count, /*via_tcache=*/true);
      fc->large_bytes -= static_cast<uint64_t>(victim.count) * victim.size;
      victim.count = 0;
    }
    fc->large_bytes += b.size;
    b.slots[b.count++] = p;
    return true;
  }
  if (b.count >= b.cap) {
    // Full: return the older half to jemalloc, keep the recently freed.
    uint32_t drop = b.count / 2;
    Release(b.slots, drop, /*via_tcache=*/true);
    memmove(b.slots, b.slots + drop, (b.count - drop) * sizeof(void*));
    b.count = static_cast<uint16_t>(b.count - drop);
  }
  b.slots[b.count++] = p;
  return true;
}

void PrepareFork() { g_front_lock.Lock(); }
void ParentFork() { g_front_lock.Unlock(); }

void ChildFork(FrontCache* self) {
  g_front_lock.ResetAfterFork();
  // The other threads are gone: their cached blocks go back to the arenas
  // directly (their groups are not this thread's bound group, so never
  // through the automatic tcache), and their caches to the free list.
  SpinLockHolder holder(&g_front_lock);
  for (FrontCache* fc = g_all; fc != nullptr; fc = fc->next_all) {
    if (!fc->in_use || fc == self) continue;
    FlushAll(fc, /*via_tcache=*/false);
    fc->in_use = false;
    SetGroup(fc, kNoGroup);
    fc->next_free = g_free;
    g_free = fc;
  }
}

}  // namespace front
}  // namespace memgroup::internal::engine
