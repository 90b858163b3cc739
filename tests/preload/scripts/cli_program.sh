#!/usr/bin/env bash
# Runs one of tests/preload/programs as a job, `memgroup run --engine E
# --max 1G -- PROGRAM [ARGS...]` (E: MEMGROUP_ENGINE, or jemalloc), and
# checks its exit status and that its output has the expected line.
# Usage: cli_program.sh MEMGROUP_BINARY LIBRARY EXPECTED_LINE PROGRAM [ARGS...]
memgroup=$1
library=$2
expected=$3
shift 3
program=("$@")
set -- "$library"
. "$(dirname "$0")/lib.sh"
cli_job_env engine

"$memgroup" run --engine "$mg_engine" --max 1G -- "${program[@]}" \
  > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "exit status of ${program[*]}"
grep -qxF -- "$expected" "$mg_tmp/out" ||
  fail "'$expected' not printed by ${program[*]}"
pass "$(basename "${program[0]}") as a job ($mg_engine)"
