#!/usr/bin/env python3
"""What the live-control tests share (docs/control.md): the arguments
(MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]), a private runtime
directory (XDG_RUNTIME_DIR), running `memgroup`, jobs started with
`memgroup run` (Job) and a job of control_groups (groups_job), the key value
output, the job block's layout for hand-made blocks, and run_case, which
runs one case. Each test script imports it and runs the case its command
line names."""
import json
import os
import pwd
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

MEMGROUP, LIB, ALLOC, CASE = sys.argv[1:5]
GROUPS = sys.argv[5] if len(sys.argv) > 5 else None
MIB = 1 << 20
INT64_MAX = (1 << 63) - 1

TMP = tempfile.mkdtemp(prefix="mg-control-")
os.chmod(TMP, 0o700)
RUNTIME = os.path.join(TMP, "run")
os.mkdir(RUNTIME, 0o700)
JOBDIR = os.path.join(RUNTIME, "memgroup")
ENV = {k: v for k, v in os.environ.items()
       if k != "LD_PRELOAD" and not k.startswith("MEMGROUP_")}
ENV["XDG_RUNTIME_DIR"] = RUNTIME
ENV["MEMGROUP_LIBRARY"] = LIB
JOBS = []




class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def mg(*args, env=None, timeout=30, prefix=()):
    r = subprocess.run([*prefix, MEMGROUP, *map(str, args)],
                       env=ENV if env is None else env, capture_output=True,
                       text=True, timeout=timeout)
    return r


