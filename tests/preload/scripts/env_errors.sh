#!/usr/bin/env bash
# Malformed or unknown MEMGROUP_* variables stop the program before main with
# exit status 2 and one line on stderr naming the variable (and the value).
# Usage: env_errors.sh LIBRARY PROGRAM   (PROGRAM prints "main reached")
. "$(dirname "$0")/lib.sh"
require_lib
program=$1

check() {  # check VAR=VALUE TEXT...: run with VAR=VALUE, expect each TEXT
  local assignment=$1
  shift
  env "$assignment" LD_PRELOAD="$MG_LIB" "$program" > "$mg_tmp/out" 2> "$mg_tmp/err"
  local status=$?
  cat "$mg_tmp/err" >&2
  expect_eq "$status" "2" "exit status with $assignment"
  grep -q "main reached" "$mg_tmp/out" && fail "main ran with $assignment"
  expect_eq "$(wc -l < "$mg_tmp/err")" "1" "stderr lines with $assignment"
  local text
  for text in "$@"; do
    expect_contains "$mg_tmp/err" "$text" "message for $assignment"
  done
}

# Control: a valid setting reaches main.
out=$(env MEMGROUP_MAX=1G LD_PRELOAD="$MG_LIB" "$program") || fail "valid MEMGROUP_MAX=1G failed"
expect_eq "$out" "main reached" "valid setting"

check MEMGROUP_MAX=12Q MEMGROUP_MAX 12Q
check MEMGROUP_MAX= MEMGROUP_MAX
check MEMGROUP_HIGH=-1 MEMGROUP_HIGH -1
check MEMGROUP_MIN=99999999999T MEMGROUP_MIN 99999999999T
check MEMGROUP_OOM=sometimes MEMGROUP_OOM sometimes
check MEMGROUP_ENGINE=tcmalloc MEMGROUP_ENGINE tcmalloc
check MEMGROUP_MAXX=1 MEMGROUP_MAXX
# A stats file that cannot be written is refused before main, not lost at
# exit; a writable one is checked without being created early.
check MEMGROUP_STATS=/nonexistent/dir/file "MEMGROUP_STATS='/nonexistent/dir/file'" \
  "cannot write the stats report there" ENOENT
check "MEMGROUP_STATS=$mg_tmp" "MEMGROUP_STATS" EISDIR
out=$(env MEMGROUP_STATS="$mg_tmp/stats.txt" LD_PRELOAD="$MG_LIB" "$program") ||
  fail "a writable MEMGROUP_STATS failed"
expect_eq "$out" "main reached" "writable MEMGROUP_STATS"
expect_contains "$mg_tmp/stats.txt" "memgroup stats pid" "stats written at exit"
pass "malformed MEMGROUP_* variables"
