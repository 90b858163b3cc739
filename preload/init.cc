// Lazy initialisation, environment configuration, fork and thread-exit hooks,
// the pthread_create hook (a new thread starts in its creator's group) and
// the stats report at exit. Must never allocate through malloc: everything
// here runs inside the first malloc of the process, possibly before any
// constructor (libstdc++ allocates its emergency pool first).
//
// Init is an atomic state machine Uninit -> Initializing -> Ready (or
// Failed). The initialising thread's own nested calls are served from a
// static bootstrap buffer whose blocks never reach the engine; other threads
// wait for Ready.
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "api/alloc_path.h"
#include "base/meta_alloc.h"
#include "engine/mmap_tracker.h"
#include "group/reclaim.h"
#include "base/parse_size.h"
#include "base/raw_log.h"
#include "base/spinlock.h"
#include "base/sys.h"

extern char** environ;

namespace memgroup::internal::preload {

namespace {

enum : uint32_t { kUninit = 0, kInitializing = 1, kReady = 2, kFailed = 3 };

// Written by the initialising thread (release), read by all (acquire).
constinit std::atomic<uint32_t> g_state{kUninit};
// The initialising thread. Relaxed: only compared with the caller's own tid.
constinit std::atomic<pid_t> g_init_tid{0};
constinit pthread_key_t g_thread_key = 0;

// --- Bootstrap buffer ---------------------------------------------------
constexpr size_t kBootstrapBytes = 256 * 1024;
alignas(4096) constinit char g_bootstrap[kBootstrapBytes] = {};
// Bump offset. fetch_add by allocating threads (relaxed: the buffer is only
// used by the initialising thread).
constinit std::atomic<size_t> g_bootstrap_used{0};
constexpr size_t kBootHeader = 16;

// --- Configuration (written once by Init) ---------------------------------
constinit char g_stats_path[512] = {};
constinit bool g_stats_enabled = false;

// --- pthread_create hook -------------------------------------------------
struct StartRecord {
  void* (*fn)(void*);
  void* arg;
  uint32_t group;
  StartRecord* next_free;
};
constexpr size_t kStartRecords = 4096;
constinit SpinLock g_start_lock;
constinit StartRecord* g_start_pool = nullptr;  // guarded by g_start_lock
constinit StartRecord* g_start_free = nullptr;  // guarded by g_start_lock
using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*,
                                void* (*)(void*), void*);
// Resolved lazily with dlsym(RTLD_NEXT) (does not allocate on glibc 2.36).
// Relaxed: the same value is stored by every racer.
constinit std::atomic<PthreadCreateFn> g_real_pthread_create{nullptr};

[[noreturn]] void ConfigError(const char* name, const char* value,
                              const char* expected) {
  RawPrint(2, "memgroup: invalid %s='%s': expected %s\n", name, value,
           expected);
  _exit(2);
}

bool StartsWith(const char* s, const char* prefix, const char** rest) {
  size_t n = strlen(prefix);
  if (strncmp(s, prefix, n) != 0) return false;
  *rest = s + n;
  return true;
}

int64_t ParseSizeOrDie(const char* name, const char* value) {
  int64_t bytes = 0;
  ParseSizeError e = ParseSize(value, &bytes);
  if (e != ParseSizeError::kOk) {
    char what[160];
    RawFormat(what, sizeof(what),
              "a size like 512M, 1G, 4096 or max (%s)", ParseSizeErrorString(e));
    ConfigError(name, value, what);
  }
  return bytes;
}

// Parses "0", "0.05", "1" into [0,1]. False on anything else.
bool ParseProbability(const char* s, double* out) {
  if (*s < '0' || *s > '9') return false;
  double v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  if (*s == '.') {
    ++s;
    double scale = 0.1;
    if (*s < '0' || *s > '9') return false;
    while (*s >= '0' && *s <= '9') {
      v += (*s++ - '0') * scale;
      scale /= 10;
    }
  }
  if (*s != '\0' || v > 1.0) return false;
  *out = v;
  return true;
}

void ApplyOomPolicy(const char* value) {
  GroupState& st = GlobalRegistry().state(kRootGroup);
  const char* rest;
  OomPolicy p;
  int64_t timeout_ns = -1;
  if (strcmp(value, "enomem") == 0) {
    p = OomPolicy::kEnomem;
  } else if (strcmp(value, "abort") == 0) {
    p = OomPolicy::kAbort;
  } else if (strcmp(value, "kill") == 0) {
    p = OomPolicy::kKill;
  } else if (strcmp(value, "wait") == 0) {
    p = OomPolicy::kWait;
  } else if (StartsWith(value, "wait:", &rest) && *rest != '\0') {
    p = OomPolicy::kWait;
    int64_t secs = 0;
    for (const char* c = rest; *c; ++c) {
      if (*c < '0' || *c > '9' || secs > 1000000000) {
        ConfigError("MEMGROUP_OOM", value,
                    "enomem, abort, kill, wait or wait:SECONDS");
      }
      secs = secs * 10 + (*c - '0');
    }
    timeout_ns = secs * 1000000000;
  } else {
    ConfigError("MEMGROUP_OOM", value,
                "enomem, abort, kill, wait or wait:SECONDS");
  }
  // Relaxed: single-threaded init, published by g_state's release store.
  st.oom_policy.store(static_cast<uint32_t>(p), std::memory_order_relaxed);
  st.oom_wait_ns.store(timeout_ns, std::memory_order_relaxed);
}

// Reads MEMGROUP_* from the environment and applies them to the process
// group "/". Any malformed or unknown variable exits with status 2.
void ConfigureFromEnvironment() {
  CounterTree& t = GlobalRegistry().tree();
  if (environ == nullptr) return;
  for (char** e = environ; *e != nullptr; ++e) {
    const char* entry = *e;
    if (strncmp(entry, "MEMGROUP_", 9) != 0) continue;
    const char* eq = strchr(entry, '=');
    if (eq == nullptr) continue;
    char name[64];
    size_t n = static_cast<size_t>(eq - entry);
    if (n >= sizeof(name)) n = sizeof(name) - 1;
    memcpy(name, entry, n);
    name[n] = '\0';
    const char* value = eq + 1;
    if (strcmp(name, "MEMGROUP_MAX") == 0) {
      t.ExchangeMax(kRootGroup, ParseSizeOrDie(name, value));
    } else if (strcmp(name, "MEMGROUP_HIGH") == 0) {
      t.SetHigh(kRootGroup, ParseSizeOrDie(name, value));
    } else if (strcmp(name, "MEMGROUP_LOW") == 0) {
      t.SetLow(kRootGroup, ParseSizeOrDie(name, value));
    } else if (strcmp(name, "MEMGROUP_MIN") == 0) {
      t.SetMin(kRootGroup, ParseSizeOrDie(name, value));
    } else if (strcmp(name, "MEMGROUP_OOM") == 0) {
      ApplyOomPolicy(value);
    } else if (strcmp(name, "MEMGROUP_STATS") == 0) {
      if (*value == '\0') ConfigError(name, value, "stderr or a file path");
      size_t len = strlen(value);
      if (len >= sizeof(g_stats_path)) {
        ConfigError(name, value, "a path shorter than 512 bytes");
      }
      memcpy(g_stats_path, value, len + 1);
      g_stats_enabled = true;
    } else if (strcmp(name, "MEMGROUP_ENGINE") == 0) {
      if (strcmp(value, "jemalloc") != 0) {
        ConfigError(name, value,
                    "jemalloc (the only engine of this build)");
      }
    } else if (strcmp(name, "MEMGROUP_CONTROL") == 0) {
      if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0) {
        ConfigError(name, value, "0 or 1");
      }
    } else if (strcmp(name, "MEMGROUP_FAULT") == 0) {
      double p;
      if (!ParseProbability(value, &p)) {
        ConfigError(name, value, "a probability between 0 and 1");
      }
      SetFaultProbability(p);
    } else if (strcmp(name, "MEMGROUP_LIBRARY") == 0) {
      // Read by the memgroup command, which passes it on to children.
    } else {
      RawPrint(2,
               "memgroup: unknown environment variable %s='%s' (known: "
               "MEMGROUP_MAX HIGH LOW MIN OOM STATS ENGINE CONTROL FAULT)\n",
               name, value);
      _exit(2);
    }
  }
}

