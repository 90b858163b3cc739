#!/usr/bin/env bash
# `memgroup run --engine E --max 64M --oom enomem -- large_churn 64 MODE`
# (E: MEMGROUP_ENGINE, or jemalloc): large-block churn stays within the
# limit x 1.02 + 4 MiB of RssAnon, and the freed blocks' pages go back by
# decay, reclaim or a refused charge's purge, as MODE says
# (tests/preload/programs/large_churn.c).
# Usage: cli_large_churn.sh MEMGROUP_BINARY LIBRARY PROGRAM MODE
memgroup=$1
library=$2
program=$3
mode=$4
set -- "$library"
. "$(dirname "$0")/lib.sh"
cli_job_env engine

"$memgroup" run --engine "$mg_engine" --max 64M --oom enomem -- \
  "$program" 64 "$mode" > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "exit status"
expect_contains "$mg_tmp/out" "large_churn: OK" "large_churn output"
pass "large_churn $mode ($mg_engine)"
