#!/usr/bin/env bash
# `memgroup run --engine E --max 64M -- python3 ...` (E: MEMGROUP_ENGINE, or
# jemalloc): the command makes a job with that
# max (MEMGROUP_JOB) and sets LD_PRELOAD, python gets MemoryError at the
# limit and recovers, and the program's exit status comes back through the
# command.
# Usage: cli_run.sh MEMGROUP_BINARY LIBRARY PYTHON3
memgroup=$1
library=$2
python=$3
set -- "$library"
. "$(dirname "$0")/lib.sh"
# The engine (MEMGROUP_ENGINE from CTest) goes through --engine; the program
# checks that the mimalloc engine's library is loaded exactly when chosen.
cli_job_env engine

"$memgroup" run --engine "$mg_engine" --max 64M --oom enomem -- "$python" -c '
import os, sys
assert "MEMGROUP_MAX" not in os.environ, os.environ.get("MEMGROUP_MAX")
engine = os.environ["MEMGROUP_ENGINE"]
with open("/proc/self/maps") as maps:
    assert ("libmimalloc" in maps.read()) == (engine == "mimalloc"), engine
assert os.environ["MEMGROUP_JOB"].startswith("/"), os.environ.get("MEMGROUP_JOB")
assert os.environ["LD_PRELOAD"].split(":")[0] == os.environ["MEMGROUP_LIBRARY"]
items = []
try:
    while True:
        items.append(bytearray(2**20))
        if len(items) > 1024: sys.exit("no limit enforced")
except MemoryError:
    n = len(items)
del items
print("MemoryError after %d MiB" % n)
print("recovered")
' > "$mg_tmp/out" 2> "$mg_tmp/err"
status=$?
cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
expect_eq "$status" "0" "exit status"
expect_contains "$mg_tmp/out" "recovered" "python output"

"$memgroup" run --max 64M -- sh -c 'exit 7'
expect_eq "$?" "7" "exit status through memgroup run"
pass "memgroup run"
