// Implements supervisor.h.
#include "cli/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/parse_config.h"
#include "base/parse_size.h"
#include "base/sys.h"
#include "cli/job_watch.h"
#include "counter/job_block.h"
#include "counter/job_pressure.h"
#include "counter/job_slots.h"

namespace memgroup::internal::cli {
namespace {

// Signals the supervisor passes on to the program when they are sent to
// the supervisor itself (a terminal's signals reach the program directly:
// it stays in the supervisor's process group).
constexpr int kForwarded[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                              SIGUSR1, SIGUSR2, SIGWINCH};
constexpr int64_t kScanIntervalNs = 1'000'000'000;  // dead members: 1 s
// Untracked descendants: /proc is read twice a second.
constexpr int64_t kUntrackedIntervalNs = 500'000'000;

absl::Status CheckPrivateDir(const std::string& dir) {
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot use ", dir, ": ", strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " is not a directory"));
  }
  if (st.st_uid != getuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " is owned by another user"));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[16];
    snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return absl::FailedPreconditionError(absl::StrCat(
        dir, " is accessible by other users (mode ", mode, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> EnsurePrivateDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", dir, ": ", strerror(errno)));
  }
  absl::Status s = CheckPrivateDir(dir);
  if (!s.ok()) return s;
  return dir;
}

// Removes the job's value of `name` from `env`; returns it ("" if absent).
std::string TakeEnv(std::vector<std::pair<std::string, std::string>>* env,
                    const char* name) {
  std::string value;
  for (auto it = env->begin(); it != env->end(); ++it) {
    if (it->first == name) {
      value = it->second;
      env->erase(it);
      break;
    }
  }
  return value;
}

int64_t ParsedSize(const std::string& text) {
  int64_t bytes = kUnlimited;
  if (!text.empty() && ParseSize(text.c_str(), &bytes) != ParseSizeError::kOk) {
    bytes = kUnlimited;  // checked by ParseRunArgs already
  }
  return bytes;
}

void PrintLimit(FILE* f, const char* key, int64_t v) {
  if (v == kUnlimited) {
    fprintf(f, "%s max\n", key);
  } else {
    fprintf(f, "%s %lld\n", key, static_cast<long long>(v));
  }
}

// The job's stats, once, in the library's `key value` form.
void WriteJobStats(const JobView& v, const JobWatch& watch,
                   const std::string& where, const std::string& command) {
  FILE* f = stderr;
  if (where != "stderr") {
    f = fopen(where.c_str(), "w");
    if (f == nullptr) {
      fprintf(stderr, "memgroup: cannot write the stats to %s: %s\n",
              where.c_str(), strerror(errno));
      return;
    }
  }
  const JobNode* n = v.node();
  // Relaxed: a snapshot after the program ended.
  auto ld = [](const std::atomic<int64_t>& a) {
    return static_cast<long long>(a.load(std::memory_order_relaxed));
  };
  fprintf(f, "job %s\n", command.c_str());
  fprintf(f, "current %lld\n", ld(n->counter.usage));
  fprintf(f, "peak %lld\n", ld(n->counter.watermark));
  PrintLimit(f, "max", n->counter.max.load(std::memory_order_relaxed));
  PrintLimit(f, "high", n->counter.high.load(std::memory_order_relaxed));
  fprintf(f, "failcnt %lld\n", ld(n->counter.failcnt));
  fprintf(f, "events.high %lld\n", ld(n->events[kJobEventHigh]));
  fprintf(f, "events.max %lld\n", ld(n->events[kJobEventMax]));
  fprintf(f, "events.oom %lld\n", ld(n->events[kJobEventOom]));
  fprintf(f, "events.oom_kill %lld\n", ld(n->events[kJobEventOomKill]));
  fprintf(f, "stat.throttled_usec %lld\n", ld(n->throttled_ns) / 1000);
  uint32_t members = 0;
  for (uint32_t i = 0; i < v.slot_count; ++i) {
    // Acquire: pairs with the members' release store of Active. A slot
    // claimed for a spawned child that never joined is no member.
    if (v.member(i)->state.load(std::memory_order_acquire) == kMemberActive &&
        !JobSpawnPending(v.member(i))) {
      ++members;
    }
  }
  fprintf(f, "members %u\n", members);
  watch.WriteStats(f);
  if (f != stderr) fclose(f);
}

// The program's command line on one line: arguments joined by spaces, and
// control characters (a script passed with -c has newlines) shown as spaces,
// so that the stats and the block's header stay one `key value` per line.
std::string CommandLine(const std::vector<std::string>& argv) {
  std::string s;
  for (const std::string& a : argv) {
    if (!s.empty()) s += ' ';
    for (char c : a) s += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
    if (s.size() >= kJobCommandBytes) break;
  }
  return s;
}

[[noreturn]] void DieOfSignal(int sig) {
  struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the program dumped its own core
  signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sigprocmask(SIG_UNBLOCK, &one, nullptr);
  raise(sig);
  _exit(128 + sig);
}

}  // namespace

