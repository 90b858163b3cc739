#!/usr/bin/env bash
# Instructions per operation of the workload shapes (bench/shapes) under
# callgrind, for every allocator of bench/shapes.sh: figures that do not
# depend on the machine's load, to tell a slower fast path from noise.
#
#   scaling_1          thread_scaling 1 shared N
#   working_set        thread_working_set 2 1000 N (N operations per thread
#                      instead of a duration)
#   producer_consumer  producer_consumer N
#   slow_leak          slow_leak N
#       instructions of the allocator's malloc and free, callees included
#       (callgrind_annotate --inclusive=yes), per malloc+free pair, as the
#       difference between a run of N operations and one of 2N, so that an
#       allocator's one-time initialisation inside its first malloc does not
#       count
#   short_lived_child  every instruction of one process, start-up and exit
#       included (the program's own work is the same under every allocator)
#
# usage: bench/shapes_callgrind.sh LIB_MEMGROUP [--out DIR]
#   --out DIR   keep the callgrind files and results.tsv in DIR (default: a
#               temporary directory, removed)
# Environment: SHAPES_DIR (as bench/shapes.sh), MEMGROUP_MAX_SETTING
# (default 4G). Needs valgrind. About 10 minutes.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( ${1:-2} == 0 ? 1 : 2 ))
  exit "${1:-2}"
}

out="" lib=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || { echo "--out needs an argument" >&2; usage; }; out=$2; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) [[ -z "$lib" ]] || { echo "one LIB_MEMGROUP only" >&2; usage; }; lib=$1 ;;
  esac
  shift
done
[[ -n "$lib" ]] || usage
lib=$(readlink -f "$lib")
[[ -f "$lib" ]] || { echo "no such library: $lib" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "missing valgrind" >&2; exit 2; }
shapes=${SHAPES_DIR:-$(dirname "$lib")/bench/shapes}
mg_max=${MEMGROUP_MAX_SETTING:-4G}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/allocators.sh
source "$here/allocators.sh"
stock_check
allocators=("${stock_allocators[@]}" memgroup memgroup_mi)

if [[ -n "$out" ]]; then
  mkdir -p "$out"; dir=$(cd "$out" && pwd)
else
  dir=$(mktemp -d "${TMPDIR:-/tmp}/memgroup-shapes-cg.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
fi
: > "$dir/results.tsv"
for v in $(env | sed -n 's/^\(MEMGROUP_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
unset LD_PRELOAD

# Shape -> "N 2N COMMAND...": the program runs with N appended, then 2N;
# the difference is 2N - N operations (per thread: working_set has two).
names=(scaling_1 working_set producer_consumer slow_leak short_lived_child)
declare -A command=(
  [scaling_1]="100000 200000 $shapes/thread_scaling 1 shared"
  [working_set]="102400 204800 $shapes/thread_working_set 2 1000"
  [producer_consumer]="100000 200000 $shapes/producer_consumer"
  [slow_leak]="200000 400000 $shapes/slow_leak"
  [short_lived_child]="- - $shapes/short_lived_child"
)

# The inclusive instructions of the functions named malloc and free (the
# largest entry of each name: a name may appear in two objects).
malloc_free_ir() {
  callgrind_annotate --inclusive=yes "$1" 2>/dev/null | awk '
    match($0, /:(malloc|free) \[/) {
      name = substr($0, RSTART + 1, RLENGTH - 3); v = $1; gsub(",", "", v)
      if (v + 0 > best[name]) best[name] = v + 0
    }
    END { print best["malloc"] + best["free"] }'
}

# run_cg FILE CMD...: CMD under callgrind and the allocator in alloc_env.
run_cg() {
  local f=$1; shift
  "${alloc_env[@]}" valgrind --tool=callgrind --callgrind-out-file="$f" "$@" \
    > "$f.stdout" 2> "$f.err"
}

for shape in "${names[@]}"; do
  read -r n1 n2 cmd <<< "${command[$shape]}"
  for alloc in "${allocators[@]}"; do
    echo "callgrind: $shape under $alloc" >&2
    allocator_env "$alloc" "$lib" "$mg_max"
    f=$dir/$shape-$alloc
    value=error
    # shellcheck disable=SC2086  # the command is words on purpose
    if [[ $shape == short_lived_child ]]; then
      if run_cg "$f.out" $cmd; then
        value=$(awk '/^(summary|totals):/ {print $2; exit}' "$f.out")
      fi
    elif run_cg "$f-1.out" $cmd "$n1" && run_cg "$f-2.out" $cmd "$n2"; then
      threads=1
      [[ $shape == working_set ]] && threads=2
      value=$(awk -v i1="$(malloc_free_ir "$f-1.out")" -v i2="$(malloc_free_ir "$f-2.out")" \
                  -v n="$(( (n2 - n1) * threads ))" 'BEGIN { printf "%.1f", (i2 - i1) / n }')
    fi
    [[ $value == error ]] && echo "  failed (see $f*.err)" >&2
    printf '%s\t%s\t%s\n' "$shape" "$alloc" "$value" >> "$dir/results.tsv"
  done
done

python3 - "$dir/results.tsv" "${allocators[@]}" <<'PY'
import sys
path, allocs = sys.argv[1], sys.argv[2:]
stock = allocs[:4]
vals = {}
order = []
for line in open(path):
    shape, alloc, v = line.rstrip("\n").split("\t")
    if shape not in order:
        order.append(shape)
    vals[(shape, alloc)] = None if v == "error" else float(v)
print("Instructions per malloc+free pair (short_lived_child: per process), "
      "under callgrind; ratios are memgroup's over the fewest of the stock "
      "allocators.\n")
print("| shape | " + " | ".join(allocs) + " | fewest stock | memgroup/fewest | memgroup_mi/fewest |")
print("|---|" + "---|" * (len(allocs) + 3))
for s in order:
    row = [vals.get((s, a)) for a in allocs]
    present = [a for a in stock if vals.get((s, a)) is not None]
    top = min(present, key=lambda a: vals[(s, a)]) if present else None
    def ratio(m):
        v = vals.get((s, m))
        return "n/a" if v is None or top is None else "%.2fx" % (v / vals[(s, top)])
    fmt = lambda v: "n/a" if v is None else ("{:,.0f}".format(v) if v >= 10000 else "%.1f" % v)
    print("| %s | %s | %s | %s | %s |" % (s, " | ".join(fmt(v) for v in row),
                                          top or "n/a", ratio("memgroup"), ratio("memgroup_mi")))
PY
