// Implements proc_info.h.
#include "cli/proc_info.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "counter/job_reader.h"

namespace memgroup::internal::cli {
namespace {

// Reads at most `max` bytes of a /proc file; false if it cannot be opened.
bool ReadProcFile(const std::string& path, size_t max, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  out->clear();
  char buf[4096];
  while (out->size() < max) {
    ssize_t n = read(fd, buf, std::min(sizeof(buf), max - out->size()));
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return true;
}

// The parent pid from /proc/PID/stat (after the last ')'), or -1.
pid_t ParentOf(const std::string& stat) {
  size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  // ") S PPID ..."
  const char* p = stat.c_str() + close_paren + 1;
  while (*p == ' ') ++p;
  if (*p == '\0') return -1;
  ++p;  // state
  while (*p == ' ') ++p;
  char* end = nullptr;
  long ppid = strtol(p, &end, 10);
  if (end == p) return -1;
  return static_cast<pid_t>(ppid);
}

}  // namespace

bool ProcessUid(pid_t pid, uid_t* uid) {
  std::string status;
  if (pid <= 0 || !ReadProcFile(absl::StrCat("/proc/", pid, "/status"), 1 << 16,
                                &status)) {
    return false;
  }
  size_t at = status.find("\nUid:");
  if (at == std::string::npos) return false;
  const char* p = status.c_str() + at + 5;
  char* end = nullptr;
  unsigned long v = strtoul(p, &end, 10);
  if (end == p) return false;
  *uid = static_cast<uid_t>(v);
  return true;
}

std::string ProcessCommand(pid_t pid) {
  std::string raw;
  if (pid <= 0 ||
      !ReadProcFile(absl::StrCat("/proc/", pid, "/cmdline"), 4096, &raw)) {
    return "";
  }
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  if (raw.empty()) {
    std::string comm;
    if (!ReadProcFile(absl::StrCat("/proc/", pid, "/comm"), 64, &comm)) {
      return "";
    }
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    raw = absl::StrCat("[", comm, "]");
  }
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  char out[256];
  SanitizeText(raw.data(), raw.size(), out, sizeof(out));
  return out;
}

std::string ProcessJobPath(pid_t pid) {
  std::string env;
  if (pid <= 0 ||
      !ReadProcFile(absl::StrCat("/proc/", pid, "/environ"), 1 << 20, &env)) {
    return "";
  }
  static constexpr char kKey[] = "MEMGROUP_JOB=";
  size_t start = 0;
  while (start < env.size()) {
    size_t end = env.find('\0', start);
    if (end == std::string::npos) end = env.size();
    if (env.compare(start, sizeof(kKey) - 1, kKey) == 0) {
      return env.substr(start + sizeof(kKey) - 1,
                        end - start - (sizeof(kKey) - 1));
    }
    start = end + 1;
  }
  return "";
}

std::vector<pid_t> Descendants(pid_t root) {
  std::unordered_multimap<pid_t, pid_t> children;
  DIR* d = opendir("/proc");
  if (d == nullptr) return {};
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0) continue;
    std::string stat;
    if (!ReadProcFile(absl::StrCat("/proc/", pid, "/stat"), 1024, &stat)) {
      continue;
    }
    pid_t ppid = ParentOf(stat);
    if (ppid > 0) children.emplace(ppid, static_cast<pid_t>(pid));
  }
  closedir(d);
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    auto [lo, hi] = children.equal_range(p);
    for (auto it = lo; it != hi; ++it) {
      // A pid cycle cannot happen in /proc, but a pid read twice across a
      // reuse could repeat: never walk one twice.
      if (std::find(out.begin(), out.end(), it->second) != out.end()) continue;
      out.push_back(it->second);
      todo.push_back(it->second);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace memgroup::internal::cli
