#!/usr/bin/env bash
# Runs the workload-shape programs of bench/shapes under glibc, Debian's
# stock jemalloc, mimalloc and tcmalloc, and memgroup (LD_PRELOAD of
# LIB_MEMGROUP with MEMGROUP_MAX=4G, so a limit is set), in interleaved
# rounds (every shape under every allocator, then the next round), and
# prints a table of the best figure per allocator over the rounds, with the
# ratios memgroup/best stock, memgroup/jemalloc and memgroup/glibc. Ratios
# are costs: above 1.0 memgroup is slower (time ratio for wall times,
# inverse rate ratio for rates).
#
# Shapes (each prints one "result METRIC VALUE" line):
#   large_blocks        5-25 MiB blocks, touched page by page, 4 alive: wall s
#   working_set         glibc bench-malloc-thread shape, 2 threads, 1 s: ops/s
#   producer_consumer   64-byte blocks freed by another thread: frees/s
#   slow_leak           a growing fraction of blocks kept: wall s
#   short_lived         300 fork+exec of a tiny allocating program: wall s
#   scaling_T_MODE      T = 1, 2, 4 threads of small malloc/free, in one
#                       memgroup group (shared) or one each (separate; n/a
#                       under the stock allocators): ops/s
#
# usage: bench/shapes.sh LIB_MEMGROUP [--rounds N] [--out DIR]
#   --rounds N   interleaved rounds (default 3)
#   --out DIR    keep the raw results (results.tsv, meta.txt) in DIR
#                (default: a temporary directory, removed)
# Environment: SHAPES_DIR (the shape programs; default: bench/shapes next to
# LIB_MEMGROUP in the build tree), MEMGROUP_MAX_SETTING (default 4G).
set -euo pipefail

# usage [STATUS]: the header comment, then exit STATUS: 0 for -h/--help (on
# stdout), else 2, a usage error (on stderr).
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( ${1:-2} == 0 ? 1 : 2 ))
  exit "${1:-2}"
}
need_arg() { [[ $2 -ge 2 ]] || { echo "$1 needs an argument" >&2; usage; }; }

rounds=3 out="" lib=""
cmdline=$(printf '%q ' "$0" "$@"); cmdline=${cmdline% }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) need_arg "$1" $#; rounds=$2; shift ;;
    --out) need_arg "$1" $#; out=$2; shift ;;
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
shapes=${SHAPES_DIR:-$(dirname "$lib")/bench/shapes}
mg_max=${MEMGROUP_MAX_SETTING:-4G}
for p in large_blocks thread_working_set producer_consumer slow_leak \
         short_lived short_lived_child thread_scaling; do
  [[ -x "$shapes/$p" ]] || { echo "missing $shapes/$p (build the bench targets)" >&2; exit 2; }
done

libdir=/usr/lib/x86_64-linux-gnu
allocators=(glibc jemalloc mimalloc tcmalloc memgroup)
declare -A preload=(
  [glibc]=""
  [jemalloc]=$libdir/libjemalloc.so.2
  [mimalloc]=$libdir/libmimalloc.so.2
  [tcmalloc]=$libdir/libtcmalloc_minimal.so.4
  [memgroup]=$lib
)
for a in jemalloc mimalloc tcmalloc; do
  [[ -f "${preload[$a]}" ]] || { echo "missing ${preload[$a]} (scripts/install-deps.sh)" >&2; exit 2; }
done

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

src=$(cd "$(dirname "$0")/.." && pwd)
{
  echo "command: $cmdline"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
    git -C "$src" diff --quiet HEAD -- 2>/dev/null || echo ' (with local changes)')"
  echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(uname -r)"
  echo "memgroup: LD_PRELOAD=$lib MEMGROUP_MAX=$mg_max"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$dir/meta.txt"

