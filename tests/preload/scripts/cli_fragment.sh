#!/usr/bin/env bash
# `memgroup run --engine E --max MAXM -- fragment MAX [reclaim | slabs |
# SIZE]` (E: MEMGROUP_ENGINE, or jemalloc; MAX in MiB, 64 unless given): a
# fragmenting program's anonymous RSS stays within the limit x 1.02 +
# 4 MiB (small blocks, released slabs beside live ones, or blocks of SIZE
# bytes), and (with `reclaim`) mg_group_reclaim gives the free pages back
# (tests/preload/programs/fragment.c).
# Usage: cli_fragment.sh MEMGROUP_BINARY LIBRARY FRAGMENT_PROGRAM
#        [reclaim | slabs | SIZE [MAX_MIB]]   (MAX_MIB: the limit, 64)
memgroup=$1
library=$2
program=$3
mode=${4:-}
max=${5:-64}
set -- "$library"
. "$(dirname "$0")/lib.sh"
cli_job_env engine

"$memgroup" run --engine "$mg_engine" --max "${max}M" --oom enomem -- \
  "$program" "$max" $mode > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "exit status"
expect_contains "$mg_tmp/out" "fragment: OK" "fragment output"
pass "fragment $mode ($mg_engine)"
