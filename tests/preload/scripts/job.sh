#!/usr/bin/env bash
# Jobs: `memgroup run` puts the program and every process it starts under
# one limit (docs/preload.md, "Jobs"). One case per run:
#   two_children  two python children under --max 100M: the second gets
#                 MemoryError while the first holds its 80 MiB
#   sigkill       a member killed with SIGKILL: a sibling takes its 70 MiB
#   oom_kill      --oom kill kills the 70 MiB holder, not the small grower
#   exact_decision  two members whose threads hold stocks that together
#                 exceed the job's headroom: a third member's charge that
#                 fits the live memory succeeds (their stocks are revoked),
#                 and the holders go on allocating and end exact
#   oom_wait      --oom wait: a member waits at the job's max until another
#                 member exits
#   fork_storm    200 forks that allocate and exit: the job ends at its
#                 starting usage (read from the control block)
#   kill_loop     40 members killed with SIGKILL at random instants while
#                 their threads allocate, realloc and free across threads:
#                 every dead member is released, the job's usage is exactly
#                 the survivor's charge, and the job ends at 0
#   exec_chain    a chain of execs (python, python, bash, python) in one
#                 process: each releases the old image's charge
#   pipeline      a shell pipeline; --stats written once, for the job
#   oom_group     --oom kill --oom-group: every member is killed
#   untracked     a static binary and a program started with `env -i` are
#                 reported as untracked (stderr and --stats)
#   short_lived   static programs that live about 50 ms: the program
#                 itself and orphans the supervisor adopts are reported
#                 as untracked when they exit; short-lived programs the
#                 library runs in are not
#   setuid        a root-owned setuid program inside a job run as another
#                 user: the loader drops LD_PRELOAD (secure execution), and
#                 the program is reported as untracked (root only: exit 77,
#                 a skip, otherwise)
#   multiprocessing  python's multiprocessing with fork and spawn: a worker
#                 is refused while the parent holds memory, served after
#   spawn         subprocess (vfork) and os.posix_spawn children: charged
#                 to their own slots once they exec; the job returns to its
#                 starting usage
#   nested        memgroup run inside a job: a child job whose charges also
#                 reach the outer job; either level may refuse; a killed
#                 member is released at both levels
#   nested_protect  --low on a child job: the enclosing job's kill spares
#                 its member and kills a smaller one outside it
#   signals       exit status, death by a signal, forwarded signals
#   security      the block's directory and file modes; a bad MEMGROUP_JOB
#                 or an unsafe directory is refused with a message
#   small_peak    sleep, date and seq as members: each member's peak is
#                 its stock's first batch (256 KiB), not a slab per size
#                 class (1.3-1.6 MB when slabs were charged whole), and
#                 each is charged under 192 KiB at exit outside a job
# Usage: job.sh MEMGROUP_BINARY LIBRARY PYTHON3 CASE
memgroup=$1
library=$2
python=$3
case_name=$4
set -- "$library"
. "$(dirname "$0")/lib.sh"
require_lib
export MEMGROUP_LIBRARY=$MG_LIB
unset LD_PRELOAD MEMGROUP_MAX MEMGROUP_HIGH MEMGROUP_OOM MEMGROUP_STATS
export T=$mg_tmp PY=$python

# A python program run as a member: eat.py NAME MIB [READY_FILE WAIT_FILE]
# allocates MIB MiB in 1 MiB pieces, prints the outcome, touches READY_FILE
# and then holds the memory until WAIT_FILE exists (up to 30 s).
cat > "$mg_tmp/eat.py" <<'PY'
import os, sys, time
name, mib = sys.argv[1], int(sys.argv[2])
ready = sys.argv[3] if len(sys.argv) > 3 else None
wait = sys.argv[4] if len(sys.argv) > 4 else None
held = []
try:
    for _ in range(mib):
        held.append(bytearray((1 << 20) - 64))  # a 1 MiB size class
    print(name, "held", mib, "MiB", flush=True)