bool BindHookImpl(uint32_t group) {
  // A non-null value makes glibc run the destructor at thread exit. For the
  // first 32 keys pthread_setspecific does not allocate.
  pthread_setspecific(g_thread_key, &t_thread);
  return engine::BindThread(group);
}

void ReportHookImpl(int fd, uint32_t group) {
  EngineGroupStats s;
  if (!engine::GroupStats(group, &s)) return;
  RawPrint(fd,
           "stat.overhead %lld\nstat.engine_mapped %llu\n"
           "stat.engine_resident %llu\nstat.engine_retained %llu\n"
           "stat.engine_metadata %llu\n",
           static_cast<long long>(OverheadBytes(s)),
           static_cast<unsigned long long>(s.mapped_bytes),
           static_cast<unsigned long long>(s.resident_bytes),
           static_cast<unsigned long long>(s.retained_bytes),
           static_cast<unsigned long long>(s.metadata_bytes));
  RawPrint(fd, "stat.allocs %llu\nstat.frees %llu\n",
           static_cast<unsigned long long>(s.nmalloc),
           static_cast<unsigned long long>(s.ndalloc));
  // Size-class histogram of the group's live blocks: "hist.SIZE COUNT".
  EngineSizeClass classes[64];
  size_t n = engine::GroupHistogram(group, classes, 64);
  for (size_t i = 0; i < n; ++i) {
    RawPrint(fd, "hist.%llu %llu\n",
             static_cast<unsigned long long>(classes[i].size),
             static_cast<unsigned long long>(classes[i].count));
  }
}

