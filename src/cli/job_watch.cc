// Implements job_watch.h.
#include "cli/job_watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "counter/job_slots.h"

namespace memgroup::internal::cli {
namespace {

// Untracked processes named on stderr before one line says there are more.
constexpr uint64_t kReportedLines = 8;
// Untracked processes listed in the stats (the count goes on).
constexpr size_t kListedUntracked = 256;
// Members listed with their command and peak in the stats.
constexpr size_t kListedMembers = 8;

struct ProcEntry {
  pid_t ppid = 0;
  uint64_t start = 0;
  char state = 0;
  std::string comm;
};

std::string ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

// "pid (comm) S ppid ... starttime(22) ...": comm may hold spaces and
// parentheses; the last ')' ends it.
bool ParseStat(const std::string& s, ProcEntry* e) {
  size_t open = s.find('(');
  size_t close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return false;
  }
  e->comm = s.substr(open + 1, std::min<size_t>(close - open - 1, 15));
  std::vector<std::string> fields;
  size_t at = close + 1;
  while (at < s.size() && fields.size() < 20) {
    while (at < s.size() && s[at] == ' ') ++at;
    size_t end = s.find_first_of(" \n", at);
    if (end == std::string::npos) end = s.size();
    if (end > at) fields.push_back(s.substr(at, end - at));
    at = end;
  }
  // fields[0] is field 3 (state), [1] field 4 (ppid), [19] field 22.
  if (fields.size() < 20) return false;
  e->state = fields[0][0];
  e->ppid = static_cast<pid_t>(strtol(fields[1].c_str(), nullptr, 10));
  e->start = strtoull(fields[19].c_str(), nullptr, 10);
  return true;
}

std::unordered_map<pid_t, ProcEntry> ReadAllProcesses() {
  std::unordered_map<pid_t, ProcEntry> procs;
  DIR* d = opendir("/proc");
  if (d == nullptr) return procs;
  while (struct dirent* de = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(de->d_name, &end, 10);
    if (pid <= 0 || end == de->d_name || *end != '\0') continue;
    ProcEntry e;
    if (ParseStat(ReadSmallFile(std::string("/proc/") + de->d_name + "/stat"),
                  &e)) {
      procs.emplace(static_cast<pid_t>(pid), std::move(e));
    }
  }
  closedir(d);
  return procs;
}

std::string CommOf(const JobMember* m) {
  char c[16];
  JobMemberComm(m, c);
  return std::string(c, strnlen(c, sizeof(c)));
}

}  // namespace

JobWatch::JobWatch(const JobView* view, pid_t supervisor,
                   const std::string& library)
    : view_(view), supervisor_(supervisor), library_(library) {
  char resolved[PATH_MAX];
  if (realpath(library.c_str(), resolved) != nullptr) library_ = resolved;
}

void JobWatch::ObserveMembers() {
  for (uint32_t i = 0; i < view_->slot_count; ++i) {
    const JobMember* m = view_->member(i);
    // Acquire: pairs with the members' release store of Active (pid, start
    // time and command written before it).
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // A slot marked by an exec names the image to come, not one seen.
    if (JobExecPending(m)) continue;
    // Relaxed: statistics, ordered by the acquire above.
    const Key key{m->pid.load(std::memory_order_relaxed),
                  m->start_ticks.load(std::memory_order_relaxed)};
    const int64_t peak = m->peak.load(std::memory_order_relaxed);
    Seen& seen = members_[key];
    seen.command = CommOf(m);
    seen.peak = std::max(seen.peak, peak);
  }
}

bool JobWatch::LibraryMapped(pid_t pid) const {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  if (!maps) return false;  // e.g. a setuid program: not ours to read
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() >= library_.size() &&
        line.compare(line.size() - library_.size(), library_.size(),
                     library_) == 0) {
      return true;
    }
  }
  return false;
}

void JobWatch::ScanUntracked() {
  const std::unordered_map<pid_t, ProcEntry> procs = ReadAllProcesses();
  // The member table's view of each pid: start time -> (slot, command).
  std::multimap<pid_t, std::pair<uint32_t, Key>> slots;
  for (uint32_t i = 0; i < view_->slot_count; ++i) {
    const JobMember* m = view_->member(i);
    // Acquire: as ObserveMembers.
    if (m->state.load(std::memory_order_acquire) != kMemberActive) continue;
    // Relaxed: ordered by the acquire above.
    const pid_t pid = m->pid.load(std::memory_order_relaxed);
    slots.emplace(pid,
                  std::make_pair(i, Key{pid, m->start_ticks.load(
                                                 std::memory_order_relaxed)}));
  }
  std::unordered_map<pid_t, bool> descendant;
  auto is_descendant = [&](pid_t pid) {
    std::vector<pid_t> chain;
    bool result = false;
    for (pid_t p = pid; chain.size() < 4096;) {
      if (auto it = descendant.find(p); it != descendant.end()) {
        result = it->second;
        break;
      }
      chain.push_back(p);
      auto it = procs.find(p);
      if (it == procs.end() || it->second.ppid <= 1) break;
      if (it->second.ppid == supervisor_) {
        result = true;
        break;
      }
      p = it->second.ppid;
    }
    for (pid_t p : chain) descendant[p] = result;
    return result;
  };
  std::set<Key> now;
  for (const auto& [pid, e] : procs) {
    if (pid == supervisor_ || e.state == 'Z' || e.state == 'X') continue;
    if (!is_descendant(pid)) continue;
    const Key key{pid, e.start};
    if (reported_.count(key) != 0) continue;
    bool member = false;
    uint32_t stale_slot = kNoMember;
    auto [lo, hi] = slots.equal_range(pid);
    for (auto it = lo; it != hi; ++it) {
      if (it->second.second != key) continue;
      const JobMember* m = view_->member(it->second.first);
      if (CommOf(m) == e.comm && !JobExecPending(m)) {
        member = true;
      } else {
        stale_slot = it->second.first;
      }
    }
    if (member || LibraryMapped(pid)) continue;
    if (pending_.count(key) == 0) {
      now.insert(key);  // confirm on the next scan
      continue;
    }
    Report(key, e.comm, stale_slot);
  }
  pending_ = std::move(now);
}

