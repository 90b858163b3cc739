#!/usr/bin/env bash
# Jobs (docs/preload.md, "Jobs"): jobs inside jobs.
# One case per run:
#   nested        memgroup run inside a job: a child job whose charges also
#                 reach the outer job; either level may refuse; a killed
#                 member is released at both levels
#   nested_protect  --low on a child job: the enclosing job's kill spares
#                 its member and kills a smaller one outside it
# Usage: job_nested.sh MEMGROUP_BINARY LIBRARY PYTHON3 CASE
. "$(dirname "$0")/job_common.sh"

case $case_name in
nested)
  export MG=$memgroup
  # Prints the inner and the outer job's usage in MiB.
  cat > "$mg_tmp/usage2.py" <<'PY'
import os, sys
sys.path.insert(0, os.environ["T"])
from job_usage import job_usage
outer = open(os.environ["T"] + "/outer_path").read().strip()
print(job_usage() >> 20, job_usage(outer) >> 20)
PY
  # An inner job whose member K (40 MiB) is killed with SIGKILL; J then
  # needs K's charge back at the inner level.
  cat > "$mg_tmp/inner3.sh" <<'SH'
"$PY" "$T/eat.py" K 40 "$T/k_ready" "$T/never" > "$T/k.out" &
k=$!
wait_for "$T/k_ready"
"$PY" "$T/usage2.py" > "$T/usage_during"
kill -9 $k
wait $k
"$PY" "$T/eat.py" J 50 > "$T/j.out"
SH
  "$memgroup" run --max 100M --stats "$mg_tmp/outer_stats" -- bash -c '
    echo "$MEMGROUP_JOB" > "$T/outer_path"
    # The inner limit refuses while the outer job has room.
    "$MG" run --max 40M --stats "$T/inner1" -- "$PY" "$T/eat.py" I1 60 \
      > "$T/i1.out"
    # The outer limit refuses a member of the inner job: A holds 70 MiB.
    "$PY" "$T/eat.py" A 70 "$T/a_ready" "$T/a_go" > "$T/a.out" &
    wait_for "$T/a_ready"
    "$MG" run --max 60M --stats "$T/inner2" -- "$PY" "$T/eat.py" I2 50 \
      > "$T/i2.out"
    touch "$T/a_go"
    wait
    "$MG" run --max 80M --stats "$T/inner3" -- bash "$T/inner3.sh"
    # Everything the inner jobs charged is back: 80 MiB fit in the outer.
    "$PY" "$T/eat.py" L 80 > "$T/l.out"' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  for f in i1.out inner1 a.out i2.out inner2 usage_during k.out j.out inner3 \
           l.out outer_stats; do
    echo "== $f"; cat "$mg_tmp/$f"
  done
  cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/i1.out" "I1 MemoryError" "refused by the inner job"
  [ "$(stat_of events.max "$mg_tmp/inner1")" -ge 1 ] ||
    fail "no events.max in the inner job"
  expect_contains "$mg_tmp/a.out" "A held 70 MiB" "the outer member"
  expect_contains "$mg_tmp/i2.out" "I2 MemoryError" "refused by the outer job"
  expect_eq "$(stat_of events.max "$mg_tmp/inner2")" "0" \
    "the inner job did not refuse"
  read -r inner_mib outer_mib < "$mg_tmp/usage_during"
  [ "$inner_mib" -ge 40 ] || fail "inner job usage $inner_mib MiB under 40"
  [ "$outer_mib" -ge 40 ] || fail "outer job usage $outer_mib MiB under 40"
  expect_contains "$mg_tmp/j.out" "J held 50 MiB" "K released in the inner job"
  expect_contains "$mg_tmp/l.out" "L held 80 MiB" "inner jobs released outside"
  [ "$(stat_of events.max "$mg_tmp/outer_stats")" -ge 1 ] ||
    fail "no events.max in the outer job"
  expect_eq "$(stat_of current "$mg_tmp/outer_stats")" "0" "outer current"
  for f in inner1 inner2 inner3; do
    expect_eq "$(stat_of current "$mg_tmp/$f")" "0" "current of $f"
  done
  pass "a job inside a job"
  ;;
nested_protect)
  export MG=$memgroup
  # P (50 MiB) runs in a child job, Q (30 MiB) directly in the outer job;
  # R then grows past the outer max and the outer job's kill picks a victim.
  for low in none 70M; do
    rm -f "$mg_tmp"/p_ready "$mg_tmp"/q_ready "$mg_tmp"/done
    if [ "$low" = none ]; then export LOWOPT=; else export LOWOPT="--low $low"; fi
    "$memgroup" run --max 100M --oom kill --stats "$mg_tmp/stats" -- bash -c '
      "$MG" run $LOWOPT -- "$PY" "$T/eat.py" P 50 "$T/p_ready" "$T/done" \
        > "$T/p.out" &
      p=$!
      wait_for "$T/p_ready"
      "$PY" "$T/eat.py" Q 30 "$T/q_ready" "$T/done" > "$T/q.out" &
      q=$!
      wait_for "$T/q_ready"
      "$PY" "$T/eat.py" R 15 > "$T/r.out"
      touch "$T/done"
      wait $p; ps=$?
      wait $q; qs=$?
      echo "P $ps Q $qs"' > "$mg_tmp/out" 2> "$mg_tmp/err"
    status=$?
    echo "== low $low"; cat "$mg_tmp/out" "$mg_tmp/r.out"; cat "$mg_tmp/err" >&2
    expect_eq "$status" "0" "exit status (low $low)"
    expect_contains "$mg_tmp/r.out" "R held 15 MiB" "the grower (low $low)"
    expect_eq "$(stat_of events.oom_kill "$mg_tmp/stats")" "1" \
      "one kill (low $low)"
    if [ "$low" = none ]; then
      expect_eq "$(cat "$mg_tmp/out")" "P 137 Q 0" "the largest member dies"
    else
      expect_eq "$(cat "$mg_tmp/out")" "P 0 Q 137" "the protected job is spared"
    fi
  done
  pass "a protected child job is spared by the enclosing job's kill"
  ;;
*)
  fail "unknown case $case_name"
  ;;
esac
