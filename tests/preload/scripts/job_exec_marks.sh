#!/usr/bin/env bash
# Untracked programs a member execs and reaps itself (docs/preload.md,
# "Untracked descendants"): a static program run by bash (fork, execve,
# waitpid), a dynamic one started with `env -i` (cleared environment) and a
# static one run by python's subprocess (vfork, execve) each live about
# 50 ms and are reaped by their parent inside the job, never by the
# supervisor; each is reported once, on stderr and in --stats, through the
# exec mark its parent's member slot (or, for the vfork child, its own
# claimed slot) carried. Tracked programs run the same ways (sleep, true)
# and an exec that fails (a missing file) are not reported.
# Usage: job_exec_marks.sh MEMGROUP_BINARY LIBRARY PYTHON3
memgroup=$1
library=$2
python=$3
set -- "$library"
. "$(dirname "$0")/lib.sh"
require_lib
export MEMGROUP_LIBRARY=$MG_LIB
unset LD_PRELOAD MEMGROUP_MAX MEMGROUP_HIGH MEMGROUP_OOM MEMGROUP_STATS
export T=$mg_tmp PY=$python

stat_of() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }

cat > "$mg_tmp/quick.c" <<'C'
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  char* p = malloc(1 << 20);
  if (p == NULL) return 1;
  memset(p, 1, 1 << 20);
  usleep(50000);
  free(p);
  return 0;
}
C
cc -static -O1 -o "$mg_tmp/static_quick" "$mg_tmp/quick.c" ||
  fail "cannot build a static program (cc -static)"

# The supervisor reaps none of these: bash waits for each command, python
# for its subprocess.
"$memgroup" run --stats "$mg_tmp/stats" -- bash -c '
  "$T/static_quick"
  "$T/static_quick"
  for _ in 1 2 3; do /bin/sleep 0.05; done
  "$T/missing_program" 2> /dev/null
  env -i /bin/sleep 0.05
  "$PY" -c "
import subprocess, sys
subprocess.run([sys.argv[1]], check=True)
subprocess.run([\"/bin/true\"], check=True)
" "$T/static_quick"
  true' > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "exit status"
expect_eq "$(grep -c '(static_quick) of the job is untracked' "$mg_tmp/err")" \
  "3" "the static programs on stderr (two run by bash, one by subprocess)"
expect_eq "$(grep -c '(sleep) of the job is untracked' "$mg_tmp/err")" "1" \
  "the env -i program on stderr"
expect_eq "$(grep -c 'is untracked' "$mg_tmp/err")" "4" \
  "no tracked program or failed exec reported"
expect_eq "$(stat_of untracked "$mg_tmp/stats")" "4" "untracked count"
expect_eq "$(grep -c '^untracked\.[0-9]* static_quick$' "$mg_tmp/stats")" "3" \
  "untracked lines of the static programs"
expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current at the end"
pass "untracked programs reaped by their parent inside the job are reported"
