#!/usr/bin/env bash
# Runs one of tests/preload/programs and checks its exit status and that its
# output has the expected line.
# Usage: program.sh LIBRARY|none EXPECTED_LINE PROGRAM [ARGS...]
. "$(dirname "$0")/lib.sh"
expected=$1
shift

mg "$@" > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"
cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "exit status of $*"
grep -qxF -- "$expected" "$mg_tmp/out" || fail "'$expected' not printed by $*"
pass "$(basename "$1")"
