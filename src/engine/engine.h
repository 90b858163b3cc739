// The allocation engine contract: where a group's blocks live and how to find
// the owner group of any pointer. What is charged: the caller (src/alloc)
// charges each large block (usable size, a page multiple) and anonymous
// mapping; the engine charges the slabs of the small classes whole, through
// the charger src/alloc installs (page_charge.h), so a small block costs
// nothing per block and a group's usage counts the slab pages it holds. Every function here is
// on the malloc path: Allocates: never (through the public malloc), never
// throws, never takes a lock on the fast path.
//
// Groups are identified by their slot index in [0, kMaxGroups); index 0 is
// the root group "/". The engine creates a group's arena lazily on first use
// (its first allocation, or a thread bound to it), and with the jemalloc
// engine destroys it when the destroyed group's last block is gone
// (ReleaseGroup). jemalloc has at most about 4,090 arenas: while that many
// groups hold one, an allocation in a group without one fails (ENOMEM; the
// first time, one line on stderr says why) and binding a thread to it too
// (mg_thread_set_group: ENOSPC).
//
// Thread binding: each thread has one *bound* group whose blocks it allocates
// and frees through the engine's fastest path (the thread's front cache,
// front_cache.h, over jemalloc's `thread.arena` and the thread's tcache for
// the group, tcache_slots.h). Blocks of any other group never enter those
// caches.
#ifndef MEMGROUP_SRC_ENGINE_ENGINE_H_
#define MEMGROUP_SRC_ENGINE_ENGINE_H_

#include <cstddef>
#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "base/parse_config.h"
#include "engine/owner_table.h"

