#!/usr/bin/env bash
# MEMGROUP_OOM=abort|kill (set by the caller with MEMGROUP_MAX): a program
# that allocates until failure must die of SIGABRT or SIGKILL, after a
# report on stderr that mentions memgroup, instead of seeing NULL.
# Usage: limit_death.sh LIBRARY abort|kill PROGRAM [ARGS...]
. "$(dirname "$0")/lib.sh"
require_lib
policy=$1
shift
case $policy in
  abort) expected_status=134 ;;  # 128 + SIGABRT
  kill) expected_status=137 ;;   # 128 + SIGKILL
  *) fail "unknown policy $policy" ;;
esac

mg "$@" > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" "$expected_status" "exit status (128 + signal)"
expect_contains "$mg_tmp/err" "memgroup" "OOM report"
pass "MEMGROUP_OOM=$policy"