void ThreadExitDestructor(void*) {
  TeardownThread();
  engine::ThreadExit();
}

void AtForkPrepare() {
  GlobalRegistry().PrepareFork();
  GlobalRegistry().stocks().PrepareFork();
  ReclaimPrepareFork();
  mmap_tracker::PrepareFork();
  engine::PrepareFork();
}

void AtForkParent() {
  engine::ParentFork();
  mmap_tracker::ParentFork();
  ReclaimParentFork();
  GlobalRegistry().stocks().ParentFork();
  GlobalRegistry().ParentFork();
}

void AtForkChild() {
  engine::ChildFork();
  mmap_tracker::ChildFork();
  ReclaimChildFork();
  // Resets the registry and stock locks and releases the stocks of the
  // threads that do not exist in the child.
  AfterForkChild();
}

void WriteStatsAtExit() {
  if (!g_stats_enabled) return;
  int fd = 2;
  bool close_fd = false;
  if (strcmp(g_stats_path, "stderr") != 0 && strcmp(g_stats_path, "-") != 0) {
    fd = open(g_stats_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      RawLog("cannot write stats to %s: %s", g_stats_path, strerror(errno));
      return;
    }
    close_fd = true;
  }
  // Return every stock first so that `current` reads exact.
  DrainSubtree(kNoGroup);
  RawPrint(fd, "memgroup stats pid %d\n", static_cast<int>(SysGetpid()));
  WriteStats(fd);
  if (close_fd) close(fd);
}

bool DoInit() {
  if (!GlobalRegistry().Init()) {
    RawLog("cannot map the group registry");
    return false;
  }
  if (!engine::Init()) {
    RawLog("cannot initialise the jemalloc engine");
    return false;
  }
  ConfigureFromEnvironment();
  if (!engine::EnsureGroup(kRootGroup)) {
    RawLog("cannot create the arena of the root group");
    return false;
  }
  if (pthread_key_create(&g_thread_key, ThreadExitDestructor) != 0) {
    RawLog("cannot create the thread-exit key");
    return false;
  }
  SetBindHook(BindHookImpl);
  SetReportHook(ReportHookImpl);
  // After engine::Init (jemalloc registered its handlers then), so ours
  // prepare first: lock order registry -> drain -> mmap ranges -> engine ->
  // jemalloc's own locks.
  pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
  if (g_stats_enabled) atexit(WriteStatsAtExit);
  return true;
}

void* StartTrampoline(void* arg) {
  StartRecord* r = static_cast<StartRecord*>(arg);
  void* (*fn)(void*) = r->fn;
  void* user_arg = r->arg;
  t_thread.inherited_group_plus1 = r->group + 1;
  {
    SpinLockHolder h(&g_start_lock);
    r->next_free = g_start_free;
    g_start_free = r;
  }
  return fn(user_arg);
}

