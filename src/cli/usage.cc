// Implements usage.h. Lists only the subcommands that exist.
#include "cli/usage.h"

namespace memgroup::internal::cli {

const char kUsage[] =
    "Usage: memgroup run [OPTIONS] -- PROGRAM [ARGS...]\n"
    "       memgroup --help | --version\n"
    "\n"
    "Runs PROGRAM with libmemgroup.so preloaded, so that its memory is\n"
    "charged to a group with cgroup-style limits. The exit status is the\n"
    "program's (127 if it cannot be found, 126 if it cannot be executed).\n"
    "\n"
    "Options of run:\n"
    "  --max SIZE       hard limit; at it the --oom policy applies\n"
    "  --high SIZE      throttle limit; above it allocations are slowed\n"
    "  --oom POLICY     enomem (default), abort, kill, wait or wait:SECONDS\n"
    "                   (wait:0 fails at once after reclaim)\n"
    "  --stats FILE|-   write the group's stats at exit to FILE, or stderr\n"
    "  --engine NAME    jemalloc (the only engine of this build)\n"
    "  --fault P        fail a fraction P (0 to 1) of allocation calls\n"
    "  --fault-seed N   seed of --fault's draws (same seed, same failures)\n"
    "  -h, --help       print this help\n"
    "\n"
    "SIZE is a number of bytes with an optional K, M, G or T suffix (binary\n"
    "multiples, case-insensitive), or max. Words (policies, engine) are\n"
    "case-insensitive too. --low and --min are refused: protection only\n"
    "matters against sibling groups, and the program's root group has\n"
    "none. Options may also be written\n"
    "--max=SIZE. The library is $MEMGROUP_LIBRARY if set, else\n"
    "libmemgroup.so next to this command, in ../lib or in\n"
    "../lib/x86_64-linux-gnu.\n";

}  // namespace memgroup::internal::cli
