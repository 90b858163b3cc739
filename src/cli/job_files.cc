// Implements job_files.h.
#include "cli/job_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "cli/proc_info.h"
#include "cli/supervisor.h"
#include "counter/job_slots.h"

namespace memgroup::internal::cli {
namespace {

// The SIGBUS guard: a mapped file truncated by its (same-user) writer faults
// on access instead of reading zeros.
sigjmp_buf g_bus_jump;
volatile sig_atomic_t g_bus_guarded = 0;

void OnBus(int sig) {
  if (g_bus_guarded) siglongjmp(g_bus_jump, 1);
  signal(sig, SIG_DFL);
  raise(sig);
}

// Runs f (which must not allocate: it may be abandoned by siglongjmp) and
// returns false if it touched a page beyond the end of its file.
template <typename F>
bool Guarded(const F& f) {
  struct sigaction sa = {};
  struct sigaction old = {};
  sa.sa_handler = OnBus;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &old);
  bool ok = false;
  if (sigsetjmp(g_bus_jump, 1) == 0) {
    g_bus_guarded = 1;
    f();
    ok = true;
  }
  g_bus_guarded = 0;
  sigaction(SIGBUS, &old, nullptr);
  return ok;
}

constexpr char kTruncated[] = "the file shrank while it was read";

// Opens `path` for reading or writing without following a symlink or
// blocking, and checks that it is a regular file of ours with mode 0600
// and a plausible size. Returns the fd and the size.
absl::Status OpenChecked(const std::string& path, bool writable, int* fd_out,
                         size_t* bytes) {
  int flags = (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK |
              O_CLOEXEC | O_NOCTTY;
  int fd = open(path.c_str(), flags);
  if (fd < 0) {
    if (errno == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": a symbolic link, not a job block"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot open it: ", strerror(errno)));
  }
  struct stat st;
  std::string problem;
  if (fstat(fd, &st) != 0) {
    problem = absl::StrCat("cannot stat it: ", strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    problem = JobErrorString(JobError::kNotRegular);
  } else if (st.st_uid != getuid()) {
    problem = absl::StrCat(JobErrorString(JobError::kNotOwner), " (uid ",
                           st.st_uid, ")");
  } else if ((st.st_mode & 07777) != 0600) {
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    problem = absl::StrCat(JobErrorString(JobError::kBadMode), " (", mode,
                           ")");
  } else if (st.st_size < static_cast<off_t>(kJobHeaderBytes)) {
    problem = absl::StrCat(JobErrorString(JobError::kTooSmall), " (",
                           st.st_size, " bytes)");
  } else if (st.st_size > static_cast<off_t>(kJobMaxBlockBytes)) {
    problem = absl::StrCat(JobErrorString(JobError::kBadLayout), " (",
                           st.st_size, " bytes)");
  }
  if (!problem.empty()) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", problem));
  }
  *fd_out = fd;
  *bytes = static_cast<size_t>(st.st_size);
  return absl::OkStatus();
}

absl::StatusOr<JobRecord> Snapshot(const std::string& path,
                                   const uint8_t* base, size_t bytes) {
  JobRecord rec;
  rec.path = path;
  // The slot count cannot exceed what the size allows; room for all.
  const size_t cap = bytes <= kJobHeaderBytes
                         ? 0
                         : (bytes - kJobHeaderBytes) / sizeof(JobMember);
  rec.members.resize(std::min<size_t>(cap, kJobMaxSlots));
  JobError e = JobError::kOk;
  // Room for every entry of the group table the validated header has (the
  // count is bounded by kJobMaxGroupEntries and by the file's size).
  uint32_t slots = 0, chunks = 0, entries = 0;
  if (!Guarded([&] { e = JobValidate(base, bytes, &slots, &chunks, &entries); })) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", kTruncated));
  }
  rec.groups.resize(e == JobError::kOk ? entries : 0);
  JobSnapshot* snap = &rec.snap;
  JobMemberSnapshot* members = rec.members.data();
  const auto capacity = static_cast<uint32_t>(rec.members.size());
  JobGroupSnapshot* groups = rec.groups.data();
  const auto group_capacity = static_cast<uint32_t>(rec.groups.size());
  if (!Guarded([&] {
        e = JobReadSnapshot(base, bytes, snap, members, capacity, groups,
                            group_capacity);
      })) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": ", kTruncated));
  }
  if (e != JobError::kOk) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": ", JobErrorString(e)));
  }
  rec.members.resize(rec.snap.members_stored);
  rec.groups.resize(rec.snap.groups_stored);
  return rec;
}

