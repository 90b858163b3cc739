// The jemalloc implementation of engine.h: one manual jemalloc arena per
// group, whose extent hooks carve memory only from 2 MiB chunks tagged for
// that group (owner_table.h), so OwnerOf(p) of every block the engine returns
// is the group it was allocated for. Small classes are the engine's own slab
// regions (slab.h, cut from 64 KiB blocks of the group's arena); jemalloc
// serves the large sizes. Owns: the per-group hook structs and arena
// indices, the engine init/creation lock, the per-thread binding
// (`thread.arena` + jemalloc's automatic tcache for the bound group's large
// blocks, and the thread's front cache: front_cache.h) and the
// per-(thread, group) explicit tcaches for all other groups, and the glue
// symbols the renamed jemalloc objects link against (mgje_sys_* syscall,
// environment and pthread-key wrappers, mgje_malloc_conf_2_conf_harder).
//
// Must never: allocate through the public malloc; throw; call jemalloc with
// MALLOCX_ARENA and the automatic tcache together (backends.md §2.3: on a
// tcache hit the arena flag is ignored); let jemalloc's automatic arenas
// serve a block (a thread that is not bound never calls mgje_malloc/free);
// map an arena index back to a group (indices are recycled; hooks find their
// group through container_of); take a lock on the Alloc/Free fast path; ask
// jemalloc for a small size while the class tables are in use, or hand a
// slab region to jemalloc's free or rallocx (SmallClassOf tells them apart
// through the page map).
//
// SYNCHRONIZATION
//  - g_engine_lock (SpinLock): engine init and arena creation (slow paths);
//    held across fork by PrepareFork. Lock order: g_engine_lock -> jemalloc's
//    internal mutexes (ctl, arenas, grow, base) -> GroupArena::lock.
//  - GroupArena::lock: the group's current chunk run; taken only inside the
//    alloc hook, which jemalloc calls under its grow/base mutexes.
//  - g_arena_ind[g]: 0 until the group's arena is fully set up, then its
//    index forever (release store under g_engine_lock, acquire loads).
//  - Thread state is initial-exec TLS, touched only by its thread.
//
// FORK: jemalloc registers its own pthread_atfork handlers during its
// initialisation (its library constructor, or the first call): that happens
// before Init() returns. Prepare handlers run in reverse registration order,
// so a caller that registers PrepareFork/ParentFork/ChildFork after Init()
// gets: our PrepareFork (g_engine_lock) -> jemalloc's prefork (all its
// mutexes) -> fork -> jemalloc's postfork -> our Parent/ChildFork. No thread
// can then be inside an extent hook (hooks run under jemalloc mutexes), so
// the per-group spinlocks are free at fork time and need no handling.
#include <pthread.h>
#include <sys/mman.h>
#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/check.h"
#include "base/limits.h"
#include "base/macros.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "base/sys.h"
#include "engine/engine.h"
#include "engine/front_cache_internal.h"
#include "engine/jemalloc_private.h"
#include "engine/owner_table.h"
#include "engine/slab.h"

// ---------------------------------------------------------------------------
// Glue referenced by the renamed jemalloc objects (cmake/RenameJemalloc.cmake
// maps jemalloc's imports to these names). They live in this translation unit
// on purpose: it is always linked (it defines the engine API), so the static
// archive's references resolve regardless of link order. All hidden.
// ---------------------------------------------------------------------------

// Options forced on our jemalloc instance. jemalloc applies this string last
// (after the compiled-in defaults, `malloc_conf`, /etc/malloc.conf and
// MALLOC_CONF), so it wins over anything the user sets; in addition the
// environment and /etc/malloc.conf are never read at all (the
// secure_getenv/readlink wrappers below). abort_conf:false comes first so a
// bad key can never abort the program.
extern "C" {

MG_HIDDEN __attribute__((used)) const char*
    mgje_malloc_conf_2_conf_harder =
        "abort_conf:false,confirm_conf:false,abort:false,"
        "retain:true,narenas:1,percpu_arena:disabled,"
        "background_thread:false,dss:disabled,hpa:false,"
        "tcache:true,tcache_max:32768,metadata_thp:disabled,"
        "junk:false,zero:false,prof:false,"
        "stats_print:false,stats_interval:-1,"
        "experimental_infallible_new:false,"
        "oversize_threshold:8388608,dirty_decay_ms:10000,muzzy_decay_ms:0";

// jemalloc's pages.c calls mmap/munmap/madvise/mprotect by name; once
// memgroup exports an interposing mmap those calls would reach it. They are
// redirected here, to raw syscalls. errno is set as libc would.
// Allocates: never.
MG_HIDDEN void* mgje_sys_mmap(void* addr, size_t len, int prot, int flags,
                              int fd, off_t off) {
  return memgroup::internal::SysMmap(addr, len, prot, flags, fd, off);
}
MG_HIDDEN int mgje_sys_munmap(void* addr, size_t len) {
  return memgroup::internal::SysMunmap(addr, len);
}
MG_HIDDEN void* mgje_sys_mremap(void* old_addr, size_t old_len,
                                size_t new_len, int flags, ...) {
  void* new_addr = nullptr;
  if ((flags & MREMAP_FIXED) != 0) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  return memgroup::internal::SysMremap(old_addr, old_len, new_len, flags,
                                       new_addr);
}
MG_HIDDEN int mgje_sys_madvise(void* addr, size_t len, int advice) {
  return memgroup::internal::SysMadvise(addr, len, advice);
}
MG_HIDDEN int mgje_sys_mprotect(void* addr, size_t len, int prot) {
  return memgroup::internal::SysMprotect(addr, len, prot);
}
// jemalloc reads MALLOC_CONF with secure_getenv and /etc/malloc.conf with
// readlink, nothing else: our instance sees neither. Allocates: never.
MG_HIDDEN char* mgje_sys_secure_getenv(const char*) { return nullptr; }
MG_HIDDEN ssize_t mgje_sys_readlink(const char*, char*, size_t) {
  errno = ENOENT;
  return -1;
}

}  // extern "C"

