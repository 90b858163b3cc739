#!/bin/sh
# Builds the libFuzzer targets (preset fuzz: clang with ASan and UBSan) and
# runs each for N seconds (default 20) on a scratch copy of its committed
# corpus tests/fuzz/corpus/TARGET (new inputs never go into the repository),
# with its dictionary tests/fuzz/dict/TARGET.dict. Fails on any crash,
# sanitizer report, leak, timeout or failed property; the input that failed
# is kept as build/fuzz/artifacts/TARGET-crash-*. Prints each target's
# executions. Targets and properties: docs/testing.md.
# Usage: scripts/fuzz.sh [--seconds N] [--no-build] [TARGET...]
set -eu
cd "$(dirname "$0")/.."

usage() {
  echo "usage: scripts/fuzz.sh [--seconds N] [--no-build] [TARGET...]" >&2
  echo "targets: parse_size parse_config parse_env run_args job_reader" >&2
  exit 2
}

seconds=20
build=1
targets=""
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) [ $# -ge 2 ] || usage; seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#--seconds=}; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) targets="$targets $1"; shift ;;
  esac
done
case $seconds in ''|*[!0-9]*) usage ;; esac
[ -n "$targets" ] || targets="parse_size parse_config parse_env run_args job_reader"

if [ "$build" = 1 ]; then
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz
fi

out=build/fuzz
mkdir -p "$out/artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

status=0
for t in $targets; do
  bin=$out/tests/fuzz/${t}_fuzzer
  [ -x "$bin" ] || { echo "fuzz: no target $t ($bin)" >&2; exit 2; }
  cp -R "tests/fuzz/corpus/$t" "$work/$t"
  seeds=$(ls "$work/$t" | wc -l)
  # The longest input worth making: past the stats path's 512 bytes for the
  # parsers, past the message's 1024 bytes for the environment. Lengths
  # are not coverage, so the whole range is open from the start
  # (-len_control=0). job_reader: a block of up to 59 member slots, or
  # (input byte bit 3) one slot and a group table of up to 5 entries of
  # 768 bytes after its first two pages.
  case $t in
    parse_size) max_len=256 ;;
    job_reader) max_len=12289 ;;
    parse_env) max_len=2048 ;;
    *) max_len=1024 ;;
  esac
  dict=""
  [ -f "tests/fuzz/dict/$t.dict" ] && dict="-dict=tests/fuzz/dict/$t.dict"
  log=$out/$t.log
  echo "=== fuzz: $t for ${seconds}s ($seeds seed inputs) ==="
  # -timeout: seconds per input; -rss_limit_mb: libFuzzer's default.
  if "$bin" "$work/$t" $dict -max_total_time="$seconds" -timeout=10 \
      -max_len="$max_len" -len_control=0 \
      -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/artifacts/$t-" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $t: ${runs:-?} executions in ${seconds}s (${rate:-?}/s)," \
         "corpus $seeds -> $(ls "$work/$t" | wc -l) inputs"
  else
    echo "fuzz: $t FAILED; log $log, input in $out/artifacts/:" >&2
    tail -n 30 "$log" >&2
    status=1
  fi
done
if [ "$status" = 0 ]; then echo "=== fuzz: no failures ==="; fi
exit $status