# run_one ROUND SHAPE ALLOCATOR: one run, one line in results.tsv.
run_one() {
  local round=$1 shape=$2 alloc=$3 line
  local -a env_cmd=(env)
  if [[ -n "${preload[$alloc]}" ]]; then env_cmd+=("LD_PRELOAD=${preload[$alloc]}"); fi
  if [[ "$alloc" == memgroup ]]; then env_cmd+=("MEMGROUP_MAX=$mg_max"); fi
  # shellcheck disable=SC2086  # the command is words on purpose
  if line=$(timeout 600 "${env_cmd[@]}" ${command[$shape]} 2>"$dir/stderr.last" |
            grep '^result ' | tail -1) && [[ -n "$line" ]]; then
    read -r _ metric value <<< "$line"
  else
    metric=error value=error
    echo "  $shape under $alloc failed:" >&2; cat "$dir/stderr.last" >&2
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$shape" "$alloc" "$metric" "$value" >> "$results"
}

for ((r = 1; r <= rounds; ++r)); do
  echo "round $r of $rounds" >&2
  for shape in "${names[@]}"; do
    for alloc in "${allocators[@]}"; do run_one "$r" "$shape" "$alloc"; done
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$dir/meta.txt"

cat "$dir/meta.txt"
echo
python3 - "$results" "${names[@]}" <<'PY'
import sys
path, names = sys.argv[1], sys.argv[2:]
stock = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
allocs = stock + ["memgroup"]
runs = {}      # (shape, alloc) -> [values]
metric = {}    # shape -> metric
for line in open(path):
    r, shape, alloc, m, v = line.rstrip("\n").split("\t")
    if m in ("error",) or v in ("n/a", "error"):
        runs.setdefault((shape, alloc), [])
        if m != "error":
            metric.setdefault(shape, m)
        continue
    metric[shape] = m
    runs.setdefault((shape, alloc), []).append(float(v))

def best(shape, alloc):
    vals = runs.get((shape, alloc), [])
    if not vals:
        return None
    return min(vals) if metric[shape] == "wall_s" else max(vals)

def cost(shape, mg, other):
    """memgroup's cost relative to `other`: > 1 means memgroup is slower."""
    if mg is None or other is None:
        return None
    return mg / other if metric[shape] == "wall_s" else other / mg

def fmt(v, shape):
    if v is None:
        return "n/a"
    if metric[shape] == "wall_s":
        return "%.3g s" % v
    return "%.3g M/s" % (v / 1e6)

print("| shape | metric | " + " | ".join(allocs) +
      " | best stock | memgroup/best | memgroup/jemalloc | memgroup/glibc |")
print("|---|---|" + "---|" * len(allocs) + "---|---|---|---|")
for shape in names:
    if shape not in metric:
        continue
    vals = {a: best(shape, a) for a in allocs}
    # Separate groups exist only under memgroup: compare with the stock
    # allocators' figures of the same thread count (marked *).
    ref_shape, mark = shape, ""
    if all(vals[a] is None for a in stock) and shape.endswith("_separate"):
        ref_shape, mark = shape[: -len("separate")] + "shared", "*"
    ref = {a: best(ref_shape, a) for a in stock}
    present = [a for a in stock if ref[a] is not None]
    if metric[shape] == "wall_s":
        top = min(present, key=lambda a: ref[a]) if present else None
    else:
        top = max(present, key=lambda a: ref[a]) if present else None
    mg = vals["memgroup"]
    def ratio(a):
        c = cost(shape, mg, ref.get(a) if a else None)
        return "n/a" if c is None else "%.2fx%s" % (c, mark)
    print("| %s | %s | %s | %s | %s | %s | %s |" % (
        shape, metric[shape], " | ".join(fmt(vals[a], shape) for a in allocs),
        (top or "n/a") + mark, ratio(top), ratio("jemalloc"), ratio("glibc")))
print()
print("Best of the rounds per allocator (min wall time, max rate). Ratios are "
      "memgroup's cost: above 1.00x memgroup is slower. * separate groups "
      "exist only under memgroup: compared with the stock allocators' shared "
      "run of the same thread count.")
PY
