#!/usr/bin/env bash
# Jobs (docs/preload.md, "Jobs"): one limit for the job, with refusals,
# kills and waits at its max.
# One case per run:
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
#   oom_group     --oom kill --oom-group: every member is killed
# Usage: job_limits.sh MEMGROUP_BINARY LIBRARY PYTHON3 CASE
. "$(dirname "$0")/job_common.sh"

case $case_name in
two_children)
  "$memgroup" run --max 100M --stats "$mg_tmp/stats" -- bash -c '
    "$PY" "$T/eat.py" A 80 "$T/a_ready" "$T/b_done" > "$T/a.out" &
    a=$!
    wait_for "$T/a_ready"
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
    wait_for "$T/a_ready"
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
    wait_for "$T/a_ready"
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
    wait_for "$T/a_ready" "$T/b_ready"
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
    wait_for "$T/a_ready"
    # A lets go once B waits (the job counts an oom event), however long
    # B takes to get there on a loaded machine. The watcher records the
    # time and lets A go itself: a new process started while the job is at
    # its max (date, touch) would wait for memory too. So the watcher
    # starts, opens the files it writes and says so before B starts: a
    # watcher still starting when B fills the job waits for memory with B.
    "$PY" -c "
import mmap, os, struct, time
t = os.environ[\"T\"]
released = open(t + \"/a_released\", \"w\")
go = open(t + \"/a_go_next\", \"w\")
with open(os.environ[\"MEMGROUP_JOB\"], \"rb\") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    open(t + \"/w_ready\", \"w\").close()
    for _ in range(3000):
        if struct.unpack_from(\"<q\", m, 512 + 200)[0] > 0: break
        time.sleep(0.01)
time.sleep(0.2)
released.write(\"%.6f\\n\" % time.time())
released.close()
go.close()
os.rename(t + \"/a_go_next\", t + \"/a_go\")
" &
    wait_for "$T/w_ready"
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
oom_group)
  "$memgroup" run --max 100M --oom kill --oom-group --stats "$mg_tmp/stats" \
    -- bash -c '
    "$PY" "$T/eat.py" A 70 "$T/a_ready" "$T/never" > "$T/a.out" &
    a=$!
    wait_for "$T/a_ready"
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
*)
  fail "unknown case $case_name"
  ;;
esac
