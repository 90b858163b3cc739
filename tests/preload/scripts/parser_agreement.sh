#!/usr/bin/env bash
# The command and the environment accept exactly the same values: each
# (option, value) of a table goes through `memgroup run --option value` and
# through MEMGROUP_VAR=value with the library preloaded; both must accept
# (the program reaches main) or both refuse (exit 2: usage error from the
# command, one line naming the variable from the library), as the table says.
# Usage: parser_agreement.sh MEMGROUP_BINARY LIBRARY PROGRAM
memgroup=$1
library=$2
program=$3
set -- "$library"
. "$(dirname "$0")/lib.sh"
cli_job_env

# option  variable  value  expected (ok|refused)
table=(
  "max MEMGROUP_MAX 64M ok"       "max MEMGROUP_MAX 64m ok"
  "max MEMGROUP_MAX MAX ok"       "max MEMGROUP_MAX 12Q refused"
  "max MEMGROUP_MAX -1 refused"   "high MEMGROUP_HIGH 1g ok"
  "high MEMGROUP_HIGH 99999999999T refused"
  "low MEMGROUP_LOW 1M refused"   "min MEMGROUP_MIN 0 refused"
  "oom MEMGROUP_OOM enomem ok"    "oom MEMGROUP_OOM ENOMEM ok"
  "oom MEMGROUP_OOM Abort ok"     "oom MEMGROUP_OOM kill ok"
  "oom MEMGROUP_OOM wait ok"      "oom MEMGROUP_OOM wait:0 ok"
  "oom MEMGROUP_OOM WAIT:30 ok"   "oom MEMGROUP_OOM wait:9223372036 ok"
  "oom MEMGROUP_OOM wait:9223372037 refused"
  "oom MEMGROUP_OOM wait:10000000009 refused"
  "oom MEMGROUP_OOM wait: refused" "oom MEMGROUP_OOM wait:-1 refused"
  "oom MEMGROUP_OOM wait:1s refused" "oom MEMGROUP_OOM handler refused"
  "oom MEMGROUP_OOM sometimes refused"
  "engine MEMGROUP_ENGINE jemalloc ok" "engine MEMGROUP_ENGINE JEMALLOC ok"
  "engine MEMGROUP_ENGINE tcmalloc refused"
  "fault MEMGROUP_FAULT 0 ok"     "fault MEMGROUP_FAULT 0.0 ok"
  "fault MEMGROUP_FAULT 1.5 refused" "fault MEMGROUP_FAULT 2 refused"
  "fault MEMGROUP_FAULT .5 refused" "fault MEMGROUP_FAULT 1e-3 refused"
  "check MEMGROUP_CHECK 1 ok"     "check MEMGROUP_CHECK 0 ok"
  "check MEMGROUP_CHECK yes refused" "check MEMGROUP_CHECK 01 refused"
  "control MEMGROUP_CONTROL 0 ok" "control MEMGROUP_CONTROL 2 refused"
  "fault-seed MEMGROUP_FAULT_SEED 0 ok"
  "fault-seed MEMGROUP_FAULT_SEED 18446744073709551615 ok"
  "fault-seed MEMGROUP_FAULT_SEED 18446744073709551616 refused"
  "fault-seed MEMGROUP_FAULT_SEED -1 refused"
  "fault-seed MEMGROUP_FAULT_SEED 0x10 refused"
  "fault MEMGROUP_FAULT 1.00000000000000000100001 refused"
  "stats MEMGROUP_STATS /$(printf 'p%.0s' $(seq 511)) refused"
  "stats MEMGROUP_STATS /nonexistent/dir/file refused"
  "stats MEMGROUP_STATS $mg_tmp refused"
  "stats MEMGROUP_STATS $mg_tmp/stats.txt ok"
  # Each numeric value at its overflow edge: the largest accepted, the
  # smallest refused (int64 bytes: 2^63 - 1; the suffixes multiply).
  "max MEMGROUP_MAX 9223372036854775807 ok"
  "max MEMGROUP_MAX 9223372036854775808 refused"
  "max MEMGROUP_MAX 99999999999999999999999999 refused"
  "max MEMGROUP_MAX 9007199254740991K ok"
  "max MEMGROUP_MAX 9007199254740992K refused"
  "max MEMGROUP_MAX 8796093022207M ok"
  "max MEMGROUP_MAX 8796093022208M refused"
  "high MEMGROUP_HIGH 8589934591G ok"
  "high MEMGROUP_HIGH 8589934592G refused"
  "high MEMGROUP_HIGH 8388607T ok"
  "high MEMGROUP_HIGH 8388608T refused"
  "oom MEMGROUP_OOM wait:0000000000000000000009223372036 ok"
  "oom MEMGROUP_OOM wait:99999999999999999999999999 refused"
  "fault-seed MEMGROUP_FAULT_SEED 00000000000000000000018446744073709551615 ok"
  "fault-seed MEMGROUP_FAULT_SEED 18446744073709551617 refused"
  "fault-seed MEMGROUP_FAULT_SEED 99999999999999999999999999 refused"
  "fault MEMGROUP_FAULT 0.00000000000000000000000000001 ok"
  "fault MEMGROUP_FAULT 1.00000000000000000000000000001 refused"
)

for row in "${table[@]}"; do
  read -r option var value expected <<< "$row"
  "$memgroup" run "--$option" "$value" -- "$program" \
    > "$mg_tmp/cli.out" 2> "$mg_tmp/cli.err"
  cli=$?
  env "$var=$value" LD_PRELOAD="$MG_LIB" "$program" \
    > "$mg_tmp/env.out" 2> "$mg_tmp/env.err"
  envs=$?
  echo "--$option $value: command $cli, environment $envs (expected $expected)"
  if [ "$expected" = ok ]; then
    expect_eq "$cli" "0" "memgroup run --$option $value"
    expect_eq "$envs" "0" "$var=$value"
    expect_contains "$mg_tmp/cli.out" "main reached" "--$option $value"
    expect_contains "$mg_tmp/env.out" "main reached" "$var=$value"
  else
    expect_eq "$cli" "2" "memgroup run --$option $value"
    expect_contains "$mg_tmp/cli.err" "Usage: memgroup run" "--$option $value"
    expect_eq "$envs" "2" "$var=$value"
    expect_contains "$mg_tmp/env.err" "$var" "message for $var=$value"
    expect_eq "$(wc -l < "$mg_tmp/env.err")" "1" "stderr lines for $var=$value"
  fi
done
pass "the command and the environment accept the same values"
