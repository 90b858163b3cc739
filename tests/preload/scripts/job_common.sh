# Sourced by the job test scripts (job_limits.sh, job_members.sh,
# job_tracking.sh, job_nested.sh), whose cases test `memgroup run`: the
# program and every process it starts under one limit (docs/preload.md,
# "Jobs"). Each runs one case: SCRIPT MEMGROUP_BINARY LIBRARY PYTHON3 CASE.
# Provides, besides lib.sh's helpers: memgroup, python, case_name; T and PY
# exported (mg_tmp and the python, for the programs the job runs);
# $mg_tmp/eat.py and $mg_tmp/job_usage.py; stat_of KEY FILE; wait_for FILE...
# (exported, for the job's `bash -c` scripts too).
# Usage: job.sh MEMGROUP_BINARY LIBRARY PYTHON3 CASE
memgroup=$1
library=$2
python=$3
case_name=$4
set -- "$library"
. "$(dirname "$0")/lib.sh"
cli_job_env
unset MEMGROUP_MAX MEMGROUP_HIGH MEMGROUP_OOM MEMGROUP_STATS
export T=$mg_tmp PY=$python

# A python program run as a member: eat.py NAME MIB [READY_FILE WAIT_FILE]
# allocates MIB MiB in 1 MiB pieces, prints the outcome, touches READY_FILE
# and then holds the memory until WAIT_FILE exists (up to 30 s).
cat > "$mg_tmp/eat.py" <<'PY'
import os, sys, time
name, mib = sys.argv[1], int(sys.argv[2])
ready = sys.argv[3] if len(sys.argv) > 3 else None
wait = sys.argv[4] if len(sys.argv) > 4 else None
held = []
try:
    for _ in range(mib):
        held.append(bytearray((1 << 20) - 64))  # a 1 MiB size class
    print(name, "held", mib, "MiB", flush=True)
except MemoryError:
    print(name, "MemoryError after", len(held), "MiB", flush=True)
if ready:
    open(ready, "w").close()
if wait:
    for _ in range(3000):
        if os.path.exists(wait):
            break
        time.sleep(0.01)
PY

# Reads a job's usage from its control block (MEMGROUP_JOB's by default).
cat > "$mg_tmp/job_usage.py" <<'PY'
import mmap, os, struct
def job_usage(path=None):
    with open(path or os.environ["MEMGROUP_JOB"], "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        magic, = struct.unpack_from("<Q", m, 0)
        assert magic == 0x314b4f4a47524d4d, hex(magic)
        usage, = struct.unpack_from("<q", m, 512)
        m.close()
    return usage
PY

stat_of() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }

# wait_for FILE...: returns once every FILE exists, or after 30 s (3000
# polls 10 ms apart) if one never appears; the checks that follow fail then.
wait_for() {
  local _ f missing
  for _ in $(seq 3000); do
    missing=0
    for f in "$@"; do [ -e "$f" ] || missing=1; done
    [ "$missing" = 0 ] && return 0
    sleep 0.01
  done
  return 0
}
export -f wait_for
