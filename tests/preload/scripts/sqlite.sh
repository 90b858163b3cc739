#!/usr/bin/env bash
# sqlite3: create a table, insert 10k rows with a recursive CTE, aggregate.
# Usage: sqlite.sh LIBRARY|none
. "$(dirname "$0")/lib.sh"

out=$(mg sqlite3 "$mg_tmp/db.sqlite" "
  create table t(x integer primary key, s text);
  with recursive c(i) as (select 1 union all select i + 1 from c where i < 10000)
  insert into t select i, printf('row%05d', i) from c;
  create index ts on t(s);
  select sum(x), count(distinct s) from t;
  select s from t order by s desc limit 1;
  select count(*) from t where s like 'row0999%';") || fail "sqlite3 exited $?"
expect_eq "$out" "50005000|10000
row10000
10" "sqlite3 output"
pass sqlite3