// Deferring jemalloc's per-thread cleanup.
//
// jemalloc cleans a thread's state from a pthread key destructor (its key is
// created at its init, so it has a low index and runs early in the first
// destructor round). After that cleanup the thread's jemalloc state is
// "reincarnated" with a reentrancy level of 1, and jemalloc then serves EVERY
// allocation from automatic arena 0, ignoring MALLOCX_ARENA (measured: a
// mallocx(ARENA(group)) in a later key destructor returned an arena-0 block).
// Other key destructors (the application's, memgroup's ThreadExit hook) still
// allocate after it, so the cleanup must run later. jemalloc's
// pthread_key_create/pthread_setspecific are renamed to the wrappers below:
// its destructor is replaced by JeTsdTrampoline, which re-arms jemalloc's key
// (forcing glibc into another destructor round) for the first
// kJeTsdDeferRounds rounds and runs the real cleanup in round 3 (glibc runs
// up to PTHREAD_DESTRUCTOR_ITERATIONS = 4). A second key (created right after
// jemalloc's, so it runs later within a round) counts the completed rounds.
// The trampoline defers only while its own deferral count equals the number
// of completed rounds; otherwise it cleans up at once.
//
// Both keys are armed when jemalloc first arms its key on the thread, so if
// that first happens inside a destructor of round k >= 1 (the thread's first
// engine use is in its exit destructors), both first run in round k + 1 and
// the counts cannot tell it from round 1: two deferrals would put the cleanup
// in round k + 3, which is round 4 for k = 1 (after ThreadSanitizer has torn
// the thread down, see below) and past the last round for k >= 2 (cleanup
// skipped: the thread's tcache and tsd leak). glibc does not expose the
// round, so the engine uses its own contract instead: ThreadExit() is called
// from the thread-exit hook, hence a thread whose jemalloc state is first
// armed after ThreadExit() is inside its exit destructors, and its cleanup is
// deferred only once (t_je_defer_max = 1: round k + 2, i.e. round 3 for the
// common k = 1). Residual: allocations in destructors that run after the
// cleanup would land in arena 0; AllocOther detects that and returns nullptr
// rather than a block outside the group.
//
// Sanitizers: these destructors (and the setspecific wrapper jemalloc calls
// from its cleanup) run inside glibc's destructor rounds, where the sanitizer
// runtime may already have torn the thread down. TSan's own key (created at
// its init, so a lower index than ours) re-arms itself and destroys the
// thread's ThreadState in the last round (PTHREAD_DESTRUCTOR_ITERATIONS); the
// cleanup in round 3 re-arms jemalloc's key (tsd_set after purgatory), so
// JeTsdTrampoline runs once more in round 4 after TSan's ThreadState is gone,
// and its instrumented function entry (__tsan_func_entry) dereferences the
// freed state (SEGV at 0xd0 in TraceSwitchPart). jemalloc's own tsd_cleanup
// is uninstrumented and harmless there (purgatory: no-op), so the glue on
// this path carries no sanitizer instrumentation either: MG_NO_SANITIZER_INSTR.
#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define MG_NO_SANITIZER_INSTR __attribute__((disable_sanitizer_instrumentation))
#endif
#endif
#ifndef MG_NO_SANITIZER_INSTR
// GCC: no_sanitize_thread/address skip the function entirely.
#define MG_NO_SANITIZER_INSTR \
  __attribute__((no_sanitize_thread, no_sanitize_address))
#endif

namespace {

inline constexpr uint32_t kJeTsdDeferRounds = 2;
// Written once, from jemalloc's init (under its init lock, before any other
// thread can use jemalloc), read at thread exit.
using TsdDtor = void (*)(void*);
constinit TsdDtor g_je_tsd_dtor = nullptr;
constinit pthread_key_t g_je_tsd_key = 0;
constinit pthread_key_t g_round_key = 0;
constinit bool g_round_key_ok = false;
// Destructor rounds completed by this thread (counted by RoundKeyDtor), the
// times JeTsdTrampoline deferred in this thread, and the most it may defer
// (fixed when jemalloc first arms its key on the thread; 0 before).
MG_TLS uint32_t t_dtor_rounds = 0;
MG_TLS uint32_t t_je_tsd_defers = 0;
MG_TLS uint32_t t_je_defer_max = 0;
// Set by engine::ThreadExit (the thread-exit hook); read here and by the
// engine (no tcache is created after it).
MG_TLS bool t_dead = false;

MG_NO_SANITIZER_INSTR void RoundKeyDtor(void*) {
  uint32_t done = ++t_dtor_rounds;
  if (done < kJeTsdDeferRounds) pthread_setspecific(g_round_key, &t_dtor_rounds);
}

MG_NO_SANITIZER_INSTR void JeTsdTrampoline(void* arg) {
  if (g_round_key_ok && t_je_tsd_defers < t_je_defer_max &&
      t_je_tsd_defers == t_dtor_rounds && arg != nullptr) {
    ++t_je_tsd_defers;
    pthread_setspecific(g_je_tsd_key, arg);  // Called again next round.
    return;
  }
  g_je_tsd_dtor(arg);
}

}  // namespace

extern "C" {

// jemalloc calls this exactly once, from its tsd boot during init.
MG_HIDDEN int mgje_sys_pthread_key_create(pthread_key_t* key,
                                          void (*dtor)(void*)) {
  if (dtor == nullptr || g_je_tsd_dtor != nullptr) {
    return pthread_key_create(key, dtor);
  }
  g_je_tsd_dtor = dtor;
  int rc = pthread_key_create(key, JeTsdTrampoline);
  if (rc != 0) return rc;
  g_je_tsd_key = *key;
  g_round_key_ok = pthread_key_create(&g_round_key, RoundKeyDtor) == 0;
  return 0;
}

// Arms the round-counting key whenever jemalloc arms its own, and fixes the
// thread's deferral budget the first time.
MG_HIDDEN MG_NO_SANITIZER_INSTR int mgje_sys_pthread_setspecific(
    pthread_key_t key, const void* value) {
  int rc = pthread_setspecific(key, value);
  if (rc == 0 && value != nullptr && g_round_key_ok && key == g_je_tsd_key) {
    if (t_je_defer_max == 0) t_je_defer_max = t_dead ? 1 : kJeTsdDeferRounds;
    if (pthread_getspecific(g_round_key) == nullptr) {
      pthread_setspecific(g_round_key, &t_dtor_rounds);
    }
  }
  return rc;
}

}  // extern "C"

