// `memgroup events [--follow] [--local] [--no-refresh] PID [GROUP]` (or
// `PID:/a/b`): the event counters of a job, or of a group a member created
// through the C ABI, in the kernel's memory.events form (hierarchical: a
// job's count its nested jobs' events; with --local, memory.events.local,
// the job's or group's own), followed by the job's members' root
// group crossings ("member_crossings PID ..." lines, for members that had
// any) or a member group's crossings (the calls made to the threshold and
// pressure-level callbacks its member registered on it: threshold_above,
// threshold_below, pressure_low, pressure_medium, pressure_critical);
// with --follow, one
// line per change ("TIME GROUP EVENT COUNT +DELTA", " threshold=BYTES"
// after a threshold crossing) until the job ends (the job's form also
// follows every member group's events and crossings, and the members'
// root group crossings with the member's pid as GROUP; with --local, the
// job's and groups' local counters) or the group is gone.
// Crossings between two polls coalesce into one line whose delta counts
// them all. The block is
// polled read-only every 100 ms: the job never waits for a reader, a reader
// that stops reading (a full pipe) costs the job nothing. A member group's
// counters are those its member published (every 100 ms), so --follow sees
// a change within 200 ms; the one-shot form first asks the member for fresh
// figures (group_request.h RefreshGroup), as `stat` does.
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "cli/control_commands.h"
#include "cli/group_request.h"
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

// One claim of one group in the table: the same key in two snapshots is the
// same group (an entry reused by another group, or by the same member after
// a fork, has another key).
using GroupKey = std::tuple<uint32_t, int32_t, uint64_t, uint64_t>;
GroupKey KeyOf(const JobGroupSnapshot& g) {
  return {g.entry, g.pid, g.start_ticks, g.group_id};
}

using GroupEvents = uint64_t[kJobGroupEvents];

// A group's hierarchical counters (memory.events) or its local ones.
const GroupEvents& Counters(const JobGroupFigures& f, bool local) {
  return local ? f.events_local : f.events;
}

// What a follow compares between two reads of a group: its memory.events
// (or .local) counters and its crossings.
struct GroupCounters {
  uint64_t c[kJobGroupEvents];
  uint64_t x[kJobGroupCrossings];
};

GroupCounters CountersOf(const JobGroupFigures& f, bool local) {
  GroupCounters gc;
  const GroupEvents& c = Counters(f, local);
  for (uint32_t e = 0; e < kJobGroupEvents; ++e) gc.c[e] = c[e];
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) gc.x[k] = f.crossings[k];
  return gc;
}

void PrintChange(const JobGroupSnapshot& g, const char* name, uint64_t now,
                 uint64_t before, const std::string& tail) {
  const int64_t delta = static_cast<int64_t>(now - before);
  printf("%s %d:%s %s %llu %+lld%s\n", Now().c_str(), g.pid, g.path, name,
         static_cast<unsigned long long>(now), static_cast<long long>(delta),
         tail.c_str());
}

// Prints a line per counter of `now` that differs from `last` (all zeros
// for a group seen the first time): the memory.events counters, then the
// crossings, a threshold's with the last threshold crossed that way (the
// crossings between two polls coalesce into one line; the count is exact).
// Counters are the member's: a hostile table may make them go down,
// printed as a negative delta.
void PrintGroupChanges(const JobGroupSnapshot& now, const GroupCounters* last,
                       bool local) {
  const GroupCounters c = CountersOf(now.figures, local);
  for (uint32_t e = 0; e < kJobGroupEvents; ++e) {
    const uint64_t before = last == nullptr ? 0 : last->c[e];
    if (c.c[e] != before) {
      PrintChange(now, kGroupEventNames[e], c.c[e], before, "");
    }
  }
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    const uint64_t before = last == nullptr ? 0 : last->x[k];
    if (c.x[k] == before) continue;
    std::string tail;
    if (k < 2) {
      // The first two crossings are the thresholds' (above, below: the
      // table's order), indexed as threshold_last is.
      tail = absl::StrCat(" threshold=", now.figures.threshold_last[k]);
    }
    PrintChange(now, kGroupCrossingNames[k], c.x[k], before, tail);
  }
}

