#!/usr/bin/env bash
# Jobs (docs/preload.md, "Jobs"): the job's member processes, with forks,
# kills, execs, pipelines, subprocesses and signals.
# One case per run:
#   fork_storm    200 forks that allocate and exit: the job ends at its
#                 starting usage (read from the control block)
#   kill_loop     40 members killed with SIGKILL at random instants while
#                 their threads allocate, realloc and free across threads:
#                 every dead member is released, the job's usage is exactly
#                 the survivor's charge, and the job ends at 0
#   exec_chain    a chain of execs (python, python, bash, python) in one
#                 process: each releases the old image's charge
#   pipeline      a shell pipeline; --stats written once, for the job
#   multiprocessing  python's multiprocessing with fork and spawn: a worker
#                 is refused while the parent holds memory, served after
#   spawn         subprocess (vfork) and os.posix_spawn children: charged
#                 to their own slots once they exec; the job returns to its
#                 starting usage
#   signals       exit status, death by a signal, forwarded signals
#   fork_free_pages  a member frees 48 MiB (kept charged as its free
#                 engine pages) and forks; the child allocates 48 MiB: its
#                 own member peak and the job's peak count them, and with
#                 no agent to return the parent's free pages a max below
#                 the parent's charge plus 48 MiB refuses the child
#                 (8 MiB blocks, then 2,000-byte ones)
#   fork_inherited  a member holds 48 MiB and forks; the child frees the
#                 blocks it inherited and allocates 48 MiB: its member
#                 peak counts them (the inherited blocks were its parent's
#                 charge, and their pages are no free pages of the
#                 child's), and under --max 80M the child is refused, the
#                 job's real memory being the parent's 48 MiB and the
#                 child's (1 MiB blocks, then 2,000-byte ones)
#   small_peak    sleep, date and seq as members: each member's peak is
#                 its stock's first batch (256 KiB), not a slab per size
#                 class (1.3-1.6 MB when slabs were charged whole), and
#                 each is charged under 192 KiB at exit outside a job
# Usage: job_members.sh MEMGROUP_BINARY LIBRARY PYTHON3 CASE
. "$(dirname "$0")/job_common.sh"

# The fork cases (fork_free_pages, fork_inherited). fork_run LABEL
# RUN_OPTIONS... -- PROGRAM...: `memgroup run` with the stats in
# $mg_tmp/stats and the output in $mg_tmp/out; checks the exit status and
# that the job ends at 0. fork_child_held LABEL N: the child printed
# "held" and its member peak counts its N MiB. fork_child_refused LABEL:
# the child printed MemoryError and the parent went on.
fork_run() {
  local label=$1 status
  shift
  PYTHONMALLOC=malloc "$memgroup" run --stats "$mg_tmp/stats" "$@" \
    > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out" "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status ($label)"
  expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current ($label)"
}
fork_child_held() {
  local child peak
  expect_contains "$mg_tmp/out" "held" "the child's blocks ($1)"
  child=$(awk '$1 == "child" { print $2 }' "$mg_tmp/out")
  peak=$(stat_of "member.$child.peak" "$mg_tmp/stats")
  [ -n "$peak" ] && [ "$peak" -ge $(($2 << 20)) ] ||
    fail "the child's member peak is ${peak:-missing}, below its $2 MiB ($1)"
}
fork_child_refused() {
  expect_contains "$mg_tmp/out" "MemoryError" "the child refused ($1)"
  expect_contains "$mg_tmp/out" "parent done" "the parent served ($1)"
}

case $case_name in
fork_storm)
  "$memgroup" run --max 256M -- "$python" -c '
import os, sys, time
sys.path.insert(0, os.environ["T"])
from job_usage import job_usage
keep = [bytearray(1 << 20) for _ in range(8)]
base = job_usage()
for i in range(200):
    pid = os.fork()
    if pid == 0:
        blocks = [bytearray(1 << 20) for _ in range(2)]
        del keep[:]          # frees inherited blocks too
        if i % 2:
            os._exit(0)      # no exit hooks: released by the supervisor
        sys.exit(0)
    os.waitpid(pid, 0)
