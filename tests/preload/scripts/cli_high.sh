#!/usr/bin/env bash
# `memgroup run --high 16M` on an unmodified program: the process's root
# group is throttled once the program grows past high (the kernel's penalty
# curve): events.high > 0 and stat.throttled_usec > 0 in the --stats report,
# and the program still completes. MEMGROUP_HIGH alone does the same.
# Usage: cli_high.sh MEMGROUP_BINARY LIBRARY PYTHON3
memgroup=$1
library=$2
python=$3
set -- "$library"
. "$(dirname "$0")/lib.sh"
cli_job_env

grow='
items = [bytearray(1 << 16) for _ in range(20 * 16)]  # 20 MiB
print("grew", sum(map(len, items)) >> 20, "MiB")'

check_report() {  # check_report ERR WHAT
  local high throttled
  high=$(awk '$1 == "events.high" {print $2; exit}' "$1")
  throttled=$(awk '$1 == "stat.throttled_usec" {print $2; exit}' "$1")
  echo "$2: events.high=$high throttled_usec=$throttled"
  [ -n "$high" ] && [ "$high" -gt 0 ] || fail "$2: events.high is '$high'"
  [ -n "$throttled" ] && [ "$throttled" -gt 0 ] ||
    fail "$2: stat.throttled_usec is '$throttled'"
}

"$memgroup" run --high 16M --stats - -- "$python" -c "$grow" \
  > "$mg_tmp/out" 2> "$mg_tmp/err"
expect_eq "$?" "0" "exit status under --high"
expect_contains "$mg_tmp/out" "grew 20 MiB" "program output"
check_report "$mg_tmp/err" "memgroup run --high 16M"

env MEMGROUP_HIGH=16M MEMGROUP_STATS=stderr LD_PRELOAD="$MG_LIB" \
  "$python" -c "$grow" > "$mg_tmp/out" 2> "$mg_tmp/err"
expect_eq "$?" "0" "exit status under MEMGROUP_HIGH"
check_report "$mg_tmp/err" "MEMGROUP_HIGH=16M"

# Below high: no event, no throttling.
"$memgroup" run --high 64M --stats - -- "$python" -c "$grow" \
  > "$mg_tmp/out" 2> "$mg_tmp/err"
expect_eq "$(awk '$1 == "events.high" {print $2; exit}' "$mg_tmp/err")" "0" \
  "events.high below high"
pass "high throttles the root group"
