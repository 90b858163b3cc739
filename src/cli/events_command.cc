// `memgroup events PID [--follow]`: the job's event counters in the
// kernel's memory.events form; with --follow, one line per change
// ("TIME GROUP EVENT COUNT +DELTA") until the job ends. The block is polled
// read-only every 100 ms: the job never waits for a reader, a reader that
// stops reading (a full pipe) costs the job nothing.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "cli/control_commands.h"
#include "cli/job_format.h"

namespace memgroup::internal::cli {
namespace {

constexpr useconds_t kPollMicros = 100'000;

// UTC, milliseconds: 2026-12-05T06:40:01.123Z.
std::string Now() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

}  // namespace

int EventsMain(const std::vector<std::string>& args) {
  bool follow = false;
  std::vector<std::string> positional;
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--follow" || a == "-f") {
      if (follow) return UsageError("events: --follow given more than once");
      follow = true;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError(absl::StrCat("unknown option of events '", a, "'"));
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 1) {
    return UsageError(positional.empty() ? "events needs a PID"
                                         : "events takes one PID");
  }
  JobRecord job;
  int status = 0;
  if (!LookupJob(positional[0], &job, &status)) return status;
  if (!follow) {
    for (uint32_t e : kJobEventsInKernelOrder) {
      printf("%s %lld\n", JobEventName(e),
             static_cast<long long>(job.snap.events[e]));
    }
    return 0;
  }
  JobMapping map;
  absl::Status s = map.Open(job.path);
  if (!s.ok()) return ControlError(std::string(s.message()));
  // Line buffered even into a pipe: each event is seen when it happens.
  setvbuf(stdout, nullptr, _IOLBF, 0);
  JobSnapshot last = job.snap;
  for (;;) {
    usleep(kPollMicros);
    absl::StatusOr<JobRecord> now = map.Read();
    if (!now.ok()) return ControlError(std::string(now.status().message()));
    for (uint32_t e : kJobEventsInKernelOrder) {
      const int64_t delta = now->snap.events[e] - last.events[e];
      if (delta == 0) continue;
      printf("%s / %s %lld %+lld\n", Now().c_str(), JobEventName(e),
             static_cast<long long>(now->snap.events[e]),
             static_cast<long long>(delta));
    }
    last = now->snap;
    if (!SupervisorAlive(last) || access(job.path.c_str(), F_OK) != 0) {
      fprintf(stderr, "memgroup: the job of %d has ended\n",
              last.supervisor_pid);
      return 0;
    }
  }
}

}  // namespace memgroup::internal::cli