absl::StatusOr<std::string> JobDirectory() {
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg != nullptr && xdg[0] == '/') {
    struct stat st;
    if (lstat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid()) {
      return EnsurePrivateDir(absl::StrCat(xdg, "/memgroup"));
    }
  }
  return EnsurePrivateDir(absl::StrCat("/dev/shm/memgroup-", getuid()));
}

int SuperviseRun(const RunOptions& options, const std::string& library) {
  std::vector<std::pair<std::string, std::string>> env = options.env;
  JobParams params;
  params.max = ParsedSize(TakeEnv(&env, "MEMGROUP_MAX"));
  params.high = ParsedSize(TakeEnv(&env, "MEMGROUP_HIGH"));
  const std::string oom = TakeEnv(&env, "MEMGROUP_OOM");
  if (!oom.empty()) {
    OomSetting setting;
    if (ParseOomPolicy(oom.c_str(), &setting) == ParseConfigError::kOk) {
      params.oom_policy = static_cast<uint32_t>(setting.policy);
      params.oom_wait_ns = setting.wait_ns;
    }
  }
  params.oom_group = options.oom_group;
  // --low/--min: only accepted inside a job (ParseRunArgs); the job's, not
  // the members' variables.
  const std::string low = TakeEnv(&env, "MEMGROUP_LOW");
  const std::string min = TakeEnv(&env, "MEMGROUP_MIN");
  params.low = low.empty() ? 0 : ParsedSize(low);
  params.min = min.empty() ? 0 : ParsedSize(min);
  const std::string stats = TakeEnv(&env, "MEMGROUP_STATS");

  // Inside a job (MEMGROUP_JOB set): a nested job, whose node charges the
  // enclosing job's. The enclosing block is validated as a member would.
  std::string parent_path;
  if (const char* outer = getenv("MEMGROUP_JOB");
      outer != nullptr && outer[0] != '\0') {
    JobView outer_view;
    int outer_err = 0;
    JobError oe = JobAttach(outer, &outer_view, &outer_err);
    uint32_t outer_depth = 0;
    char unused[kJobParentPathBytes];
    if (oe == JobError::kOk &&
        !JobParentOf(outer_view, &outer_depth, unused)) {
      oe = JobError::kBadLayout;
    }
    if (oe != JobError::kOk) {
      fprintf(stderr,
              "memgroup: MEMGROUP_JOB='%s' names no usable job (%s%s%s); "
              "unset it to start a job outside any other\n",
              outer, JobErrorString(oe), outer_err != 0 ? ": " : "",
              outer_err != 0 ? strerror(outer_err) : "");
      return 1;
    }
    if (outer_depth + 1 >= kJobMaxLevels) {
      fprintf(stderr,
              "memgroup: cannot start a job inside %s: jobs nest at most %u "
              "deep\n",
              outer, kJobMaxLevels);
      return 1;
    }
    if (outer[0] != '/' || strlen(outer) >= kJobParentPathBytes) {
      fprintf(stderr,
              "memgroup: cannot start a job inside %s: its path must be "
              "absolute and shorter than %u bytes\n",
              outer, kJobParentPathBytes);
      return 1;
    }
    parent_path = outer;
    params.depth = outer_depth + 1;
    // Our own slot in the enclosing job carries this job's protection, so
    // that its `kill` picks victims outside protected child jobs first.
    const int64_t protect = params.low > params.min ? params.low : params.min;
    uint64_t my_start = 0;
    bool my_alive = false;
    if (protect > 0 && ReadProcStart(getpid(), &my_start, &my_alive) &&
        !JobPublishProtection(outer_view, getpid(), my_start, protect)) {
      fprintf(stderr,
              "memgroup: --low/--min: this command is not a member of the "
              "enclosing job (is libmemgroup.so preloaded?); the protection "
              "is not applied\n");
    }
    JobDetach(&outer_view);
  }
  params.parent_path = parent_path.c_str();
  // The members' thread stocks live in the top-level job's block, so that
  // a refusal can revoke them (counter/job_stock_area.h, "Stock revocation").
  params.stock_chunks = params.depth == 0 ? kJobDefaultStockChunks : 0;
  params.group_entries = kJobDefaultGroupEntries;

  absl::StatusOr<std::string> dir = JobDirectory();
  if (!dir.ok()) {
    fprintf(stderr, "memgroup: cannot create the job: %s\n",
            std::string(dir.status().message()).c_str());
    return 1;
  }
  const pid_t self = getpid();
  const std::string command = CommandLine(options.argv);
  params.supervisor_pid = self;
  bool alive = false;
  (void)ReadProcStart(self, &params.start_ticks, &alive);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  params.start_unix_ns = static_cast<int64_t>(now.tv_sec) * 1000000000 +
                         now.tv_nsec;
  params.command = command.c_str();
  JobView view;
  std::string path;
  JobError e = JobError::kExists;
  int err = 0;
  for (int attempt = 0; attempt < 16 && e == JobError::kExists; ++attempt) {
    path = absl::StrCat(*dir, "/job-", self, "-",
                        MonotonicNanos() & 0xffffffff);
    e = JobCreate(path.c_str(), params, &view, &err);
  }
  if (e != JobError::kOk) {
    fprintf(stderr, "memgroup: cannot create the job control block %s: %s%s%s\n",
            path.c_str(), JobErrorString(e), err != 0 ? ": " : "",
            err != 0 ? strerror(err) : "");
    return 1;
  }

  // Members run a control agent unless --control 0 says otherwise.
  setenv("MEMGROUP_CONTROL", "1", 1);
  for (const auto& [name, value] : env) {
    setenv(name.c_str(), value.c_str(), 1);
  }
  setenv("MEMGROUP_JOB", path.c_str(), 1);
  const char* existing = getenv("LD_PRELOAD");
  const std::string preload =
      ComposePreload(library, existing == nullptr ? "" : existing);
  setenv("LD_PRELOAD", preload.c_str(), 1);
  std::vector<char*> argv;
  argv.reserve(options.argv.size() + 1);
  for (const std::string& arg : options.argv) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);

  // Orphaned descendants are reparented to us, so every member is reaped
  // here and its slot released at once.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  // Children must be waitable here, whatever we inherited; the program gets
  // the inherited disposition back.
  struct sigaction old_chld;
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGCHLD, &dfl, &old_chld);
  sigset_t waited, old;
  sigemptyset(&waited);
  for (int sig : kForwarded) sigaddset(&waited, sig);
  sigaddset(&waited, SIGCHLD);
  sigprocmask(SIG_BLOCK, &waited, &old);

  fflush(stdout);
  fflush(stderr);
  const pid_t child = fork();
  if (child < 0) {
    fprintf(stderr, "memgroup: cannot start %s: %s\n", argv[0],
            strerror(errno));
    unlink(path.c_str());
    return 126;
  }
  if (child == 0) {
    sigaction(SIGCHLD, &old_chld, nullptr);
    sigprocmask(SIG_SETMASK, &old, nullptr);
    execvp(argv[0], argv.data());
    const int exec_err = errno;
    fprintf(stderr, "memgroup: cannot run %s: %s\n", argv[0],
            strerror(exec_err));
    _exit((exec_err == ENOENT || exec_err == ENOTDIR) ? 127 : 126);
  }

  JobWatch watch(&view, self, library);
  // The job's pressure averages, `some` and `full`, and the tick of
  // `full`'s stamp (counter/job_pressure.h): this process is their one
  // writer, every tick (at most 200 ms apart).
  JobPressureAverages pressure;
  JobPressureUpdate(view.node(), &pressure, MonotonicNanos());
  int status = 0;
  bool done = false;
  int64_t last_scan = MonotonicNanos();
  int64_t last_untracked = last_scan;
  while (!done) {
    struct timespec tick = {0, 200'000'000};
    siginfo_t info;
    const int sig = sigtimedwait(&waited, &info, &tick);
    // A signal sent to us (kill, not the terminal: SI_KERNEL signals of a
    // tty already reached the program's process group) goes to the program.
    if (sig > 0 && sig != SIGCHLD && info.si_code != SI_KERNEL) {
      kill(child, sig);
    }
    JobPressureUpdate(view.node(), &pressure, MonotonicNanos());
    // Before any release below, so that members' peaks are seen.
    watch.ObserveMembers();
    watch.TakeExecs();
    for (;;) {
      // Each exited child (the program, or an orphan we adopted) is looked
      // at while it is a zombie, however briefly it lived, then reaped.
      siginfo_t exited = {};
      if (waitid(P_ALL, 0, &exited, WEXITED | WNOHANG | WNOWAIT) != 0 ||
          exited.si_pid <= 0) {
        break;
      }
      // Not our own child when its exec failed: it never left this image.
      const bool exec_failed =
          exited.si_pid == child && exited.si_code == CLD_EXITED &&
          (exited.si_status == 126 || exited.si_status == 127);
      if (!exec_failed) watch.InspectExited(exited.si_pid);
      int st = 0;
      const pid_t pid = waitpid(exited.si_pid, &st, WNOHANG);
      if (pid <= 0) break;
      JobReleasePid(view, pid);
      if (pid == child) {
        status = st;
        done = true;
      }
    }
    if (!done && MonotonicNanos() - last_untracked >= kUntrackedIntervalNs) {
      watch.ScanUntracked();
      last_untracked = MonotonicNanos();
    }
    if (MonotonicNanos() - last_scan >= kScanIntervalNs) {
      watch.ObserveMembers();  // before the releases: members seen
      JobReleaseDead(view);
      last_scan = MonotonicNanos();
    }
  }
  watch.ObserveMembers();
  watch.TakeExecs();
  JobReleaseDead(view);
  if (!stats.empty()) WriteJobStats(view, watch, stats, command);
  unlink(path.c_str());
  JobDetach(&view);
  if (WIFSIGNALED(status)) DieOfSignal(WTERMSIG(status));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace memgroup::internal::cli
