// `memgroup top [-n COUNT] [-d SECONDS] [PID...]`: a live view of this
// user's jobs (or the jobs of the given pids), their members and the
// members' published groups (a tree under each member), jobs, members and
// sibling groups sorted by usage, with a usage bar against max (and high
// marked), peak, member count, events, and the pressure of a job and of
// a member group (PSI10: the `some` avg10, as `stat` shows it; a job's is
// the one its supervisor keeps in the block, counter/job_pressure.h). On a terminal: a full-screen view redrawn every -d SECONDS,
// q quits; otherwise plain text frames separated by a blank line.
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/limits.h"
#include "cli/control_commands.h"
#include "cli/job_format.h"
#include "cli/job_status.h"

namespace memgroup::internal::cli {
namespace {

constexpr int kBarWidth = 20;

volatile sig_atomic_t g_stop = 0;
void OnStop(int) { g_stop = 1; }

// "[#######|----]  35%" against max (high marked with '|'), against high
// when only high is set, or "no limit".
struct Usage {
  int64_t current;
  int64_t max;
  int64_t high;
};
std::string Bar(const Usage& s) {
  const int64_t limit = s.max != kUnlimited ? s.max : s.high;
  if (limit == kUnlimited) return absl::StrCat("[", std::string(kBarWidth, ' '),
                                               "]   no limit");
  const double used =
      limit <= 0 ? 1.0 : static_cast<double>(std::max<int64_t>(s.current, 0)) /
                             static_cast<double>(limit);
  const int fill = static_cast<int>(std::min(1.0, used) * kBarWidth + 0.5);
  std::string bar(kBarWidth, '-');
  for (int i = 0; i < fill; ++i) bar[i] = '#';
  if (s.max != kUnlimited && s.high != kUnlimited && s.high < s.max &&
      s.max > 0) {
    int at = static_cast<int>(static_cast<double>(s.high) /
                              static_cast<double>(s.max) * kBarWidth);
    bar[std::clamp(at, 0, kBarWidth - 1)] = '|';
  }
  char pct[16];
  snprintf(pct, sizeof(pct), "%4.0f%%", std::min(used * 100, 999.0));
  return absl::StrCat("[", bar, "] ", pct, s.max == kUnlimited ? " of high" : "");
}

std::string Cut(const std::string& s, size_t width) {
  return s.size() <= width ? s : s.substr(0, width);
}

// "12.34": a pressure average in hundredths of a percent (the member's
// value, any u32: up to "42949672.95", wider than the column then).
std::string Avg(uint32_t hundredths) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%u.%02u", hundredths / 100, hundredths % 100);
  return buf;
}

// The parent path of "/a/b" ("/a"), "" for a top-level group.
std::string ParentPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? std::string()
                                                  : path.substr(0, slash);
}

