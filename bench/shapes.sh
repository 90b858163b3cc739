#!/usr/bin/env bash
# Runs the workload-shape programs of bench/shapes under glibc, Debian's
# stock jemalloc, mimalloc and tcmalloc, and memgroup on both engines
# (LD_PRELOAD of LIB_MEMGROUP with MEMGROUP_MAX=4G, so a limit is set;
# MEMGROUP_ENGINE=jemalloc as "memgroup", mimalloc as "memgroup_mi"; the
# list is bench/allocators.sh), in interleaved rounds: a round runs every
# shape under every allocator, one shape after the other, the allocators'
# order rotated from round to round. Each run also records the program's
# minor page faults and peak RSS (/usr/bin/time, children included). Then
# prints bench/shapes_report.py's tables: the median per allocator,
# memgroup's cost against the best stock allocator, stock jemalloc and
# glibc, the spread of the rounds and the minor faults.
#
# Shapes (each program prints one "result METRIC VALUE" line):
#   large_blocks        5-25 MiB blocks, touched page by page, 4 alive: wall s
#   working_set         glibc bench-malloc-thread shape, 2 threads, 1 s: ops/s
#   producer_consumer   64-byte blocks freed by another thread: frees/s
#   slow_leak           a growing fraction of blocks kept: wall s
#   short_lived         300 fork+exec of a tiny allocating program: wall s
#   scaling_T_MODE      T = 1, 2, 4 threads of small malloc/free, in one
#                       memgroup group (shared) or one each (separate; not
#                       run under the stock allocators): ops/s
#
# usage: bench/shapes.sh LIB_MEMGROUP [--rounds N] [--out DIR] [--shapes LIST]
#   --rounds N     interleaved rounds (default 5)
#   --out DIR      keep the raw results (results.tsv, meta.txt) in DIR
#                  (default: a temporary directory, removed);
#                  `bench/shapes_report.py DIR` prints the tables again
#   --shapes LIST  comma-separated shape names (default: all of them)
# Environment: SHAPES_DIR (the shape programs; default: bench/shapes next to
# LIB_MEMGROUP in the build tree), MEMGROUP_MAX_SETTING (default 4G).
# Needs: /usr/bin/time (Debian package `time`).
set -euo pipefail

# usage [STATUS]: the header comment, then exit STATUS: 0 for -h/--help (on
# stdout), else 2, a usage error (on stderr).
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( ${1:-2} == 0 ? 1 : 2 ))
  exit "${1:-2}"
}
need_arg() { [[ $2 -ge 2 ]] || { echo "$1 needs an argument" >&2; usage; }; }

rounds=5 out="" lib="" only=""
cmdline=$(printf '%q ' "$0" "$@"); cmdline=${cmdline% }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) need_arg "$1" $#; rounds=$2; shift ;;
    --out) need_arg "$1" $#; out=$2; shift ;;
    --shapes) need_arg "$1" $#; only=$2; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) [[ -z "$lib" ]] || { echo "one LIB_MEMGROUP only" >&2; usage; }; lib=$1 ;;
  esac
  shift
done
[[ -n "$lib" ]] || usage
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds must be a positive integer" >&2; usage; }
lib=$(readlink -f "$lib")
[[ -f "$lib" ]] || { echo "no such library: $lib" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 2; }
shapes=${SHAPES_DIR:-$(dirname "$lib")/bench/shapes}
mg_max=${MEMGROUP_MAX_SETTING:-4G}
for p in large_blocks thread_working_set producer_consumer slow_leak \
         short_lived short_lived_child thread_scaling; do
  [[ -x "$shapes/$p" ]] || { echo "missing $shapes/$p (build the bench targets)" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/allocators.sh
source "$here/allocators.sh"
stock_check
allocators=("${stock_allocators[@]}" memgroup memgroup_mi)

# Shape name -> command line (the programs' defaults fix the work size).
names=(large_blocks working_set producer_consumer slow_leak short_lived)
declare -A command=(
  [large_blocks]="$shapes/large_blocks"
  [working_set]="$shapes/thread_working_set 2 1000"
  [producer_consumer]="$shapes/producer_consumer"
  [slow_leak]="$shapes/slow_leak"
  [short_lived]="$shapes/short_lived $shapes/short_lived_child"
)
for t in 1 2 4; do
  for mode in shared separate; do
    names+=("scaling_${t}_$mode")
    command["scaling_${t}_$mode"]="$shapes/thread_scaling $t $mode"
  done
done
if [[ -n "$only" ]]; then
  IFS=, read -r -a chosen <<< "$only"
  for s in "${chosen[@]}"; do
    [[ -n "${command[$s]:-}" ]] || { echo "unknown shape '$s' in --shapes (known: ${names[*]})" >&2; usage; }
  done
  names=("${chosen[@]}")
fi

if [[ -n "$out" ]]; then
  mkdir -p "$out"; dir=$(cd "$out" && pwd)
else
  dir=$(mktemp -d "${TMPDIR:-/tmp}/memgroup-shapes.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
fi
results=$dir/results.tsv
: > "$results"

# No MEMGROUP_* setting of the caller's may reach a run.
for v in $(env | sed -n 's/^\(MEMGROUP_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset LD_PRELOAD

src=$(cd "$here/.." && pwd)
{
  echo "command: $cmdline"
  echo "date: $(date -u '+%Y-%m-%d %H:%M')"
  echo "commit: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
    git -C "$src" diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)')"
  echo "library: LD_PRELOAD=$lib MEMGROUP_MAX=$mg_max"
  echo "cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "nproc: $(nproc)"
  echo "memory: $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel: $(uname -sr)"
  echo "allocators: $(stock_versions)"
  echo "rounds: $rounds"
  echo "load_start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$dir/meta.txt"

# run_one ROUND SHAPE ALLOCATOR: one run, one line in results.tsv:
# round, shape, allocator, metric, value, minor faults, peak RSS (KiB).
run_one() {
  local round=$1 shape=$2 alloc=$3 line metric value faults rss
  allocator_env "$alloc" "$lib" "$mg_max"
  # The allocator is preloaded into the program only, not into /usr/bin/time.
  # shellcheck disable=SC2086  # the command is words on purpose
  if line=$(timeout 600 /usr/bin/time -o "$dir/time.last" -f '%R %M' \
              "${alloc_env[@]}" ${command[$shape]} 2>"$dir/stderr.last" |
            grep '^result ' | tail -1) && [[ -n "$line" ]]; then
    read -r _ metric value <<< "$line"
    read -r faults rss < <(tail -1 "$dir/time.last")
  else
    metric=error value=error faults=error rss=error
    echo "  $shape under $alloc failed:" >&2; cat "$dir/stderr.last" >&2
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$shape" "$alloc" "$metric" "$value" \
    "$faults" "$rss" >> "$results"
}

start=$SECONDS
k=${#allocators[@]}
for ((r = 0; r < rounds; ++r)); do
  echo "round $((r + 1)) of $rounds" >&2
  for shape in "${names[@]}"; do
    for ((i = 0; i < k; ++i)); do
      alloc=${allocators[$(((r + i) % k))]}
      # Separate groups exist only under memgroup.
      [[ $shape == *_separate && $alloc != memgroup* ]] && continue
      run_one "$((r + 1))" "$shape" "$alloc"
    done
  done
done
echo "load_end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$dir/meta.txt"
echo "elapsed_s: $((SECONDS - start))" >> "$dir/meta.txt"

"$here/shapes_report.py" "$dir"