// A member's root group (the member itself): the same slot, pid and start
// time in two snapshots is the same member image.
using MemberKey = std::tuple<uint32_t, int32_t, uint64_t>;
struct RootCounters {
  uint64_t x[kJobCrossings];
};

// Prints a line per crossing counter of member `m`'s root group that
// differs from `last` (all zeros for a member seen the first time), as
// PrintGroupChanges does for a group, the member's pid in the GROUP
// column.
void PrintRootChanges(const JobMemberSnapshot& m, const RootCounters* last) {
  for (uint32_t k = 0; k < kJobCrossings; ++k) {
    const uint64_t before = last == nullptr ? 0 : last->x[k];
    const uint64_t now = m.root_crossings[k];
    if (now == before) continue;
    std::string tail;
    if (k < 2) tail = absl::StrCat(" threshold=", m.root_threshold_last[k]);
    const int64_t delta = static_cast<int64_t>(now - before);
    printf("%s %d %s %llu %+lld%s\n", Now().c_str(), m.pid,
           kGroupCrossingNames[k], static_cast<unsigned long long>(now),
           static_cast<long long>(delta), tail.c_str());
  }
}

// FollowGroups for the members' root groups. A member whose root crossings
// were not read whole keeps its last baseline (nothing printed).
void FollowRoots(const JobRecord& rec, bool print,
                 std::map<MemberKey, RootCounters>* seen) {
  std::map<MemberKey, RootCounters> next;
  for (const JobMemberSnapshot& m : rec.members) {
    const MemberKey key{m.slot, m.pid, m.start_ticks};
    const auto it = seen->find(key);
    if (!m.root_whole) {
      if (it != seen->end()) next[key] = it->second;
      continue;
    }
    if (print) PrintRootChanges(m, it == seen->end() ? nullptr : &it->second);
    RootCounters rc;
    for (uint32_t k = 0; k < kJobCrossings; ++k) rc.x[k] = m.root_crossings[k];
    next[key] = rc;
  }
  *seen = std::move(next);
}

// Remembers every group's counters of `rec` (the baseline of the next
// poll); with `print`, prints what changed since `*seen` first.
void FollowGroups(const JobRecord& rec, bool local, bool print,
                  std::map<GroupKey, GroupCounters>* seen) {
  std::map<GroupKey, GroupCounters> next;
  for (const JobGroupSnapshot& g : rec.groups) {
    const auto it = seen->find(KeyOf(g));
    if (print)
      PrintGroupChanges(g, it == seen->end() ? nullptr : &it->second, local);
    next[KeyOf(g)] = CountersOf(g.figures, local);
  }
  *seen = std::move(next);
}

bool JobEnded(const JobRecord& rec, const JobRecord& first) {
  if (!SupervisorAlive(rec.snap) || access(first.path.c_str(), F_OK) != 0) {
    fprintf(stderr, "memgroup: the job of %d has ended\n",
            rec.snap.supervisor_pid);
    return true;
  }
  return false;
}

using JobEvents = int64_t[kJobEventCount];

// The job's hierarchical counters (its own and its nested jobs' events) or
// its local ones.
const JobEvents& JobCounters(const JobSnapshot& s, bool local) {
  return local ? s.events_local : s.events;
}

int FollowJob(const JobRecord& job, bool local) {
  JobMapping map;
  absl::Status s = map.Open(job.path);
  if (!s.ok()) return ControlError(std::string(s.message()));
  // Line buffered even into a pipe: each event is seen when it happens.
  setvbuf(stdout, nullptr, _IOLBF, 0);
  JobSnapshot last = job.snap;
  std::map<GroupKey, GroupCounters> groups;
  FollowGroups(job, local, /*print=*/false, &groups);
  std::map<MemberKey, RootCounters> roots;
  FollowRoots(job, /*print=*/false, &roots);
  for (;;) {
    usleep(kPollMicros);
    absl::StatusOr<JobRecord> now = map.Read();
    if (!now.ok()) return ControlError(std::string(now.status().message()));
    const JobEvents& c = JobCounters(now->snap, local);
    const JobEvents& before = JobCounters(last, local);
    for (uint32_t e : kJobEventsInKernelOrder) {
      const int64_t delta = c[e] - before[e];
      if (delta == 0) continue;
      printf("%s / %s %lld %+lld\n", Now().c_str(), JobEventName(e),
             static_cast<long long>(c[e]), static_cast<long long>(delta));
    }
    FollowRoots(*now, /*print=*/true, &roots);
    FollowGroups(*now, local, /*print=*/true, &groups);
    last = now->snap;
    if (JobEnded(*now, job)) return 0;
  }
}

