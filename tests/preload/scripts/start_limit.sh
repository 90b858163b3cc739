#!/usr/bin/env bash
# A limit below what a program needs to start: the library says so once on
# stderr, naming the variable (MEMGROUP_MAX) or the option (memgroup run
# --max), the limit, the usage and the request, before the program fails in
# its own way. python3 starts its interpreter inside main; start_alloc (a C
# program) allocates in a constructor, before main. A program that hits the
# limit later gets the same line once however often it is refused, and a
# limit the program set itself through the C ABI is not reported.
# Usage: start_limit.sh LIBRARY PYTHON3 START_ALLOC MEMGROUP_COMMAND
. "$(dirname "$0")/lib.sh"
require_lib
PYTHON=$1
PROGRAM=$2
MEMGROUP=$3
export MEMGROUP_LIBRARY=$MG_LIB
notice='^memgroup: .* was refused at '

# run_case WHAT STATUS NOTICES TEXT... -- CMD...: runs CMD, expects exit
# status STATUS ("nonzero" for any failure), NOTICES notice lines, each
# TEXT in the notice line.
run_case() {
  local what=$1 want=$2 count=$3
  shift 3
  local texts=()
  while [ "$1" != -- ]; do texts+=("$1"); shift; done
  shift
  "$@" > "$mg_tmp/out" 2> "$mg_tmp/err"
  local status=$?
  echo "--- $what: exit $status"
  cat "$mg_tmp/out"
  cat "$mg_tmp/err"
  if [ "$want" = nonzero ]; then
    [ "$status" -ne 0 ] || fail "$what: exit status 0, expected a failure"
  else
    expect_eq "$status" "$want" "$what: exit status"
  fi
  local n
  n=$(grep -c -- "$notice" "$mg_tmp/err")
  expect_eq "$n" "$count" "$what: notice lines"
  grep -- "$notice" "$mg_tmp/err" > "$mg_tmp/notice"
  local t
  for t in "${texts[@]+"${texts[@]}"}"; do
    expect_contains "$mg_tmp/notice" "$t" "$what"
  done
}

start='print("python started")'

# python3 under MEMGROUP_MAX: the interpreter's start in main is refused.
run_case "MEMGROUP_MAX=0 python3" nonzero 1 \
  "memgroup: python3 (pid " " in main, " \
  "was refused at MEMGROUP_MAX=0, with 0 bytes in use" -- \
  env MEMGROUP_MAX=0 "${mg_prefix[@]}" "$PYTHON" -c "$start"
expect_contains "$mg_tmp/err" "Fatal Python error" "python3's own error"
run_case "MEMGROUP_MAX=100K python3" nonzero 1 \
  "memgroup: python3 (pid " \
  "was refused at MEMGROUP_MAX=100K (102400 bytes), with " -- \
  env MEMGROUP_MAX=100K "${mg_prefix[@]}" "$PYTHON" -c "$start"
grep -q "python started" "$mg_tmp/out" && fail "python3 started under 100K"

# The C program's constructor is refused before main.
run_case "MEMGROUP_MAX=100K start_alloc" 3 1 \
  "memgroup: preload_start_alloc (pid " " before main: a charge of " \
  "was refused at MEMGROUP_MAX=100K (102400 bytes), with " \
  ": the limit is below what the program needs to start" -- \
  env MEMGROUP_MAX=100K "${mg_prefix[@]}" "$PROGRAM"
expect_contains "$mg_tmp/err" "start_alloc: cannot allocate the table" \
  "start_alloc's own error"
# 300K: the constructor's table fits, main's allocation does not.
run_case "MEMGROUP_MAX=300K start_alloc" 4 1 \
  " in main, " "was refused at MEMGROUP_MAX=300K (307200 bytes)" -- \
  env MEMGROUP_MAX=300K "${mg_prefix[@]}" "$PROGRAM"

# memgroup run --max: the job's limit, named as the option.
run_case "memgroup run --max 100K python3" nonzero 1 \
  "memgroup: python3 (pid " \
  "was refused at memgroup run --max 100K (102400 bytes), with " \
  " of them by this process" -- \
  "$MEMGROUP" run --max 100K -- "$PYTHON" -c "$start"
run_case "memgroup run --max 0 python3" nonzero 1 \
  "was refused at memgroup run --max 0, with " -- \
  "$MEMGROUP" run --max 0 -- "$PYTHON" -c "$start"
# 200K: a job member's control agent starts in the library's constructor,
# before glibc's start, and its first blocks take a second 64 KiB slab; the
# constructor's 256 KiB table is then refused before main.
run_case "memgroup run --max 200K start_alloc" 3 1 \
  "memgroup: preload_start_alloc (pid " " before main: a charge of " \
  "was refused at memgroup run --max 200K (204800 bytes)" \
  ": the limit is below what the program needs to start" -- \
  "$MEMGROUP" run --max 200K -- "$PROGRAM"

# Enough to start: no line; refused later, twice: one line.
run_case "MEMGROUP_MAX=64M start_alloc" 0 0 -- \
  env MEMGROUP_MAX=64M "${mg_prefix[@]}" "$PROGRAM"
cat > "$mg_tmp/twice.py" <<'PY'
for round in range(2):
    blocks = []
    try:
        while True:
            blocks.append(bytearray(1 << 20))
    except MemoryError:
        print("MemoryError after", len(blocks), "MiB")
    del blocks
print("recovered")
PY
run_case "MEMGROUP_MAX=64M python3, two MemoryErrors" 0 1 \
  " in main, " "was refused at MEMGROUP_MAX=64M (67108864 bytes)" \
  "(reported once per process)" -- \
  env MEMGROUP_MAX=64M "${mg_prefix[@]}" "$PYTHON" "$mg_tmp/twice.py"
expect_contains "$mg_tmp/out" "recovered" "python3 after two MemoryErrors"
run_case "memgroup run --max 64M python3, two MemoryErrors" 0 1 \
  "was refused at memgroup run --max 64M (67108864 bytes)" -- \
  "$MEMGROUP" run --max 64M -- "$PYTHON" "$mg_tmp/twice.py"

# A limit the program set itself: refused, not reported.
run_case "MEMGROUP_MAX=64M start_alloc own" 0 0 -- \
  env MEMGROUP_MAX=64M "${mg_prefix[@]}" "$PROGRAM" own
expect_contains "$mg_tmp/out" "start_alloc: own limit refused" "own limit"

pass "a limit below a program's start-up needs is named once"