def mg_ok(*args, **kw):
    r = mg(*args, **kw)
    check(r.returncode == 0,
          f"memgroup {args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout


class Job:
    """A `memgroup run` job in its own session; its output read by a thread."""
    count = 0

    def __init__(self, run_args, program, env=None, prefix=(), stdin=None):
        Job.count += 1
        self.hold = os.path.join(TMP, f"hold-{Job.count}")
        program = [self.hold if a == "HOLD" else a for a in program]
        self.p = subprocess.Popen(
            [*prefix, MEMGROUP, "run", *run_args, "--", *program],
            env=ENV if env is None else env, stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        self.pid = self.p.pid
        self.lines = []
        self.err = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, args=(self.p.stdout, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stderr, self.err),
                         daemon=True).start()
        JOBS.append(self)

    def _read(self, f, into):
        for line in f:
            with self.cv:
                into.append(line.rstrip("\n"))
                self.cv.notify_all()

    def wait_for(self, pattern, count=1, timeout=20):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        with self.cv:
            while sum(1 for l in self.lines if rx.search(l)) < count:
                left = deadline - time.time()
                check(left > 0, f"job {self.pid}: no {count} x {pattern!r} in "
                      f"{self.lines} (stderr {self.err})")
                self.cv.wait(left)

    def release(self):
        """Lets the allocator take its extra MiB."""
        open(self.hold, "w").close()

    def finish(self, timeout=20):
        """Lets it end and waits for the job's exit status."""
        self.release()
        open(self.hold + ".end", "w").close()
        rc = self.p.wait(timeout=timeout)
        time.sleep(0.05)  # let the reader threads drain
        return rc

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait(timeout=20)


def kv(text):
    """key value lines -> dict of the first value; repeated keys -> list."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key in out:
            if not isinstance(out[key], list):
                out[key] = [out[key]]
            out[key].append(value)
        else:
            out[key] = value
    return out


def as_list(v):
    return v if isinstance(v, list) else ([] if v is None else [v])


def start_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[19])


# --- cases ------------------------------------------------------------------


# The block layout (src/counter/job_block.h, version 11; no stock area, no
# group table unless put_groups adds one).
HEADER = struct.Struct("<QIIQIiQq256s")
NODE_AT, MEMBERS_AT, MEMBER_SIZE = 512, 896, 320


def block(slots, supervisor=1, ticks=0, command=b"prog", magic=0x314b4f4a47524d4d,
          version=11, header_bytes=896, total=None, slot_count=None):
    total = MEMBERS_AT + slots * MEMBER_SIZE if total is None else total
    b = bytearray(MEMBERS_AT + slots * MEMBER_SIZE)
    HEADER.pack_into(b, 0, magic, version, header_bytes, total,
                     slots if slot_count is None else slot_count, supervisor,
                     ticks, 0, command)
    return b


def put_node(b, usage=0, peak=0, max_=INT64_MAX, high=INT64_MAX, events=(0,) * 4,
             policy=0, wait_ns=-1, events_local=(0,) * 4):
    """The job node; events (hierarchical) at 192 and events_local (version
    10) at 328, each max, oom, oom_kill, high."""
    struct.pack_into("<q", b, NODE_AT, usage)
    struct.pack_into("<q", b, NODE_AT + 112, peak)
    struct.pack_into("<qq", b, NODE_AT + 128, max_, high)
    struct.pack_into("<4q", b, NODE_AT + 192, *events)
    struct.pack_into("<I", b, NODE_AT + 232, policy)
    struct.pack_into("<q", b, NODE_AT + 240, wait_ns)
    struct.pack_into("<4q", b, NODE_AT + 328, *events_local)


def put_member(b, i, state, pid, ticks=0, charged=0, peak=0):
    struct.pack_into("<IiQqq", b, MEMBERS_AT + i * MEMBER_SIZE, state, pid,
                     ticks, charged, peak)


def put_node_pressure(b, stall_state=0, some_ns=0, avgs=(0, 0, 0)):
    """The node's stall accounting (src/counter/job_pressure.h) at 256."""
    struct.pack_into("<Qq3I", b, NODE_AT + 256, stall_state, some_ns, *avgs)


def put_node_full(b, full_state=0, full_ns=0, avgs=(0, 0, 0)):
    """The node's `full` accounting (src/counter/job_pressure.h) at 296:
    the packed state, the completed total and the three averages."""
    struct.pack_into("<Qq3I", b, NODE_AT + 296, full_state, full_ns, *avgs)


def put_root_stat(b, i, stat, published_ns=1, full_flag=0,
                  engine=(0, 0, 0)):
    """A member slot's root stat bytes (version 9: six i64 at 192, heap,
    mmap, explicit, stock, stock_bound, reclaimed), their publication time
    at 240, the full flag at 248 and (version 11) three i64 at 256,
    engine_free, engine_cached, engine_slack."""
    struct.pack_into("<6qqI", b, MEMBERS_AT + i * MEMBER_SIZE + 192, *stat,
                     published_ns, full_flag)
    struct.pack_into("<3q", b, MEMBERS_AT + i * MEMBER_SIZE + 256, *engine)


def put_root_crossings(b, i, crossings, last=(-1, -1), seq=2, stalling=0):
    """A member slot's root crossings (version 8 on: seq and the stall flag at
    128, five u64 counters at 136, two i64 last thresholds at 176)."""
    struct.pack_into("<II5Q2q", b, MEMBERS_AT + i * MEMBER_SIZE + 128, seq,
                     stalling, *crossings, *last)


def write(name, data, mode=0o600, old=True):
    path = os.path.join(JOBDIR, name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    if old:
        os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def groups_job(shell_tail="", prefix=()):
    """A job whose member control_groups created /tenant, /tenant/a and
    /tenant/b; commands go to its stdin; `prefix` runs before it (env
    VAR=VALUE). Returns (job, member pid)."""
    if GROUPS is None:
        raise Skip("no control_groups program given")
    prog = ["bash", "-c", f"{GROUPS}{shell_tail}", "HOLD"] if shell_tail \
        else [*prefix, GROUPS]
    j = Job([], prog, stdin=subprocess.PIPE)
    j.wait_for("^ready ")
    member = int([l for l in j.lines if l.startswith("ready ")][0].split()[1])
    return j, member


def allocator_pids(j):
    """(pid, steps) of the control_alloc processes of job j (by their HOLD
    file), sorted."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
            if cmd[0] == ALLOC.encode() and cmd[-2] == j.hold.encode():
                out.append((int(pid), int(cmd[1])))
        except (OSError, IndexError):
            pass
    return sorted(out)


def send(j, line, reply, count=1):
    j.p.stdin.write(line + "\n")
    j.p.stdin.flush()
    j.wait_for(reply, count=count)


def until(fn, what, timeout=5):
    """Polls fn() (the published figures are at most 100 ms old)."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        check(time.time() < deadline, f"timed out waiting for {what}")
        time.sleep(0.05)


def group_kv(*args):
    r = mg("stat", *args)
    return kv(r.stdout) if r.returncode == 0 else None


def prom(*args):
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise Skip("python3-prometheus-client is not installed")
    return {f.name: f for f in text_string_to_metric_families(mg_ok(*args))}


def sample(fams, family, name, **labels):
    for smp in fams[family].samples:
        if smp.name == name and all(smp.labels.get(k) == v
                                    for k, v in labels.items()):
            return smp.value
    raise AssertionError(f"no {name} {labels} in {fams[family].samples}")


class TmuxTop:
    """`memgroup top -d 0.3 ARGS` in a real terminal: a private tmux server
    of WIDTH x 30 cells. screen_when() captures the screen until ready(screen)
    holds (15 s), quit() sends q and checks that top exited 0, close() ends
    the server (call it in a finally)."""

    def __init__(self, args, width, name):
        tmux = shutil.which("tmux")
        if tmux is None:
            raise Skip("tmux is not installed "
                       "(scripts/install-deps.sh installs it)")
        self.t = [tmux, "-L", f"{name}-{os.getpid()}", "-f", "/dev/null"]
        self.env = dict(ENV)
        self.env.pop("TMUX", None)
        self.rc_file = os.path.join(TMP, f"{name}-rc")
        cmd = (f"env XDG_RUNTIME_DIR={RUNTIME} {MEMGROUP} top -d 0.3 {args}; "
               f"echo top-exit $? > {self.rc_file}; sleep 30")
        subprocess.run([*self.t, "new-session", "-d", "-s", "top", "-x",
                        str(width), "-y", "30", cmd], env=self.env,
                       check=True)

    def capture(self):
        return subprocess.run([*self.t, "capture-pane", "-p", "-t", "top"],
                              env=self.env, capture_output=True,
                              text=True).stdout

    def screen_when(self, ready):
        screen = ""
        deadline = time.time() + 15
        while time.time() < deadline:
            screen = self.capture()
            if ready(screen):
                break
            time.sleep(0.2)
        print(screen)
        return screen

    def quit(self):
        subprocess.run([*self.t, "send-keys", "-t", "top", "q"],
                       env=self.env, check=True)
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(self.rc_file):
            time.sleep(0.1)
        time.sleep(0.1)
        check(os.path.exists(self.rc_file), "q did not quit")
        with open(self.rc_file) as f:
            check(f.read().strip() == "top-exit 0", "top's exit status")

    def close(self):
        subprocess.run([*self.t, "kill-server"], env=self.env,
                       capture_output=True)


def run_case(cases):
    """Runs case_CASE of `cases` (the test script's globals): exit status 0
    pass, 1 fail, 77 skip (the reason printed), 2 unknown case."""
    fn = cases.get("case_" + CASE)
    if fn is None:
        print(f"unknown case {CASE}", file=sys.stderr)
        return 2
    try:
        fn()
        print(f"control.{CASE}: ok")
        return 0
    except Skip as e:
        print(f"control.{CASE}: skipped: {e}")
        return 77
    except AssertionError as e:
        print(f"control.{CASE}: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for j in JOBS:
            if j.p.poll() is None:
                j.kill()
        shutil.rmtree(TMP, ignore_errors=True)
