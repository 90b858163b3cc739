// Implements slab_chunks.h: each group's chunks of slabs (taken from and
// given back to its jemalloc arena, recorded in pages of MetaMap memory),
// its warm and cold free-slab lists, and their purge. Allocates: never
// through malloc.
#include "engine/slab_chunks.h"

#include <sys/mman.h>

#include <atomic>

#include "base/check.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/meta_alloc.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/free_pages.h"
#include "engine/jemalloc_private.h"
#include "engine/owner_table.h"
#include "engine/page_charge.h"

namespace memgroup::internal::engine::slab {

// In the side slot of a free slab (where an in-use slab keeps its header),
// so that a purged slab's pages stay untouched.
struct FreeSlabNode {
  FreeSlabNode* next;
  char* base;
  uint32_t charged_pages;  // from the slab's start
};
static_assert(sizeof(FreeSlabNode) <= owner_table::kSideSlotBytes);

// One page of chunk records, linked from SlabChunks::pages (newest first).
struct ChunkPage {
  ChunkPage* next;
  uint64_t n;
  char* chunk[(kPageSize - 16) / sizeof(char*)];
};
static_assert(sizeof(ChunkPage) == kPageSize);

namespace {

FreeSlabNode* NodeOf(char* base) {
  return static_cast<FreeSlabNode*>(owner_table::SideSlot(base));
}

// Under c.lock.
void PushLocked(FreeSlabNode** list, FreeSlabNode* node) {
  node->next = *list;
  *list = node;
}
FreeSlabNode* PopLocked(FreeSlabNode** list) {
  FreeSlabNode* node = *list;
  if (node != nullptr) *list = node->next;
  return node;
}

// Relaxed read-modify-writes of statistics under c.lock (see
// slab_chunks.h, SYNCHRONIZATION).
template <typename T>
void AddLocked(std::atomic<T>& a, T d) {
  a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
}

// Records `chunk` in c's pages; `spare` (a zeroed page, or nullptr) serves
// when the newest page is full. False when a page was needed and `spare`
// was nullptr. Under c.lock; *used tells whether `spare` was taken.
bool RecordChunkLocked(SlabChunks& c, char* chunk, ChunkPage* spare,
                       bool* used) {
  *used = false;
  ChunkPage* page = c.pages;
  if (page == nullptr || page->n == sizeof(page->chunk) / sizeof(char*)) {
    if (spare == nullptr) return false;
    spare->next = page;
    c.pages = page = spare;
    *used = true;
  }
  page->chunk[page->n++] = chunk;
  return true;
}

// A new chunk of the group's arena, recorded, its slabs but the first on
// the cold list; returns the first. nullptr: no memory.
char* NewChunk(uint32_t group, unsigned arena_ind, SlabChunks& c) {
  void* mem = mgje_mallocx(kSlabChunkBytes, MALLOCX_ARENA(arena_ind) |
                                                MALLOCX_TCACHE_NONE |
                                                MALLOCX_ALIGN(kSlabBytes));
  if (mem == nullptr) return nullptr;
  if (MG_UNLIKELY(owner_table::OwnerOf(mem) != group)) {
    mgje_dallocx(mem, MALLOCX_TCACHE_NONE);
    return nullptr;
  }
  char* chunk = static_cast<char*>(mem);
  ChunkPage* spare = nullptr;
  for (;;) {
    bool used = false;
    bool recorded = false;
    {
      SpinLockHolder holder(&c.lock);
      recorded = RecordChunkLocked(c, chunk, spare, &used);
      if (recorded) {
        for (uint32_t i = kChunkSlabs - 1; i > 0; --i) {
          FreeSlabNode* node = NodeOf(chunk + size_t{i} * kSlabBytes);
          node->base = chunk + size_t{i} * kSlabBytes;
          node->charged_pages = 0;
          PushLocked(&c.cold, node);
        }
        AddLocked(c.free_slabs, uint64_t{kChunkSlabs - 1});
        AddLocked(c.chunks, uint64_t{1});
        AddLocked(c.chunk_allocs, uint64_t{1});
      }
    }
    if (recorded) {
      // Another thread's chunk filled the page this one was mapped for.
      if (spare != nullptr && !used) MetaUnmap(spare, sizeof(ChunkPage));
      return chunk;
    }
    spare = static_cast<ChunkPage*>(MetaMap(sizeof(ChunkPage)));
    if (spare == nullptr) {
      mgje_dallocx(chunk, MALLOCX_TCACHE_NONE);
      return nullptr;
    }
  }
}

}  // namespace

char* TakeSlab(uint32_t group, unsigned arena_ind, SlabChunks& c,
               uint32_t* charged_pages) {
  {
    SpinLockHolder holder(&c.lock);
    FreeSlabNode* node = PopLocked(&c.warm);
    if (node == nullptr) node = PopLocked(&c.cold);
    if (node != nullptr) {
      *charged_pages = node->charged_pages;
      AddLocked(c.free_slabs, ~uint64_t{0});
      AddLocked(c.free_bytes, -(int64_t{node->charged_pages}
                                << owner_table::kPageShift));
      return node->base;
    }
  }
  *charged_pages = 0;
  return NewChunk(group, arena_ind, c);
}

void PutSlab(uint32_t group, SlabChunks& c, bool retired, char* base,
             uint32_t charged_pages) {
  const int64_t bytes = int64_t{charged_pages} << owner_table::kPageShift;
  if (retired && charged_pages != 0) {
    // A destroyed group keeps nothing: its charge must reach 0.
    (void)SysMadvise(base, kSlabBytes, MADV_DONTNEED);
    UnchargePages(group, bytes);
    charged_pages = 0;
  }
  FreeSlabNode* node = NodeOf(base);
  {
    SpinLockHolder holder(&c.lock);
    node->base = base;
    node->charged_pages = charged_pages;
    PushLocked(charged_pages != 0 ? &c.warm : &c.cold, node);
    AddLocked(c.free_slabs, uint64_t{1});
    if (charged_pages != 0) AddLocked(c.free_bytes, bytes);
  }
  // The decay returns them once the group was idle for kDecayMs.
  if (charged_pages != 0) NoteArenaDirtied(group);
}

namespace {

// Takes the warm slabs off, returns their pages to the OS when `purge`,
// makes them cold and uncharges their charge; returns the bytes.
int64_t ColdWarmSlabs(uint32_t group, SlabChunks& c, bool purge) {
  FreeSlabNode* warm = nullptr;
  {
    SpinLockHolder holder(&c.lock);
    warm = c.warm;
    c.warm = nullptr;
  }
  if (warm == nullptr) return 0;
  // Off the lists while their pages go: a taker meanwhile finds a cold
  // slab or a new chunk.
  int64_t bytes = 0;
  FreeSlabNode* last = nullptr;
  for (FreeSlabNode* n = warm; n != nullptr; n = n->next) {
    if (purge) (void)SysMadvise(n->base, kSlabBytes, MADV_DONTNEED);
    bytes += int64_t{n->charged_pages} << owner_table::kPageShift;
    n->charged_pages = 0;
    last = n;
  }
  {
    SpinLockHolder holder(&c.lock);
    last->next = c.cold;
    c.cold = warm;
    AddLocked(c.free_bytes, -bytes);
  }
  if (bytes != 0) UnchargePages(group, bytes);
  return bytes;
}

}  // namespace

int64_t PurgeFreeSlabs(uint32_t group, SlabChunks& c) {
  return ColdWarmSlabs(group, c, /*purge=*/true);
}

int64_t DropInheritedWarmSlabs(uint32_t group, SlabChunks& c) {
  // Their pages stay as they are until a slab of the child reuses them
  // (PurgeFreeSlabs purges warm slabs only): shared with the parent,
  // copy-on-write, and charged to the child as its regions touch them.
  // Read without the lock (the child has one thread): taken, it would be
  // written, one page more the child copies.
  if (c.warm == nullptr) return 0;
  return ColdWarmSlabs(group, c, /*purge=*/false);
}

void ReleaseAllChunks(SlabChunks& c) {
  ChunkPage* pages = nullptr;
  uint64_t n = 0;
  {
    SpinLockHolder holder(&c.lock);
    MG_CHECK(c.warm == nullptr);
    pages = c.pages;
    c.pages = nullptr;
    c.cold = nullptr;
    c.free_slabs.store(0, std::memory_order_relaxed);
    n = c.chunks.load(std::memory_order_relaxed);
    c.chunks.store(0, std::memory_order_relaxed);
  }
  while (pages != nullptr) {
    for (uint64_t i = 0; i < pages->n; ++i) {
      mgje_dallocx(pages->chunk[i], MALLOCX_TCACHE_NONE);
    }
    ChunkPage* next = pages->next;
    MetaUnmap(pages, sizeof(ChunkPage));
    pages = next;
  }
  // Relaxed: a statistic (the bins are pooled; see FiniGroup).
  c.chunk_frees.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace memgroup::internal::engine::slab