usage = job_usage()
for _ in range(300):
    if abs(usage - base) <= (1 << 20):
        break
    time.sleep(0.01)
    usage = job_usage()
print("base", base, "after", usage)
assert abs(usage - base) <= (1 << 20), (base, usage)
print("storm ok")' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/out" "storm ok" "usage after the storm"
  pass "a fork storm ends at the starting usage"
  ;;
kill_loop)
  PYTHONMALLOC=malloc "$memgroup" run --max 512M --stats "$mg_tmp/stats" -- \
      "$python" -c '
import mmap, os, random, signal, struct, sys, threading, time
def worker():
    shared = []
    lock = threading.Lock()
    def churn(seed):
        rnd = random.Random(seed)
        mine = []
        while True:
            n = rnd.choice((16, 100, 1000, 5000, 70000, 300000))
            b = bytearray(n)
            if rnd.random() < 0.3:
                b.extend(bytes(rnd.randrange(1, 4096)))   # a realloc
            mine.append(b)
            with lock:
                shared.append(mine.pop(rnd.randrange(len(mine))))
                if len(shared) > 64:
                    del shared[rnd.randrange(len(shared))]  # freed by another thread
            if len(mine) > 32:
                del mine[:16]
    for i in range(4):
        threading.Thread(target=churn, args=(i,), daemon=True).start()
    time.sleep(60)
    os._exit(0)
def members():
    with open(os.environ["MEMGROUP_JOB"], "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        usage, = struct.unpack_from("<q", m, 512)
        slots, = struct.unpack_from("<I", m, 24)
        active = []
        for i in range(slots):
            # Block version 11: the slots from byte 896, 320 bytes each.
            state, pid, _, charged = struct.unpack_from("<IiQq", m, 896 + 320 * i)
            if state == 2:
                active.append((pid, charged))
        m.close()
    return usage, active
rnd = random.Random(7)
held = 0  # what the members held when they were killed
for i in range(40):
    pid = os.fork()
    if pid == 0:
        worker()
    time.sleep(rnd.uniform(0.0, 0.15))
    held += sum(c for p, c in members()[1] if p == pid)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print("killed members held", held, "bytes")
assert held > 0
# The supervisor releases a dead member within 1 s of its death.
for _ in range(300):
    usage, active = members()
    if len(active) == 1 and active[0] == (os.getpid(), usage):
        break
    time.sleep(0.01)
print("usage", usage, "active", active)
assert len(active) == 1 and active[0] == (os.getpid(), usage), (usage, active)
print("kill loop ok")' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out" "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/out" "kill loop ok" "the job after the kills"
  expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "the job's current at the end"
  pass "members killed at any instant are released exactly"
  ;;
exec_chain)
  # A chain of images in one process, each holding 60 MiB under a 100M job:
  # python, python again, bash, and python (eat.py).
  cat > "$mg_tmp/hold_exec.py" <<'PY'
import os, sys
name, rest = sys.argv[1], sys.argv[2:]
held = [bytearray(1 << 20) for _ in range(60)]
print(name, "holds 60 MiB", flush=True)
os.execv(rest[0], rest)
PY
  "$memgroup" run --max 100M --stats "$mg_tmp/stats" -- \
    "$python" "$mg_tmp/hold_exec.py" first \
    "$python" "$mg_tmp/hold_exec.py" second \
    /bin/bash -c 'exec "$PY" "$T/eat.py" fourth 60' \
    > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out" "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/out" "first holds 60 MiB" "the first image"
  expect_contains "$mg_tmp/out" "second holds 60 MiB" "the second image"
  expect_contains "$mg_tmp/out" "fourth held 60 MiB" "the last image"
  expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current at the end"
  expect_eq "$(stat_of events.max "$mg_tmp/stats")" "0" "no refusal"
  pass "exec releases the old image's charge"
  ;;
