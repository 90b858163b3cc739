#!/usr/bin/env bash
# Runtimes that reserve address space run under `memgroup run --max`:
# mappings are charged by commit accounting, so reservations (PROT_NONE,
# MAP_NORESERVE) cost nothing.
#   node: V8 reserves its code range and cage; --max 256M.
#   ruby: -e 'puts 1' at --max 64M; the mappings charged are at most what
#         the kernel commits for them (private writable anonymous).
#   java: the JVM reserves its heap and a 1 GiB compressed class space;
#         --max 1G (-Xms64m so the committed heap does not depend on RAM).
# Usage: cli_runtime.sh MEMGROUP_BINARY LIBRARY node|ruby|java PROGRAM
memgroup=$1
library=$2
runtime=$3
program=$4
set -- "$library"
. "$(dirname "$0")/lib.sh"
cli_job_env

stats=$mg_tmp/stats
stat() { awk -v k="$1" '$1 == k { print $2; exit }' "$stats"; }

case $runtime in
  node)
    "$memgroup" run --max 256M --stats "$stats" -- "$program" -e '
      const a = [];
      for (let i = 0; i < 1000; i++) a.push(Buffer.alloc(1024, i % 256));
      console.log("node ok", a.length, a[999][0]);
    ' > "$mg_tmp/out" 2> "$mg_tmp/err"
    status=$?
    cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
    expect_eq "$status" "0" "node exit status"
    expect_contains "$mg_tmp/out" "node ok 1000 231" "node output"
    ;;
  ruby)
    "$memgroup" run --max 64M --stats "$stats" -- "$program" -e 'puts 1' \
      > "$mg_tmp/out" 2> "$mg_tmp/err"
    status=$?
    cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
    expect_eq "$status" "0" "ruby exit status"
    expect_eq "$(head -1 "$mg_tmp/out")" "1" "ruby output"
    # What is charged for mappings, from the process's own stats (a job's
    # stats are the job's totals).
    env LD_PRELOAD="$MG_LIB" MEMGROUP_MAX=64M MEMGROUP_STATS="$mg_tmp/pstats" \
      "$program" -e '
      rw = File.readlines("/proc/self/maps").sum do |l|
        f = l.split
        next 0 unless f[1] == "rw-p" && f.size == 5
        lo, hi = f[0].split("-").map { |x| x.to_i(16) }
        hi - lo
      end
      puts "anon_rw #{rw}"
      puts File.read("/proc/self/status")[/^VmRSS.*/]
    ' > "$mg_tmp/out" 2> "$mg_tmp/err"
    expect_eq "$?" "0" "preloaded ruby exit status"
    anon_rw=$(awk '$1 == "anon_rw" { print $2 }' "$mg_tmp/out")
    mmap=$(awk '$1 == "stat.mmap" { print $2; exit }' "$mg_tmp/pstats")
    [ -n "$mmap" ] || fail "no stat.mmap line"
    echo "ruby: stat.mmap $mmap anon rw-p $anon_rw"
    [ "$mmap" -le "$anon_rw" ] ||
      fail "mappings charged $mmap > committed anonymous $anon_rw"
    ;;
  java)
    "$memgroup" run --max 1G --stats "$stats" -- "$program" -Xms64m \
      -version > "$mg_tmp/out" 2> "$mg_tmp/err"
    status=$?
    cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
    expect_eq "$status" "0" "java exit status"
    expect_contains "$mg_tmp/err" "OpenJDK" "java -version output"
    ;;
  *)
    fail "unknown runtime $runtime"
    ;;
esac
for key in current peak max events.oom; do
  [ -n "$(stat "$key")" ] || fail "no $key line in the stats"
  echo "$runtime: $key $(stat "$key")"
done
pass "$runtime under memgroup run"
