#!/usr/bin/env bash
# python3 under MEMGROUP_MAX (set by the caller, e.g. 64M): appending to a
# list until MemoryError, catching it, freeing and carrying on. Two shapes:
# 1 MiB bytearrays (malloc) and small strings (pymalloc arenas, or malloc
# with PYTHONMALLOC=malloc).
# Usage: limit_python.sh LIBRARY PYTHON3 pymalloc|malloc LIMIT_MIB
. "$(dirname "$0")/lib.sh"
require_lib
PYTHON=$1
if [ "$2" = malloc ]; then export PYTHONMALLOC=malloc; else unset PYTHONMALLOC; fi
LIMIT_MIB=$3

cat > "$mg_tmp/t.py" <<'PY'
import sys
limit_mib = int(sys.argv[1])
def fill(make, unit):
    items = []
    try:
        while True:
            items.append(make(len(items)))
            if len(items) * unit > 8 * limit_mib * 2**20:
                print("no limit enforced"); sys.exit(1)
    except MemoryError:
        n = len(items)
    del items
    return n * unit // 2**20
big = fill(lambda i: bytearray(2**20), 2**20)
small = fill(lambda i: "%d-%s" % (i, "x" * 40), 100)
again = [str(i) * 3 for i in range(200000)]
assert len(again) == 200000
print("MemoryError at about %d MiB (bytearrays) and %d MiB (strings)" % (big, small))
print("recovered")
PY
mg "$PYTHON" "$mg_tmp/t.py" "$LIMIT_MIB" > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "python exit status"
expect_contains "$mg_tmp/out" "recovered" "python output"
pass "python3 MemoryError under a limit (PYTHONMALLOC=${PYTHONMALLOC:-default})"