pipeline)
  "$memgroup" run --max 200M --stats - -- bash -c \
    'seq 1 200000 | sort -n | tail -n 1' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_eq "$(cat "$mg_tmp/out")" "200000" "pipeline output"
  expect_eq "$(grep -c '^current ' "$mg_tmp/err")" "1" "stats blocks"
  expect_eq "$(grep -c '^group ' "$mg_tmp/err")" "0" "per-process stats"
  expect_contains "$mg_tmp/err" "job bash -c" "the job's stats"
  peak=$(stat_of peak "$mg_tmp/err")
  [ "$peak" -gt 0 ] || fail "job peak $peak"
  # bash and the three commands of the pipeline.
  seen=$(stat_of members.seen "$mg_tmp/err")
  [ "$seen" -ge 4 ] || fail "members.seen $seen, expected at least 4"
  expect_contains "$mg_tmp/err" "command sort" "sort among the largest members"
  expect_eq "$(stat_of untracked "$mg_tmp/err")" "0" "untracked"
  expect_eq "$(stat_of current "$mg_tmp/err")" "0" "current at the end"
  pass "a pipeline in one job, stats once"
  ;;
multiprocessing)
  cat > "$mg_tmp/mp.py" <<'PY'
import multiprocessing as mp, sys

def eat(mib):
    try:
        held = [bytearray((1 << 20) - 64) for _ in range(mib)]
        return "held %d MiB" % len(held)
    except MemoryError:
        return "MemoryError"

if __name__ == "__main__":
    method = sys.argv[1]
    ctx = mp.get_context(method)
    with ctx.Pool(1) as pool:
        hold = [bytearray((1 << 20) - 64) for _ in range(60)]
        print(method, "while the parent holds 60 MiB:",
              pool.apply(eat, (60,)), flush=True)
        del hold
        print(method, "after the parent freed it:",
              pool.apply(eat, (60,)), flush=True)
PY
  for method in fork spawn; do
    "$memgroup" run --max 100M --stats "$mg_tmp/stats" -- \
      "$python" "$mg_tmp/mp.py" $method > "$mg_tmp/out" 2> "$mg_tmp/err"
    status=$?
    cat "$mg_tmp/out" "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
    expect_eq "$status" "0" "exit status ($method)"
    expect_contains "$mg_tmp/out" \
      "$method while the parent holds 60 MiB: MemoryError" \
      "the worker refused ($method)"
    expect_contains "$mg_tmp/out" "$method after the parent freed it: held 60" \
      "the worker served ($method)"
    seen=$(stat_of members.seen "$mg_tmp/stats")
    [ "$seen" -ge 2 ] || fail "members.seen $seen ($method)"
    # spawn's resource tracker may outlive the program by a moment; the
    # job is at 0 once no member is left.
    if [ "$(stat_of members "$mg_tmp/stats")" = 0 ]; then
      expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current ($method)"
    fi
  done
  pass "python multiprocessing with fork and spawn"
  ;;
spawn)
  "$memgroup" run --max 200M -- "$python" -c '
import os, subprocess, sys, time
T = os.environ["T"]
sys.path.insert(0, T)
from job_usage import job_usage
def settle(target, within):
    for _ in range(300):
        u = job_usage()
        if abs(u - target) <= within:
            return u
        time.sleep(0.01)
    return job_usage()
keep = [bytearray(1 << 20) for _ in range(20)]
base = job_usage()
def child(name, start):
    for f in ("ready", "go"):
        try: os.unlink(T + "/" + f)
        except FileNotFoundError: pass
    p = start([sys.executable, T + "/eat.py", name, "60", T + "/ready",
               T + "/go"])
    for _ in range(3000):
        if os.path.exists(T + "/ready"): break
        time.sleep(0.01)
    held = job_usage()
    open(T + "/go", "w").close()
    p()
    after = settle(base, 2 << 20)
    print(name, "held", (held - base) >> 20, "MiB; after", after - base,
          flush=True)
    assert held - base >= 60 << 20, (name, base, held)
    assert abs(after - base) <= 2 << 20, (name, base, after)
