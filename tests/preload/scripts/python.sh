#!/usr/bin/env bash
# python3: 4 threads build dicts and check them, plus json and regex work.
# Usage: python.sh LIBRARY|none PYTHON3 pymalloc|malloc
. "$(dirname "$0")/lib.sh"
PYTHON=$1
if [ "$2" = malloc ]; then export PYTHONMALLOC=malloc; else unset PYTHONMALLOC; fi

cat > "$mg_tmp/t.py" <<'PY'
import json, re, threading
results = [None] * 4
def work(t):
    d = {}
    for i in range(100000):
        d["k%d" % i] = [i * t, str(i)]
    s = sum(v[0] for v in d.values())
    blob = json.loads(json.dumps({k: v for k, v in list(d.items())[:5000]}))
    words = re.findall(r"k\d+7\b", " ".join(d))
    results[t] = (len(d), s, len(blob), len(words))
    del d
threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
for th in threads: th.start()
for th in threads: th.join()
for r in results: print(*r)
PY
mg "$PYTHON" "$mg_tmp/t.py" > "$mg_tmp/out" || fail "python exited $?"
expected='100000 0 5000 9999
100000 4999950000 5000 9999
100000 9999900000 5000 9999
100000 14999850000 5000 9999'
expect_eq "$(cat "$mg_tmp/out")" "$expected" "python output"
pass "python3 (PYTHONMALLOC=${PYTHONMALLOC:-default})"