namespace memgroup::internal::engine {

// The calling thread's bound group (engine_fast.h): kNoGroup until
// BindThread, and after ThreadExit. Owner-only.
MG_TLS uint32_t t_bound = kNoGroup;

namespace {

using owner_table::kChunkBytes;
using owner_table::kChunkShift;

// The largest arena index MALLOCX_ARENA can encode (12-bit field); jemalloc
// refuses to create more.
inline constexpr unsigned kMaxArenaIndex = 4094;
// Explicit tcaches: jemalloc allows 4094 per process. Each thread keeps at
// most kThreadTcaches (one per non-bound group it uses); the process at most
// kTcacheBudget, leaving headroom for anything else that creates one.
inline constexpr uint32_t kThreadTcaches = 8;
inline constexpr int32_t kTcacheBudget = 4000;
// A thread whose slots are full falls back to MALLOCX_TCACHE_NONE for other
// groups; after this many such misses it recycles one slot (round robin), so
// a thread that moved on to new groups gets a cache again without thrashing.
inline constexpr uint32_t kEvictAfterMisses = 64;

inline size_t AlignUp(size_t n, size_t a) { return (n + a - 1) & ~(a - 1); }

// ---------------------------------------------------------------------------
// Per-group extent hooks.
// ---------------------------------------------------------------------------

struct alignas(MG_CACHELINE) GroupArena {
  // Must stay the first member: the hooks receive &hooks and cast it back to
  // the GroupArena (container_of). Written under g_engine_lock before
  // arenas.create, read-only afterwards.
  extent_hooks_t hooks{};
  // The group whose chunks this arena carves. Same protocol as `hooks`.
  uint32_t group = kNoGroup;
  // Guards run_cur/run_end. Taken only inside HookAlloc.
  SpinLock lock;
  // The current run of claimed chunks: [run_cur, run_end) is still free.
  uintptr_t run_cur = 0;
  uintptr_t run_end = 0;
  // Bytes of chunks claimed for the group. Written under `lock`, read by
  // GroupStats without it (relaxed statistic).
  std::atomic<uint64_t> mapped_bytes{0};