except MemoryError:
    print(name, "MemoryError after", len(held), "MiB", flush=True)
if ready:
    open(ready, "w").close()
if wait:
    for _ in range(3000):
        if os.path.exists(wait):
            break
        time.sleep(0.01)
PY

# Reads a job's usage from its control block (MEMGROUP_JOB's by default).
cat > "$mg_tmp/job_usage.py" <<'PY'
import mmap, os, struct
def job_usage(path=None):
    with open(path or os.environ["MEMGROUP_JOB"], "rb") as f:
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        magic, = struct.unpack_from("<Q", m, 0)
        assert magic == 0x314b4f4a47524d4d, hex(magic)
        usage, = struct.unpack_from("<q", m, 512)
        m.close()
    return usage
PY

stat_of() { awk -v k="$1" '$1 == k { print $2; exit }' "$2"; }

case $case_name in
two_children)
  "$memgroup" run --max 100M --stats "$mg_tmp/stats" -- bash -c '
    "$PY" "$T/eat.py" A 80 "$T/a_ready" "$T/b_done" > "$T/a.out" &
    a=$!
    for _ in $(seq 3000); do [ -e "$T/a_ready" ] && break; sleep 0.01; done
    "$PY" "$T/eat.py" B 80 > "$T/b.out"
    touch "$T/b_done"
    wait $a' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/a.out" "$mg_tmp/b.out" "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/a.out" "A held 80 MiB" "the first child"
  expect_contains "$mg_tmp/b.out" "B MemoryError" "the second child"
  peak=$(stat_of peak "$mg_tmp/stats")
  [ "$peak" -le $((100 << 20)) ] || fail "job peak $peak over 100M"
  [ "$peak" -ge $((80 << 20)) ] || fail "job peak $peak below 80M"
  [ "$(stat_of events.max "$mg_tmp/stats")" -ge 1 ] || fail "no events.max"
  pass "one limit for two children"
  ;;
sigkill)
  "$memgroup" run --max 100M -- bash -c '
    "$PY" "$T/eat.py" A 70 "$T/a_ready" "$T/never" > "$T/a.out" &
    a=$!
    for _ in $(seq 3000); do [ -e "$T/a_ready" ] && break; sleep 0.01; done
    kill -9 $a
    wait $a
    "$PY" "$T/eat.py" B 70 > "$T/b.out"' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/a.out" "$mg_tmp/b.out"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/a.out" "A held 70 MiB" "the killed member"
  expect_contains "$mg_tmp/b.out" "B held 70 MiB" "the sibling"
  pass "a member killed with SIGKILL is released"
  ;;
oom_kill)
  "$memgroup" run --max 100M --oom kill --stats "$mg_tmp/stats" -- bash -c '
    "$PY" "$T/eat.py" A 70 "$T/a_ready" "$T/never" > "$T/a.out" &
    a=$!
    for _ in $(seq 3000); do [ -e "$T/a_ready" ] && break; sleep 0.01; done
    "$PY" "$T/eat.py" B 40 > "$T/b.out"
    b=$?
    wait $a
    echo "A status $? B status $b"' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out" "$mg_tmp/a.out" "$mg_tmp/b.out" "$mg_tmp/stats"
  cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/out" "A status 137 B status 0" "the verdict"
  expect_contains "$mg_tmp/b.out" "B held 40 MiB" "the grower"
  expect_contains "$mg_tmp/err" "killed member" "the OOM report"
  expect_eq "$(stat_of events.oom_kill "$mg_tmp/stats")" "1" "events.oom_kill"
  pass "--oom kill kills the largest member"
  ;;
