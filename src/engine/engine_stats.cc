// Statistics and jemalloc's control interface: GroupStats and
// GroupHistogram (jemalloc's per-arena statistics, corrected for the slabs,
// which jemalloc counts as large blocks), the mallctl family forwarded to
// the private jemalloc (refusing background threads) and MallocStatsPrint;
// with the mimalloc engine, GroupStats and GroupHistogram come from
// mimalloc_engine.h and the slabs, and the mallctl family answers ENOENT.
// Owns nothing. Slow paths only.
//
// Must never: allocate through malloc (mallctl names are built by hand, not
// with snprintf); let a program enable jemalloc's background threads.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "base/limits.h"
#include "base/macros.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/free_pages.h"
#include "engine/group_arena.h"
#include "engine/mimalloc_engine.h"
#include "engine/jemalloc_private.h"
#include "engine/slab.h"
#include "engine/slab_chunks.h"

namespace memgroup::internal::engine {
namespace {

// A mallctl name built by hand (snprintf may allocate). Allocates: never.
class CtlName {
 public:
  CtlName& Add(const char* s) {
    while (*s != '\0' && n_ + 1 < sizeof(buf_)) buf_[n_++] = *s++;
    buf_[n_] = '\0';
    return *this;
  }
  CtlName& Add(unsigned v) {
    char tmp[16];
    size_t k = 0;
    do {
      tmp[k++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (k > 0 && n_ + 1 < sizeof(buf_)) buf_[n_++] = tmp[--k];
    buf_[n_] = '\0';
    return *this;
  }
  const char* c_str() const { return buf_; }

 private:
  char buf_[96] = {};
  size_t n_ = 0;
};

// Reads the mallctl `name` into *v (0 on failure); false on failure.
template <typename T>
bool ReadCtl(const char* name, T* v) {
  size_t len = sizeof(*v);
  *v = 0;
  return mgje_mallctl(name, v, &len, nullptr, 0) == 0;
}

// The arena of `group` with jemalloc's statistics refreshed (mallctl
// "epoch"), or 0 when the group has no arena or the refresh fails.
unsigned ArenaForStats(uint32_t group) {
  if (group >= kMaxGroups) return 0;
  const unsigned ind = ArenaOf(group);
  if (ind == 0) return 0;
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  if (mgje_mallctl("epoch", &epoch, &len, &epoch, len) != 0) return 0;
  return ind;
}

}  // namespace

namespace {
bool GroupStatsInUse(uint32_t group, EngineGroupStats* out);
}  // namespace

bool GroupStats(uint32_t group, EngineGroupStats* out) {
  if (out == nullptr || group >= kMaxGroups) return false;
  // A destroyed group another thread may be retiring: its arena and bins
  // stay while they are read, or it has none to read.
  if (!BeginGroupUse(group)) return false;
  const bool ok = GroupStatsInUse(group, out);
  // The free slabs' charged pages are free pages too (slab_chunks.h).
  slab::GroupSlabStats ss{};
  slab::Stats(group, &ss);
  EndGroupUse(group);
  if (ok) {
    const int64_t kept = FreePagesOf(group);
    out->free_bytes =
        (kept > 0 ? static_cast<uint64_t>(kept) : 0) + ss.free_slab_bytes;
    out->returned_bytes = static_cast<uint64_t>(ReturnedPagesOf(group));
    const int64_t cached = CachedLargeOf(group);
    out->cached_bytes = cached > 0 ? static_cast<uint64_t>(cached) : 0;
  }
  return ok;
}

namespace {

bool GroupStatsInUse(uint32_t group, EngineGroupStats* out) {
  if (UsesMimalloc()) return mi::GroupStats(group, out);
  const unsigned ind = ArenaForStats(group);
  if (ind == 0) return false;
  auto read = [ind](const char* leaf, size_t* v) {
    CtlName name;
    name.Add("stats.arenas.").Add(JeArena(ind)).Add(".").Add(leaf);
    return ReadCtl(name.c_str(), v);
  };
  size_t resident = 0, retained = 0, base = 0, pactive = 0, small = 0,
         large = 0, small_nmalloc = 0, small_ndalloc = 0, large_nmalloc = 0,
         large_ndalloc = 0;
  bool ok = read("resident", &resident) && read("retained", &retained) &&
            read("base", &base) && read("pactive", &pactive) &&
            read("small.allocated", &small) && read("large.allocated", &large) &&
            read("small.nmalloc", &small_nmalloc) &&
            read("small.ndalloc", &small_ndalloc) &&
            read("large.nmalloc", &large_nmalloc) &&
            read("large.ndalloc", &large_ndalloc);
  if (!ok) return false;
  // jemalloc counts each chunk of slabs as one large block (slab_chunks.h);
  // the regions are ours.
  slab::GroupSlabStats ss{};
  slab::Stats(group, &ss);
  auto minus = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  out->nmalloc = static_cast<uint64_t>(small_nmalloc) +
                 minus(large_nmalloc, ss.chunk_allocs) + ss.nmalloc;
  out->ndalloc = static_cast<uint64_t>(small_ndalloc) +
                 minus(large_ndalloc, ss.chunk_frees) + ss.ndalloc;
  out->mapped_bytes = MappedBytes(group);
  out->resident_bytes = resident;
  out->retained_bytes = retained;
  out->metadata_bytes = base;
  out->active_bytes = static_cast<uint64_t>(pactive) * kPageSize;
  out->allocated_bytes = static_cast<uint64_t>(small) +
                        minus(large, ss.chunk_bytes) + ss.allocated_bytes;
  return true;
}

}  // namespace

size_t GroupHistogram(uint32_t group, EngineSizeClass* out, size_t cap) {
  if (out == nullptr) return 0;
  if (UsesMimalloc()) {
    // The slab classes only: mimalloc keeps no per-arena count of large
    // blocks by size.
    if (group >= kMaxGroups || ArenaOf(group) == 0) return 0;
    size_t n = 0;
    for (uint32_t cls = 1; cls <= slab::kSmallClasses && n < cap; ++cls) {
      const uint64_t count = slab::RegionsOut(group, cls);
      if (count != 0) out[n++] = {g_usable_of_class[cls], count};
    }
    return n;
  }
  const unsigned ind = ArenaForStats(group);
  if (ind == 0) return 0;
  unsigned nbins = 0, nlextents = 0;
  if (!ReadCtl("arenas.nbins", &nbins) ||
      !ReadCtl("arenas.nlextents", &nlextents)) {
    return 0;
  }
  size_t n = 0;
  // Small classes: regions out of the group's slabs (the slab classes, when
  // the class tables are up) and live regions of the arena's bins (none
  // then: every small block is a slab region); large classes: live extents.
  for (uint32_t cls = 1; cls <= slab::kSmallClasses && n < cap; ++cls) {
    const uint64_t count = slab::RegionsOut(group, cls);
    if (count != 0) out[n++] = {g_usable_of_class[cls], count};
  }
  for (int kind = 0; kind < 2 && n < cap; ++kind) {
    unsigned classes = kind == 0 ? nbins : nlextents;
    for (unsigned j = 0; j < classes && n < cap; ++j) {
      CtlName count_name;
      count_name.Add("stats.arenas.")
          .Add(JeArena(ind))
          .Add(kind == 0 ? ".bins." : ".lextents.")
          .Add(j)
          .Add(kind == 0 ? ".curregs" : ".curlextents");
      CtlName size_name;
      size_name.Add(kind == 0 ? "arenas.bin." : "arenas.lextent.").Add(j)
          .Add(".size");
      size_t count = 0, size = 0;
      if (!ReadCtl(count_name.c_str(), &count) ||
          !ReadCtl(size_name.c_str(), &size)) {
        continue;
      }
      if (kind == 1 && size == slab::kSlabChunkBytes) {
        // The chunks of slabs are large blocks of the arena (slab_chunks.h).
        slab::GroupSlabStats ss{};
        slab::Stats(group, &ss);
        count = count > ss.chunks ? count - ss.chunks : 0;
      }
      if (count == 0) continue;
      out[n++] = {size, count};
    }
  }
  return n;
}

int Mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp,
            size_t newlen) {
  if (newp != nullptr && name != nullptr &&
      (strcmp(name, "background_thread") == 0 ||
       strcmp(name, "max_background_threads") == 0)) {
    return EPERM;  // See engine.h, Mallctl.
  }
  if (UsesMimalloc()) return ENOENT;  // No jemalloc in this process.
  return mgje_mallctl(name, oldp, oldlenp, newp, newlen);
}

int MallctlNameToMib(const char* name, size_t* mibp, size_t* miblenp) {
  if (UsesMimalloc()) return ENOENT;
  return mgje_mallctlnametomib(name, mibp, miblenp);
}

int MallctlByMib(const size_t* mib, size_t miblen, void* oldp, size_t* oldlenp,
                 void* newp, size_t newlen) {
  if (UsesMimalloc()) return ENOENT;
  if (newp != nullptr && mib != nullptr && miblen == 1 && EnsureCtl() &&
      (mib[0] == g_mibs.background_thread.v[0] ||
       mib[0] == g_mibs.max_background_threads.v[0])) {
    return EPERM;  // See engine.h, Mallctl.
  }
  return mgje_mallctlbymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

void MallocStatsPrint(void (*write_cb)(void*, const char*), void* cbopaque,
                      const char* opts) {
  if (UsesMimalloc()) {
    if (write_cb != nullptr) {
      write_cb(cbopaque, "memgroup: the mimalloc engine has no jemalloc "
                         "statistics (see `memgroup stat`)\n");
    }
    return;
  }
  mgje_malloc_stats_print(write_cb, cbopaque, opts);
}

}  // namespace memgroup::internal::engine
