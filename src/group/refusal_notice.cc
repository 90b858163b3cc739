// Implements refusal_notice.h.
//
// SYNCHRONIZATION
// - g_env_max, g_has_env_max, g_start_ns: written once at init, before
//   src/alloc/init.cc publishes Ready with a release store; read after.
// - g_phase: stored by the main thread (relaxed), read by any thread that
//   writes the notice (relaxed): it only chooses the notice's wording.
// - g_noticed: exchanged (relaxed) by every thread that would write the
//   notice; the one that sees false writes it. Nothing else is published.
#include "group/refusal_notice.h"

#include <errno.h>

#include <atomic>

#include "base/limits.h"
#include "base/parse_size.h"  // FormatSize
#include "base/raw_log.h"
#include "base/sys.h"
#include "group/job_member.h"
#include "group/registry.h"

namespace memgroup::internal {
namespace {

constinit std::atomic<uint32_t> g_phase{0};
constinit std::atomic<bool> g_noticed{false};
constinit bool g_has_env_max = false;
constinit int64_t g_env_max = 0;
constinit int64_t g_start_ns = 0;

// "100K (102400 bytes)" (the largest exact K/M/G suffix), "0", or "max".
struct SizeText {
  char buf[64];
};
SizeText Describe(int64_t bytes) {
  SizeText t;
  if (bytes == kUnlimited || bytes <= 0) {
    FormatSize(bytes, t.buf, sizeof(t.buf));
    return t;
  }
  static constexpr char kSuffix[] = "GMK";
  for (int k = 0; k < 3; ++k) {
    const int64_t unit = int64_t{1} << (10 * (3 - k));
    if (bytes % unit == 0) {
      RawFormat(t.buf, sizeof(t.buf), "%lld%c (%lld bytes)",
                static_cast<long long>(bytes / unit), kSuffix[k],
                static_cast<long long>(bytes));
      return t;
    }
  }
  RawFormat(t.buf, sizeof(t.buf), "%lld bytes", static_cast<long long>(bytes));
  return t;
}

// When, in the program's start, the refusal came: " before main",
// " in main, N ms after start", or ", N ms after start" (phase unknown);
// N counts from the library's initialisation.
struct WhenText {
  char buf[64];
};
WhenText When(StartPhase phase) {
  WhenText w;
  if (phase == StartPhase::kBeforeMain) {
    RawFormat(w.buf, sizeof(w.buf), " before main");
    return w;
  }
  const int64_t ms = (MonotonicNanos() - g_start_ns) / 1000000;
  RawFormat(w.buf, sizeof(w.buf), "%s, %lld ms after start",
            phase == StartPhase::kInMain ? " in main" : "",
            static_cast<long long>(ms));
  return w;
}

}  // namespace

void SetStartPhase(StartPhase phase) {
  // Relaxed: see g_phase.
  g_phase.store(static_cast<uint32_t>(phase), std::memory_order_relaxed);
}

void ArmRefusalNotice(bool has_env_max, int64_t env_max) {
  g_has_env_max = has_env_max;
  g_env_max = env_max;
  g_start_ns = MonotonicNanos();
}

void NoticeRefusal(uint32_t refusing, int64_t bytes) {
  const CounterTree& t = GlobalRegistry().tree();
  // The limit and where it was set; nothing for the program's own limits.
  const char* source;
  int64_t max, usage;
  const int64_t own = t.Usage(kRootGroup);
  if (IsJobLevel(refusing)) {
    JobNode* node = JobNodeAt(refusing);
    if (node == nullptr) return;
    source = JobLevelIndex(refusing) == 0 ? "memgroup run --max "
                                          : "the enclosing job's --max ";
    // Relaxed: a report's snapshot.
    max = node->counter.max.load(std::memory_order_relaxed);
    usage = node->counter.usage.load(std::memory_order_relaxed);
  } else {
    // The root's max is MEMGROUP_MAX's unless the program changed it.
    if (refusing != kRootGroup || !g_has_env_max ||
        t.Max(kRootGroup) != g_env_max) {
      return;
    }
    source = "MEMGROUP_MAX=";
    max = g_env_max;
    usage = own;
  }
  // Relaxed: see g_noticed.
  if (g_noticed.exchange(true, std::memory_order_relaxed)) return;
  // Relaxed: see g_phase.
  const auto phase =
      static_cast<StartPhase>(g_phase.load(std::memory_order_relaxed));
  const SizeText limit = Describe(max);
  const WhenText when = When(phase);
  char whose[64] = "";
  if (IsJobLevel(refusing)) {
    RawFormat(whose, sizeof(whose), ", %lld of them by this process",
              static_cast<long long>(own));
  }
  // Before main the refusal is the program's start-up need (unless other
  // members of the job hold the memory); in main, a program that cannot
  // start under the limit shows it by failing right after this line.
  const char* verdict = " (reported once per process)";
  if (phase == StartPhase::kBeforeMain) {
    verdict = own + bytes > max
                  ? ": the limit is below what the program needs to start"
                  : ": other members of the job hold the rest";
  }
  RawPrint(2,
           "memgroup: %s (pid %d)%s: a charge of %lld bytes was refused at "
           "%s%s, with %lld bytes in use%s%s\n",
           program_invocation_short_name, static_cast<int>(SysGetpid()),
           when.buf, static_cast<long long>(bytes), source, limit.buf,
           static_cast<long long>(usage), whose, verdict);
}

}  // namespace memgroup::internal