// Draws the published groups of member `pid` as a tree under it: a group
// below its parent (a group whose parent is not published is drawn at the
// top), siblings by usage, largest first; indented by depth. Each row: the
// group's usage, peak, limits, bar, its pressure (some avg10, %) and its
// events. A hostile table may publish up to 65,536 groups for one member,
// some with the same path: the tree is built with one map lookup per group
// (a duplicate's children go to the first of that path), and a child's
// path is longer than its parent's, so the walk ends (depth < 96).
template <typename Line>
void GroupRows(const std::vector<GroupStatus>& all, int32_t pid, Line&& line) {
  std::vector<const GroupStatus*> mine;
  for (const GroupStatus& g : all) {
    if (g.pid == pid) mine.push_back(&g);
  }
  std::sort(mine.begin(), mine.end(),
            [](const GroupStatus* a, const GroupStatus* b) {
              if (a->figures.current != b->figures.current) {
                return a->figures.current > b->figures.current;
              }
              return a->path < b->path;
            });
  std::map<std::string, size_t> by_path;
  for (size_t k = 0; k < mine.size(); ++k) by_path.emplace(mine[k]->path, k);
  std::vector<std::vector<size_t>> children(mine.size());
  std::vector<size_t> top;
  for (size_t k = 0; k < mine.size(); ++k) {
    const auto parent = by_path.find(ParentPath(mine[k]->path));
    if (parent == by_path.end()) {
      top.push_back(k);
    } else {
      children[parent->second].push_back(k);  // in usage order
    }
  }
  auto draw = [&](auto&& self, size_t k) -> void {
    const GroupStatus& g = *mine[k];
    const size_t depth =
        static_cast<size_t>(std::count(g.path.begin(), g.path.end(), '/'));
    const std::string name =
        std::string(2 * depth, ' ') + g.path.substr(g.path.rfind('/') + 1);
    const JobGroupFigures& f = g.figures;
    char row[512];
    snprintf(row, sizeof(row),
             "        %-22s %8s %8s %8s %8s %-32s %7s %6s %llu/%llu/%llu/%llu",
             Cut(name, 22).c_str(), HumanBytes(f.current).c_str(),
             HumanBytes(f.peak).c_str(), HumanBytes(f.max).c_str(),
             HumanBytes(f.high).c_str(),
             Bar({f.current, f.max, f.high}).c_str(), "",
             Avg(f.pressure_avg[0]).c_str(),
             static_cast<unsigned long long>(f.events[1]),
             static_cast<unsigned long long>(f.events[2]),
             static_cast<unsigned long long>(f.events[3]),
             static_cast<unsigned long long>(f.events[4]));
    line(row);
    for (size_t c : children[k]) self(self, c);
  };
  for (size_t k : top) draw(draw, k);
}

std::string Frame(const std::vector<JobStatus>& jobs, size_t width) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char clock[16];
  strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
  std::string out;
  auto line = [&](const std::string& l) {
    absl::StrAppend(&out, Cut(l, width), "\n");
  };
  line(absl::StrCat("memgroup top - ", clock, " UTC - ", jobs.size(),
                    jobs.size() == 1 ? " job" : " jobs"));
  char head[256];
  snprintf(head, sizeof(head), "%-9s %-20s %8s %8s %8s %8s %-32s %7s %6s %s",
           "PID", "COMMAND", "CURRENT", "PEAK", "MAX", "HIGH",
           "USAGE", "MEMBERS", "PSI10", "EVENTS high/max/oom/oom_kill");
  line(head);
  for (const JobStatus& j : jobs) {
    const JobSnapshot& s = j.snap;
    char row[512];
    snprintf(row, sizeof(row), "%-9d %-20s %8s %8s %8s %8s %-32s %7zu %6s %lld/%lld/%lld/%lld",
             s.supervisor_pid, Cut(s.command, 20).c_str(),
             HumanBytes(s.current).c_str(), HumanBytes(s.peak).c_str(),
             HumanBytes(s.max).c_str(), HumanBytes(s.high).c_str(),
             Bar({s.current, s.max, s.high}).c_str(), j.members.size(),
             Avg(s.some_avg[0]).c_str(),
             static_cast<long long>(s.events[kJobEventHigh]),
             static_cast<long long>(s.events[kJobEventMax]),
             static_cast<long long>(s.events[kJobEventOom]),
             static_cast<long long>(s.events[kJobEventOomKill]));
    line(row);
    std::vector<MemberStatus> members = j.members;
    std::sort(members.begin(), members.end(),
              [](const MemberStatus& a, const MemberStatus& b) {
                return a.current > b.current;
              });
    for (const MemberStatus& m : members) {
      snprintf(row, sizeof(row), "  `-%-5d %-20s %8s %8s", m.pid,
               Cut(m.command, 20).c_str(), HumanBytes(m.current).c_str(),
               HumanBytes(m.peak).c_str());
      line(row);
      GroupRows(j.groups, m.pid, line);
    }
    if (j.groups_unpublished > 0) {
      line(absl::StrCat("  (", j.groups_unpublished,
                        " groups of members not published: the group "
                        "table's bounds)"));
    }
    for (const UntrackedStatus& u : j.untracked) {
      snprintf(row, sizeof(row), "  `-%-5d %-20s %8s", u.pid,
               Cut(u.command, 20).c_str(), "untracked");
      line(row);
    }
  }
  return out;
}

