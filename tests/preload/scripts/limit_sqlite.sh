#!/usr/bin/env bash
# sqlite3 under MEMGROUP_MAX (set by the caller, e.g. 8M): a recursive CTE
# that doubles a string must fail with "out of memory" and a nonzero status,
# and a small query in the same run must still work first.
# Usage: limit_sqlite.sh LIBRARY
. "$(dirname "$0")/lib.sh"
require_lib

mg sqlite3 :memory: "
  select 'small ok', count(*) from (with recursive c(i) as
    (select 1 union all select i + 1 from c where i < 1000) select i from c);
  with recursive c(i, s) as (select 1, 'x' union all
    select i + 1, s || s from c where i < 29)
  select max(length(s)) from c;" > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
[ "$status" -ne 0 ] || fail "sqlite3 exited 0 under the limit"
expect_contains "$mg_tmp/out" "small ok|1000" "sqlite3 small query"
expect_contains "$mg_tmp/err" "out of memory" "sqlite3 error"
pass "sqlite3 out of memory under a limit"
