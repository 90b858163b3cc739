#!/usr/bin/env bash
# MEMGROUP_FAULT on a real program: with a fraction of its allocation calls
# failing (several probabilities and seeds), the program ends normally or
# with its own out-of-memory error, never by a crash. The same seed fails the
# same calls: a deterministic program run twice gives the same result.
# Usage: fault_programs.sh LIBRARY python|sqlite3|perl PROGRAM
. "$(dirname "$0")/lib.sh"
require_lib
kind=$1
program=$2

# The program's own hash randomisation would change its allocation sequence.
export PYTHONHASHSEED=0 PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0
case $kind in
  python)
    cmd=("$program" -c '
d = {}
for i in range(100000): d[i] = str(i) * 3
print("done", len(d))')
    # MemoryError, or CPython'"'"'s own fatal "out of memory" before its
    # exception types exist (Py_FatalError, which aborts by design).
    oom='MemoryError|out of memory|NoMemory|memory allocation failed'
    own_abort='Fatal Python error'
    ;;
  sqlite3)
    cmd=("$program" :memory: "create table t(a, b);
      with recursive c(i) as (select 1 union all select i + 1 from c
        where i < 20000) insert into t select i, printf('%040d', i) from c;
      create index ti on t(b); select 'done', count(*) from t;")
    oom='out of memory'
    own_abort=
    ;;
  perl)
    cmd=("$program" -e 'my %h; $h{$_} = "x" x 20 for 1 .. 100000;
      print "done ", scalar(keys %h), "\n"')
    oom='Out of memory!'
    own_abort=
    ;;
  *) fail "unknown program kind '$kind'" ;;
esac

run() {  # run P SEED OUT: one run under fault injection; prints the status
  env MEMGROUP_FAULT="$1" MEMGROUP_FAULT_SEED="$2" MEMGROUP_STATS=stderr \
    "${mg_prefix[@]}" "${cmd[@]}" > "$3.out" 2> "$3.err"
  echo $?
}

outcomes=""
for p in 0.001 0.003 0.01; do
  for seed in 1 2 3; do
    base="$mg_tmp/run-$p-$seed"
    status=$(run "$p" "$seed" "$base")
    faults=$(awk '$1 == "stat.fault_injected" {print $2; exit}' "$base.err")
    if [ "$status" -ge 128 ]; then
      if [ -n "$own_abort" ] && [ "$status" -eq 134 ] &&
         grep -q "$own_abort" "$base.err" && grep -Eiq "$oom" "$base.err"; then
        outcome="own-oom-abort"
      else
        cat "$base.err" >&2
        fail "$kind crashed (status $status) with MEMGROUP_FAULT=$p seed $seed"
      fi
    elif [ "$status" -eq 0 ]; then
      expect_contains "$base.out" "done" "$kind output (p=$p seed=$seed)"
      outcome="normal"
    else
      if ! grep -Eiq "$oom" "$base.err" "$base.out"; then
        cat "$base.err" >&2
        fail "$kind exited $status without its out-of-memory error (p=$p seed=$seed)"
      fi
      outcome="oom"
    fi
    # Calls did fail (the stats report comes from the library at exit; an
    # abort skips it).
    if [ -n "$faults" ] && [ "$faults" -eq 0 ] && [ "$outcome" != normal ]; then
      fail "$kind failed with no injected fault (p=$p seed=$seed)"
    fi
    echo "p=$p seed=$seed: status $status, $outcome, ${faults:-?} faults"
    outcomes="$outcomes $outcome"
  done
done
case $outcomes in
  *oom*) ;;
  *) fail "$kind never met an injected fault:$outcomes" ;;
esac

# Same seed, same failures (sqlite3 is deterministic given its input).
if [ "$kind" = sqlite3 ]; then
  a=$(run 0.003 7 "$mg_tmp/again-a")
  b=$(run 0.003 7 "$mg_tmp/again-b")
  expect_eq "$b" "$a" "status of two runs with the same seed"
  expect_eq "$(grep fault_injected "$mg_tmp/again-b.err")" \
            "$(grep fault_injected "$mg_tmp/again-a.err")" \
            "faults of two runs with the same seed"
fi
pass "$kind under MEMGROUP_FAULT"