def popen(argv):  # subprocess: vfork (or posix_spawn) and exec
    p = subprocess.Popen(argv)
    return p.wait
def pspawn(argv):  # os.posix_spawn: clone(CLONE_VFORK) and exec
    pid = os.posix_spawn(argv[0], argv, os.environ)
    return lambda: os.waitpid(pid, 0)
for i in range(3):
    child("popen%d" % i, popen)
    child("posix_spawn%d" % i, pspawn)
print("spawn ok")' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/out" "spawn ok" "usage around each child"
  pass "vfork and posix_spawn children"
  ;;
signals)
  "$memgroup" run -- sh -c 'exit 3'
  expect_eq "$?" "3" "exit status"
  "$memgroup" run -- sh -c 'kill -9 $$'
  expect_eq "$?" "137" "death by SIGKILL"
  "$memgroup" run -- sh -c 'kill -TERM $$'
  expect_eq "$?" "143" "death by SIGTERM"
  "$memgroup" run -- sh -c '
    trap "echo got TERM; exit 42" TERM
    touch "$T/ready"
    while :; do sleep 0.05; done' > "$mg_tmp/out" 2>&1 &
  sup=$!
  wait_for "$mg_tmp/ready"
  kill -TERM $sup
  wait $sup
  expect_eq "$?" "42" "status after a forwarded SIGTERM"
  expect_contains "$mg_tmp/out" "got TERM" "the program's handler"
  rm -f "$mg_tmp/ready"
  "$memgroup" run -- "$python" -c '
import os, signal, sys, time
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
open(os.environ["T"] + "/ready", "w").close()
for _ in range(500):
    if got: break
    time.sleep(0.01)
print("USR1" if got else "no signal")' > "$mg_tmp/out2" 2>&1 &
  sup=$!
  wait_for "$mg_tmp/ready"
  kill -USR1 $sup
  wait $sup
  expect_eq "$?" "0" "status after SIGUSR1"
  expect_contains "$mg_tmp/out2" "USR1" "forwarded SIGUSR1"
  ls "${XDG_RUNTIME_DIR:-/nonexistent}/memgroup" /dev/shm/memgroup-"$(id -u)" \
    2>/dev/null | grep -q "job-$sup-" && fail "the control block was left behind"
  pass "signals and exit status"
  ;;
fork_free_pages)
  # The parent holds LIVE MiB and frees N MiB: 8 MiB blocks stay dirty in
  # its group's arena (jemalloc engine; the mimalloc engine hands them
  # back to mimalloc), 2,000-byte ones leave released slabs (kept pages on
  # both engines), charged to the parent as its free pages. The child
  # inherits those pages but not their charge: its N MiB are its own.
  cat > "$mg_tmp/fork_free.py" <<'PY'
