#!/usr/bin/env bash
# Compares memgroup on both engines (LD_PRELOAD=libmemgroup.so, MEMGROUP_MAX=4G
# so a limit is set; MEMGROUP_ENGINE=jemalloc as "memgroup", mimalloc as
# "memgroup_mi") with glibc and Debian's stock jemalloc, mimalloc and tcmalloc:
#   1. bench/malloc_benchmark (Google Benchmark, links nothing of memgroup)
#      under every allocator, in interleaved rounds; min ns/op per benchmark;
#   2. real programs (python3 with PYTHONMALLOC=malloc as "python" and with
#      its own pymalloc as "python_pymalloc", sqlite3, perl, git,
#      redis-server + redis-benchmark), interleaved rounds; min and median wall time,
#      median peak RSS, max redis requests/s;
#   3. callgrind instructions per malloc(64)+free pair,
#      (Ir(2N) - Ir(N)) / N, with bench/malloc_loop_callgrind.
# Records the run's setup (command line, library source commit, machine) in
# DIR/meta.txt and prints bench/report.py's tables of DIR: absolute values
# and the ratios memgroup/jemalloc, memgroup/glibc and memgroup_mi/mimalloc,
# and the programs against the targets (peak RSS within 1.10x + 2 MiB of
# stock jemalloc for memgroup and of stock mimalloc for memgroup_mi, wall
# time within 1.05x of stock mimalloc for memgroup_mi). docs/perf.md's tables
# and chart come from `bench/report.py --chart docs/perf.svg DIR`.
#
# usage: bench/compare_allocators.sh [options] LIB_MEMGROUP
#   --quick          ~2 minutes: 2 short micro rounds, 1 program round,
#                    smaller callgrind N (default: 3 rounds of everything)
#   --rounds N       rounds for the micro benchmarks and the programs
#   --out DIR        keep raw results in DIR (default: a temp dir, removed)
#   --no-micro | --no-programs | --no-callgrind   skip a part
#   --callgrind-lib LIB   memgroup library for the callgrind part only
# Environment: MALLOC_BENCHMARK, MALLOC_LOOP (binaries; default: next to
# LIB_MEMGROUP in bench/), PYTHON (default /usr/bin/python3, not a pyenv
# shim), MEMGROUP_MAX_SETTING (default 4G).
# Needs: /usr/bin/time (Debian package `time`), valgrind for part 3,
# redis-server and redis-benchmark for redis (skipped if absent).
set -euo pipefail

# usage [STATUS]: the header comment, then exit STATUS: 0 for -h/--help (on
# stdout), else 2, a usage error (on stderr).
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( ${1:-2} == 0 ? 1 : 2 ))
  exit "${1:-2}"
}
# need_arg OPTION ARGC: an option's value is missing.
need_arg() { [[ $2 -ge 2 ]] || { echo "$1 needs an argument" >&2; usage; }; }

quick=0 rounds="" out="" cg_lib="" do_micro=1 do_programs=1 do_callgrind=1
cmdline=$(printf '%q ' "$0" "$@"); cmdline=${cmdline% }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) need_arg "$1" $#; rounds="$2"; shift ;;
    --out) need_arg "$1" $#; out="$2"; shift ;;
    --no-micro) do_micro=0 ;;
    --no-programs) do_programs=0 ;;
    --no-callgrind) do_callgrind=0 ;;
    --callgrind-lib) need_arg "$1" $#; cg_lib=$(readlink -f "$2"); shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
  shift
