// Implements init.h.
//
// SYNCHRONIZATION
// - g_state: written by the initialising thread (release), read by every
//   entry point (acquire): Ready publishes every write made by DoInit.
// - t_initialising: the calling thread's own (thread-local).
#include "alloc/init.h"

#include <sched.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "alloc/charge.h"
#include "alloc/env_config.h"
#include "alloc/fork.h"
#include "alloc/stats_writer.h"
#include "alloc/thread.h"
#include "base/macros.h"
#include "base/raw_log.h"
#include "engine/engine.h"
#include "engine/owner_table.h"
#include "engine/va_budget.h"
#include "group/job_member.h"
#include "group/registry.h"
#include "group/stats_report.h"

namespace memgroup::internal::alloc {
namespace {

enum : uint32_t { kUninit = 0, kInitializing = 1, kReady = 2, kFailed = 3 };

constinit std::atomic<uint32_t> g_state{kUninit};
// Set on the thread that runs DoInit while it does: its own allocations
// then (the loader's, opening the mimalloc engine) take the bootstrap path
// instead of waiting for themselves. Thread-local rather than the thread's
// id: no system call on each of them.
MG_TLS bool t_initialising = false;

// With MEMGROUP_STATS set, one line when the engine reserved less address
// space than its default (RLIMIT_AS, or no hole that large). Without it the
// smaller reservation is silent: under `ulimit -v` every program would
// otherwise print it on every start.
void ReportReservation() {
  // Acquire: pairs with owner_table::Init's release store (it ran before).
  const size_t va_bytes =
      owner_table::g_va_bytes.load(std::memory_order_acquire);
  if (StatsPath() == nullptr || va_bytes >= owner_table::kVaBytes) return;
  const owner_table::ReservationInfo r = owner_table::Reservation();
  if (r.limit_bytes == va_budget::kNoLimit) {
    RawLog("reserved %zu MiB of address space for the heap (default %zu MiB;"
           " no larger hole)",
           va_bytes >> 20, owner_table::kVaBytes >> 20);
    return;
  }
  RawLog("reserved %zu MiB of address space for the heap (default %zu MiB):"
         " RLIMIT_AS is %llu MiB, %llu MiB were in use",
         va_bytes >> 20, owner_table::kVaBytes >> 20,
         static_cast<unsigned long long>(r.limit_bytes >> 20),
         static_cast<unsigned long long>(r.used_bytes >> 20));
}

bool DoInit() {
  if (!GlobalRegistry().Init()) {
    RawLog("cannot map the group registry");
    return false;
  }
  SelectEngineFromEnvironment();
  if (!engine::Init()) {
    RawLog("cannot initialise the %s engine",
           engine::SelectedEngine() == EngineChoice::kMimalloc ? "mimalloc"
                                                                : "jemalloc");
    return false;
  }
  InstallPageCharger();
  ConfigureFromEnvironment();
  ReportReservation();
  if (!engine::EnsureGroup(kRootGroup)) {
    RawLog("cannot create the arena of the root group");
    return false;
  }
  if (!CreateThreadExitKey()) {
    RawLog("cannot create the thread-exit key");
    return false;
  }
  SetOomReportHook(WriteEngineStats);
  SetHeapBytesHook(EngineHeapBytes);
  // After engine::Init (jemalloc registered its handlers then), so ours
  // prepare first.
  RegisterForkHandlers();
  // A job member's stats are the job's, written once by `memgroup run`.
  if (StatsPath() != nullptr && !InJob()) atexit(WriteStatsAtExit);
  // Registered early, so it runs late among the exit handlers; whatever is
  // charged after it is released when the process is gone.
  if (InJob()) atexit(JobExitRelease);
  return true;
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
    t_initialising = true;
    int saved = errno;
    bool ok = DoInit();
    errno = saved;
    t_initialising = false;
    // Pairs with the acquire loads above: Ready publishes every init write.
    g_state.store(ok ? kReady : kFailed, std::memory_order_release);
    if (!ok) {
      RawLog("initialisation failed; cannot serve memory");
      abort();
    }
    return true;
  }
  if (t_initialising) return false;
  // Another thread initialises: wait for it (init never blocks on us).
  // Acquire: pairs with the release store of the final state.
  while (g_state.load(std::memory_order_acquire) == kInitializing) sched_yield();
  return g_state.load(std::memory_order_acquire) == kReady;
}

}  // namespace memgroup::internal::alloc