exact_decision)
  # stocker hold THREADS READY GO: each thread mallocs 32 KiB (a large
  #   class, charged per block through the thread's stock, which then holds
  #   the rest of a batch; a small block would charge nothing itself, its
  #   slab being charged whole), READY is created, and the threads
  #   wait for GO, then allocate and free 2,000 more blocks each and exit.
  # stocker grab EXTRA: reads the job's usage and max from MEMGROUP_JOB and
  #   mallocs (max - usage) + EXTRA bytes: more than the headroom usage
  #   shows, less than the live memory leaves.
  cat > "$mg_tmp/stocker.c" <<'C'
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
static const char* go;
static int charged;  /* threads past their first malloc */
static void* holder(void* arg) {
  (void)arg;
  void* mine = malloc(32768);
  if (mine == NULL) abort();
  __atomic_fetch_add(&charged, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 3000 && access(go, F_OK) != 0; ++i) usleep(10000);
  void* blocks[2000];
  for (int i = 0; i < 2000; ++i) blocks[i] = malloc(64 + i % 512);
  for (int i = 0; i < 2000; ++i) free(blocks[i]);
  free(mine);
  return NULL;
}
int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "hold") == 0) {
    int n = atoi(argv[2]);
    go = argv[4];
    pthread_t t[64];
    for (int i = 0; i < n && i < 64; ++i) pthread_create(&t[i], NULL, holder, NULL);
    /* Every thread has made its first charge (its stock holds a batch). */
    while (__atomic_load_n(&charged, __ATOMIC_ACQUIRE) < (n < 64 ? n : 64))
      usleep(1000);
    close(open(argv[3], O_CREAT | O_WRONLY, 0600));
    for (int i = 0; i < n && i < 64; ++i) pthread_join(t[i], NULL);
    printf("holder done\n");
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "grab") == 0) {
    int fd = open(getenv("MEMGROUP_JOB"), O_RDONLY);
    void* m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return 3;
    int64_t usage = *(volatile int64_t*)((char*)m + 512);
    int64_t max = *(volatile int64_t*)((char*)m + 512 + 128);
    int64_t want = max - usage + atoll(argv[2]);
    char* p = malloc((size_t)want);
    if (p == NULL) {
      printf("grab %lld over a headroom of %lld: ENOMEM\n", (long long)want,
             (long long)(max - usage));
      return 1;
    }
    memset(p, 1, (size_t)want);
    printf("grab %lld over a headroom of %lld: ok\n", (long long)want,
           (long long)(max - usage));
    free(p);
    return 0;
  }
  return 2;
}
C
  cc -O1 -pthread -o "$mg_tmp/stocker" "$mg_tmp/stocker.c" ||
    fail "cannot build the test program"
  # 2 x 32 threads hold about 2 x 7 MiB of stock (a 256 KiB batch each,
  # less the 32 KiB block);
  # the grab asks for 4 MiB more than the headroom the job's usage shows.
  "$memgroup" run --max 64M --stats "$mg_tmp/stats" -- bash -c '
    "$T/stocker" hold 32 "$T/a_ready" "$T/go" > "$T/a.out" &
    a=$!
    "$T/stocker" hold 32 "$T/b_ready" "$T/go" > "$T/b.out" &
    b=$!
    for _ in $(seq 3000); do
      [ -e "$T/a_ready" ] && [ -e "$T/b_ready" ] && break; sleep 0.01
    done
    "$T/stocker" grab $((4 << 20))
    g=$?
    touch "$T/go"
    wait $a; x=$?
    wait $b; y=$?
    echo "grab $g holders $x $y"' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out" "$mg_tmp/a.out" "$mg_tmp/b.out" "$mg_tmp/stats"
  cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/out" ": ok" "the grab that fits the live memory"
  expect_contains "$mg_tmp/out" "grab 0 holders 0 0" "every member's status"
  expect_contains "$mg_tmp/a.out" "holder done" "the first holder"
  expect_contains "$mg_tmp/b.out" "holder done" "the second holder"
  expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current at the end"
  pass "a decision counts no member's stocks"
  ;;
