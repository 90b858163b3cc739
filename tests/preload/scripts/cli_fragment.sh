#!/usr/bin/env bash
# `memgroup run --engine E --max 64M -- fragment 64 [reclaim | SIZE]` (E:
# MEMGROUP_ENGINE, or jemalloc): a fragmenting program's anonymous RSS stays
# within the limit x 1.02 + 4 MiB (with small blocks, or blocks of SIZE
# bytes), and (with `reclaim`) mg_group_reclaim gives the free pages back
# (tests/preload/programs/fragment.c).
# Usage: cli_fragment.sh MEMGROUP_BINARY LIBRARY FRAGMENT_PROGRAM
#        [reclaim | SIZE]
memgroup=$1
library=$2
program=$3
mode=${4:-}
set -- "$library"
. "$(dirname "$0")/lib.sh"
require_lib
export MEMGROUP_LIBRARY=$MG_LIB
unset LD_PRELOAD
engine=${MEMGROUP_ENGINE:-jemalloc}
unset MEMGROUP_ENGINE

"$memgroup" run --engine "$engine" --max 64M --oom enomem -- \
  "$program" 64 $mode > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "exit status"
expect_contains "$mg_tmp/out" "fragment: OK" "fragment output"
pass "fragment $mode ($engine)"
