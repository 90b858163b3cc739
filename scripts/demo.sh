#!/bin/sh
# The main job: build memgroup and run an unmodified python3 under a 64 MiB
# limit. The program grows a list until the limit refuses a charge, catches
# MemoryError, frees and carries on; memgroup prints the group's stats at
# exit (current, peak, max, events, stat).
set -eu
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build --preset release --target memgroup memgroup_cli >/dev/null
MEMGROUP=build/release/memgroup
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
echo "\$ memgroup run --max 64M --stats - -- python3 grow.py"
"$MEMGROUP" run --max 64M --stats - -- "$PY" -c '
import sys
chunks = []
try:
    while True:
        chunks.append(bytearray((1 << 20) - 1))  # 1 MiB blocks (+1 byte for the NUL)
except MemoryError:
    print(f"python3: MemoryError after {len(chunks)} MiB; freeing and going on")
del chunks
print("python3: still running:", sum(range(10**6)))
'
echo
echo "\$ memgroup run --max 16M --oom abort -- python3 (abort policy: report, then SIGABRT)"
status=0
"$MEMGROUP" run --max 16M --oom abort -- "$PY" -c 'x = bytearray(64 << 20)' || status=$?
echo "exit status $status (134 = SIGABRT, as the abort policy says)"
