#!/usr/bin/env bash
# Under a small address-space limit (ulimit -v 200000, 195 MiB) the library
# still starts, silently unless MEMGROUP_STATS is set; then it says how much
# it reserved. A program that allocates past the reservation gets NULL and
# ENOMEM (reserve_exhaust), recovers after freeing, and one line on stderr
# says the reservation is used up.
# Usage: ulimit_small.sh LIBRARY RESERVE_EXHAUST HELLO
. "$(dirname "$0")/lib.sh"
require_lib
reserve_exhaust=$1
hello=$2
ulimit -v 200000 || fail "ulimit -v 200000"
# The program itself fits (checked without the library).
"$hello" > /dev/null || fail "hello does not start under ulimit -v 200000"

# No line on a normal start.
mg "$hello" > "$mg_tmp/out" 2> "$mg_tmp/err" || fail "preloaded hello exited $?"
[ -s "$mg_tmp/err" ] && { cat "$mg_tmp/err" >&2; fail "stderr not empty"; }

# With MEMGROUP_STATS, the reservation's size.
MEMGROUP_STATS=$mg_tmp/stats mg "$hello" > "$mg_tmp/out" 2> "$mg_tmp/err" ||
  fail "preloaded hello with MEMGROUP_STATS exited $?"
expect_contains "$mg_tmp/err" "of address space for the heap" "reservation line"
expect_contains "$mg_tmp/err" "RLIMIT_AS is 195 MiB" "reservation line"

# Past the reservation (about 88 MiB): ENOMEM, not a crash (no group limit).
MEMGROUP_MAX=max mg "$reserve_exhaust" 190 > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" 0 "exit status of reserve_exhaust"
expect_contains "$mg_tmp/out" "reserve_exhaust: OK" "reserve_exhaust"
expect_contains "$mg_tmp/err" "address-space reservation of" "exhaustion line"
expect_contains "$mg_tmp/err" "fail with ENOMEM" "exhaustion line"
pass "ulimit -v 200000"
