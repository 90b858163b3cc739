// Implements job_status.h.
#include "cli/job_status.h"

#include <algorithm>

#include "cli/proc_info.h"

namespace memgroup::internal::cli {

JobStatus CollectJobStatus(const JobRecord& rec, bool untracked) {
  JobStatus st;
  st.snap = rec.snap;
  for (const JobMemberSnapshot& m : rec.members) {
    MemberStatus ms;
    ms.pid = m.pid;
    ms.command = ProcessCommand(m.pid);
    ms.current = m.charged;
    ms.peak = m.peak;
    st.members.push_back(std::move(ms));
  }
  std::sort(st.members.begin(), st.members.end(),
            [](const MemberStatus& a, const MemberStatus& b) {
              return a.pid < b.pid;
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