  void* Carve(size_t size, size_t alignment);
};
static_assert(std::is_standard_layout_v<GroupArena>,
              "container_of from &hooks needs a standard-layout GroupArena");

GroupArena* FromHooks(extent_hooks_t* h) {
  return reinterpret_cast<GroupArena*>(h);
}

void* GroupArena::Carve(size_t size, size_t alignment) {
  if (alignment < kPageSize) alignment = kPageSize;
  if (size == 0 || size > owner_table::kVaBytes ||
      alignment > owner_table::kVaBytes) {
    return nullptr;
  }
  SpinLockHolder holder(&lock);
  uintptr_t p = AlignUp(run_cur, alignment);
  if (run_cur == 0 || p + size > run_end) {
    // Worst case from a fresh 2 MiB-aligned run.
    size_t need = size + (alignment > kChunkBytes ? alignment - kChunkBytes : 0);
    size_t nr_chunks = (need + kChunkBytes - 1) >> kChunkShift;
    void* c = owner_table::ClaimChunks(nr_chunks, group);
    if (c == nullptr) return nullptr;
    // Relaxed: statistic, written under `lock`.
    mapped_bytes.fetch_add(nr_chunks * kChunkBytes, std::memory_order_relaxed);
    uintptr_t start = reinterpret_cast<uintptr_t>(c);
    if (run_cur != 0 && start == run_end) {
      run_end += nr_chunks * kChunkBytes;  // Contiguous: extend the run.
    } else {
      run_cur = start;  // The old run's tail stays tagged but unused.
      run_end = start + nr_chunks * kChunkBytes;
    }
    p = AlignUp(run_cur, alignment);
    MG_CHECK(p + size <= run_end);
  }
  run_cur = p + size;
  return reinterpret_cast<void*>(p);
}

// Hooks run under jemalloc's locks: they take only the group spinlock, never
// allocate and never call back into the engine.
void* HookAlloc(extent_hooks_t* h, void* new_addr, size_t size,
                size_t alignment, bool* zero, bool* commit, unsigned) {
  if (new_addr != nullptr) return nullptr;  // No in-place growth: move.
  void* p = FromHooks(h)->Carve(size, alignment);
  if (p == nullptr) return nullptr;
  // Carved memory is never handed out twice and chunks start untouched, so
  // it is zero; it is RW (committed).
  *zero = true;
  *commit = true;
  return p;
}
// Opt out: memory is retained by jemalloc and VA never leaves the group.
bool HookDalloc(extent_hooks_t*, void*, size_t, bool, unsigned) { return true; }
void HookDestroy(extent_hooks_t*, void*, size_t, bool, unsigned) {}
// Everything we hand out is committed and decommit is refused.
bool HookCommit(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned) {
  return false;
}
bool HookDecommit(extent_hooks_t*, void*, size_t, size_t, size_t, unsigned) {
  return true;
}
bool HookPurge(void* addr, size_t offset, size_t length, int advice) {
  int saved = errno;
  int rc = SysMadvise(static_cast<char*>(addr) + offset, length, advice);
  errno = saved;
  return rc != 0;
}
bool HookPurgeLazy(extent_hooks_t*, void* addr, size_t, size_t offset,
                   size_t length, unsigned) {
  return HookPurge(addr, offset, length, MADV_FREE);
}
bool HookPurgeForced(extent_hooks_t*, void* addr, size_t, size_t offset,
                     size_t length, unsigned) {
  return HookPurge(addr, offset, length, MADV_DONTNEED);
}
bool HookSplit(extent_hooks_t*, void*, size_t, size_t, size_t, bool,
               unsigned) {
  return false;
}
// Defensive: one arena never spans groups, but never merge across owners.
bool HookMerge(extent_hooks_t*, void* addr_a, size_t, void* addr_b, size_t,
               bool, unsigned) {
  return owner_table::OwnerOf(addr_a) != owner_table::OwnerOf(addr_b);
}

constexpr extent_hooks_t kHooksTemplate = {
    HookAlloc,     HookDalloc,      HookDestroy, HookCommit, HookDecommit,
    HookPurgeLazy, HookPurgeForced, HookSplit,   HookMerge,
};

// ---------------------------------------------------------------------------
// Global engine state.
// ---------------------------------------------------------------------------

constinit GroupArena g_groups[kMaxGroups];

// Arena index of each group, 0 while it has none (index 0 is jemalloc's
// automatic arena, never ours). Written once under g_engine_lock (release),
// read anywhere (acquire).
constinit std::atomic<uint32_t> g_arena_ind[kMaxGroups];

enum InitState : uint32_t { kUninit = 0, kReady = 1, kFailed = 2 };
// Written under g_engine_lock (release), read by Init's fast check (acquire).
constinit std::atomic<uint32_t> g_init_state{kUninit};
constinit SpinLock g_engine_lock;

// Explicit tcaches alive in the process. Written by CreateTcache and
// DestroyTcache from any thread; only the count matters (relaxed).
constinit std::atomic<int32_t> g_tcaches_live{0};

// mallctl MIBs, resolved once in InitSlow (before the kReady release store)
// and read-only afterwards.
struct Mib {
  size_t v[6];
  size_t len;
};
struct Mibs {
  Mib thread_arena;
  Mib thread_tcache_flush;
  Mib tcache_create;
  Mib tcache_flush;
  Mib tcache_destroy;
  Mib arenas_create;
  Mib arena_retain_grow_limit;  // arena.<i>.retain_grow_limit, i at v[1]
  Mib arena_purge;              // arena.<i>.purge, i at v[1]
  // Written by programs only to be refused (MallctlByMib).
  Mib background_thread;
  Mib max_background_threads;
};
constinit Mibs g_mibs{};

// Thread state.
struct TcacheSlot {
  uint32_t group;
  unsigned tc;
};
MG_TLS uint32_t t_ntc = 0;           // used slots in t_tc
MG_TLS uint32_t t_misses = 0;        // TCACHE_NONE fallbacks since last recycle
MG_TLS uint32_t t_victim = 0;        // next slot to recycle
MG_TLS TcacheSlot t_tc[kThreadTcaches];

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

bool ResolveMib(const char* name, Mib* mib) {
  mib->len = sizeof(mib->v) / sizeof(mib->v[0]);
  return mgje_mallctlnametomib(name, mib->v, &mib->len) == 0;
}

MG_ALWAYS_INLINE uint32_t ArenaOf(uint32_t group) {
  // Pairs with CreateArenaSlow's release store: the arena is fully set up.
  return g_arena_ind[group].load(std::memory_order_acquire);
}

MG_ALWAYS_INLINE int AlignFlags(size_t align) {
  // MALLOCX_LG_ALIGN(0) == 0: align 0 or 1 means no constraint.
  return align <= 1 ? 0 : MALLOCX_LG_ALIGN(__builtin_ctzl(align));
}

// Records a block about to be handed out in the page map (owner_table.h):
// every block the engine returns goes through here or front::Refill.
MG_ALWAYS_INLINE void* Published(void* p, uint32_t group, uint32_t cls) {
  if (MG_LIKELY(p != nullptr)) {
    owner_table::PublishBlock(p, owner_table::MakeEntry(group, cls));
  }
  return p;
}

// The front-cache class of an engine block, from the page map: 1 to
// kFrontFirstLarge - 1 for a slab region (slab.h), above for a large block
// the front cache may hold, 0 for any other jemalloc block.
MG_ALWAYS_INLINE uint32_t ClassOf(const void* p) {
  return owner_table::PageEntry(p) & ((1u << owner_table::kEntryGroupShift) - 1);
}
MG_ALWAYS_INLINE bool IsSlabClass(uint32_t cls) {
  return cls - 1 < kFrontFirstLarge - 1;
}
// The slab class of an engine block, or 0 for a jemalloc block.
MG_ALWAYS_INLINE uint32_t SmallClassOf(const void* p) {
  const uint32_t cls = ClassOf(p);
  return IsSlabClass(cls) ? cls : 0;
}

// A block of class `cls` from `fc`, refilling its bin when empty.
MG_ALWAYS_INLINE void* CachePop(FrontCache* fc, uint32_t cls) {
  void* p = FrontPop(fc, cls);
  return p != nullptr ? p : front::Refill(fc, cls);
}

// A second front cache per thread, for the small blocks of one group the
// thread is not bound to (mg_malloc_in, frees of that group's blocks), so
// that those do not take their bin's lock once per block. It holds small
// blocks only. Owner-only; nullptr until first needed and after ThreadExit.
MG_TLS FrontCache* t_other = nullptr;
// Small operations on other groups than t_other's since it last moved.
MG_TLS uint32_t t_other_misses = 0;
// Set when no cache could be had (metadata memory exhausted): not retried.
MG_TLS bool t_other_failed = false;

// The thread's cache for the small blocks of `group` (not the bound group):
// t_other when it holds that group; after kEvictAfterMisses operations on
// other groups it is flushed and moves to `group`. nullptr: the caller
// takes the slab path for this block.
FrontCache* OtherCache(uint32_t group) {
  FrontCache* fc = t_other;
  if (MG_LIKELY(fc != nullptr && fc->group == group)) return fc;
  if (t_dead || t_other_failed) return nullptr;
  if (fc == nullptr) {
    t_other = front::Acquire(group);
    t_other_failed = t_other == nullptr;
    return t_other;
  }
  if (++t_other_misses < kEvictAfterMisses) return nullptr;
  t_other_misses = 0;
  front::Flush(fc);  // Small blocks only: back to their group's slabs.
  front::SetGroup(fc, group);
  return fc;
}

// Frees a slab region of class `cls` of `owner`: into the front cache when
// the thread is bound to `owner`, into t_other when that holds `owner`,
// else straight back to its slab.
void FreeSmall(void* p, uint32_t owner, uint32_t cls) {
  MG_DCHECK(owner_table::PageEntry(p) == owner_table::MakeEntry(owner, cls));
  FrontCache* fc = owner == t_bound ? t_front : OtherCache(owner);
  if (fc != nullptr) {
    (void)front::Push(fc, p, cls);  // Always room for a small block.
    return;
  }
  slab::FreeOne(owner, cls, p);
}

// Caches a freed large block of class `cls` (ClassOf) of the bound group
// in the thread's front cache. False if its class is not cached or has no
// room (the caller frees it to jemalloc).
MG_ALWAYS_INLINE bool PushLarge(void* p, uint32_t cls) {
  FrontCache* fc = t_front;
  MG_DCHECK(fc == nullptr || cls == 0 ||
            owner_table::PageEntry(p) == owner_table::MakeEntry(fc->group, cls));
  return fc != nullptr && cls != 0 && front::Push(fc, p, cls);
}

// ---------------------------------------------------------------------------
// Explicit tcaches (non-bound groups).
// ---------------------------------------------------------------------------

bool CreateTcache(unsigned* tc) {
  // Relaxed: a budget count, no data is published through it.
  if (g_tcaches_live.fetch_add(1, std::memory_order_relaxed) >= kTcacheBudget) {
    g_tcaches_live.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: as above.
    return false;
  }
  size_t len = sizeof(*tc);
  if (mgje_mallctlbymib(g_mibs.tcache_create.v, g_mibs.tcache_create.len, tc,
                        &len, nullptr, 0) != 0) {
    g_tcaches_live.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: as above.
    return false;
  }
  return true;
}

// Flushes the tcache's blocks back to their own arenas and destroys it.
void DestroyTcache(unsigned tc) {
  mgje_mallctlbymib(g_mibs.tcache_destroy.v, g_mibs.tcache_destroy.len,
                    nullptr, nullptr, &tc, sizeof(tc));
  g_tcaches_live.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: budget count.
}

MG_NOINLINE int TcacheFlagsSlow(uint32_t group) {
  if (t_dead) return MALLOCX_TCACHE_NONE;  // Never re-create after ThreadExit.
  unsigned tc = 0;
  if (t_ntc < kThreadTcaches) {
    if (!CreateTcache(&tc)) return MALLOCX_TCACHE_NONE;
    t_tc[t_ntc++] = TcacheSlot{group, tc};
    return MALLOCX_TCACHE(tc);
  }
  if (++t_misses < kEvictAfterMisses) return MALLOCX_TCACHE_NONE;
  t_misses = 0;
  uint32_t v = t_victim;
  t_victim = (v + 1) % kThreadTcaches;
  DestroyTcache(t_tc[v].tc);
  if (!CreateTcache(&tc)) {
    t_tc[v] = t_tc[--t_ntc];
    return MALLOCX_TCACHE_NONE;
  }
  t_tc[v] = TcacheSlot{group, tc};
  return MALLOCX_TCACHE(tc);
}

// The tcache flag for a block of `group` that is not the bound group: this
// thread's explicit tcache for the group, or MALLOCX_TCACHE_NONE. Never the
// automatic tcache. Allocates: never (through malloc).
MG_ALWAYS_INLINE int TcacheFlags(uint32_t group) {
  for (uint32_t i = 0; i < t_ntc; ++i) {
    if (t_tc[i].group == group) return MALLOCX_TCACHE(t_tc[i].tc);
  }
  return TcacheFlagsSlow(group);
}

void FlushAutomaticTcache() {
  mgje_mallctlbymib(g_mibs.thread_tcache_flush.v, g_mibs.thread_tcache_flush.len,
                    nullptr, nullptr, nullptr, 0);
}

// ---------------------------------------------------------------------------
// Init and arena creation (slow paths).
// ---------------------------------------------------------------------------

MG_NOINLINE MG_COLD bool InitSlow() {
  SpinLockHolder holder(&g_engine_lock);
  // Relaxed: under g_engine_lock, which orders it with the writer.
  uint32_t state = g_init_state.load(std::memory_order_relaxed);
  if (state != kUninit) return state == kReady;
  bool ok = owner_table::Init();
  if (!ok) RawLog("engine: cannot reserve the engine's address space");
  // The first mallctl forces jemalloc's initialisation (if its constructor
  // has not run yet); then check that our forced options won.
  bool retain = false;
  size_t len = sizeof(retain);
  if (ok && (mgje_mallctl("opt.retain", &retain, &len, nullptr, 0) != 0 ||
             !retain)) {
    RawLog("engine: private jemalloc is not configured with retain:true");
    ok = false;
  }
  ok = ok && ResolveMib("thread.arena", &g_mibs.thread_arena) &&
       ResolveMib("thread.tcache.flush", &g_mibs.thread_tcache_flush) &&
       ResolveMib("tcache.create", &g_mibs.tcache_create) &&
       ResolveMib("tcache.flush", &g_mibs.tcache_flush) &&
       ResolveMib("tcache.destroy", &g_mibs.tcache_destroy) &&
       ResolveMib("arenas.create", &g_mibs.arenas_create) &&
       ResolveMib("arena.0.retain_grow_limit",
                  &g_mibs.arena_retain_grow_limit) &&
       ResolveMib("arena.0.purge", &g_mibs.arena_purge) &&
       ResolveMib("background_thread", &g_mibs.background_thread) &&
       ResolveMib("max_background_threads", &g_mibs.max_background_threads);
  if (!ok) RawLog("engine: initialisation failed");
  // Without the expected size classes the engine runs without front caches.
  if (ok) (void)front::InitClasses();
  // Pairs with Init's acquire load: publishes the owner table and the MIBs.
  g_init_state.store(ok ? kReady : kFailed, std::memory_order_release);
  return ok;
}

MG_NOINLINE MG_COLD bool CreateArenaSlow(uint32_t group) {
  if (!Init()) return false;
  SpinLockHolder holder(&g_engine_lock);
  // Relaxed: under g_engine_lock, the only writer.
  if (g_arena_ind[group].load(std::memory_order_relaxed) != 0) return true;
  GroupArena* ga = &g_groups[group];
  ga->hooks = kHooksTemplate;
  ga->group = group;
  extent_hooks_t* hooks = &ga->hooks;
  unsigned ind = 0;
  size_t len = sizeof(ind);
  // The alloc hook already runs inside this call (the arena's base block).
  if (mgje_mallctlbymib(g_mibs.arenas_create.v, g_mibs.arenas_create.len, &ind,
                        &len, &hooks, sizeof(hooks)) != 0) {
    return false;  // Arena limit or out of VA.
  }
  if (ind == 0 || ind > kMaxArenaIndex) return false;  // Cannot be addressed.
  if (!slab::InitGroup(group, ind)) return false;
  // Every growth then asks the hook for exactly what it needs (one chunk
  // for small loads) instead of jemalloc's geometric steps.
  Mib mib = g_mibs.arena_retain_grow_limit;
  mib.v[1] = ind;
  size_t limit = kChunkBytes;
  if (mgje_mallctlbymib(mib.v, mib.len, nullptr, nullptr, &limit,
                        sizeof(limit)) != 0) {
    RawLog("engine: cannot set retain_grow_limit of arena %u", ind);
  }
  // Pairs with ArenaOf's acquire load.
  g_arena_ind[group].store(ind, std::memory_order_release);
  return true;
}

MG_NOINLINE void* AllocOther(uint32_t group, size_t size, size_t align,
                             bool zero) {
  if (MG_UNLIKELY(group >= kMaxGroups)) return nullptr;
  uint32_t ind = ArenaOf(group);
  if (MG_UNLIKELY(ind == 0)) {
    if (!CreateArenaSlow(group)) return nullptr;
    ind = ArenaOf(group);
  }
  int flags = MALLOCX_ARENA(ind) | TcacheFlags(group) | AlignFlags(align) |
              (zero ? MALLOCX_ZERO : 0);
  void* p = mgje_mallocx(size == 0 ? 1 : size, flags);
  if (MG_UNLIKELY(p != nullptr && owner_table::OwnerOf(p) != group)) {
    // jemalloc ignored the arena (its thread state was already cleaned up,
    // see JeTsdTrampoline): never hand out a block outside the group.
    mgje_dallocx(p, MALLOCX_TCACHE_NONE);
    return nullptr;
  }
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------
// engine.h
// ---------------------------------------------------------------------------

bool Init() {
  // Pairs with InitSlow's release store.
  uint32_t state = g_init_state.load(std::memory_order_acquire);
  if (MG_LIKELY(state == kReady)) return true;
  if (state == kFailed) return false;
  return InitSlow();
}

bool EnsureGroup(uint32_t group) {
  if (group >= kMaxGroups) return false;
  if (MG_LIKELY(ArenaOf(group) != 0)) return true;
  return CreateArenaSlow(group);
}

bool BindThread(uint32_t group) {
  if (group >= kMaxGroups) return false;
  if (group == t_bound) return true;
  if (!EnsureGroup(group)) return false;
  // After ThreadExit the thread stays unbound: Alloc/Free of every group go
  // through MALLOCX_ARENA + MALLOCX_TCACHE_NONE, which is still correct.
  if (t_dead) return true;
  // The front cache holds only the previous bound group's blocks: back to
  // jemalloc (through the automatic tcache, still the old group's) first.
  FrontCache* fc = t_front;
  t_front = nullptr;
  if (fc != nullptr) front::Flush(fc);
  // The new group's blocks are cached in one place only.
  if (t_other != nullptr && t_other->group == group) front::Flush(t_other);
  unsigned ind = ArenaOf(group);
  if (mgje_mallctlbymib(g_mibs.thread_arena.v, g_mibs.thread_arena.len,
                        nullptr, nullptr, &ind, sizeof(ind)) != 0) {
    t_front = fc;  // Still bound to the previous group; the cache is empty.
    return false;
  }
  // The automatic tcache holds only the previous bound group's blocks (a
  // thread never bound has an empty one): return them to their arena before
  // the first allocation of the new group could hit them.
  FlushAutomaticTcache();
  t_bound = group;
  if (fc != nullptr) {
    front::SetGroup(fc, group);
  } else {
    fc = front::Acquire(group);  // nullptr: the thread runs without one.
  }
  t_front = fc;
  return true;
}

uint32_t BoundGroup() { return t_bound; }

void* Alloc(uint32_t group, size_t size, size_t align, bool zero,
            size_t usable) {
  if (usable == 0) usable = GoodSize(size, align);
  const uint32_t cls = ClassOfUsable(usable);
  if (cls != 0 && cls < kFrontFirstLarge && align <= kPageSize) {
    // A small class: a slab region, aligned to `align` by its class
    // (slab.h). The bound group's come through the front cache.
    void* p = nullptr;
    FrontCache* fc = t_front;
    if (group == t_bound && fc != nullptr) {
      p = CachePop(fc, cls);
    } else if (group < kMaxGroups &&
               (ArenaOf(group) != 0 || CreateArenaSlow(group))) {
      FrontCache* oc = group != t_bound ? OtherCache(group) : nullptr;
      if (oc != nullptr) {
        p = CachePop(oc, cls);
      } else {
        (void)slab::AllocBatch(group, cls, &p, 1);
      }
    }
    if (p != nullptr && zero) memset(p, 0, size);
    return p;
  }
  if (MG_LIKELY(group == t_bound)) {
    // thread.arena is the group's arena; the front cache and the automatic
    // tcache hold only this group's blocks.
    FrontCache* fc = t_front;
    void* p = nullptr;
    if (MG_LIKELY(fc != nullptr && cls != 0 && align <= 1)) {
      p = CachePop(fc, cls);
      if (MG_LIKELY(p != nullptr)) {
        if (zero) memset(p, 0, size);
        return p;
      }
    } else if (MG_LIKELY(align == 0)) {
      p = zero ? mgje_calloc(1, size) : mgje_malloc(size);
    } else {
      p = mgje_mallocx(size == 0 ? 1 : size,
                       AlignFlags(align) | (zero ? MALLOCX_ZERO : 0));
    }
    if (MG_LIKELY(p != nullptr && owner_table::OwnerOf(p) == group)) {
      return Published(p, group, cls);
    }
    // Nothing, or a block of another arena (jemalloc's own reentrant
    // threads ignore thread.arena): ask the group's arena explicitly.
    if (p != nullptr) mgje_dallocx(p, MALLOCX_TCACHE_NONE);
  }
  return Published(AllocOther(group, size, align, zero), group, cls);
}

void Free(void* p, uint32_t owner) {
  MG_DCHECK(owner < kMaxGroups);
  const uint32_t cls = ClassOf(p);
  if (IsSlabClass(cls)) {
    FreeSmall(p, owner, cls);
    return;
  }
  if (MG_LIKELY(owner == t_bound)) {
    if (!PushLarge(p, cls)) mgje_free(p);
    return;
  }
  mgje_dallocx(p, TcacheFlags(owner));
}

void FreeSized(void* p, size_t usable, uint32_t owner) {
  MG_DCHECK(owner < kMaxGroups);
  const uint32_t cls = ClassOf(p);
  if (IsSlabClass(cls)) {
    FreeSmall(p, owner, cls);
    return;
  }
  if (MG_LIKELY(owner == t_bound)) {
    if (!PushLarge(p, cls)) mgje_sdallocx(p, usable, 0);
    return;
  }
  mgje_sdallocx(p, usable, TcacheFlags(owner));
}

void* Realloc(void* p, size_t size, size_t align, uint32_t owner) {
  MG_DCHECK(owner < kMaxGroups);
  if (size == 0) size = 1;
  // Slab regions never change size and jemalloc never holds a small block:
  // a move into or out of a small class is alloc, copy, free.
  const uint32_t old_cls = SmallClassOf(p);
  const size_t new_usable = GoodSize(size, align);
  const uint32_t new_cls = ClassOfUsable(new_usable);
  if (old_cls != 0 || (new_cls != 0 && new_cls < kFrontFirstLarge)) {
    if (old_cls != 0 && new_cls == old_cls) return p;
    const size_t old_usable = UsableSize(p);
    void* moved = Alloc(owner, size, align, false, new_usable);
    if (moved == nullptr) return nullptr;
    memcpy(moved, p, old_usable < size ? old_usable : size);
    Free(p, owner);
    return moved;
  }
  void* q = nullptr;
  if (owner == t_bound) {
    // No arena flag: a moved block goes to the thread's arena, which is the
    // owner's; the automatic tcache holds only the owner's blocks.
    q = mgje_rallocx(p, size, AlignFlags(align));
  } else {
    if (owner >= kMaxGroups) return nullptr;
    uint32_t ind = ArenaOf(owner);
    if (ind == 0) return nullptr;  // Not an engine block.
    q = mgje_rallocx(
        p, size, MALLOCX_ARENA(ind) | TcacheFlags(owner) | AlignFlags(align));
  }
  // In place or moved, the block may have a new class.
  if (q != nullptr) (void)Published(q, owner, ClassOfUsable(mgje_sallocx(q, 0)));
  return q;
}

size_t ResizeInPlace(void* p, size_t size, size_t extra, size_t align,
                     uint32_t owner) {
  MG_DCHECK(owner < kMaxGroups);
  if (const uint32_t cls = SmallClassOf(p); cls != 0) {
    return g_class_size[cls];  // A slab region keeps its class.
  }
  // In place: the block keeps its extent, hence its group, but a large block
  // may change class (never to a small one: jemalloc moves those).
  size_t usable = mgje_xallocx(p, size == 0 ? 1 : size, extra, AlignFlags(align));
  (void)Published(p, owner, ClassOfUsable(usable));
  return usable;
}

size_t UsableSize(const void* p) {
  if (const uint32_t cls = SmallClassOf(p); cls != 0) return g_class_size[cls];
  return mgje_sallocx(p, 0);
}

size_t GoodSize(size_t size, size_t align) {
  // The classes up to kFrontMaxBytes are known (checked by
  // front::InitClasses; the tables read 0 when it failed).
  if (align <= 1 && size <= kFrontMaxBytes) {
    if (size <= kFrontSmallMax) {
      size_t usable = g_class_size[g_size_class[(size + 7) >> 3]];
      if (MG_LIKELY(usable != 0)) return usable;
    } else if (MG_LIKELY(g_class_size[1] != 0)) {
      // Above 8 KiB: four classes per doubling, (2^lg, 2^(lg+1)] in steps
      // of 2^(lg-2).
      const unsigned lg = 63u - static_cast<unsigned>(__builtin_clzl(size - 1));
      const size_t delta = size_t{1} << (lg - 2);
      return (size + delta - 1) & ~(delta - 1);
    }
  }
  return mgje_nallocx(size == 0 ? 1 : size, AlignFlags(align));
}

uint32_t OwnerOf(const void* p) { return owner_table::OwnerOf(p); }

void ThreadExit() {
  if (t_dead) return;
  t_dead = true;  // First: nothing below may create a tcache again.
  FrontCache* fc = t_front;
  t_front = nullptr;
  if (fc != nullptr) front::Retire(fc);  // Still bound to fc->group.
  FrontCache* oc = t_other;
  t_other = nullptr;
  if (oc != nullptr) front::Retire(oc);  // Small blocks only: to the slabs.
  for (uint32_t i = 0; i < t_ntc; ++i) DestroyTcache(t_tc[i].tc);
  t_ntc = 0;
  if (t_bound != kNoGroup) {
    FlushAutomaticTcache();  // Never used again by this thread.
    t_bound = kNoGroup;
  }
}

void Purge(uint32_t group) {
  if (group >= kMaxGroups) return;
  uint32_t ind = ArenaOf(group);
  if (ind == 0) return;
  // Only the calling thread's caches can be flushed from here.
  if (group == t_bound) {
    if (t_front != nullptr) front::Flush(t_front);
    FlushAutomaticTcache();
  }
  if (t_other != nullptr && t_other->group == group) front::Flush(t_other);
  slab::ReleaseEmpty(group);
  for (uint32_t i = 0; i < t_ntc; ++i) {
    if (t_tc[i].group != group) continue;
    unsigned tc = t_tc[i].tc;
    mgje_mallctlbymib(g_mibs.tcache_flush.v, g_mibs.tcache_flush.len, nullptr,
                      nullptr, &tc, sizeof(tc));
  }
  Mib mib = g_mibs.arena_purge;
  mib.v[1] = ind;
  mgje_mallctlbymib(mib.v, mib.len, nullptr, nullptr, nullptr, 0);
}

bool GroupStats(uint32_t group, EngineGroupStats* out) {
  if (group >= kMaxGroups || out == nullptr) return false;
  uint32_t ind = ArenaOf(group);
  if (ind == 0) return false;
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  if (mgje_mallctl("epoch", &epoch, &len, &epoch, len) != 0) return false;
  auto read = [ind](const char* leaf, size_t* v) {
    CtlName name;
    name.Add("stats.arenas.").Add(ind).Add(".").Add(leaf);
    size_t vlen = sizeof(*v);
    *v = 0;
    return mgje_mallctl(name.c_str(), v, &vlen, nullptr, 0) == 0;
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
  // jemalloc counts each slab as one large block; the regions are ours.
  slab::GroupSlabStats ss{};
  slab::Stats(group, &ss);
  auto minus = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  out->nmalloc = static_cast<uint64_t>(small_nmalloc) +
                 minus(large_nmalloc, ss.slab_allocs) + ss.nmalloc;
  out->ndalloc = static_cast<uint64_t>(small_ndalloc) +
                 minus(large_ndalloc, ss.slab_frees) + ss.ndalloc;
  // Relaxed: statistic.
  out->mapped_bytes = g_groups[group].mapped_bytes.load(std::memory_order_relaxed);
  out->resident_bytes = resident;
  out->retained_bytes = retained;
  out->metadata_bytes = base;
  out->active_bytes = static_cast<uint64_t>(pactive) * kPageSize;
  out->allocated_bytes = static_cast<uint64_t>(small) +
                        minus(large, ss.slab_bytes) + ss.allocated_bytes;
  return true;
}

size_t GroupHistogram(uint32_t group, EngineSizeClass* out, size_t cap) {
  if (group >= kMaxGroups || out == nullptr) return 0;
  uint32_t ind = ArenaOf(group);
  if (ind == 0) return 0;
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  if (mgje_mallctl("epoch", &epoch, &len, &epoch, len) != 0) return 0;
  unsigned nbins = 0, nlextents = 0;
  size_t ulen = sizeof(unsigned);
  if (mgje_mallctl("arenas.nbins", &nbins, &ulen, nullptr, 0) != 0) return 0;
  ulen = sizeof(unsigned);
  if (mgje_mallctl("arenas.nlextents", &nlextents, &ulen, nullptr, 0) != 0)
    return 0;
  size_t n = 0;
  // Small classes: regions out of the group's slabs (the slab classes, when
  // the class tables are up) and live regions of the arena's bins (none
  // then: every small block is a slab region); large classes: live extents.
  for (uint32_t cls = 1; cls <= slab::kSmallClasses && n < cap; ++cls) {
    const uint64_t count = slab::RegionsOut(group, cls);
    if (count != 0) out[n++] = {g_class_size[cls], count};
  }
  for (int kind = 0; kind < 2 && n < cap; ++kind) {
    unsigned classes = kind == 0 ? nbins : nlextents;
    for (unsigned j = 0; j < classes && n < cap; ++j) {
      CtlName count_name;
      count_name.Add("stats.arenas.").Add(ind)
          .Add(kind == 0 ? ".bins." : ".lextents.").Add(j)
          .Add(kind == 0 ? ".curregs" : ".curlextents");
      size_t count = 0;
      size_t clen = sizeof(count);
      if (mgje_mallctl(count_name.c_str(), &count, &clen, nullptr, 0) != 0) {
        continue;
      }
      CtlName size_name;
      size_name.Add(kind == 0 ? "arenas.bin." : "arenas.lextent.").Add(j)
          .Add(".size");
      size_t size = 0;
      size_t slen = sizeof(size);
      if (mgje_mallctl(size_name.c_str(), &size, &slen, nullptr, 0) != 0) {
        continue;
      }
      if (kind == 1 && size == slab::kSlabBytes) {
        // The slabs themselves are 64 KiB large extents of the arena.
        slab::GroupSlabStats ss{};
        slab::Stats(group, &ss);
        count = count > ss.slabs ? count - ss.slabs : 0;
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
    return EPERM;  // See RefusesBackgroundThreads.
  }
  return mgje_mallctl(name, oldp, oldlenp, newp, newlen);
}

int MallctlNameToMib(const char* name, size_t* mibp, size_t* miblenp) {
  return mgje_mallctlnametomib(name, mibp, miblenp);
}

int MallctlByMib(const size_t* mib, size_t miblen, void* oldp, size_t* oldlenp,
                 void* newp, size_t newlen) {
  if (newp != nullptr && mib != nullptr && miblen == 1 && Init() &&
      (mib[0] == g_mibs.background_thread.v[0] ||
       mib[0] == g_mibs.max_background_threads.v[0])) {
    return EPERM;  // See RefusesBackgroundThreads.
  }
  return mgje_mallctlbymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

void MallocStatsPrint(void (*write_cb)(void*, const char*), void* cbopaque,
                      const char* opts) {
  mgje_malloc_stats_print(write_cb, cbopaque, opts);
}

void PrepareFork() {
  g_engine_lock.Lock();
  front::PrepareFork();
  slab::PrepareFork();
}
void ParentFork() {
  slab::ParentFork();
  front::ParentFork();
  g_engine_lock.Unlock();
}
// The child has one thread, the one that took the locks in PrepareFork.
void ChildFork() {
  slab::ChildFork();
  front::ChildFork();
  g_engine_lock.ResetAfterFork();
}

}  // namespace memgroup::internal::engine