import os, sys
sys.path.insert(0, os.environ["T"])
from job_usage import job_usage
size, live_mib, n_mib = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
blocks = lambda mib: [bytearray(size) for _ in range((mib << 20) // size)]
live = blocks(live_mib)
freed = blocks(n_mib)
del freed
print("parent", job_usage(), flush=True)
pid = os.fork()
if pid == 0:
    try:
        got = blocks(n_mib)
        print("child", os.getpid(), "held", flush=True)
    except MemoryError:
        print("child", os.getpid(), "MemoryError", flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent done", flush=True)
PY
  live=16 n=48
  for size in $(((8 << 20) - 4096)) 2000; do
    fork_run "$size" --max 400M -- "$python" "$mg_tmp/fork_free.py" $size \
      $live $n
    fork_child_held "$size" $n
    # The mimalloc engine returns freed large blocks: no free pages there.
    [ "${MEMGROUP_ENGINE:-jemalloc}" = mimalloc ] && [ $size -gt 65536 ] &&
      continue
    # The parent's live and free pages and the child's blocks at once.
    peak=$(stat_of peak "$mg_tmp/stats")
    [ "$peak" -ge $(((live + 2 * n) << 20)) ] ||
      fail "the job's peak $peak is below $((live + 2 * n)) MiB ($size)"
    # Without control agents (--control 0) nobody returns the
    # parent's free pages at the child's refusal: they stay charged, as
    # memcg keeps a process's freed anonymous pages charged while its
    # allocator holds them. The parent fits under 80 MiB with about
    # 67 MiB; the child's 48 MiB on top of it do not.
    fork_run "$size under 80M" --control 0 --max 80M -- "$python" \
      "$mg_tmp/fork_free.py" $size $live $n
    fork_child_refused "$size"
  done
  pass "a fork child charges its own blocks, not its parent's free pages"
  ;;
fork_inherited)
  cat > "$mg_tmp/fork_inherited.py" <<'PY'
import os, sys
sys.path.insert(0, os.environ["T"])
from job_usage import job_usage
size, n_mib = int(sys.argv[1]), int(sys.argv[2])
blocks = lambda mib: [bytearray(size) for _ in range((mib << 20) // size)]
held = blocks(n_mib)
print("parent", job_usage(), flush=True)
pid = os.fork()
if pid == 0:
    del held  # the blocks inherited from the parent
    try:
        got = blocks(n_mib)
        print("child", os.getpid(), "held", job_usage(), flush=True)
    except MemoryError:
        print("child", os.getpid(), "MemoryError", flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent done", flush=True)
PY
  n=48
  for size in $(((1 << 20) - 64)) 2000; do
    fork_run "$size" --max 400M -- "$python" "$mg_tmp/fork_inherited.py" \
      $size $n
    fork_child_held "$size" $n
    # The parent's 48 MiB and the child's do not fit in 80 MiB, whatever
    # the parent's agent returns.
    fork_run "$size under 80M" --max 80M -- "$python" \
      "$mg_tmp/fork_inherited.py" $size $n
    fork_child_refused "$size"
  done
  pass "a fork child's inherited blocks give it no uncharged memory"
  ;;
small_peak)
  # A slab's pages are charged as its regions are first handed out
  # (docs/preload.md, "What a small process is charged").
  for cmd in "sleep 0.1" date "seq 1 1000"; do
    # shellcheck disable=SC2086
    "$memgroup" run --stats "$mg_tmp/stats" -- $cmd > /dev/null 2> "$mg_tmp/err"
    status=$?
    cat "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
    expect_eq "$status" "0" "$cmd: exit status"
    peak=$(awk '$1 ~ /^member\.[0-9]+\.peak$/ { print $2; exit }' "$mg_tmp/stats")
    [ -n "$peak" ] || fail "$cmd: no member peak in the stats"
    [ "$peak" -le $((512 << 10)) ] || fail "$cmd: member peak $peak over 512 KiB"
    expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "$cmd: current at the end"
    # The charge at exit of the process alone (no stock: exact).
    # shellcheck disable=SC2086
    MEMGROUP_STATS="$mg_tmp/alone" LD_PRELOAD="$MG_LIB" $cmd > /dev/null ||
      fail "$cmd: preloaded run failed"
    cat "$mg_tmp/alone"
    charged=$(stat_of current "$mg_tmp/alone")
    [ -n "$charged" ] && [ "$charged" -gt 0 ] ||
      fail "$cmd: no charge at exit ('$charged')"
    [ "$charged" -le $((192 << 10)) ] ||
      fail "$cmd: $charged bytes charged at exit, over 192 KiB"
    echo "$cmd: member peak $peak, charged $charged at exit"
  done
  pass "small processes are charged the pages their blocks cross"
  ;;
*)
  fail "unknown case $case_name"
  ;;
esac