namespace memgroup::internal {

struct EngineGroupStats {
  uint64_t mapped_bytes;     // VA the engine obtained for the group
  uint64_t resident_bytes;   // pages the engine believes are resident
  uint64_t retained_bytes;   // kept (purged) but not returned to the OS
  uint64_t metadata_bytes;   // engine metadata (base) pages
  uint64_t active_bytes;     // pages backing live blocks
  uint64_t allocated_bytes;  // usable bytes of live blocks (engine's view)
  uint64_t nmalloc;          // allocations served by the group's arena
  uint64_t ndalloc;          // deallocations returned to it
  uint64_t free_bytes;       // free pages kept for the group, charged
  uint64_t returned_bytes;   // free pages returned to the OS and uncharged
  uint64_t cached_bytes;     // freed large blocks in threads' caches, charged
};

// Engine pages resident but not holding live blocks (dirty, partly used
// slabs, metadata): the group's reported overhead. Its charged part is
// free_bytes (the free pages the group's next blocks reuse) and the
// group's slabs beyond their live regions; the rest is charged to nobody.
inline int64_t OverheadBytes(const EngineGroupStats& s) {
  int64_t over = static_cast<int64_t>(s.resident_bytes) -
                 static_cast<int64_t>(s.allocated_bytes);
  return over > 0 ? over : 0;
}

// One size class of a group's size-class histogram.
struct EngineSizeClass {
  uint64_t size;   // the class's usable size in bytes
  uint64_t count;  // blocks of that class held out of the arena
};

namespace engine {

// The process's engine (MEMGROUP_ENGINE): jemalloc (the default) or
// mimalloc (mimalloc_engine.h). Chosen once, before Init; the choice never
// changes afterwards. Each entry point below serves both: the front caches
// and slabs are shared, and a single branch in each slow path sends the
// rest (large blocks, slab memory, arenas, statistics) to the chosen
// engine. Allocates: never.
void SelectEngine(EngineChoice choice);
EngineChoice SelectedEngine();

// One-time initialisation; idempotent and thread-safe. Reserves the VA range
// and owner table and forces the engine's own init. Returns false if the
// engine cannot run (the caller reports and aborts).
[[nodiscard]] bool Init();

// Creates the group's arena if needed. Slow path. False on failure (arena
// limit, out of VA).
[[nodiscard]] bool EnsureGroup(uint32_t group);

// A group was destroyed (its registry slot is a zombie): the calling
// thread's caches of it are flushed, its free pages returned (Purge), and,
// with the jemalloc engine, once nothing of it is left (no charge, no
// bound thread, no region or block in any cache), its arena is destroyed,
// its slab bins pooled and its chunks returned to the OS and to the free
// chunk list; the registry may then reuse the slot. Until then the group
// is remembered and retried by RetirePending. Slow path; takes the
// registry lock, then the engine lock. Allocates: never.
void ReleaseGroup(uint32_t group);

// Retries the groups ReleaseGroup could not retire yet, at most `budget`
// of them (oldest first), flushing what the calling thread caches of each;
// returns how many were retired. Called before a
// group is created and when no arena is left. Slow path. Allocates: never.
uint32_t RetirePending(uint32_t budget);

// Binds the calling thread's fast path to `group` (creating its arena if
// needed) and flushes the thread's cache of the previously bound group.
[[nodiscard]] bool BindThread(uint32_t group);

// Allocates `size` bytes (align 0 = natural malloc alignment, otherwise a
// power of two) in `group`. If `group` is the bound group this takes the fast
// path. `zero` requests zeroed memory. `usable` is GoodSize(size, align) when
// the caller has it (0: computed here). Returns nullptr on failure. The
// caller has charged the block; a large block taken from the thread cache
// came charged, and the caller's charge for it goes back here.
void* Alloc(uint32_t group, size_t size, size_t align, bool zero,
            size_t usable = 0);

// Frees a block owned by `owner` (owner == OwnerOf(p)). Small blocks of the
// bound group go through the thread cache; large blocks go to the arena
// (the program's free first offers a large block of the bound group to the
// thread cache, with its charge: front_cache.h, CacheLarge).
void Free(void* p, uint32_t owner);
// Frees a large block of `owner` the program freed (recorded as freed, not
// kept by a front cache) keeping its charge, `usable` bytes, as the group's
// free pages (free_pages.h): with the jemalloc engine its pages stay dirty
// in the arena for the group's next blocks (the charge kept before the
// free, so that the dirty-page check the free may run counts it); with the
// mimalloc engine a block above the front cache's classes is kept whole
// for the group's next large block (mi::KeepFreedLarge). Runs the decay of
// free pages first (DecayFreePages). False, with nothing done, when the
// charge cannot stay (a destroyed group; a mimalloc block of a front-cache
// class): the caller frees the block and uncharges. Allocates: never.
bool FreeKeepingCharge(void* p, uint32_t owner, size_t usable);

// Resizes a block in place or moves it, staying in `owner`'s arena. Returns
// nullptr on failure (p unchanged).
void* Realloc(void* p, size_t size, size_t align, uint32_t owner);

// In-place resize only (xallocx semantics): returns the resulting usable size.
size_t ResizeInPlace(void* p, size_t size, size_t extra, size_t align,
                     uint32_t owner);

// Usable size of an owned block.
size_t UsableSize(const void* p);

// What the caller charges for a block: its usable size, or 0 for a slab
// region (its slab's pages are charged by the engine, slab.h). BlockCharge takes a
// request's (GoodSize, align), ChargeOfBlock an owned block. Allocates:
// never.
size_t BlockCharge(size_t usable, size_t align);
size_t ChargeOfBlock(const void* p);

// The usable size an allocation of (size, align) would get (nallocx), or 0 if
// the request is too large.
size_t GoodSize(size_t size, size_t align);

// The group that owns p, or kNoGroup if the engine did not allocate it (a
// foreign pointer). O(1): one subtraction, compare and table load.
uint32_t OwnerOf(const void* p);

// Pointer checks of free and realloc (block_check.cc). The default mode
// costs the fast path one test: a pointer that is not at a multiple of its
// class size from its slab's start (a pointer inside a small block of any
// class) misses (free's fast path, OnRegionGrid and
// g_region_magic_of_class, front_cache.h) and is reported there; slab
// regions going back to their slab are checked (interior, double free).
// SetCheckMode(true) (MEMGROUP_CHECK=1, before any thread allocates) sends
// every small free to the miss, which also finds double frees of blocks
// still in the thread's caches or free in their slab, and takes a large
// block's start record with a compare-and-swap (ReleaseLargeBlock).
// Allocates: never.
void SetCheckMode(bool on);
// Set by SetCheckMode, before the threads that read it exist
// (block_check.cc); plain bool.
MG_HIDDEN extern constinit bool g_check_mode;
MG_ALWAYS_INLINE bool CheckMode() { return g_check_mode; }
// Validates p, a pointer of one of our chunks passed to `call` ("free",
// "realloc"): reports (BadPointer) and aborts if it is not the start of a
// live slab region, or, in check mode, is already free; or, when its page
// holds no slab region, if it is not the start of a live large block (the
// start map, owner_table.h: "invalid pointer", or "double free" for a
// large block freed already). Allocates: never.
void CheckBlock(const void* p, const char* call);
// malloc_usable_size's check: reports (BadPointer) and aborts if p is not
// the start of a slab region (without the free-state checks of check mode)
// or, when its page holds no slab region, of a live large block. Allocates:
// never.
void CheckHeldBlock(const void* p, const char* call);
// The check of a large block's free, before anything reads the block: p
// (in one of our chunks, its page, `page` = owner_table::PageIndexOf(p),
// holding no slab region) goes from live to freed in the start map, or the
// call is reported ("invalid pointer", "double free") and aborts. In the
// default mode with a load, a compare and a plain store: every free that
// comes after the block's first finds it freed, but two threads freeing the
// same block at the same instant may both pass. In check mode
// (SetCheckMode) with one compare-and-swap: of two threads freeing the same
// block at once, one frees it and the other reports. Every free of a large
// block by the program takes this first (src/alloc's FreeMiss); a realloc
// that moves a block records the old one freed itself
// (owner_table::MarkLargeFreed). Allocates: never. Lock-free.
void ReleaseLargeBlock(size_t page, const void* p, const char* call);

// Called from the thread-exit hook: drops the thread's per-group caches.
// After it, Alloc/Free still work but bypass thread caches.
void ThreadExit();

// Returns the group's cached pages to the OS (purge) and flushes caches;
// the group's free pages (free_pages.h) are uncharged.
void Purge(uint32_t group);

// The decay of free pages (free_pages.h): at most once per second, every
// group whose free pages were neither added to nor reused for 3 s has its
// empty slabs and its arena's dirty pages returned to the OS and uncharged.
// Reads the coarse clock; slow paths and the control agent call it, never
// the fast path. Returns true while some group still holds free pages.
// Allocates: never.
bool DecayFreePages();

// The group was destroyed (true: its slabs keep no spare, so its charge
// reaches 0 with its last block) or its slot holds a new group (false).
void SetGroupRetired(uint32_t group, bool retired);

// Engine statistics for one group. False if the group has no arena.
bool GroupStats(uint32_t group, EngineGroupStats* out);

// The group's live blocks by size class, as the arena sees them (blocks
// cached in threads' tcaches count as held out). Writes up to `cap` non-empty
// classes in ascending size and returns how many. Slow (mallctl per class).
size_t GroupHistogram(uint32_t group, EngineSizeClass* out, size_t cap);

// Forwards jemalloc's mallctl family to the engine's private instance, except
// writes to "background_thread" and "max_background_threads", which return
// EPERM: jemalloc's background threads allocate
// (pthread_create's TLS) while jemalloc serves them from its automatic arena
// 0 whatever thread.arena says, i.e. outside every group; the engine would
// have to fail those allocations, and jemalloc then retries the thread
// creation on every purge (measured: redis-server, which enables them, lost
// 40% of its throughput that way).
int Mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp,
            size_t newlen);
int MallctlNameToMib(const char* name, size_t* mibp, size_t* miblenp);
int MallctlByMib(const size_t* mib, size_t miblen, void* oldp, size_t* oldlenp,
                 void* newp, size_t newlen);
void MallocStatsPrint(void (*write_cb)(void*, const char*), void* cbopaque,
                      const char* opts);

// fork(2) handlers, run from pthread_atfork in this order relative to the
// caller's own locks: Prepare after the caller's locks are taken, Parent and
// Child before they are released.
void PrepareFork();
void ParentFork();
void ChildFork();
// In a fork child, once the caller's own fork handlers have given it its
// own charge accounting (alloc/fork.cc: the member slots and stocks): what
// the child inherited charged to its parent leaves its accounts, so that
// its blocks are charged as fresh. The forking thread's cached large
// blocks go back to the engine (front_cache.h) and the groups' free pages
// counts and the free slabs kept charged are uncharged (free_pages.h,
// DropInheritedFreePages; slab.h, ChildDropInheritedSlabs); the pages
// stay usable until the decay purges them. Returns the bytes uncharged
// (some may sit in the calling thread's stock: the caller drains it).
// Allocates: never.
int64_t ChildForkDropInherited();
// A large block of `owner` (`usable` bytes) that this process inherited
// live at its last fork (fork_epoch.h, LargeInherited), freed: back to the
// engine, never to the thread's front cache; on the jemalloc engine its
// pages count as the group's inherited dirty pages (free_pages.h), which
// the decay purges and no block reuses as charged. Its charge is the
// parent's in the job: the caller returns it to the process's own
// counters only (group/charger.h, UnchargeInherited). Allocates: never.
void FreeInheritedLarge(void* p, uint32_t owner, size_t usable);
// `bytes` of pages of such a block went back to `owner`'s arena otherwise
// (a realloc moved or shrank it): on the jemalloc engine they count as
// inherited dirty pages too. Allocates: never.
void NoteInheritedPages(uint32_t owner, size_t bytes);

}  // namespace engine
}  // namespace memgroup::internal

#endif  // MEMGROUP_SRC_ENGINE_ENGINE_H_
