// Implements usage.h. Lists only the subcommands that exist.
#include "cli/usage.h"

#include <stdio.h>

namespace memgroup::internal::cli {

int UsageError(absl::string_view message) {
  fprintf(stderr, "memgroup: %.*s\n%s", static_cast<int>(message.size()),
          message.data(), kUsage);
  return kExitUsage;
}

const char kUsage[] =
    "Usage: memgroup run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "       memgroup list\n"
    "       memgroup stat [--json | --prometheus] PID [GROUP]\n"
    "       memgroup set PID GROUP [max=SIZE] [high=SIZE] [low=SIZE] "
    "[min=SIZE]\n"
    "                    [oom=POLICY]\n"
    "       memgroup reclaim [--timeout SECONDS] PID GROUP SIZE\n"
    "       memgroup events PID [--follow]\n"
    "       memgroup top [-n COUNT] [-d SECONDS] [PID...]\n"
    "       memgroup --help | --version\n"
    "\n"
    "Runs PROGRAM with libmemgroup.so preloaded as a job: PROGRAM and every\n"
    "process it starts share one set of cgroup-style limits. memgroup stays\n"
    "PROGRAM's parent, forwards signals sent to it, and exits with the\n"
    "program's status (127 if it cannot be found, 126 if it cannot be\n"
    "executed).\n"
    "\n"
    "Options of run:\n"
    "  --max SIZE       the job's hard limit; at it the --oom policy applies\n"
    "  --high SIZE      the job's throttle limit; above it allocations slow\n"
    "  --oom POLICY     enomem (default), abort, kill (the largest member),\n"
    "                   wait or wait:SECONDS\n"
    "                   (wait:0 fails at once after reclaim)\n"
    "  --oom-group      with --oom kill, kill every member of the job\n"
    "                   (the kernel's memory.oom.group)\n"
    "  --low SIZE, --min SIZE\n"
    "                   inside a job only: protect this child job against\n"
    "                   its siblings (the enclosing job's kill spares it)\n"
    "  --stats FILE|-   write the job's stats at the end to FILE, or stderr\n"
    "  --engine NAME    jemalloc (default) or mimalloc (at most 63 groups)\n"
    "  --fault P        fail a fraction P (0 to 1) of allocation calls\n"
    "  --fault-seed N   seed of --fault's draws (same seed, same failures)\n"
    "  -h, --help       print this help\n"
    "\n"
    "SIZE is a number of bytes with an optional K, M, G or T suffix (binary\n"
    "multiples, case-insensitive), or max. Words (policies, engine) are\n"
    "case-insensitive too. Outside a job --low and --min are refused:\n"
    "protection only matters against sibling jobs. Inside a job (MEMGROUP_JOB\n"
    "set) memgroup run starts a child job within it. Each option may be\n"
    "given once, also written --max=SIZE. The library is\n"
    "$MEMGROUP_LIBRARY if set, else libmemgroup.so next to this command, in\n"
    "../lib or in ../lib/x86_64-linux-gnu.\n"
    "\n"
    "Control of running jobs (this user's only). PID is the job's\n"
    "supervisor (the memgroup run process) or any member. GROUP is the\n"
    "job's own group: / (or PID:/), or a group a member created through\n"
    "the C ABI: MEMBER:/a/b, or /a/b when PID is that member; PID GROUP\n"
    "may be written as one MEMBER:/a/b. low and min apply to such groups\n"
    "only.\n"
    "  list             one line per live job; removes blocks of dead jobs\n"
    "  stat             current, peak, limits, events, members and their\n"
    "                   groups (a member's PID: its groups only), as\n"
    "                   key value lines, one JSON object (--json) or\n"
    "                   Prometheus text (--prometheus)\n"
    "  set              change the job's max, high (SIZE) or OOM policy;\n"
    "                   takes effect at once and wakes waiting members;\n"
    "                   a max below usage reclaims first, as reclaim\n"
    "  reclaim          ask every member to release SIZE bytes in all\n"
    "                   (reclaim callbacks, then free engine pages); prints\n"
    "                   what was released; exit 1 (EAGAIN) if less than\n"
    "                   SIZE; members answer within --timeout (5 s)\n"
    "  events           the job's event counts; --follow prints one line\n"
    "                   per change until the job ends\n"
    "  top              live view of jobs and members, refreshed every\n"
    "                   -d SECONDS (1); q quits; -n COUNT refreshes, then\n"
    "                   exit; plain text when stdout is not a terminal\n";

}  // namespace memgroup::internal::cli