bool StartsWith(const char* s, const char* prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

// True for a file modified less than a second ago.
bool Young(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return false;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return now.tv_sec - st.st_mtim.tv_sec <= 1;
}

}  // namespace

bool JobRecord::Names(pid_t pid) const {
  if (snap.supervisor_pid == pid) return true;
  for (const JobMemberSnapshot& m : members) {
    if (m.pid == pid) return true;
  }
  return false;
}

JobMapping::~JobMapping() {
  if (base_ != nullptr) munmap(base_, bytes_);
}

absl::Status JobMapping::Open(const std::string& path) {
  int fd = -1;
  size_t bytes = 0;
  absl::Status s = OpenChecked(path, /*writable=*/false, &fd, &bytes);
  if (!s.ok()) return s;
  void* p = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  close(fd);
  if (p == MAP_FAILED) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot map it: ", strerror(err)));
  }
  if (base_ != nullptr) munmap(base_, bytes_);
  base_ = static_cast<uint8_t*>(p);
  bytes_ = bytes;
  path_ = path;
  return absl::OkStatus();
}

absl::StatusOr<JobRecord> JobMapping::Read() const {
  if (base_ == nullptr) {
    return absl::FailedPreconditionError("no job block is mapped");
  }
  return Snapshot(path_, base_, bytes_);
}

absl::StatusOr<JobRecord> ReadJobFile(const std::string& path) {
  JobMapping m;
  absl::Status s = m.Open(path);
  if (!s.ok()) return s;
  return m.Read();
}

bool SupervisorAlive(const JobSnapshot& snap) {
  uint64_t start = 0;
  bool alive = false;
  return ReadProcStart(snap.supervisor_pid, &start, &alive) && alive &&
         start == snap.start_ticks;
}

absl::StatusOr<JobScan> ScanJobs(bool remove_stale) {
  absl::StatusOr<std::string> dir = JobDirectory();
  if (!dir.ok()) return dir.status();
  DIR* d = opendir(dir->c_str());
  if (d == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", *dir, ": ", strerror(errno)));
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    if (StartsWith(e->d_name, "job-")) names.push_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  JobScan scan;
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(*dir, "/", name);
    absl::StatusOr<JobRecord> rec = ReadJobFile(path);
    if (!rec.ok()) {
      // A block being created is sized before its magic is written.
      const std::string msg(rec.status().message());
      const bool creating =
          (msg.find(JobErrorString(JobError::kBadMagic)) != std::string::npos ||
           msg.find(JobErrorString(JobError::kTooSmall)) != std::string::npos) &&
          Young(path);
      if (!creating) scan.notes.push_back(absl::StrCat("skipping ", msg));
      continue;
    }
    if (SupervisorAlive(rec->snap)) {
      scan.live.push_back(*std::move(rec));
      continue;
    }
    if (remove_stale) {
      if (unlink(path.c_str()) == 0) {
        scan.notes.push_back(absl::StrCat(
            "removed the stale block ", path, " (its supervisor ",
            rec->snap.supervisor_pid, " has exited)"));
      } else if (errno != ENOENT) {
        scan.notes.push_back(absl::StrCat("cannot remove the stale block ",
                                          path, ": ", strerror(errno)));
      }
    }
  }
  std::sort(scan.live.begin(), scan.live.end(),
            [](const JobRecord& a, const JobRecord& b) {
              return a.snap.supervisor_pid < b.snap.supervisor_pid;
            });
  return scan;
}

