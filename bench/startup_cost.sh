#!/usr/bin/env bash
# Usage: bench/startup_cost.sh [--out FILE] LIB_MEMGROUP [PROGRAM [ARG...]]
#
# What starting a process costs under each allocator, in figures that do
# not depend on the machine's load: the instructions of the whole process
# (valgrind --tool=callgrind, dynamic loading and the allocator's
# initialisation included) and its minor page faults (the median of 21
# runs of /usr/bin/time). PROGRAM defaults to /bin/true; the allocators are
# those of bench/allocators.sh (memgroup with MEMGROUP_MAX=4G, on both
# engines). Prints a markdown table; --out also writes it to FILE.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&$(( ${1:-2} == 0 ? 1 : 2 ))
  exit "${1:-2}"
}

out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || { echo "--out needs an argument" >&2; usage; }; out=$2; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "unknown option $1" >&2; usage ;;
    *) break ;;
  esac
  shift
done
[[ $# -ge 1 ]] || usage
lib=$(readlink -f "$1"); shift
[[ -f "$lib" ]] || { echo "no such library: $lib" >&2; exit 2; }
[[ $# -ge 1 ]] || set -- /bin/true
command -v valgrind >/dev/null || { echo "missing valgrind" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "missing /usr/bin/time: apt-get install -y time" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/allocators.sh
source "$here/allocators.sh"
stock_check

instructions() {
  "${alloc_env[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
faults() {
  local i
  for i in $(seq 21); do
    "${alloc_env[@]}" /usr/bin/time -f '%R' "$@" 2>&1 >/dev/null | tail -1
  done | sort -n | sed -n 11p
}

table=$(
  echo "| allocator | instructions | minor page faults |"
  echo "|---|---|---|"
  for a in "${stock_allocators[@]}" memgroup memgroup_mi; do
    allocator_env "$a" "$lib" 4G
    echo "| $a | $(instructions "$@") | $(faults "$@") |"
  done
)
echo "$table"
[[ -z "$out" ]] || echo "$table" > "$out"