int FollowGroup(const JobRecord& job, const JobGroupSnapshot& g, bool local) {
  JobMapping map;
  absl::Status s = map.Open(job.path);
  if (!s.ok()) return ControlError(std::string(s.message()));
  setvbuf(stdout, nullptr, _IOLBF, 0);
  GroupCounters last = CountersOf(g.figures, local);
  for (;;) {
    usleep(kPollMicros);
    absl::StatusOr<JobRecord> now = map.Read();
    if (!now.ok()) return ControlError(std::string(now.status().message()));
    const JobGroupSnapshot* found = nullptr;
    for (const JobGroupSnapshot& n : now->groups) {
      if (KeyOf(n) == KeyOf(g)) found = &n;
    }
    if (found == nullptr) {
      if (JobEnded(*now, job)) return 0;
      fprintf(stderr,
              "memgroup: group %d:%s is gone (destroyed, or its "
              "member exited)\n",
              g.pid, g.path);
      return 0;
    }
    PrintGroupChanges(*found, &last, local);
    last = CountersOf(found->figures, local);
    if (JobEnded(*now, job)) return 0;
  }
}

}  // namespace

int EventsMain(const std::vector<std::string>& args) {
  bool follow = false;
  bool local = false;
  bool refresh = true;
  std::vector<std::string> positional;
  for (const std::string& a : args) {
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--follow" || a == "-f") {
      if (follow) return UsageError("events: --follow given more than once");
      follow = true;
    } else if (a == "--local") {
      if (local) return UsageError("events: --local given more than once");
      local = true;
    } else if (a == "--no-refresh") {
      if (!refresh) {
        return UsageError("events: --no-refresh given more than once");
      }
      refresh = false;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError(absl::StrCat("unknown option of events '", a, "'"));
    } else {
      positional.push_back(a);
    }
  }
  JobRecord job;
  pid_t pid = 0;
  GroupTarget target;
  int status = 0;
  if (!LookupTarget("events", positional, &job, &pid, &target, &status)) {
    return status;
  }
  if (target.job) {
    if (follow) return FollowJob(job, local);
    const JobEvents& c = JobCounters(job.snap, local);
    for (uint32_t e : kJobEventsInKernelOrder) {
      printf("%s %lld\n", JobEventName(e), static_cast<long long>(c[e]));
    }
    // The crossings of the members' root groups (of the member named, when
    // PID is one), for those that had any.
    const JobStatus st = CollectJobStatus(job, /*untracked=*/false);
    for (const MemberStatus& m : st.members) {
      if (m.Crossed() && (pid == job.snap.supervisor_pid || pid == m.pid)) {
        fputs(MemberCrossingsLine(m).c_str(), stdout);
      }
    }
    return 0;
  }
  if (follow) return FollowGroup(job, target.group, local);
  JobGroupSnapshot g = target.group;
  std::string problem;
  if (refresh && !RefreshGroup(job, &g, &problem)) {
    fprintf(stderr,
            "memgroup: no fresh figures of %d:%s (%s): showing those "
            "it published\n",
            g.pid, g.path, problem.c_str());
  }
  const GroupEvents& c = Counters(g.figures, local);
  for (uint32_t e = 0; e < kJobGroupEvents; ++e) {
    printf("%s %llu\n", kGroupEventNames[e],
           static_cast<unsigned long long>(c[e]));
  }
  // The group's own crossings (the same with --local: a callback is
  // registered on this group).
  for (uint32_t k = 0; k < kJobGroupCrossings; ++k) {
    printf("%s %llu\n", kGroupCrossingNames[k],
           static_cast<unsigned long long>(g.figures.crossings[k]));
  }
  return 0;
}

}  // namespace memgroup::internal::cli
