// What `memgroup run`'s supervisor sees of its job's processes: the members
// seen (pid, command, peak charge, from the control block's member table)
// and the untracked descendants, processes of the job the library is not
// loaded in (static binaries, setuid programs, programs started with a
// cleared environment), found through /proc's parent links and, for the
// processes the supervisor reaps, when they exit. Writes their lines of the
// job's stats and reports untracked processes on stderr.
// Runs in the supervisor only (it allocates and uses stdio).
#ifndef MEMGROUP_SRC_CLI_JOB_WATCH_H_
#define MEMGROUP_SRC_CLI_JOB_WATCH_H_

#include <stdio.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "counter/job_block.h"

namespace memgroup::internal::cli {

class JobWatch {
 public:
  // `library`: the preloaded library's path (its canonical form is looked
  // for in /proc/PID/maps).
  JobWatch(const JobView* view, pid_t supervisor, const std::string& library);

  // Records each active member's command and the highest peak seen. Cheap:
  // one pass over the member table, no system call.
  void ObserveMembers();

  // Scans /proc for the supervisor's descendants. A descendant is untracked
  // when the library is not mapped in it and either no member slot names it
  // (pid and start time) or its slot names another command or carries an
  // exec mark (it exec'd an image that did not rejoin). It must look so on two scans in a row
  // (a process between exec and the library's start is not reported).
  // A new untracked process is reported on stderr (the first few, then one
  // line saying more exist) and, if it still held a member slot, that
  // slot's charge (the previous image's) is released.
  void ScanUntracked();

  // Inspects `pid`, a descendant that has exited and is still a zombie
  // (the supervisor calls it before reaping: its own children and the
  // orphans it adopted as a subreaper), however briefly it lived. It is
  // untracked when no member slot, active or released, names it (pid and
  // start time) and the member table never showed it, or when the command
  // it died with differs from the one it joined with or its slot carries
  // an exec mark (it exec'd an image that did not rejoin). Reported as
  // ScanUntracked reports.
  void InspectExited(pid_t pid);

  // Reports the processes whose exec marks (counter/job_block.h,
  // "Untracked execs") outlived them: a member exec'd a program that never
  // rejoined its slot, and it has exited since, even if its parent inside
  // the job reaped it. One /proc read per marked slot.
  void TakeExecs();

  // The stats lines: members.seen, member.PID.command/.peak for the
  // largest members, untracked and untracked.PID.
  void WriteStats(FILE* f) const;

  uint64_t untracked_count() const { return untracked_count_; }

 private:
  struct Seen {
    std::string command;
    int64_t peak = 0;
  };
  using Key = std::pair<pid_t, uint64_t>;  // pid, start time

  bool LibraryMapped(pid_t pid) const;
  // Counts and reports one untracked process; releases `stale_slot` (the
  // previous image's charge) when it is not kNoMember.
  void Report(const Key& key, const std::string& comm, uint32_t stale_slot);

  const JobView* view_;
  pid_t supervisor_;
  std::string library_;  // canonical path, or the given one
  std::map<Key, Seen> members_;
  std::set<Key> pending_;       // untracked on the last scan
  std::set<Key> reported_;      // untracked, already counted
  std::vector<std::pair<pid_t, std::string>> untracked_;  // first ones
  uint64_t untracked_count_ = 0;
};

}  // namespace memgroup::internal::cli

#endif  // MEMGROUP_SRC_CLI_JOB_WATCH_H_
