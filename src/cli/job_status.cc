// Implements job_status.h.
#include "cli/job_status.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"

#include "cli/proc_info.h"

namespace memgroup::internal::cli {

namespace {

GroupStatus ToStatus(const JobGroupSnapshot& g) {
  GroupStatus gs;
  gs.pid = g.pid;
  gs.path = g.path;  // validated by the reader: "/" and name characters
  gs.command = ProcessCommand(g.pid);
  gs.figures = g.figures;
  gs.age_ms = GroupAgeMs(g.figures.published_ns, g.read_ns);
  return gs;
}

}  // namespace

int64_t GroupAgeMs(int64_t published_ns, int64_t now_ns) {
  // The table's time is another process's: only a time before now counts.
  if (published_ns <= 0 || published_ns > now_ns) return -1;
  return (now_ns - published_ns) / 1'000'000;
}

bool MemberStatus::Crossed() const {
  for (uint64_t c : crossings) {
    if (c != 0) return true;
  }
  return false;
}

std::string GroupStatus::Name() const { return absl::StrCat(pid, ":", path); }

JobStatus CollectGroupStatus(const JobRecord& rec, const JobGroupSnapshot& g) {
  JobStatus st;
  st.snap = rec.snap;
  st.group_only = true;
  st.groups.push_back(ToStatus(g));
  st.group = st.groups[0].Name();
  return st;
}

JobStatus CollectJobStatus(const JobRecord& rec, bool untracked,
                           pid_t member) {
  JobStatus st;
  st.snap = rec.snap;
  for (const JobMemberSnapshot& m : rec.members) {
    MemberStatus ms;
    ms.pid = m.pid;
    ms.command = ProcessCommand(m.pid);
    ms.current = m.charged;
    ms.peak = m.peak;
    for (uint32_t k = 0; k < kJobCrossings; ++k) {
      ms.crossings[k] = m.root_crossings[k];
    }
    ms.threshold_last[0] = m.root_threshold_last[0];
    ms.threshold_last[1] = m.root_threshold_last[1];
    for (uint32_t k = 0; k < kJobRootStats; ++k) ms.stat[k] = m.stat[k];
    st.members.push_back(std::move(ms));
  }
  std::sort(st.members.begin(), st.members.end(),
            [](const MemberStatus& a, const MemberStatus& b) {
              return a.pid < b.pid;
            });
  // Each member's count of groups left out (the same in all its entries).
  std::map<pid_t, uint32_t> unpublished;
  for (const JobGroupSnapshot& g : rec.groups) {
    if (member != 0 && g.pid != member) continue;
    st.groups.push_back(ToStatus(g));
    unpublished[g.pid] = std::max(unpublished[g.pid], g.figures.unpublished);
  }
  for (const auto& [pid, n] : unpublished) st.groups_unpublished += n;
  // A member that found the table full may have no entry at all.
  const int32_t full = rec.snap.groups_full_pid;
  const bool full_member =
      std::any_of(rec.members.begin(), rec.members.end(),
                  [&](const JobMemberSnapshot& m) { return m.pid == full; });
  if (full > 0 && full_member && (member == 0 || member == full) &&
      rec.snap.groups_full_count > unpublished[full]) {
    st.groups_unpublished += rec.snap.groups_full_count - unpublished[full];
  }
  std::sort(st.groups.begin(), st.groups.end(),
            [](const GroupStatus& a, const GroupStatus& b) {
              if (a.pid != b.pid) return a.pid < b.pid;
              // Component by component: a parent before its children.
              std::string ka = a.path, kb = b.path;
              std::replace(ka.begin(), ka.end(), '/', '\x01');
              std::replace(kb.begin(), kb.end(), '/', '\x01');
              return ka < kb;
            });
  if (untracked) {
    for (pid_t pid : Descendants(rec.snap.supervisor_pid)) {
      if (rec.Names(pid)) continue;
      std::string command = ProcessCommand(pid);
      if (command.empty()) continue;  // gone meanwhile
      st.untracked.push_back(UntrackedStatus{pid, std::move(command)});
    }
  }
  return st;
}

}  // namespace memgroup::internal::cli