oom_wait)
  "$memgroup" run --max 100M --oom wait --stats "$mg_tmp/stats" -- bash -c '
    "$PY" "$T/eat.py" A 70 "$T/a_ready" "$T/a_go" > "$T/a.out" &
    for _ in $(seq 3000); do [ -e "$T/a_ready" ] && break; sleep 0.01; done
    # A lets go once B waits (the job counts an oom event), however long
    # B takes to get there on a loaded machine. The watcher records the
    # time and lets A go itself: a new process started while the job is at
    # its max (date, touch) would wait for memory too.
    "$PY" -c "
import mmap, os, struct, time
with open(os.environ[\"MEMGROUP_JOB\"], \"rb\") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    for _ in range(3000):
        if struct.unpack_from(\"<q\", m, 512 + 200)[0] > 0: break
        time.sleep(0.01)
time.sleep(0.2)
with open(os.environ[\"T\"] + \"/a_released\", \"w\") as f:
    f.write(\"%.6f\\n\" % time.time())
open(os.environ[\"T\"] + \"/a_go\", \"w\").close()
" &
    "$PY" "$T/eat.py" B 70 > "$T/b.out"
    echo "$EPOCHREALTIME" > "$T/b_done"
    wait' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/a.out" "$mg_tmp/b.out" "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/a.out" "A held 70 MiB" "the holder"
  expect_contains "$mg_tmp/b.out" "B held 70 MiB" "the waiter"
  awk -v a="$(cat "$mg_tmp/a_released")" -v b="$(cat "$mg_tmp/b_done")" \
    'BEGIN { exit !(b >= a) }' || fail "B finished before A let go"
  [ "$(stat_of events.oom "$mg_tmp/stats")" -ge 1 ] || fail "no events.oom"
  pass "--oom wait waits across processes"
  ;;
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
            state, pid, _, charged = struct.unpack_from("<IiQq", m, 768 + 64 * i)
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
oom_group)
  "$memgroup" run --max 100M --oom kill --oom-group --stats "$mg_tmp/stats" \
    -- bash -c '
    "$PY" "$T/eat.py" A 70 "$T/a_ready" "$T/never" > "$T/a.out" &
    a=$!
    for _ in $(seq 3000); do [ -e "$T/a_ready" ] && break; sleep 0.01; done
    "$PY" "$T/eat.py" B 40 > "$T/b.out"
    b=$?
    wait $a
    echo "A status $? B status $b"' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/out" "$mg_tmp/a.out" "$mg_tmp/b.out" "$mg_tmp/stats"
  cat "$mg_tmp/err" >&2
  # bash itself is a member: the program dies of SIGKILL.
  expect_eq "$status" "137" "exit status"
  expect_eq "$(cat "$mg_tmp/out")" "" "bash's verdict (it was killed too)"
  expect_contains "$mg_tmp/a.out" "A held 70 MiB" "the holder"
  grep -q "B held" "$mg_tmp/b.out" && fail "the grower was not killed"
  expect_contains "$mg_tmp/err" "killed every member" "the OOM report"
  kills=$(stat_of events.oom_kill "$mg_tmp/stats")
  [ "$kills" -ge 3 ] || fail "events.oom_kill $kills, expected bash, A and B"
  pass "--oom-group kills every member"
  ;;
untracked)
  cat > "$mg_tmp/hold.c" <<'C'
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char** argv) {
  char* p = malloc(8 << 20);
  if (p == NULL) return 1;
  memset(p, 1, 8 << 20);
  for (int i = 0; i < 3000 && argc > 1 && access(argv[1], F_OK) != 0; ++i)
    usleep(10000);
  free(p);
  return 0;
}
C
  cc -static -O1 -o "$mg_tmp/static_hold" "$mg_tmp/hold.c" ||
    fail "cannot build a static program (cc -static)"
  "$memgroup" run --stats "$mg_tmp/stats" -- bash -c '
    "$T/static_hold" "$T/go" &
    env -i "$PY" -c "
import os, time
for _ in range(3000):
    if os.path.exists(\"$T/go\"): break
    time.sleep(0.01)" &
    sleep 2
    touch "$T/go"
    wait' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_eq "$(grep -c 'is untracked' "$mg_tmp/err")" "2" "stderr reports"
  expect_contains "$mg_tmp/err" "(static_hold) of the job is untracked" \
    "the static program on stderr"
  expect_contains "$mg_tmp/err" "(python3" "the env -i program on stderr"
  expect_eq "$(stat_of untracked "$mg_tmp/stats")" "2" "untracked count"
  grep -q '^untracked\.[0-9]* static_hold$' "$mg_tmp/stats" ||
    fail "no untracked line for the static program"
  grep -q '^untracked\.[0-9]* python3' "$mg_tmp/stats" ||
    fail "no untracked line for the env -i program"
  expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current at the end"
  pass "untracked descendants are reported"
  ;;
short_lived)
  cat > "$mg_tmp/quick.c" <<'C'
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(void) {
  char* p = malloc(1 << 20);
  if (p == NULL) return 1;
  memset(p, 1, 1 << 20);
  usleep(50000);
  free(p);
  return 0;
}
C
  cc -static -O1 -o "$mg_tmp/static_quick" "$mg_tmp/quick.c" ||
    fail "cannot build a static program (cc -static)"
  # The program itself.
  "$memgroup" run --stats "$mg_tmp/stats1" -- "$mg_tmp/static_quick" \
    > "$mg_tmp/out1" 2> "$mg_tmp/err1"
  status=$?
  cat "$mg_tmp/stats1"; cat "$mg_tmp/err1" >&2
  expect_eq "$status" "0" "exit status (the program)"
  expect_contains "$mg_tmp/err1" "(static_quick) of the job is untracked" \
    "the program on stderr"
  expect_eq "$(stat_of untracked "$mg_tmp/stats1")" "1" "untracked (the program)"
  # Orphans: two static programs and three tracked ones, each started in a
  # subshell that exits at once, so that the supervisor reaps them (each is
  # a member's fork child, which joined and then exec'd).
  "$memgroup" run --stats "$mg_tmp/stats2" -- bash -c '
    ( "$T/static_quick" & )
    ( "$T/static_quick" & )
    for _ in 1 2 3; do ( /bin/sleep 0.05 & ); done
    sleep 0.5' > "$mg_tmp/out2" 2> "$mg_tmp/err2"
  status=$?
  cat "$mg_tmp/stats2"; cat "$mg_tmp/err2" >&2
  expect_eq "$status" "0" "exit status (the orphans)"
  expect_eq "$(grep -c '(static_quick) of the job is untracked' \
    "$mg_tmp/err2")" "2" "the orphans on stderr"
  expect_eq "$(grep -c 'is untracked' "$mg_tmp/err2")" "2" \
    "no tracked process reported"
  expect_eq "$(stat_of untracked "$mg_tmp/stats2")" "2" "untracked (orphans)"
  expect_eq "$(stat_of current "$mg_tmp/stats2")" "0" "current at the end"
  pass "short-lived untracked processes the supervisor reaps are reported"
  ;;
setuid)
  if [ "$(id -u)" != 0 ]; then
    echo "SKIP: needs root: the test makes a root-owned setuid program and"\
      "runs the job as another user (setpriv)"
    exit 77
  fi
  command -v setpriv > /dev/null || fail "setpriv is not installed"
  nobody_uid=$(id -u nobody) && nobody_gid=$(id -g nobody) ||
    fail "no user nobody"
  # Prints its effective uid and whether the library is loaded in it, then
  # holds 8 MiB until GO exists.
  cat > "$mg_tmp/suid_hold.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char** argv) {
  char* p = malloc(8 << 20);
  if (p == NULL || argc < 2) return 1;
  memset(p, 1, 8 << 20);
  printf("euid %d library %s\n", (int)geteuid(),
         dlsym(RTLD_DEFAULT, "mg_group_create") != NULL ? "loaded" : "absent");
  fflush(stdout);
  for (int i = 0; i < 3000 && access(argv[1], F_OK) != 0; ++i) usleep(10000);
  free(p);
  return 0;
}
C
  cc -O1 -o "$mg_tmp/suid_hold" "$mg_tmp/suid_hold.c" ||
    fail "cannot build the test program"
  chown root:root "$mg_tmp/suid_hold" && chmod 4755 "$mg_tmp/suid_hold" ||
    fail "cannot make the program setuid root"
  # The job's files, writable by the other user.
  chmod 755 "$mg_tmp"
  mkdir "$mg_tmp/pub" && chown "$nobody_uid:$nobody_gid" "$mg_tmp/pub"
  shm=/dev/shm/memgroup-$nobody_uid
  [ -e "$shm" ] || on_exit "rm -rf '$shm'"
  env -u XDG_RUNTIME_DIR setpriv --reuid="$nobody_uid" --regid="$nobody_gid" \
    --clear-groups "$memgroup" run --stats "$mg_tmp/pub/stats" -- bash -c '
    "$T/suid_hold" "$T/pub/go" > "$T/pub/s.out" &
    sleep 2
    touch "$T/pub/go"
    wait' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/pub/s.out" "$mg_tmp/pub/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  if grep -q "^euid $nobody_uid " "$mg_tmp/pub/s.out"; then
    echo "SKIP: the setuid bit had no effect (is $mg_tmp on a nosuid mount?)"
    exit 77
  fi
  expect_contains "$mg_tmp/pub/s.out" "euid 0 library absent" \
    "the setuid program runs without the library"
  expect_contains "$mg_tmp/err" "(suid_hold) of the job is untracked" \
    "the report on stderr"
  expect_eq "$(stat_of untracked "$mg_tmp/pub/stats")" "1" "untracked count"
  grep -q '^untracked\.[0-9]* suid_hold$' "$mg_tmp/pub/stats" ||
    fail "no untracked line for the setuid program"
  expect_eq "$(stat_of current "$mg_tmp/pub/stats")" "0" "current at the end"
  pass "a setuid program is reported as untracked"
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
nested)
  export MG=$memgroup
  # Prints the inner and the outer job's usage in MiB.
  cat > "$mg_tmp/usage2.py" <<'PY'
import os, sys
sys.path.insert(0, os.environ["T"])
from job_usage import job_usage
outer = open(os.environ["T"] + "/outer_path").read().strip()
print(job_usage() >> 20, job_usage(outer) >> 20)
PY
  # An inner job whose member K (40 MiB) is killed with SIGKILL; J then
  # needs K's charge back at the inner level.
  cat > "$mg_tmp/inner3.sh" <<'SH'
"$PY" "$T/eat.py" K 40 "$T/k_ready" "$T/never" > "$T/k.out" &
k=$!
for _ in $(seq 3000); do [ -e "$T/k_ready" ] && break; sleep 0.01; done
"$PY" "$T/usage2.py" > "$T/usage_during"
kill -9 $k
wait $k
"$PY" "$T/eat.py" J 50 > "$T/j.out"
SH
  "$memgroup" run --max 100M --stats "$mg_tmp/outer_stats" -- bash -c '
    echo "$MEMGROUP_JOB" > "$T/outer_path"
    # The inner limit refuses while the outer job has room.
    "$MG" run --max 40M --stats "$T/inner1" -- "$PY" "$T/eat.py" I1 60 \
      > "$T/i1.out"
    # The outer limit refuses a member of the inner job: A holds 70 MiB.
    "$PY" "$T/eat.py" A 70 "$T/a_ready" "$T/a_go" > "$T/a.out" &
    for _ in $(seq 3000); do [ -e "$T/a_ready" ] && break; sleep 0.01; done
    "$MG" run --max 60M --stats "$T/inner2" -- "$PY" "$T/eat.py" I2 50 \
      > "$T/i2.out"
    touch "$T/a_go"
    wait
    "$MG" run --max 80M --stats "$T/inner3" -- bash "$T/inner3.sh"
    # Everything the inner jobs charged is back: 80 MiB fit in the outer.
    "$PY" "$T/eat.py" L 80 > "$T/l.out"' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  for f in i1.out inner1 a.out i2.out inner2 usage_during k.out j.out inner3 \
           l.out outer_stats; do
    echo "== $f"; cat "$mg_tmp/$f"
  done
  cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_contains "$mg_tmp/i1.out" "I1 MemoryError" "refused by the inner job"
  [ "$(stat_of events.max "$mg_tmp/inner1")" -ge 1 ] ||
    fail "no events.max in the inner job"
  expect_contains "$mg_tmp/a.out" "A held 70 MiB" "the outer member"
  expect_contains "$mg_tmp/i2.out" "I2 MemoryError" "refused by the outer job"
  expect_eq "$(stat_of events.max "$mg_tmp/inner2")" "0" \
    "the inner job did not refuse"
  read -r inner_mib outer_mib < "$mg_tmp/usage_during"
  [ "$inner_mib" -ge 40 ] || fail "inner job usage $inner_mib MiB under 40"
  [ "$outer_mib" -ge 40 ] || fail "outer job usage $outer_mib MiB under 40"
  expect_contains "$mg_tmp/j.out" "J held 50 MiB" "K released in the inner job"
  expect_contains "$mg_tmp/l.out" "L held 80 MiB" "inner jobs released outside"
  [ "$(stat_of events.max "$mg_tmp/outer_stats")" -ge 1 ] ||
    fail "no events.max in the outer job"
  expect_eq "$(stat_of current "$mg_tmp/outer_stats")" "0" "outer current"
  for f in inner1 inner2 inner3; do
    expect_eq "$(stat_of current "$mg_tmp/$f")" "0" "current of $f"
  done
  pass "a job inside a job"
  ;;
nested_protect)
  export MG=$memgroup
  # P (50 MiB) runs in a child job, Q (30 MiB) directly in the outer job;
  # R then grows past the outer max and the outer job's kill picks a victim.
  for low in none 70M; do
    rm -f "$mg_tmp"/p_ready "$mg_tmp"/q_ready "$mg_tmp"/done
    if [ "$low" = none ]; then export LOWOPT=; else export LOWOPT="--low $low"; fi
    "$memgroup" run --max 100M --oom kill --stats "$mg_tmp/stats" -- bash -c '
      "$MG" run $LOWOPT -- "$PY" "$T/eat.py" P 50 "$T/p_ready" "$T/done" \
        > "$T/p.out" &
      p=$!
      for _ in $(seq 3000); do [ -e "$T/p_ready" ] && break; sleep 0.01; done
      "$PY" "$T/eat.py" Q 30 "$T/q_ready" "$T/done" > "$T/q.out" &
      q=$!
      for _ in $(seq 3000); do [ -e "$T/q_ready" ] && break; sleep 0.01; done
      "$PY" "$T/eat.py" R 15 > "$T/r.out"
      touch "$T/done"
      wait $p; ps=$?
      wait $q; qs=$?
      echo "P $ps Q $qs"' > "$mg_tmp/out" 2> "$mg_tmp/err"
    status=$?
    echo "== low $low"; cat "$mg_tmp/out" "$mg_tmp/r.out"; cat "$mg_tmp/err" >&2
    expect_eq "$status" "0" "exit status (low $low)"
    expect_contains "$mg_tmp/r.out" "R held 15 MiB" "the grower (low $low)"
    expect_eq "$(stat_of events.oom_kill "$mg_tmp/stats")" "1" \
      "one kill (low $low)"
    if [ "$low" = none ]; then
      expect_eq "$(cat "$mg_tmp/out")" "P 137 Q 0" "the largest member dies"
    else
      expect_eq "$(cat "$mg_tmp/out")" "P 0 Q 137" "the protected job is spared"
    fi
  done
  pass "a protected child job is spared by the enclosing job's kill"
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
  for _ in $(seq 3000); do [ -e "$mg_tmp/ready" ] && break; sleep 0.01; done
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
  for _ in $(seq 3000); do [ -e "$mg_tmp/ready" ] && break; sleep 0.01; done
  kill -USR1 $sup
  wait $sup
  expect_eq "$?" "0" "status after SIGUSR1"
  expect_contains "$mg_tmp/out2" "USR1" "forwarded SIGUSR1"
  ls "${XDG_RUNTIME_DIR:-/nonexistent}/memgroup" /dev/shm/memgroup-"$(id -u)" \
    2>/dev/null | grep -q "job-$sup-" && fail "the control block was left behind"
  pass "signals and exit status"
  ;;
security)
  # Where the block lives, and its modes, seen from inside the job.
  mkdir -m 700 "$mg_tmp/xdg"
  XDG_RUNTIME_DIR=$mg_tmp/xdg "$memgroup" run -- sh -c \
    'stat -c "%a %n" "$MEMGROUP_JOB" "$(dirname "$MEMGROUP_JOB")"' \
    > "$mg_tmp/out" 2> "$mg_tmp/err"
  expect_eq "$?" "0" "exit status"
  cat "$mg_tmp/out"
  expect_eq "$(sed -n 1p "$mg_tmp/out" | cut -d' ' -f1)" "600" "file mode"
  expect_eq "$(sed -n 2p "$mg_tmp/out")" "700 $mg_tmp/xdg/memgroup" \
    "directory and mode"
  expect_eq "$(ls "$mg_tmp/xdg/memgroup" | wc -l)" "0" "block removed"
  # A directory other users can enter is refused.
  chmod 755 "$mg_tmp/xdg/memgroup"
  XDG_RUNTIME_DIR=$mg_tmp/xdg "$memgroup" run -- true 2> "$mg_tmp/err"
  expect_eq "$?" "1" "status with an unsafe directory"
  expect_contains "$mg_tmp/err" "accessible by other users" "its message"
  # A bad MEMGROUP_JOB stops the program before main, naming the variable.
  printf 'not a job block at all, just some bytes of text\n%.0s' $(seq 40) \
    > "$mg_tmp/junk"
  chmod 600 "$mg_tmp/junk"
  ln -s "$mg_tmp/junk" "$mg_tmp/link"
  check_refused() {  # check_refused VALUE TEXT
    env MEMGROUP_JOB="$1" LD_PRELOAD="$MG_LIB" "$python" -c 'print("main")' \
      > "$mg_tmp/out" 2> "$mg_tmp/err"
    expect_eq "$?" "2" "status with MEMGROUP_JOB=$1"
    expect_eq "$(cat "$mg_tmp/out")" "" "output with MEMGROUP_JOB=$1"
    expect_contains "$mg_tmp/err" "MEMGROUP_JOB" "message for $1"
    expect_contains "$mg_tmp/err" "$2" "reason for $1"
    cat "$mg_tmp/err"
  }
  check_refused relative/job "absolute path"
  check_refused "$mg_tmp/missing" "cannot open it"
  check_refused "$mg_tmp/junk" "not a memgroup job block"
  check_refused "$mg_tmp/link" "not a regular file"
  chmod 644 "$mg_tmp/junk"
  check_refused "$mg_tmp/junk" "mode is not 0600"
  pass "the control block is owner-only and validated"
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
