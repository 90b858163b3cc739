// Thread exit: deferring jemalloc's own per-thread cleanup past the other
// thread-exit destructors (the renamed pthread_key_create/setspecific that
// jemalloc links against, and the trampoline that replaces its tsd
// destructor), and engine::ThreadExit, which drops the thread's caches.
// Owns t_dead and the deferral's keys and per-thread round counts. The
// engine's CMakeLists.txt forces this object into every link (--undefined):
// the archive's references to the wrappers must resolve.
//
// Must never: allocate; run jemalloc's cleanup before the thread's last
// engine use it can foresee; carry sanitizer instrumentation on the
// destructor path (below); create a cache or tcache for a thread after
// ThreadExit.
#include <pthread.h>

#include <cstdint>

#include "base/limits.h"
#include "base/macros.h"
#include "engine/engine.h"
#include "engine/engine_internal.h"
#include "engine/mimalloc_engine.h"
#include "engine/other_cache.h"
#include "engine/tcache_slots.h"

namespace memgroup::internal::engine {

MG_TLS bool t_dead = false;

}  // namespace memgroup::internal::engine

using memgroup::internal::engine::t_dead;

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
// cleanup would land in arena 0; AllocOther (dispatch.cc) detects that and
// returns nullptr rather than a block outside the group.
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

void ThreadExit() {
  if (t_dead) return;
  t_dead = true;  // First: nothing below may create a tcache again.
  FrontCache* fc = ThreadFront();
  SetThreadFront(nullptr);
  if (fc != nullptr) front::Retire(fc);  // Still bound to fc->group.
  RetireOtherCache();
  if (UsesMimalloc()) {
    // The thread's mimalloc heaps are mimalloc's to delete (its own
    // thread-exit key); HeapOf makes new ones if the thread allocates again.
    t_bound = kNoGroup;
    return;
  }
  DestroyThreadTcaches();
  DestroyBoundTcache();  // Never used again by this thread.
  t_bound = kNoGroup;
}

}  // namespace memgroup::internal::engine
