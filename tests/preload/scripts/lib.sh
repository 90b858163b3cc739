# Sourced by every tests/preload script. The script's first argument is the
# library to preload, or "none" for the plain run. Provides:
#   mg CMD...      run CMD with the library preloaded (ahead of any existing
#                  LD_PRELOAD); only CMD and its children see it
#   mg_prefix      the same as an array, for backgrounded commands
#   mg_tmp         a private temporary directory, removed on exit
#   on_exit CMD    run CMD at exit (after failures too), before mg_tmp goes
#   require_lib, cli_job_env [engine]   for tests that need the library
#   fail MSG, expect_eq ACTUAL EXPECTED WHAT, expect_contains FILE TEXT WHAT
set -u
set -o pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 LIBRARY|none ..." >&2
  exit 2
fi
MG_LIB=$1
shift
if [ "$MG_LIB" = none ]; then
  MG_LIB=
elif [ ! -f "$MG_LIB" ]; then
  echo "FAIL: library '$MG_LIB' does not exist" >&2
  exit 1
fi

mg_tmp=$(mktemp -d "${TMPDIR:-/tmp}/mg_preload.XXXXXX") || exit 1
mg_exit_hooks=()
on_exit() { mg_exit_hooks+=("$1"); }
mg_cleanup() {
  local hook
  for hook in "${mg_exit_hooks[@]+"${mg_exit_hooks[@]}"}"; do
    eval "$hook" || true
  done
  rm -rf "$mg_tmp"
}
trap mg_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# No core files from the deliberate aborts.
ulimit -c 0 2>/dev/null || true

# mg_prefix: the command prefix that preloads the library (empty for the
# plain run). Use "${mg_prefix[@]}" CMD & to background a preloaded command so
# that $! is the command itself (a backgrounded function would be a subshell).
if [ -n "$MG_LIB" ]; then
  mg_prefix=(env "LD_PRELOAD=$MG_LIB${LD_PRELOAD:+:$LD_PRELOAD}")
else
  mg_prefix=()
fi
mg() { "${mg_prefix[@]}" "$@"; }

require_lib() {
  if [ -z "$MG_LIB" ]; then
    echo "FAIL: this test needs the library (got 'none')" >&2
    exit 1
  fi
}

# cli_job_env [engine]: for the scripts that run `memgroup run` themselves:
# the library reaches the job through MEMGROUP_LIBRARY, not LD_PRELOAD.
# With "engine", CTest's MEMGROUP_ENGINE (jemalloc when unset) moves to
# mg_engine, for `memgroup run --engine "$mg_engine"`.
cli_job_env() {
  require_lib
  export MEMGROUP_LIBRARY=$MG_LIB
  unset LD_PRELOAD
  if [ "${1:-}" = engine ]; then
    mg_engine=${MEMGROUP_ENGINE:-jemalloc}
    unset MEMGROUP_ENGINE
  fi
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

expect_eq() {
  if [ "$1" != "$2" ]; then
    fail "$3: expected '$2', got '$1'"
  fi
}

expect_contains() {
  if ! grep -qF -- "$2" "$1"; then
    echo "---- $1:" >&2
    head -c 4000 "$1" >&2
    fail "$3: '$2' not found"
  fi
}

pass() {
  echo "PASS: $*${MG_LIB:+ (preloaded $MG_LIB)}"
  exit 0
}