void JobWatch::Report(const Key& key, const std::string& comm,
                      uint32_t stale_slot) {
  const pid_t pid = key.first;
  reported_.insert(key);
  ++untracked_count_;
  if (untracked_.size() < kListedUntracked) {
    untracked_.emplace_back(pid, comm);
  }
  if (untracked_count_ <= kReportedLines) {
    fprintf(stderr,
            "memgroup: process %d (%s) of the job is untracked: the library "
            "is not loaded in it (a static or setuid program, or a cleared "
            "environment), so its memory is outside the job's limit\n",
            static_cast<int>(pid), comm.c_str());
  } else if (untracked_count_ == kReportedLines + 1) {
    fprintf(stderr,
            "memgroup: more untracked processes in the job; --stats lists "
            "them\n");
  }
  // Its slot still holds what the previous image charged; that image's
  // memory is gone with the exec.
  if (stale_slot != kNoMember) JobReleaseMember(*view_, stale_slot, pid);
}

void JobWatch::InspectExited(pid_t pid) {
  ProcEntry e;
  if (!ParseStat(ReadSmallFile("/proc/" + std::to_string(pid) + "/stat"),
                 &e)) {
    return;  // already gone: nothing to tell
  }
  const Key key{pid, e.start};
  if (reported_.count(key) != 0) return;
  // Evidence that the library ran in it: a member slot naming it. A slot
  // keeps its pid, start time and command after its release until another
  // process claims it, so a member released early still shows.
  bool joined = false;
  bool same_command = false;
  uint32_t active_slot = kNoMember;
  for (uint32_t i = 0; i < view_->slot_count; ++i) {
    const JobMember* m = view_->member(i);
    // Acquire: pairs with the release stores of Active and Free (the
    // fields written before them).
    const uint32_t state = m->state.load(std::memory_order_acquire);
    if (state != kMemberActive && state != kMemberFree) continue;
    // Relaxed: ordered by the acquire above; a slot claimed meanwhile
    // just does not match.
    if (m->pid.load(std::memory_order_relaxed) != pid ||
        m->start_ticks.load(std::memory_order_relaxed) != e.start) {
      continue;
    }
    joined = true;
    if (CommOf(m) == e.comm && !JobExecPending(m)) same_command = true;
    if (state == kMemberActive) active_slot = i;
  }
  if (auto it = members_.find(key); it != members_.end()) {
    joined = true;
    if (it->second.command == e.comm) same_command = true;
  }
  if (joined && same_command) return;
  Report(key, e.comm, active_slot);
}

void JobWatch::TakeExecs() {
  JobTakeExecUntracked(
      *view_,
      [](void* ctx, pid_t pid, uint64_t start, const char comm[16]) {
        auto* self = static_cast<JobWatch*>(ctx);
        const Key key{pid, start};
        if (self->reported_.count(key) != 0) return;
        self->Report(key, std::string(comm, strnlen(comm, 16)), kNoMember);
      },
      this);
}

void JobWatch::WriteStats(FILE* f) const {
  fprintf(f, "members.seen %zu\n", members_.size());
  std::vector<std::pair<Key, const Seen*>> largest;
  for (const auto& [key, seen] : members_) largest.emplace_back(key, &seen);
  std::sort(largest.begin(), largest.end(), [](const auto& a, const auto& b) {
    return a.second->peak != b.second->peak ? a.second->peak > b.second->peak
                                            : a.first < b.first;
  });
  if (largest.size() > kListedMembers) largest.resize(kListedMembers);
  for (const auto& [key, seen] : largest) {
    fprintf(f, "member.%d.command %s\n", static_cast<int>(key.first),
            seen->command.c_str());
    fprintf(f, "member.%d.peak %lld\n", static_cast<int>(key.first),
            static_cast<long long>(seen->peak));
  }
  fprintf(f, "untracked %llu\n",
          static_cast<unsigned long long>(untracked_count_));
  for (const auto& [pid, comm] : untracked_) {
    fprintf(f, "untracked.%d %s\n", static_cast<int>(pid), comm.c_str());
  }
}

}  // namespace memgroup::internal::cli