done
[[ $# -eq 1 ]] || usage
lib_memgroup=$(readlink -f "$1")
[[ -f "$lib_memgroup" ]] || { echo "no such library: $1" >&2; exit 2; }
bindir=$(dirname "$lib_memgroup")/bench
bench=${MALLOC_BENCHMARK:-$bindir/malloc_benchmark}
loop=${MALLOC_LOOP:-$bindir/malloc_loop_callgrind}
python=${PYTHON:-/usr/bin/python3}
mg_max=${MEMGROUP_MAX_SETTING:-4G}
[[ -x "$bench" ]] || { echo "missing $bench (build target malloc_benchmark)" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 2; }

if [[ $quick -eq 1 ]]; then
  micro_rounds=${rounds:-2} prog_rounds=${rounds:-1} min_time=0.1 cg_n=100000
else
  micro_rounds=${rounds:-3} prog_rounds=${rounds:-3} min_time=0.5 cg_n=500000
fi

# shellcheck source=bench/allocators.sh
source "$(dirname "$0")/allocators.sh"
stock_check
names=("${stock_allocators[@]}" memgroup memgroup_mi)
declare -A preload=([memgroup]=$lib_memgroup [memgroup_mi]=$lib_memgroup)
for n in "${stock_allocators[@]}"; do preload[$n]=${stock_preload[$n]}; done

# Sets alloc_env to the `env` command line that runs a program under
# allocator $1 (memgroup's library is preload[memgroup], which the callgrind
# part may replace).
alloc_env() { allocator_env "$1" "${preload[$1]}" "$mg_max"; }

# Runs "$@" under allocator $1.
with_alloc() {
  alloc_env "$1"; shift
  "${alloc_env[@]}" "$@"
}

# The allocators of round $1, rotated so that no allocator always runs first.
round_order() {
  local r=$1 k=${#names[@]} i
  for ((i = 0; i < k; i++)); do echo "${names[$(((r + i) % k))]}"; done
}

if [[ -n "$out" ]]; then
  mkdir -p "$out"; out=$(readlink -f "$out")
else
  out=$(mktemp -d); tmp_out=$out; trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out/micro" "$out/callgrind"
: > "$out/programs.csv"
: > "$out/callgrind.csv"
start=$SECONDS
here=$(cd "$(dirname "$0")" && pwd)

# ------------------------------------------------------------- 0. the run
# meta.txt, `key: value` lines for bench/report.py. The library's source
# tree is the one its build directory was configured from (CMakeCache.txt),
# else the git repository holding the library file.
cmake_cache_value() {  # KEY: its value in the library's CMakeCache.txt
  local cache
  cache=$(dirname "$lib_memgroup")/CMakeCache.txt
  [[ -f "$cache" ]] && sed -n "s/^$1:[A-Z]*=//p" "$cache" | head -1
  return 0
}
library_commit() {
  local src
  src=$(cmake_cache_value CMAKE_HOME_DIRECTORY)
  [[ -n "$src" ]] || src=$(dirname "$lib_memgroup")
  local rev
  rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null) || { echo unknown; return; }
  # Uncommitted edits to the library's sources may be in the measured build.
  if [[ -n $(git -C "$src" status --porcelain --untracked-files=no -- \
               ':(top)src' ':(top)preload' ':(top)include' ':(top)cmake' \
               ':(top)CMakeLists.txt' 2>/dev/null) ]]; then
    rev="$rev (with uncommitted changes to the library's sources)"
  fi
  echo "$rev"
}
{
  echo "command: $cmdline"
  echo "date: $(date -u '+%Y-%m-%d %H:%M')"
  echo "commit: $(library_commit)"
  echo "library: $lib_memgroup"
  cxx=$(cmake_cache_value CMAKE_CXX_COMPILER)
  if [[ -n "$cxx" ]]; then
    echo "compiler: $("$cxx" --version 2>/dev/null | head -1), $(cmake_cache_value CMAKE_BUILD_TYPE)"
  fi
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "nproc: $(nproc)"
  echo "memory: $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "allocators: $(stock_versions)"
  echo "settings: micro_rounds=$micro_rounds programs_rounds=$prog_rounds min_time=$min_time callgrind_n=$cg_n memgroup_max=$mg_max micro=$do_micro programs=$do_programs callgrind=$do_callgrind${cg_lib:+ callgrind_lib=$cg_lib}"
  echo "load_start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/meta.txt"

# ---------------------------------------------------------------- 1. micro
if [[ $do_micro -eq 1 ]]; then
  for ((r = 0; r < micro_rounds; r++)); do
    for a in $(round_order $r); do
      echo "micro round $((r + 1))/$micro_rounds: $a" >&2
      with_alloc "$a" "$bench" --benchmark_min_time="$min_time" \
        --benchmark_format=json --benchmark_out_format=json \
        --benchmark_out="$out/micro/$r-$a.json" >/dev/null 2>"$out/micro/$r-$a.err"
    done
  done
fi

# ------------------------------------------------------------- 2. programs
read -r -d '' py_workload <<'EOF' || true
d = {}
for r in range(6):
    for i in range(200000):
        d[i] = [str(i), (i, i * 2), {"k": i}]
    lst = [v[0] * 3 for v in d.values()]
    d.clear()
    del lst
EOF
sqlite_sql="CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c INTEGER);
WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 200000)
INSERT INTO t SELECT x, hex(randomblob(16)), x % 1000 FROM s;
CREATE INDEX tb ON t(b);
SELECT count(*), sum(length(b)), count(DISTINCT c) FROM t;
SELECT c, count(*), max(b) FROM t GROUP BY c ORDER BY 2 DESC, 1 LIMIT 3;"
perl_prog='my %h; $h{$_} = "v$_" for 1..1000000; my $s = 0; $s += length($h{$_}) for keys %h; print "$s\n"'

# time_prog ROUND ALLOC NAME CMD...: wall seconds and peak RSS (KiB, the max
# over the process and its children) appended to programs.csv.
time_prog() {
  local r=$1 a=$2 name=$3; shift 3
  local tf="$out/time.txt" t0 t1
  # Wall time from bash's microsecond clock: /usr/bin/time's %e has 10 ms
  # steps, too coarse for sqlite3's 0.23 s (one step is 4%).
  # The allocator is preloaded into the program only, not into
  # /usr/bin/time, whose own start-up would otherwise count too.
  alloc_env "$a"
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -o "$tf" -f '%M' "${alloc_env[@]}" "$@" >/dev/null 2>"$out/prog.err"; then
    echo "FAILED: $name under $a (see below)" >&2; tail -5 "$out/prog.err" >&2
    echo "$r,$a,$name,failed,1" >> "$out/programs.csv"
    return 0
  fi
  t1=$EPOCHREALTIME
  read -r rss < <(tail -1 "$tf")
  local wall=$(( ${t1/[.,]/} - ${t0/[.,]/} ))  # microseconds
  printf '%s,%s,%s,wall_s,%d.%06d\n' "$r" "$a" "$name" $((wall / 1000000)) $((wall % 1000000)) >> "$out/programs.csv"
  echo "$r,$a,$name,rss_kib,$rss" >> "$out/programs.csv"
}

# The git workload runs on tmpfs when there is one: on disk its time is
# dominated by ext4 writeback (measured: the first run of a round 0.5 s, the
# following ones 2.0-2.2 s whatever the allocator).
if [[ -d /dev/shm && -w /dev/shm ]]; then
  gitdir=$(mktemp -d /dev/shm/mg-bench-git.XXXXXX)
  trap 'rm -rf "$gitdir"; if [[ -n "${tmp_out:-}" ]]; then rm -rf "$tmp_out"; fi' EXIT
else
  gitdir="$out/gitrepo"
fi
make_git_tree() {
  local d f
  rm -rf "$gitdir"; mkdir -p "$gitdir/src"
  for ((d = 0; d < 20; d++)); do
    mkdir -p "$gitdir/src/d$d"
    for ((f = 0; f < 100; f++)); do
      printf 'file %d %d\n%s\n' "$d" "$f" "$(seq "$f" $((f + 40)) | tr '\n' ' ')" \
        > "$gitdir/src/d$d/f$f.txt"
    done
  done
  cat > "$out/git_workload.sh" <<'EOF'
set -e
cd "$1"
# Every run starts from the same tree (a repository left by the previous
# run would make each run slower than the one before).
rm -rf .git src/d*/extra.txt
g() { git -c user.name=bench -c user.email=bench@example.com -c gc.auto=0 "$@"; }
g init -q
g add -A
g commit -q -m init
for i in 1 2 3 4 5; do
  echo "change $i" > "src/d$i/extra.txt"
  g add "src/d$i/extra.txt"
  g commit -q -m "c$i"
done
g fsck --full 2>/dev/null
g log --stat >/dev/null
g gc -q
EOF
}

# redis ROUND ALLOC: server under the allocator, client unpreloaded (glibc).
run_redis() {
  local r=$1 a=$2 sock="$out/redis/r.sock" pid rss i
  mkdir -p "$out/redis"; rm -f "$sock"
  # `env` execs redis-server, so $! is the server's pid.
  alloc_env "$a"
  "${alloc_env[@]}" redis-server --port 0 --unixsocket "$sock" --save '' \
    --appendonly no --logfile "$out/redis/log" >/dev/null 2>&1 &
  pid=$!
  for ((i = 0; i < 100; i++)); do [[ -S "$sock" ]] && break; sleep 0.05; done
  if [[ ! -S "$sock" ]]; then
    echo "FAILED: redis-server under $a did not start" >&2
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    echo "$r,$a,redis,failed,1" >> "$out/programs.csv"
    return 0
  fi
  redis-benchmark -s "$sock" -n 50000 -t set,get -q 2>/dev/null | tr '\r' '\n' \
    | awk -v r="$r" -v a="$a" '/requests per second/ {
        sub(":", "", $1); print r "," a ",redis," tolower($1) "_rps," $2 }' \
    >> "$out/programs.csv"
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  echo "$r,$a,redis,rss_kib,$rss" >> "$out/programs.csv"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

if [[ $do_programs -eq 1 ]]; then
  # python_pymalloc runs with Python's default allocator.
  unset PYTHONMALLOC
  make_git_tree
  have_redis=0
  command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null && have_redis=1
  for ((r = 0; r < prog_rounds; r++)); do
    for a in $(round_order $r); do
      echo "programs round $((r + 1))/$prog_rounds: $a" >&2
      PYTHONMALLOC=malloc time_prog "$r" "$a" python "$python" -c "$py_workload"
      # Python's own small-object allocator (its default): arenas of 1 MiB
      # from mmap, only blocks above 512 bytes through malloc.
      time_prog "$r" "$a" python_pymalloc "$python" -c "$py_workload"
      time_prog "$r" "$a" sqlite3 sqlite3 :memory: "$sqlite_sql"
      time_prog "$r" "$a" perl perl -e "$perl_prog"
      rm -rf "$gitdir/.git" "$gitdir"/src/*/extra.txt
      time_prog "$r" "$a" git sh "$out/git_workload.sh" "$gitdir"
      [[ $have_redis -eq 1 ]] && run_redis "$r" "$a"
    done
  done
fi

# ------------------------------------------------------------ 3. callgrind
# memgroup reserves 1 TiB of address space at init, more than valgrind's
# address-space manager gives a client; it halves the reservation until one
# fits (32 GiB under valgrind 3.19), so the normal build runs here.
# --callgrind-lib still names another build for this part if wanted.
if [[ $do_callgrind -eq 1 ]]; then
  if ! command -v valgrind >/dev/null || [[ ! -x "$loop" ]]; then
    echo "skipping callgrind (valgrind or $loop missing)" >&2
  else
    saved_memgroup=${preload[memgroup]}
    preload[memgroup]=${cg_lib:-$saved_memgroup}
    preload[memgroup_mi]=${preload[memgroup]}
    for a in "${names[@]}"; do
      for mode in malloc new sized fresh; do
        for n in "$cg_n" $((2 * cg_n)); do
          echo "callgrind: $a $mode $n" >&2
          f="$out/callgrind/$a-$mode-$n.out"
          args=("$mode" "$n")
          [[ $mode == fresh ]] && args=(malloc "$n" fresh)
          with_alloc "$a" valgrind --tool=callgrind --callgrind-out-file="$f" \
            "$loop" "${args[@]}" >/dev/null 2>"$f.err" || true
          ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$f" 2>/dev/null || true)
          if grep -q '^memgroup:' "$f.err"; then
            echo "callgrind: $a failed: $(grep -m1 '^memgroup:' "$f.err")" >&2
            ir=""
          fi
          echo "$a,$mode,$n,$ir" >> "$out/callgrind.csv"
          [[ -n "$ir" ]] && callgrind_annotate --inclusive=no --threshold=100 "$f" \
            > "$f.annotate" 2>/dev/null || true
        done
      done
    done
    preload[memgroup]=$saved_memgroup
    preload[memgroup_mi]=$saved_memgroup
  fi
fi

# -------------------------------------------------------------- 4. report
echo "load_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/meta.txt"
echo "elapsed_s: $((SECONDS - start))" >> "$out/meta.txt"
echo "elapsed: $((SECONDS - start)) s; raw results in $out" >&2
"$here/report.py" --details "$out"