// Parses -d's SECONDS: a positive decimal up to an hour.
bool ParseDelay(const std::string& text, double* seconds) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < 0.05 ||
      v > 3600) {
    return false;
  }
  *seconds = v;
  return true;
}

}  // namespace

int TopMain(const std::vector<std::string>& args) {
  long count = -1;
  double delay = 1.0;
  std::vector<std::string> pid_args;
  bool count_given = false, delay_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    }
    if (a == "-n" || a == "-d") {
      if (i + 1 >= args.size()) return UsageError(absl::StrCat(a, " needs a value"));
      bool& given = a == "-n" ? count_given : delay_given;
      if (given) return UsageError(absl::StrCat(a, " given more than once"));
      given = true;
      const std::string& v = args[++i];
      if (a == "-n") {
        pid_t n = 0;  // 1 to INT32_MAX, like a pid
        if (!ParsePid(v, &n)) {
          return UsageError(absl::StrCat("bad -n '", v, "' (expected a count from 1)"));
        }
        count = n;
      } else if (!ParseDelay(v, &delay)) {
        return UsageError(absl::StrCat("bad -d '", v,
                                       "' (expected seconds from 0.05 to 3600)"));
      }
    } else if (!a.empty() && a[0] == '-') {
      return UsageError(absl::StrCat("unknown option of top '", a, "'"));
    } else {
      pid_args.push_back(a);
    }
  }
  // The supervisors of the jobs asked for (all jobs when none).
  std::vector<pid_t> wanted;
  for (const std::string& a : pid_args) {
    JobRecord job;
    int status = 0;
    if (!LookupJob(a, &job, &status)) return status;
    wanted.push_back(job.snap.supervisor_pid);
  }

  const bool tty = isatty(STDOUT_FILENO) == 1;
  struct termios saved;
  const bool keys = tty && isatty(STDIN_FILENO) == 1 &&
                    tcgetattr(STDIN_FILENO, &saved) == 0;
  if (keys) {
    struct termios raw = saved;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    tcsetattr(STDIN_FILENO, TCSANOW, &raw);
  }
  struct sigaction sa = {};
  sa.sa_handler = OnStop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  if (tty) fputs("\x1b[?1049h\x1b[?25l", stdout);  // alternate screen

  int status = 0;
  for (long frame = 0; !g_stop && (count < 0 || frame < count); ++frame) {
    absl::StatusOr<JobScan> scan = ScanJobs(/*remove_stale=*/true);
    if (!scan.ok()) {
      status = 1;
      if (tty) fputs("\x1b[?25h\x1b[?1049l", stdout);
      ControlError(std::string(scan.status().message()));
      break;
    }
    std::vector<JobStatus> jobs;
    for (const JobRecord& rec : scan->live) {
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(),
                                       rec.snap.supervisor_pid) == wanted.end()) {
        continue;
      }
      jobs.push_back(CollectJobStatus(rec, /*untracked=*/true));
    }
    std::sort(jobs.begin(), jobs.end(), [](const JobStatus& a, const JobStatus& b) {
      return a.snap.current > b.snap.current;
    });
    size_t width = 4096;
    struct winsize ws;
    if (tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      width = ws.ws_col;
    }
    const std::string text = Frame(jobs, width);
    if (tty) {
      fputs("\x1b[H\x1b[2J", stdout);
      fputs(text.c_str(), stdout);
      fputs("q quits", stdout);
    } else {
      if (frame > 0) fputs("\n", stdout);
      fputs(text.c_str(), stdout);
    }
    fflush(stdout);
    if (count >= 0 && frame + 1 >= count) break;
    // Wait for the next refresh, or a key on a terminal.
    const int timeout_ms = static_cast<int>(delay * 1000);
    if (keys) {
      struct pollfd p = {STDIN_FILENO, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) > 0) {
        char c = 0;
        if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) break;
      }
    } else {
      poll(nullptr, 0, timeout_ms);
    }
  }
  if (tty && status == 0) fputs("\x1b[?25h\x1b[?1049l", stdout);
  fflush(stdout);
  if (keys) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  return status;
}

}  // namespace memgroup::internal::cli