StartRecord* TakeStartRecord() {
  SpinLockHolder h(&g_start_lock);
  if (g_start_pool == nullptr) {
    g_start_pool =
        static_cast<StartRecord*>(MetaMap(kStartRecords * sizeof(StartRecord)));
    if (g_start_pool == nullptr) return nullptr;
    for (size_t i = 0; i < kStartRecords; ++i) {
      g_start_pool[i].next_free = g_start_free;
      g_start_free = &g_start_pool[i];
    }
  }
  StartRecord* r = g_start_free;
  if (r != nullptr) g_start_free = r->next_free;
  return r;
}

}  // namespace

bool EnsureInit() {
  // Pairs with the release store at the end of init.
  uint32_t s = g_state.load(std::memory_order_acquire);
  if (MG_LIKELY(s == kReady)) return true;
  if (s == kFailed) return false;
  uint32_t expected = kUninit;
  // Acquire/release: the winner's init writes are published by the later
  // release store of kReady, not by this CAS.
  if (g_state.compare_exchange_strong(expected, kInitializing,
                                      std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
    g_init_tid.store(SysGettid(), std::memory_order_relaxed);
    int saved = errno;
    bool ok = DoInit();
    errno = saved;
    // Pairs with the acquire loads above: Ready publishes every init write.
    g_state.store(ok ? kReady : kFailed, std::memory_order_release);
    if (!ok) {
      RawLog("initialisation failed; cannot serve memory");
      abort();
    }
    return true;
  }
  if (g_init_tid.load(std::memory_order_relaxed) == SysGettid()) return false;
  // Another thread initialises: wait for it (init never blocks on us).
  while (g_state.load(std::memory_order_acquire) == kInitializing) sched_yield();
  return g_state.load(std::memory_order_acquire) == kReady;
}

void* BootstrapAlloc(size_t size, size_t align) {
  if (align < 16) align = 16;
  // Relaxed: only the initialising thread allocates here.
  size_t used = g_bootstrap_used.load(std::memory_order_relaxed);
  size_t start = (used + kBootHeader + align - 1) & ~(align - 1);
  if (size > kBootstrapBytes || start + size > kBootstrapBytes) {
    errno = ENOMEM;
    return nullptr;
  }
  g_bootstrap_used.store(start + size, std::memory_order_relaxed);
  memcpy(&g_bootstrap[start - sizeof(size_t)], &size, sizeof(size_t));
  return &g_bootstrap[start];
}

bool IsBootstrap(const void* p) {
  const char* c = static_cast<const char*>(p);
  return c >= g_bootstrap && c < g_bootstrap + kBootstrapBytes;
}

size_t BootstrapSize(const void* p) {
  size_t size;
  memcpy(&size, static_cast<const char*>(p) - sizeof(size_t), sizeof(size_t));
  return size;
}

}  // namespace memgroup::internal::preload

using memgroup::internal::preload::EnsureInit;

// Runs EnsureInit before main even in programs that never allocate first, so
// that a malformed MEMGROUP_* variable always stops the program before main.
__attribute__((constructor(101))) static void MemgroupEarlyInit() {
  (void)EnsureInit();
}

extern "C" MG_EXPORT int pthread_create(pthread_t* thread,
                                        const pthread_attr_t* attr,
                                        void* (*start)(void*), void* arg) {
  using namespace memgroup::internal;
  using namespace memgroup::internal::preload;
  // Relaxed: every racer stores the same resolved address.
  PthreadCreateFn real = g_real_pthread_create.load(std::memory_order_relaxed);
  if (real == nullptr) {
    real = reinterpret_cast<PthreadCreateFn>(
        dlsym(RTLD_NEXT, "pthread_create"));
    if (real == nullptr) {
      RawLog("cannot resolve pthread_create");
      return EAGAIN;
    }
    g_real_pthread_create.store(real, std::memory_order_relaxed);
  }
  StartRecord* r = EnsureInit() ? TakeStartRecord() : nullptr;
  if (r == nullptr) return real(thread, attr, start, arg);
  r->fn = start;
  r->arg = arg;
  r->group = t_thread.status == kThreadReady ? t_thread.group : kRootGroup;
  int rc = real(thread, attr, StartTrampoline, r);
  if (rc != 0) {
    SpinLockHolder h(&g_start_lock);
    r->next_free = g_start_free;
    g_start_free = r;
  }
  return rc;
}
