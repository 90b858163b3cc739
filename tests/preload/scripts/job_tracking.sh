#!/usr/bin/env bash
# Jobs (docs/preload.md, "Jobs"): what a job cannot track (static, env -i
# and setuid programs) and the security of its control block.
# One case per run:
#   untracked     a static binary and a program started with `env -i` are
#                 reported as untracked (stderr and --stats)
#   short_lived   static programs that live about 50 ms: the program
#                 itself and orphans the supervisor adopts are reported
#                 as untracked when they exit; short-lived programs the
#                 library runs in are not
#   exec_marks    untracked programs a member execs and reaps itself (bash
#                 fork+exec of a static program, `env -i`, python's
#                 subprocess through vfork), each living 50 ms: reported
#                 through the exec marks of the member slots; tracked
#                 programs and a failed exec are not
#   spawn_marks   untracked programs a member starts with posix_spawn or
#                 posix_spawnp (glibc execs them inside, not through the
#                 interposed execve) and reaps at once: a static program
#                 (with and without the pid asked for), `sleep` spawned with
#                 an envp without the job's variables, and a static
#                 program started by python's subprocess through
#                 posix_spawn (close_fds=False), each reported once; 40
#                 spawned dynamic programs (which join) and a spawn of a
#                 missing program are not, and the job ends at 0. And a
#                 raw execve system call (not interposed) of a static
#                 program that lives 1.5 s: the supervisor's scan finds
#                 the member's process under another image
#   setuid        a root-owned setuid program inside a job run as another
#                 user: the loader drops LD_PRELOAD (secure execution), and
#                 the program is reported as untracked (root only: exit 77,
#                 a skip, otherwise)
#   security      the block's directory and file modes; a bad MEMGROUP_JOB
#                 or an unsafe directory is refused with a message
# Usage: job_tracking.sh MEMGROUP_BINARY LIBRARY PYTHON3 CASE
. "$(dirname "$0")/job_common.sh"

# $mg_tmp/static_quick: a static program that allocates 1 MiB, lives 50 ms
# and exits.
build_static_quick() {
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
}

case $case_name in
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
  build_static_quick
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
exec_marks)
  build_static_quick
  # The supervisor reaps none of these: bash waits for each command, python
  # for its subprocess.
  "$memgroup" run --stats "$mg_tmp/stats" -- bash -c '
    "$T/static_quick"
    "$T/static_quick"
    for _ in 1 2 3; do /bin/sleep 0.05; done
    "$T/missing_program" 2> /dev/null
    env -i /bin/sleep 0.05
    "$PY" -c "import subprocess, sys