JobLookup FindJob(pid_t pid) {
  JobLookup out;
  uid_t uid = 0;
  if (!ProcessUid(pid, &uid)) {
    out.error = absl::StrCat("no process ", pid);
    return out;
  }
  if (uid != getuid()) {
    out.error = absl::StrCat(
        "process ", pid, " belongs to another user (uid ", uid,
        "); memgroup reads and changes only your own jobs");
    return out;
  }
  absl::StatusOr<JobScan> scan = ScanJobs(/*remove_stale=*/true);
  if (!scan.ok()) {
    // The job directory is not private (or cannot be read): no block is
    // used, not even one the process's environment names.
    out.error = std::string(scan.status().message());
    return out;
  }
  {
    // The supervisor first: a supervisor never is a member of its job, but
    // a hostile block could name any pid.
    for (const JobRecord& rec : scan->live) {
      if (rec.snap.supervisor_pid == pid) {
        out.found = true;
        out.job = rec;
        return out;
      }
    }
    for (const JobRecord& rec : scan->live) {
      if (rec.Names(pid)) {
        out.found = true;
        out.job = rec;
        return out;
      }
    }
  }
  const std::string path = ProcessJobPath(pid);
  if (!path.empty()) {
    absl::StatusOr<JobRecord> rec = ReadJobFile(path);
    if (rec.ok() && rec->Names(pid) && SupervisorAlive(rec->snap)) {
      out.found = true;
      out.job = *std::move(rec);
      return out;
    }
    if (!rec.ok()) {
      out.error = absl::StrCat("process ", pid, " names the job block ",
                               rec.status().message());
      return out;
    }
  }
  out.error = absl::StrCat("process ", pid, " (", ProcessCommand(pid),
                           ") is not in a memgroup job");
  return out;
}

absl::Status WithWritableJob(const std::string& path,
                             const std::function<void(const JobView&)>& write,
                             int lock_wait_ms) {
  int fd = -1;
  size_t bytes = 0;
  absl::Status s = OpenChecked(path, /*writable=*/true, &fd, &bytes);
  if (!s.ok()) return s;
  // Setters serialise on the file's lock (the counter's Set* rule); a
  // holder that never lets go is reported, not waited for.
  bool locked = false;
  for (int i = 0; i <= lock_wait_ms / 10 && !locked; ++i) {
    locked = flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (!locked && i < lock_wait_ms / 10) usleep(10'000);
  }
  if (!locked) {
    close(fd);
    return absl::UnavailableError(
        lock_wait_ms == 1000
            ? absl::StrCat(path,
                           ": another process has held its lock for a "
                           "second")
            : absl::StrCat(path, ": another process has held its lock for ",
                           lock_wait_ms, " ms"));
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": cannot map it: ", strerror(err)));
  }
  auto* base = static_cast<uint8_t*>(p);
  uint32_t slots = 0, chunks = 0, entries = 0;
  JobError e = JobError::kOk;
  bool ok = Guarded(
      [&] { e = JobValidate(base, bytes, &slots, &chunks, &entries); });
  if (ok && e == JobError::kOk) {
    // The validated counts: the only bounds of the writes.
    const JobView view{base, bytes, slots, chunks, entries};
    ok = Guarded([&] { write(view); });
  }
  munmap(p, bytes);
  close(fd);  // releases the lock
  if (!ok) return absl::FailedPreconditionError(absl::StrCat(path, ": ", kTruncated));
  if (e != JobError::kOk) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": ", JobErrorString(e)));
  }
  return absl::OkStatus();
}

bool ParsePid(const std::string& text, pid_t* pid) {
  if (text.empty() || text.size() > 10) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v <= 0 || v > INT32_MAX) return false;
  *pid = static_cast<pid_t>(v);
  return true;
}

}  // namespace memgroup::internal::cli