subprocess.run([sys.argv[1]], check=True)
subprocess.run([\"/bin/true\"], check=True)" "$T/static_quick"
    true' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_eq "$(grep -c '(static_quick) of the job is untracked' "$mg_tmp/err")" \
    "3" "the static programs on stderr (two run by bash, one by subprocess)"
  expect_eq "$(grep -c '(sleep) of the job is untracked' "$mg_tmp/err")" "1" \
    "the env -i program on stderr"
  expect_eq "$(grep -c 'is untracked' "$mg_tmp/err")" "4" \
    "no tracked program or failed exec reported"
  expect_eq "$(stat_of untracked "$mg_tmp/stats")" "4" "untracked count"
  expect_eq "$(grep -c '^untracked\.[0-9]* static_quick$' "$mg_tmp/stats")" "3" \
    "untracked lines of the static programs"
  expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current at the end"
  pass "untracked programs reaped by their parent inside the job are reported"
  ;;
spawn_marks)
  build_static_quick
  # spawner STATIC: posix_spawn's every case, each child reaped at once.
  cat > "$mg_tmp/spawner.c" <<'C'
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
extern char** environ;
static int reap(pid_t pid, const char* what) {
  int st = 0;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "spawner: %s did not exit 0\n", what);
    return 1;
  }
  return 0;
}
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  char* quick[] = {argv[1], NULL};
  pid_t pid = 0;
  int bad = 0;
  // A static program, reaped at once.
  if (posix_spawn(&pid, argv[1], NULL, NULL, quick, environ) != 0) return 3;
  bad |= reap(pid, "static (pid)");
  // The same without asking for the pid.
  if (posix_spawn(NULL, argv[1], NULL, NULL, quick, environ) != 0) return 4;
  int st = 0;
  if (wait(&st) <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
  // A dynamic program from PATH with an envp without the job's variables.
  char* sleep_argv[] = {"sleep", "0.05", NULL};
  char* bare_env[] = {"PATH=/usr/bin:/bin", NULL};
  if (posix_spawnp(&pid, "sleep", NULL, NULL, sleep_argv, bare_env) != 0)
    return 5;
  bad |= reap(pid, "sleep (bare envp)");
  // Dynamic programs that join: none is reported.
  char* true_argv[] = {"true", NULL};
  for (int i = 0; i < 40; ++i) {
    if (posix_spawnp(&pid, "true", NULL, NULL, true_argv, environ) != 0)
      return 6;
    bad |= reap(pid, "true");
  }
  // A missing program: an error, no child.
  char* missing[] = {"missing_program", NULL};
  int r = posix_spawnp(&pid, "missing_program", NULL, NULL, missing, environ);
  if (r != ENOENT) {
    fprintf(stderr, "spawner: missing program: %s\n", strerror(r));
    bad = 1;
  }
  return bad;
}
C
  cc -O1 -o "$mg_tmp/spawner" "$mg_tmp/spawner.c" ||
    fail "cannot build the spawner"
  # raw_exec PROGRAM: a forked child (a member) replaces its image with
  # the execve system call itself; the parent reaps it.
  cat > "$mg_tmp/raw_exec.c" <<'C'
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
extern char** environ;
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  pid_t pid = fork();
  if (pid == 0) {
    char* args[] = {argv[1], NULL};
    syscall(SYS_execve, argv[1], args, environ);
    _exit(127);
  }
  int st = 0;
  return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0
             ? 0 : 1;
}
C
  cc -O1 -o "$mg_tmp/raw_exec" "$mg_tmp/raw_exec.c" ||
    fail "cannot build raw_exec"
  printf '#include <unistd.h>\nint main(void) { usleep(1500000); return 0; }\n' \
    > "$mg_tmp/linger.c"
  cc -static -O1 -o "$mg_tmp/static_linger" "$mg_tmp/linger.c" ||
    fail "cannot build a static program (cc -static)"
  "$memgroup" run --stats "$mg_tmp/stats" -- bash -c '
    "$T/spawner" "$T/static_quick" || exit 1
    "$T/raw_exec" "$T/static_linger" || exit 1
    "$PY" -c "import subprocess, sys
assert subprocess._USE_POSIX_SPAWN
subprocess.run([sys.argv[1]], close_fds=False, check=True)
subprocess.run([\"/bin/true\"], close_fds=False, check=True)" "$T/static_quick"
    true' > "$mg_tmp/out" 2> "$mg_tmp/err"
  status=$?
  cat "$mg_tmp/stats"; cat "$mg_tmp/err" >&2
  expect_eq "$status" "0" "exit status"
  expect_eq "$(grep -c '(static_quick) of the job is untracked' "$mg_tmp/err")" \
    "3" "the static programs on stderr (two spawned, one by subprocess)"
  expect_eq "$(grep -c '(sleep) of the job is untracked' "$mg_tmp/err")" "1" \
    "the program spawned with a bare envp on stderr"
  expect_eq "$(grep -c '(static_linger) of the job is untracked' \
    "$mg_tmp/err")" "1" "the raw execve of a static program on stderr"
  expect_eq "$(grep -c 'is untracked' "$mg_tmp/err")" "5" \
    "no spawned program that joined reported"
  expect_eq "$(stat_of untracked "$mg_tmp/stats")" "5" "untracked count"
  expect_eq "$(grep -c '^untracked\.[0-9]* static_quick$' "$mg_tmp/stats")" "3" \
    "untracked lines of the static programs"
  expect_eq "$(stat_of current "$mg_tmp/stats")" "0" "current at the end"
  pass "untracked programs started with posix_spawn and reaped at once are reported"
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
*)
  fail "unknown case $case_name"
  ;;
esac
