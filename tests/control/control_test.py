#!/usr/bin/env python3
"""Live control of running jobs (docs/control.md), one case per run.

Every case starts real jobs with the built `memgroup run` and libmemgroup.so
in a private runtime directory (XDG_RUNTIME_DIR), and checks the commands
on them:
  list             two live jobs, one line each, with their numbers
  stale            a job whose supervisor was SIGKILLed: list removes its block
  stat_text        key value text: limits, events, members (their charges
                   add up to the job's current), an untracked process
  stat_json        --json parses; the documented schema and its types
  stat_prometheus  --prometheus parses with prometheus_client's parser
  set_wait_demo    a program under --max 5M --oom wait pauses after about 4
                   steps of 1 MiB; set max=10M; it completes all 8
  set_semantics    a max below usage refuses the next charge; high, oom,
                   max=max; a member pid and PID:/ address the job
  events           memory.events counts after refusals
  events_follow    --follow prints a line per change, exits when the job ends
  top_plain        top -n 2 without a terminal: two plain frames; PID filter
  top_tmux         top in a real terminal (tmux): drawn, q quits
  reclaim_python   reclaim on a python job (a reclaim callback through the C
                   ABI, freed large blocks, a fork child): bytes released,
                   current drops, members blocked in read() answer
  reclaim_blocked  a member whose only thread sleeps in read() (cat)
                   answers within a second, also as a member of a nested
                   job's enclosing job; with MEMGROUP_CONTROL=0 it has no
                   agent and is reported, not waited for
  reclaim_short    more than can be released: exit 1 with EAGAIN's meaning;
                   a stopped member does not hang the command (--timeout)
  set_reclaim      set max below usage reclaims first (every member), then
                   the new max refuses further charges
  other_user       set, reclaim and stat refuse another user's job (setpriv;
                   root only)
  hostile_blocks   truncated, hostile and odd files in the job directory
  usage_errors     usage errors exit 2 with the usage; unknown pid/group 1
  member_groups    a member's C-ABI groups /tenant/a and /tenant/b: seen by
                   stat (text, JSON, Prometheus), addressed as PID:/a/b and
                   PID /a/b; set max on /tenant/a from outside makes its
                   next allocation fail while /tenant/b still allocates;
                   low, min, oom; reclaim; top shows them; gone after
                   destroy
  member_groups_exit  a member's groups vanish when it exits (exit hook)
                   and when it is SIGKILLed (its slot is released)
  hostile_group_table  a hostile group table: bad paths, owners that are
                   not members, torn figures, indices out of range
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: control_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
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

def case_list():
    a = Job(["--max", "64M"], [ALLOC, "3", "HOLD"])
    b = Job([], [ALLOC, "2", "HOLD"])
    a.wait_for("^done$")
    b.wait_for("^done$")
    out = mg_ok("list")
    lines = out.splitlines()
    check(lines[0].split() == ["PID", "MEMBERS", "CURRENT", "MAX", "PEAK",
                               "OOM", "COMMAND"], f"header: {lines[0]}")
    rows = {int(l.split()[0]): l.split(None, 6) for l in lines[1:]}
    check(set(rows) == {a.pid, b.pid}, f"rows {rows} for {a.pid} {b.pid}")
    ra, rb = rows[a.pid], rows[b.pid]
    check(ra[1] == "1" and rb[1] == "1", f"members: {ra} {rb}")
    check(int(ra[2]) >= 3 * MIB and int(rb[2]) >= 2 * MIB, f"current {ra} {rb}")
    check(ra[3] == str(64 * MIB) and rb[3] == "max", f"max: {ra} {rb}")
    check(int(ra[4]) >= int(ra[2]), f"peak below current: {ra}")
    check(ra[5] == "0", f"oom events: {ra}")
    check(ra[6].endswith("control_alloc 3 " + a.hold), f"command: {ra}")
    check(a.finish() == 0 and b.finish() == 0, "jobs failed")
    out = mg_ok("list")
    check(len(out.splitlines()) == 1, f"ended jobs still listed:\n{out}")


def case_stale():
    j = Job([], [ALLOC, "1", "HOLD"])
    j.wait_for("^done$")
    blocks = os.listdir(JOBDIR)
    check(len(blocks) == 1, f"blocks: {blocks}")
    j.kill()  # the supervisor and the program, SIGKILL: nobody cleans up
    check(os.path.exists(os.path.join(JOBDIR, blocks[0])), "block vanished")
    r = mg("list")
    check(r.returncode == 0, f"list: {r.returncode} {r.stderr}")
    check("removed the stale block" in r.stderr and blocks[0] in r.stderr,
          f"no note: {r.stderr!r}")
    check(not os.path.exists(os.path.join(JOBDIR, blocks[0])), "block kept")
    check(len(r.stdout.splitlines()) == 1, f"stale job listed: {r.stdout}")


# A member that starts, with posix_spawn (no fork handler runs) and without
# the preload, a process the job cannot account: an untracked process.
SPAWN_UNTRACKED = r"""
import os, sys, time
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
pid = os.posix_spawn("/bin/sleep", ["sleep", "60"], env)
print("spawned", pid, flush=True)
for _ in range(3000):
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.01)
os.kill(pid, 9)
os.waitpid(pid, 0)
"""


def mixed_job(run_args):
    """bash running two allocators and a python that spawns an untracked
    sleep; returns (job, sleep pid)."""
    script = os.path.join(TMP, "spawn.py")
    with open(script, "w") as f:
        f.write(SPAWN_UNTRACKED)
    j = Job(run_args, ["bash", "-c",
                       f"{ALLOC} 3 $0 & {ALLOC} 2 $0 & "
                       f"{sys.executable} {script} $0 & wait", "HOLD"])
    j.wait_for("^done$", count=2)
    j.wait_for("^spawned ")
    sleep_pid = int([l for l in j.lines if l.startswith("spawned")][0].split()[1])
    return j, sleep_pid


def allocator_pids(j):
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


def case_stat_text():
    j, sleep_pid = mixed_job(["--max", "64M", "--high", "32M",
                              "--oom", "wait:5"])
    time.sleep(0.2)  # quiescent: every member has charged what it holds
    s = kv(mg_ok("stat", j.pid))
    check(s["pid"] == str(j.pid) and s["group"] == "/", f"{s}")
    check(s["max"] == str(64 * MIB) and s["high"] == str(32 * MIB), f"{s}")
    check(s["oom.policy"] == "wait:5", f"{s}")
    for key in ("events.high", "events.max", "events.oom", "events.oom_kill",
                "failcnt", "stat.throttled_usec", "peak", "oom.waiters"):
        check(re.fullmatch(r"\d+", s[key]), f"{key}: {s}")
    members = as_list(s.get("member"))
    check(int(s["members"]) == len(members), f"{s}")
    current = int(s["current"])
    charged = {int(m.split()[0]): int(m.split()[1]) for m in members}
    check(sum(charged.values()) == current,
          f"members' charges {charged} do not add up to current {current}")
    for pid, steps in allocator_pids(j):
        check(charged.get(pid, 0) >= steps * MIB, f"member {pid}: {charged}")
    check(current >= 5 * MIB, f"current {current}")
    untracked = as_list(s.get("untracked_process"))
    check(int(s["untracked"]) == len(untracked), f"{s}")
    check(any(u.split()[0] == str(sleep_pid) and "sleep 60" in u
              for u in untracked), f"sleep {sleep_pid} not untracked: {s}")
    # A member's pid and PID:/ find the same job.
    member = allocator_pids(j)[0][0]
    for args in ([member], [j.pid, "/"], [j.pid, f"{member}:/"]):
        check(kv(mg_ok("stat", *args))["pid"] == str(j.pid), f"stat {args}")
    check(j.finish() == 0, f"job failed: {j.err}")


def case_stat_json():
    j, sleep_pid = mixed_job(["--max", "64M"])
    time.sleep(0.2)
    doc = json.loads(mg_ok("stat", "--json", j.pid))
    schema = {"schema": str, "pid": int, "group": str, "command": str,
              "start_unix_ns": int, "current": int, "peak": int,
              "max": (int, type(None)), "high": (int, type(None)),
              "oom": dict, "failcnt": int, "events": dict, "stat": dict,
              "members": list, "untracked": list, "groups": list,
              "groups_unpublished": int}
    check(set(doc) == set(schema), f"keys {sorted(doc)}")
    for k, t in schema.items():
        check(isinstance(doc[k], t), f"{k}: {doc[k]!r}")
    check(doc["schema"] == "memgroup.stat.v1" and doc["pid"] == j.pid, f"{doc}")
    check(doc["max"] == 64 * MIB and doc["high"] is None, f"{doc}")
    check(doc["oom"] == {"policy": "enomem", "waiters": 0}, f"{doc['oom']}")
    check(set(doc["events"]) == {"high", "max", "oom", "oom_kill"}, f"{doc}")
    check(doc["stat"] == {"throttled_usec": 0}, f"{doc['stat']}")
    for m in doc["members"]:
        check(set(m) == {"pid", "command", "current", "peak"}, f"{m}")
    check(sum(m["current"] for m in doc["members"]) == doc["current"],
          f"members do not add up: {doc}")
    check({p for p, _ in allocator_pids(j)} <= {m["pid"] for m in doc["members"]},
          f"allocators missing: {doc['members']}")
    check([u["pid"] for u in doc["untracked"]] == [sleep_pid],
          f"untracked {doc['untracked']} (sleep {sleep_pid})")
    check(doc["untracked"][0]["command"] == "sleep 60", f"{doc['untracked']}")
    check(doc["groups"] == [] and doc["groups_unpublished"] == 0, f"{doc}")
    check(j.finish() == 0, "job failed")


def case_stat_prometheus():
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise Skip("python3-prometheus-client is not installed "
                   "(scripts/install-deps.sh installs it)")
    a = Job(["--max", "64M", "--high", "48M"], [ALLOC, "3", "HOLD"])
    a.wait_for("^done$")
    time.sleep(0.1)
    text = mg_ok("stat", "--prometheus", a.pid)
    check(text.endswith("\n"), "no final newline")
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    want = {"memgroup_current_bytes": "gauge", "memgroup_peak_bytes": "gauge",
            "memgroup_max_bytes": "gauge", "memgroup_high_bytes": "gauge",
            "memgroup_events": "counter", "memgroup_info": "gauge",
            "memgroup_failcnt": "counter",
            "memgroup_throttled_seconds": "counter",
            "memgroup_members": "gauge",
            "memgroup_untracked_processes": "gauge",
            "memgroup_member_current_bytes": "gauge",
            "memgroup_groups_unpublished": "gauge"}
    check({n: f.type for n, f in fams.items()} == want,
          f"families {[(n, f.type) for n, f in fams.items()]}")
    for f in fams.values():
        check(f.documentation, f"{f.name}: no HELP")
        for s in f.samples:
            check(s.labels["pid"] == str(a.pid) and s.labels["group"] == "/",
                  f"labels {s}")

    def value(name, **labels):
        for s in fams[name].samples:
            if all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise AssertionError(f"no {name} {labels}")
    doc = json.loads(mg_ok("stat", "--json", a.pid))
    check(value("memgroup_max_bytes") == 64 * MIB, "max")
    check(value("memgroup_high_bytes") == 48 * MIB, "high")
    check(value("memgroup_current_bytes") == doc["current"], "current")
    check(value("memgroup_current_bytes") >= 3 * MIB, "current small")
    check(value("memgroup_members") == 1, "members")
    for e in ("high", "max", "oom", "oom_kill"):
        check(value("memgroup_events", event=e) == doc["events"][e], e)
    member = doc["members"][0]
    check(value("memgroup_member_current_bytes", member=str(member["pid"]))
          == member["current"], "member current")
    # An unlimited job: +Inf.
    b = Job([], [ALLOC, "1", "HOLD"])
    b.wait_for("^done$")
    fams = {f.name: f for f in text_string_to_metric_families(
        mg_ok("stat", "--prometheus", b.pid))}
    check(fams["memgroup_max_bytes"].samples[0].value == float("inf"), "+Inf")
    check(a.finish() == 0 and b.finish() == 0, "jobs failed")


def case_set_wait_demo():
    # The seed's demonstration: 8 steps of 1 MiB under a 5M limit that waits.
    j = Job(["--max", "5M", "--oom", "wait"], [ALLOC, "8"])
    j.wait_for("^step 3$")
    n = len(j.lines)
    while True:  # until it stops making progress for a second
        time.sleep(1.0)
        if len(j.lines) == n:
            break
        n = len(j.lines)
    steps = [l for l in j.lines if l.startswith("step")]
    check(3 <= len(steps) <= 5 and "done" not in j.lines,
          f"paused after {steps}")
    s = kv(mg_ok("stat", j.pid))
    check(int(s["events.max"]) >= 1 and int(s["oom.waiters"]) >= 1,
          f"not waiting at max: {s}")
    print(f"paused after {len(steps)} steps; stat: current {s['current']}, "
          f"waiters {s['oom.waiters']}")
    t0 = time.time()
    mg_ok("set", j.pid, "/", "max=10M")
    j.wait_for("^done$", timeout=10)
    print(f"set max=10M -> done in {time.time() - t0:.3f} s")
    check(j.p.wait(timeout=10) == 0, f"exit {j.p.returncode}")
    time.sleep(0.05)
    check([l for l in j.lines if l.startswith("step")] ==
          [f"step {i}" for i in range(1, 9)], f"{j.lines}")


def case_set_semantics():
    j = Job(["--max", "64M"], [ALLOC, "6", "HOLD"])
    j.wait_for("^done$")
    member = allocator_pids(j)[0][0]
    mg_ok("set", j.pid, "/", "max=2M")
    s = kv(mg_ok("stat", j.pid))
    check(s["max"] == str(2 * MIB) and int(s["current"]) > 2 * MIB,
          f"a max below usage undoes nothing: {s}")
    mg_ok("set", member, f"{member}:/", "high=1M", "oom=enomem")
    s = kv(mg_ok("stat", member))
    check(s["high"] == str(MIB) and s["oom.policy"] == "enomem", f"{s}")
    failcnt = int(s["failcnt"])
    j.release()
    j.wait_for("^extra ")
    check("extra enomem" in j.lines, f"charge above the new max passed: {j.lines}")
    s = kv(mg_ok("stat", j.pid))
    check(int(s["failcnt"]) > failcnt and int(s["events.max"]) >= 1, f"{s}")
    mg_ok("set", j.pid, "/", "max=max", "high=max", "oom=wait:3")
    s = kv(mg_ok("stat", j.pid))
    check(s["max"] == "max" and s["high"] == "max" and
          s["oom.policy"] == "wait:3", f"{s}")
    check(j.finish() == 0, "job failed")


def case_events():
    j = Job(["--max", "4M"], [ALLOC, "8", "HOLD"])
    j.wait_for("^enomem at step")
    out = mg_ok("events", j.pid)
    ev = kv(out)
    check(list(ev) == ["high", "max", "oom", "oom_kill"], out)
    check(int(ev["max"]) >= 1 and int(ev["oom"]) >= 1 and ev["oom_kill"] == "0",
          out)
    s = kv(mg_ok("stat", j.pid))
    check(all(s[f"events.{k}"] == v for k, v in ev.items()), f"{s} {ev}")
    check(j.finish() == 3, "job")


def case_events_follow():
    j = Job(["--max", "4M"], [ALLOC, "3", "HOLD"])
    j.wait_for("^done$")
    f = subprocess.Popen([MEMGROUP, "events", "--follow", str(j.pid)],
                         env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # its first snapshot is the baseline
    j.release()       # one more MiB: refused at the job's max
    line = f.stdout.readline().rstrip("\n")
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z / "
                       r"(max|oom) [1-9]\d* \+[1-9]\d*", line), f"line {line!r}")
    j.wait_for("^extra enomem$")
    time.sleep(0.3)
    ev = kv(mg_ok("events", j.pid))
    check(j.finish() == 0, "job")
    out, err = f.communicate(timeout=10)
    check(f.returncode == 0 and "has ended" in err, f"{f.returncode} {err}")
    lines = [line] + out.splitlines()
    check("max" in {l.split()[2] for l in lines}, f"{lines}")
    # The last line of each event carries its count in `events`.
    for l in lines:
        check(re.fullmatch(r"\S+ / (max|oom) \d+ \+\d+", l), l)
    last = {l.split()[2]: l.split()[3] for l in lines}
    check(all(ev[k] == v for k, v in last.items()), f"{last} vs {ev}")


def case_top_plain():
    a = Job(["--max", "16M", "--high", "8M"], [ALLOC, "2", "HOLD"])
    b = Job([], [ALLOC, "1", "HOLD"])
    a.wait_for("^done$")
    b.wait_for("^done$")
    out = mg_ok("top", "-n", "2", "-d", "0.2")
    check("\x1b" not in out, "escape sequences without a terminal")
    frames = out.split("\n\n")
    check(len(frames) == 2, f"{len(frames)} frames:\n{out}")
    for fr in frames:
        lines = fr.splitlines()
        check(lines[0].startswith("memgroup top - ") and "2 jobs" in lines[0],
              fr)
        rows = [l for l in lines[2:] if not l.startswith("  `-")]
        check([int(r.split()[0]) for r in rows] == [a.pid, b.pid],
              f"not sorted by usage:\n{fr}")
        check(re.search(r"\[[#|-]{20}\]\s+\d+%", rows[0]), rows[0])
        check("no limit" in rows[1], rows[1])
        check(sum(1 for l in lines if l.startswith("  `-")) == 2, fr)
    one = mg_ok("top", "-n", "1", b.pid)
    check("1 job" in one and str(b.pid) in one and str(a.pid) not in one, one)
    check(a.finish() == 0 and b.finish() == 0, "jobs")


def case_top_tmux():
    tmux = shutil.which("tmux")
    if tmux is None:
        raise Skip("tmux is not installed (scripts/install-deps.sh installs it)")
    j = Job(["--max", "16M"], [ALLOC, "3", "HOLD"])
    j.wait_for("^done$")
    sock = f"mg-control-{os.getpid()}"
    t = [tmux, "-L", sock, "-f", "/dev/null"]
    env = dict(ENV)
    env.pop("TMUX", None)
    cmd = (f"env XDG_RUNTIME_DIR={RUNTIME} {MEMGROUP} top -d 0.3; "
           f"echo top-exit $? > {TMP}/top-rc; sleep 30")
    subprocess.run([*t, "new-session", "-d", "-s", "top", "-x", "160",
                    "-y", "30", cmd], env=env, check=True)
    try:
        screen = ""
        deadline = time.time() + 15
        while time.time() < deadline:
            screen = subprocess.run([*t, "capture-pane", "-p", "-t", "top"],
                                    env=env, capture_output=True,
                                    text=True).stdout
            if str(j.pid) in screen and "q quits" in screen:
                break
            time.sleep(0.2)
        print(screen)
        check(str(j.pid) in screen and "q quits" in screen, "not drawn")
        row = [l for l in screen.splitlines() if l.startswith(str(j.pid))][0]
        check(re.search(r"\[#+-*\]\s+\d+%", row) and "16M" in row, row)
        with open(os.path.join(TMP, "top-screen.txt"), "w") as f:
            f.write(screen)
        subprocess.run([*t, "send-keys", "-t", "top", "q"], env=env,
                       check=True)
        rc_file = os.path.join(TMP, "top-rc")
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(rc_file):
            time.sleep(0.1)
        time.sleep(0.1)
        check(os.path.exists(rc_file), "q did not quit")
        with open(rc_file) as f:
            check(f.read().strip() == "top-exit 0", "top's exit status")
        after = subprocess.run([*t, "capture-pane", "-p", "-t", "top"],
                               env=env, capture_output=True, text=True).stdout
        check("q quits" not in after, f"alternate screen not left:\n{after}")
    finally:
        subprocess.run([*t, "kill-server"], env=env, capture_output=True)
    check(j.finish() == 0, "job")


def python_job(run_args, cache_mib, junk_mib, mode="plain"):
    """A job of tests/control/reclaim_member.py (its usage says what it
    does)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "reclaim_member.py")
    j = Job(run_args, [sys.executable, script, str(cache_mib), str(junk_mib),
                       mode], stdin=subprocess.PIPE)
    j.wait_for("^ready ")
    if mode == "fork":
        j.wait_for("^child ")
    j.member = int([l for l in j.lines if l.startswith("ready ")][0].split()[1])
    return j


def command(j, line, reply):
    # Counted before the command is sent: a reply may arrive at once.
    with j.cv:
        n = sum(1 for l in j.lines if l.startswith(reply))
    j.p.stdin.write(line + "\n")
    j.p.stdin.flush()
    j.wait_for("^" + reply, count=n + 1)
    return [l for l in j.lines if l.startswith(reply)][-1]


def in_read(pid, timeout=10):
    """Waits until pid's main thread sleeps in read(2) (syscall 0)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/syscall") as f:
                if f.read().split()[0] == "0":
                    return True
        except (OSError, IndexError):
            pass
        time.sleep(0.02)
    return False


def job_members(j):
    """The job's members from `stat --json`; none while the job's block is
    not published yet (the supervisor creates it after it starts)."""
    r = mg("stat", "--json", j.pid)
    return json.loads(r.stdout)["members"] if r.returncode == 0 else []


def agents_ready(j, count, timeout=10):
    """Waits until `count` members exist, each with its control thread."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = [m["pid"] for m in job_members(j)]
        names = []
        for pid in pids:
            try:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{tid}/comm") as f:
                        names.append(f.read().strip())
            except OSError:
                pass
        if len(pids) >= count and names.count("memgroup-ctl") >= len(pids):
            return pids
        time.sleep(0.05)
    raise AssertionError(f"no {count} members with agents in {j.pid}")


def reclaim_lines(out):
    """kv of the reclaim output, and its member lines by pid."""
    members = {}
    for l in out.splitlines():
        f = l.split()
        if f[0] == "member":
            members[int(f[1])] = (f[2], int(f[3]), int(f[4]), int(f[5]))
    return kv(out), members


def case_reclaim_python():
    j = python_job([], 24, 32, "fork")
    child = int([l for l in j.lines if l.startswith("child ")][0].split()[1])
    pids = agents_ready(j, 2)
    check(set(pids) == {j.member, child}, f"members {pids}")
    check(in_read(j.member) and in_read(child), "members not in read()")
    before = int(kv(mg_ok("stat", j.pid))["current"])
    t0 = time.time()
    r = mg("reclaim", j.pid, "/", "16M")
    took = time.time() - t0
    print(r.stdout, r.stderr, f"took {took:.3f} s", sep="\n")
    check(r.returncode == 0 and r.stderr == "", f"{r}")
    out, members = reclaim_lines(r.stdout)
    check(out["requested"] == str(16 * MIB), f"{out}")
    released, reclaimed, purged = (int(out[k]) for k in
                                   ("released", "reclaimed", "purged"))
    check(released == reclaimed + purged and released >= 16 * MIB, f"{out}")
    check(reclaimed >= 16 * MIB, f"the callback released {reclaimed}")
    check(purged >= MIB, f"free engine pages returned: {purged}")
    check(out["members"] == "2" and out["answered"] == "2", f"{out}")
    check(all(m[0] == "answered" for m in members.values()) and
          set(members) == {j.member, child}, f"{members}")
    # The parent holds the charge, so it gets (almost) the whole request.
    check(members[j.member][1] >= 15 * MIB, f"share {members}")
    after = int(kv(mg_ok("stat", j.pid))["current"])
    check(int(out["current.before"]) - int(out["current.after"]) >= 15 * MIB
          and after <= before - 15 * MIB,
          f"current {before} -> {after} ({out})")
    check(in_read(j.member) and in_read(child), "members left read()")
    check(command(j, "cache", "cache ").split()[1] == "8", f"{j.lines}")
    j.p.stdin.write("quit\n")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, f"job {j.p.returncode} {j.err}")


def case_reclaim_blocked():
    j = Job([], ["cat"], stdin=subprocess.PIPE)
    pid = agents_ready(j, 1)[0]
    threads = os.listdir(f"/proc/{pid}/task")
    check(len(threads) == 2, f"cat's threads {threads}")
    check(in_read(pid), "cat is not in read()")
    for _ in range(3):
        t0 = time.time()
        r = mg("reclaim", j.pid, "/", "0")
        took = time.time() - t0
        print(f"reclaim of a member in read(): {took:.3f} s")
        check(r.returncode == 0 and took < 1.0, f"{took:.3f} s {r}")
        out, members = reclaim_lines(r.stdout)
        check(members == {pid: members[pid]} and
              members[pid][0] == "answered", f"{r.stdout}")
    check(in_read(pid), "cat left read()")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, f"job {j.p.returncode}")
    # A nested job: cat is a member of the inner job and of this one; its
    # agent waits on the inner slot and looks at the outer one every 200 ms.
    j = Job([], [MEMGROUP, "run", "--", "cat"], stdin=subprocess.PIPE)
    pids = agents_ready(j, 2)
    for _ in range(2):
        t0 = time.time()
        r = mg("reclaim", j.pid, "/", "0")
        took = time.time() - t0
        print(f"reclaim of the enclosing job of a nested job: {took:.3f} s")
        out, members = reclaim_lines(r.stdout)
        check(r.returncode == 0 and took < 1.0 and set(members) == set(pids)
              and all(m[0] == "answered" for m in members.values()), f"{r}")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, f"job {j.p.returncode}")
    # MEMGROUP_CONTROL=0 (set by env, which then execs cat in its slot):
    # no agent thread, the member is reported and not waited for.
    j = Job([], ["env", "MEMGROUP_CONTROL=0", "cat"], stdin=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        members = job_members(j)
        if members and members[0]["command"] == "cat" and in_read(
                members[0]["pid"], 0.1):
            break
        time.sleep(0.05)
    pid = members[0]["pid"]
    check(len(os.listdir(f"/proc/{pid}/task")) == 1, "an agent thread")
    t0 = time.time()
    r = mg("reclaim", j.pid, "/", "0")
    took = time.time() - t0
    out, members = reclaim_lines(r.stdout)
    check(r.returncode == 0 and took < 1.0 and
          members[pid][0] == "no_agent" and
          f"member {pid} has no control agent" in r.stderr, f"{r}")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, f"job {j.p.returncode}")


def case_reclaim_short():
    j = python_job([], 8, 0)
    agents_ready(j, 1)
    r = mg("reclaim", j.pid, "/", "1G")
    print(r.stdout, r.stderr, sep="\n")
    out, members = reclaim_lines(r.stdout)
    check(r.returncode == 1 and "EAGAIN" in r.stderr and
          "of the 1073741824 bytes requested" in r.stderr and
          r.stderr.count("\n") == 1, f"{r}")
    check(int(out["released"]) < 1 << 30 and
          int(out["reclaimed"]) >= 8 * MIB, f"{out}")
    check(command(j, "cache", "cache ").split()[1] == "0", f"{j.lines}")
    # A member that cannot answer (stopped) does not hold the command.
    os.kill(j.member, signal.SIGSTOP)
    try:
        t0 = time.time()
        r = mg("reclaim", "--timeout", "0.5", j.pid, "/", "1M")
        took = time.time() - t0
        print(r.stdout, r.stderr, f"took {took:.3f} s", sep="\n")
        out, members = reclaim_lines(r.stdout)
        check(r.returncode == 1 and took < 3.0 and
              f"member {j.member} did not answer within 500 ms" in r.stderr
              and members[j.member][0] == "timeout", f"{r}")
    finally:
        os.kill(j.member, signal.SIGCONT)
    # Its late answer does not confuse the next request.
    r = mg("reclaim", j.pid, "/", "0")
    check(r.returncode == 0 and reclaim_lines(r.stdout)[1][j.member][0] ==
          "answered", f"{r}")
    j.p.stdin.write("quit\n")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, f"job {j.p.returncode} {j.err}")


def case_set_reclaim():
    j = python_job(["--max", "256M"], 32, 0)
    agents_ready(j, 1)
    current = int(kv(mg_ok("stat", j.pid))["current"])
    new_max = current - 12 * MIB
    r = mg("set", j.pid, "/", f"max={new_max}")
    print(r.stdout, r.stderr, sep="\n")
    check(r.returncode == 0 and r.stderr == "", f"{r}")
    s = kv(mg_ok("stat", j.pid))
    check(s["max"] == str(new_max) and int(s["current"]) <= new_max,
          f"current {current} -> {s['current']}, max {new_max}")
    cached = int(command(j, "cache", "cache ").split()[1])
    check(cached <= 20 and cached >= 16, f"cache {cached}")
    print(f"set max={new_max} below current {current}: current "
          f"{s['current']}, {32 - cached} MiB reclaimed")
    # The new max refuses what does not fit.
    check(command(j, "alloc 32", "alloc ") == "alloc MemoryError", f"{j.lines}")
    check(int(kv(mg_ok("stat", j.pid))["events.max"]) >= 1, "events.max")
    j.p.stdin.write("quit\n")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, f"job {j.p.returncode} {j.err}")


def case_other_user():
    if os.geteuid() != 0:
        raise Skip("needs root to start a job as a second user (setpriv)")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise Skip("setpriv is not installed")
    nobody = pwd.getpwnam("nobody")
    as_nobody = [setpriv, f"--reuid={nobody.pw_uid}",
                 f"--regid={nobody.pw_gid}", "--clear-groups"]
    for path in (MEMGROUP, LIB, ALLOC):
        if not os.access(path, os.R_OK):
            raise Skip(f"{path} is not readable")
    pub = tempfile.mkdtemp(prefix="mg-control-pub-")
    os.chmod(pub, 0o755)
    shm = f"/dev/shm/memgroup-{nobody.pw_uid}"
    had_shm = os.path.exists(shm)
    env_nobody = {k: v for k, v in ENV.items() if k != "XDG_RUNTIME_DIR"}
    try:
        theirs = Job([], [ALLOC, "2", os.path.join(pub, "hold")],
                     env=env_nobody, prefix=as_nobody)
        theirs.wait_for("^done$")
        for args in (["set", theirs.pid, "/", "max=1M"],
                     ["reclaim", theirs.pid, "/", "1M"],
                     ["stat", theirs.pid], ["events", theirs.pid]):
            r = mg(*args)
            check(r.returncode == 1 and "belongs to another user" in r.stderr
                  and r.stderr.count("\n") == 1, f"{args}: {r}")
        s = kv(mg_ok("stat", theirs.pid, env=env_nobody, prefix=as_nobody))
        check(s["max"] == "max", f"their job changed: {s}")
        ours = Job([], [ALLOC, "1", "HOLD"])
        ours.wait_for("^done$")
        for args in (["set", ours.pid, "/", "max=1M"],
                     ["reclaim", ours.pid, "/", "1M"]):
            r = mg(*args, env=env_nobody, prefix=as_nobody)
            check(r.returncode == 1 and "belongs to another user" in r.stderr,
                  f"nobody's {args[0]} on root's job: {r}")
        r = mg("list", env=env_nobody, prefix=as_nobody)
        check(r.returncode == 0 and str(ours.pid) not in r.stdout and
              str(theirs.pid) in r.stdout, f"nobody's list: {r}")
        check(kv(mg_ok("stat", ours.pid))["max"] == "max", "ours changed")
        # A block in our directory owned by someone else is not ours.
        blocks = os.listdir(JOBDIR)
        os.chown(os.path.join(JOBDIR, blocks[0]), nobody.pw_uid, -1)
        r = mg("list")
        check(r.returncode == 0 and "owned by another user" in r.stderr and
              str(ours.pid) not in r.stdout, f"foreign block: {r}")
        os.chown(os.path.join(JOBDIR, blocks[0]), 0, -1)
        open(os.path.join(pub, "hold"), "w").close()
        open(os.path.join(pub, "hold.end"), "w").close()
        check(theirs.p.wait(timeout=20) == 0, "their job")
        check(ours.finish() == 0, "our job")
    finally:
        shutil.rmtree(pub, ignore_errors=True)
        if not had_shm:
            try:
                os.rmdir(shm)
            except OSError:
                pass


# The block layout (src/counter/job_block.h, version 5; no stock area, no
# group table unless put_groups adds one).
HEADER = struct.Struct("<QIIQIiQq256s")
NODE_AT, MEMBERS_AT, MEMBER_SIZE = 512, 768, 128


def block(slots, supervisor=1, ticks=0, command=b"prog", magic=0x314b4f4a47524d4d,
          version=5, header_bytes=768, total=None, slot_count=None):
    total = MEMBERS_AT + slots * MEMBER_SIZE if total is None else total
    b = bytearray(MEMBERS_AT + slots * MEMBER_SIZE)
    HEADER.pack_into(b, 0, magic, version, header_bytes, total,
                     slots if slot_count is None else slot_count, supervisor,
                     ticks, 0, command)
    return b


def put_node(b, usage=0, peak=0, max_=INT64_MAX, high=INT64_MAX, events=(0,) * 4,
             policy=0, wait_ns=-1):
    struct.pack_into("<q", b, NODE_AT, usage)
    struct.pack_into("<q", b, NODE_AT + 112, peak)
    struct.pack_into("<qq", b, NODE_AT + 128, max_, high)
    struct.pack_into("<4q", b, NODE_AT + 192, *events)
    struct.pack_into("<I", b, NODE_AT + 232, policy)
    struct.pack_into("<q", b, NODE_AT + 240, wait_ns)


def put_member(b, i, state, pid, ticks=0, charged=0, peak=0):
    struct.pack_into("<IiQqq", b, MEMBERS_AT + i * MEMBER_SIZE, state, pid,
                     ticks, charged, peak)


def write(name, data, mode=0o600, old=True):
    path = os.path.join(JOBDIR, name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    if old:
        os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def case_hostile_blocks():
    live = Job(["--max", "8M"], [ALLOC, "1", "HOLD"])
    live.wait_for("^done$")
    me = os.getpid()
    write("job-trunc", b"\0" * 100)
    write("job-badmagic", block(1, magic=0x1234))
    write("job-badversion", block(1, version=9))
    write("job-badlayout", block(1, slot_count=1 << 30))
    write("job-header-size", block(1, header_bytes=64))
    write("job-mode", block(1), mode=0o644)
    os.symlink("/etc/passwd", os.path.join(JOBDIR, "job-link"))
    os.mkfifo(os.path.join(JOBDIR, "job-fifo"), 0o600)
    os.mkdir(os.path.join(JOBDIR, "job-dir"), 0o700)
    with open(os.path.join(JOBDIR, "job-huge"), "wb") as f:
        f.truncate(1 << 30)
    os.chmod(os.path.join(JOBDIR, "job-huge"), 0o600)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = write("job-stale", block(2, supervisor=dead.pid, ticks=1))
    # A block that looks live (its supervisor is this test) with hostile
    # contents: escape sequences and broken UTF-8 in the command, garbage
    # member states, impossible pids and counts.
    evil = block(6, supervisor=me, ticks=start_ticks(me),
                 command=b"\x1b[2J\x07evil \xff\xc0\x80 \xc3\xbcn\xc3\xafcode "
                         b"\xe2\x80\x8f\"quote\\ \xc2\x9b end")
    put_node(evil, usage=-1, peak=INT64_MAX, max_=-5, high=0,
             events=(INT64_MAX, -1, 7, 0), policy=99, wait_ns=-7)
    put_member(evil, 0, 2, -5, charged=10)
    put_member(evil, 1, 7, me, charged=11)
    put_member(evil, 2, 2, me, charged=123, peak=456)
    put_member(evil, 3, 2, 2**31 - 1, charged=-7, peak=-(1 << 63))
    put_member(evil, 4, 0xffffffff, 0)
    evil_path = write("job-evil", evil)
    t0 = time.time()
    r = mg("list", timeout=10)
    check(time.time() - t0 < 5, "list took too long")
    check(r.returncode == 0, f"list: {r.returncode}\n{r.stderr}")
    for name, why in (("job-trunc", "too small"),
                      ("job-badmagic", "not a memgroup job block"),
                      ("job-badversion", "unsupported job block version"),
                      ("job-badlayout", "inconsistent job block layout"),
                      ("job-header-size", "inconsistent job block layout"),
                      ("job-mode", "mode is not 0600 (0644)"),
                      ("job-link", "a symbolic link"),
                      ("job-fifo", "not a regular file"),
                      ("job-dir", "not a regular file"),
                      ("job-huge", "inconsistent job block layout")):
        check(re.search(rf"skipping \S*/{name}: .*{re.escape(why)}", r.stderr),
              f"{name}: no '{why}' in\n{r.stderr}")
    check("removed the stale block" in r.stderr and not os.path.exists(stale),
          f"stale: {r.stderr}")
    for ch in r.stdout + r.stderr:
        check(ch == "\n" or ord(ch) >= 0x20 and ch != "\x7f" and
              not 0x80 <= ord(ch) <= 0x9f, f"control character {ch!r}")
    rows = {int(l.split()[0]): l for l in r.stdout.splitlines()[1:]}
    check(set(rows) == {me, live.pid}, f"rows: {rows}")
    check("?[2J?evil ??? ünïcode" in rows[me], rows[me])
    # stat of this process finds the hostile block; all formats hold.
    s = kv(mg_ok("stat", me))
    check(s["command"] == "?[2J?evil ??? ünïcode \u200f\"quote\\ ? end",
          f"{s['command']!r}")
    check(s["members"] == "2" and s["oom.policy"] == "unknown(99)", f"{s}")
    check(sorted(m.split()[0] for m in as_list(s["member"])) ==
          sorted([str(me), str(2**31 - 1)]), f"{s}")
    doc = json.loads(mg_ok("stat", "--json", me))
    check(doc["command"] == s["command"] and doc["max"] == -5, f"{doc}")
    check(sorted(m["pid"] for m in doc["members"]) == [me, 2**31 - 1],
          f"members {doc['members']} (slot 1 has a garbage state, slot 0 a "
          f"negative pid)")
    try:
        from prometheus_client.parser import text_string_to_metric_families
        fams = list(text_string_to_metric_families(
            mg_ok("stat", "--prometheus", me)))
        info = [f for f in fams if f.name == "memgroup_info"][0]
        check(info.samples[0].labels["command"] == s["command"], "label")
    except ImportError:
        print("prometheus_client missing: the exposition was not parsed")
    for args in (["events", me], ["top", "-n", "1"]):
        out = mg_ok(*args)
        check(all(c == "\n" or c >= " " for c in out), f"{args}: {out!r}")
    # set writes the hostile block's own node, nothing else.
    mg_ok("set", me, "/", "max=3M")
    with open(evil_path, "rb") as f:
        after = f.read()
    check(struct.unpack_from("<q", after, NODE_AT + 128)[0] == 3 * MIB, "set")
    check(after[:NODE_AT + 128] == bytes(evil[:NODE_AT + 128]) and
          after[NODE_AT + 136:] == bytes(evil[NODE_AT + 136:]),
          "set wrote outside max")
    check(live.finish() == 0, "job")


# --- groups inside members (docs/control.md, "Groups inside members") -------

def groups_job(shell_tail=""):
    """A job whose member control_groups created /tenant, /tenant/a and
    /tenant/b; commands go to its stdin. Returns (job, member pid)."""
    if GROUPS is None:
        raise Skip("no control_groups program given")
    prog = ["bash", "-c", f"{GROUPS}{shell_tail}", "HOLD"] if shell_tail \
        else [GROUPS]
    j = Job([], prog, stdin=subprocess.PIPE)
    j.wait_for("^ready ")
    member = int([l for l in j.lines if l.startswith("ready ")][0].split()[1])
    return j, member


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


def case_member_groups():
    j, m = groups_job()
    send(j, "alloc a 2", "^alloc a ok$")
    send(j, "alloc b 1", "^alloc b ok$")
    a, b = f"{m}:/tenant/a", f"{m}:/tenant/b"
    # Text, all three addressings.
    s = until(lambda: (lambda d: d if d and int(d["current"]) >= 2 * MIB
                       else None)(group_kv(a)), "a's 2 MiB")
    check(s["group"] == a and s["member_pid"] == str(m) and
          s["path"] == "/tenant/a" and s["pid"] == str(j.pid), f"{s}")
    check(s["max"] == "max" and s["high"] == "max" and s["low"] == "0" and
          s["min"] == "0" and s["oom.policy"] == "enomem", f"{s}")
    check(int(s["peak"]) >= int(s["current"]), f"{s}")
    check(s["command"].startswith(os.path.basename(GROUPS)) or
          GROUPS in s["command"], f"{s}")
    for e in ("low", "high", "max", "oom", "oom_kill", "oom_group_kill"):
        check(s[f"events.{e}"] == "0" and s[f"events_local.{e}"] == "0", e)
    check(group_kv(j.pid, a)["group"] == a, "SUPERVISOR MEMBER:/PATH")
    sb = until(lambda: (lambda d: d if d and int(d["current"]) >= MIB
                        else None)(group_kv(m, "/tenant/b")), "b's 1 MiB")
    check(sb["group"] == b, f"{sb}")
    check(group_kv(j.pid, b)["group"] == b, "PID GROUP with the supervisor")
    # The job's stat lists every member's groups; a member's pid its own.
    for pid in (j.pid, m):
        d = kv(mg_ok("stat", pid))
        groups = as_list(d.get("member_group"))
        names = [g.split()[0] for g in groups]
        check(names == [f"{m}:/tenant", a, b], f"stat {pid}: {names}")
        check(d["groups"] == "3" and d["groups.unpublished"] == "0", f"{d}")
        row = {g.split()[0]: g.split()[1:] for g in groups}
        check(int(row[f"{m}:/tenant"][0]) >= 3 * MIB, f"{row}")
    # JSON: the group's object and the job's groups array.
    doc = json.loads(mg_ok("stat", "--json", a))
    check(doc["schema"] == "memgroup.group.v1" and doc["group"] == a and
          doc["member_pid"] == m and doc["path"] == "/tenant/a" and
          doc["max"] is None and doc["current"] >= 2 * MIB and
          doc["oom"]["policy"] == "enomem" and
          set(doc["events"]) == set(doc["events_local"]) ==
          {"low", "high", "max", "oom", "oom_kill", "oom_group_kill"},
          f"{doc}")
    jd = json.loads(mg_ok("stat", "--json", j.pid))
    check([g["group"] for g in jd["groups"]] == [f"{m}:/tenant", a, b] and
          jd["groups_unpublished"] == 0, f"{jd['groups']}")
    # Prometheus: a `group` label per group, parsed by the project's parser.
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise Skip("python3-prometheus-client is not installed")
    fams = {f.name: f for f in text_string_to_metric_families(
        mg_ok("stat", "--prometheus", j.pid))}

    def value(fams, name, **labels):
        for smp in fams[name].samples:
            if all(smp.labels.get(k) == v for k, v in labels.items()):
                return smp.value
        raise AssertionError(f"no {name} {labels}")
    check(value(fams, "memgroup_current_bytes", group=a) >= 2 * MIB, "prom a")
    check(value(fams, "memgroup_current_bytes", group="/") >= 3 * MIB, "job")
    check(value(fams, "memgroup_max_bytes", group=a) == float("inf"), "max")
    check(value(fams, "memgroup_events", group=b, event="oom_group_kill") == 0,
          "events")
    one = list(text_string_to_metric_families(mg_ok("stat", "--prometheus", a)))
    for f in one:
        for smp in f.samples:
            check(smp.labels["group"] == a and smp.labels["pid"] == str(j.pid),
                  f"{smp}")
    check({f.name for f in one} >= {"memgroup_current_bytes",
                                    "memgroup_peak_bytes", "memgroup_max_bytes",
                                    "memgroup_high_bytes", "memgroup_events"},
          f"{[f.name for f in one]}")
    # set from outside: a's next allocation fails, b still allocates.
    cur_a = int(group_kv(a)["current"])
    mg_ok("set", a, f"max={cur_a + MIB // 2}")
    check(group_kv(a)["max"] == str(cur_a + MIB // 2), "max published")
    send(j, "alloc a 1", "^alloc a ", count=2)
    check(j.lines[-1] == "alloc a enomem", f"{j.lines}")
    send(j, "alloc b 2", "^alloc b ok$", count=2)
    s = until(lambda: (lambda d: d if d and int(d["events.max"]) >= 1
                       else None)(group_kv(a)), "a's max event")
    check(int(s["events_local.max"]) >= 1, f"{s}")
    mg_ok("set", m, "/tenant/a", "max=max", "high=64M", "low=1M", "min=512K",
          "oom=wait:1")
    s = group_kv(a)
    check(s["max"] == "max" and s["high"] == str(64 * MIB) and
          s["low"] == str(MIB) and s["min"] == str(512 * 1024) and
          s["oom.policy"] == "wait:1", f"{s}")
    send(j, "alloc a 1", "^alloc a ok$", count=2)
    r = mg("set", a, "max=-1")
    check(r.returncode == 2, f"bad value: {r}")
    # reclaim of a member group: answered (no callbacks: less than asked is
    # EAGAIN's exit 1).
    r = mg("reclaim", b, "1M")
    out = kv(r.stdout)
    check(r.returncode in (0, 1) and out.get("group") == b and
          out.get("requested") == str(MIB) and "released" in out, f"{r}")
    check(r.returncode == 0 or "EAGAIN" in r.stderr, f"{r}")
    # top shows the groups under their member.
    top = mg_ok("top", "-n", "1", j.pid)
    check(re.search(r"^\s+tenant\s", top, re.M) and
          re.search(r"^\s+a\s", top, re.M) and
          re.search(r"^\s+b\s", top, re.M), f"top:\n{top}")
    # Unknown groups name what is published.
    r = mg("stat", f"{m}:/tenant/c")
    check(r.returncode == 1 and "/tenant/a" in r.stderr, f"{r}")
    r = mg("stat", j.pid, "/tenant/a")
    check(r.returncode == 1 and "supervisor has no groups" in r.stderr, f"{r}")
    # destroy: the entries vanish at once.
    send(j, "destroy", "^destroyed$")
    r = mg("stat", a)
    check(r.returncode == 1 and "unknown group" in r.stderr, f"{r}")
    d = kv(mg_ok("stat", j.pid))
    check(d["groups"] == "0" and "member_group" not in d, f"{d}")
    send(j, "create", "^created$")
    check(kv(mg_ok("stat", m))["groups"] == "3", "created again")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")


def case_member_groups_exit():
    # Two members in turn: the first quits (its exit hook withdraws its
    # groups), the second is SIGKILLed (its slot, and with it its entries,
    # is released); the shell keeps the job alive meanwhile.
    j, m1 = groups_job(f"; {GROUPS}; while [ ! -e $0 ]; do sleep 0.05; done")
    until(lambda: kv(mg_ok("stat", j.pid))["groups"] == "3", "3 groups")
    send(j, "quit", "^quit$")
    j.wait_for("^ready ", count=2)
    m2 = int([l for l in j.lines if l.startswith("ready ")][1].split()[1])
    d = until(lambda: (lambda d: d if [g.split()[0] for g in
                                       as_list(d.get("member_group"))] ==
                       [f"{m2}:/tenant", f"{m2}:/tenant/a", f"{m2}:/tenant/b"]
                       else None)(kv(mg_ok("stat", j.pid))), "m2's groups")
    # m1's exit hook withdrew its groups (its slot may stay until reaped).
    check(not any(g.startswith(f"{m1}:") for g in
                  as_list(d.get("member_group"))), f"{d}")
    os.kill(m2, signal.SIGKILL)
    d = until(lambda: (lambda d: d if d["groups"] == "0" else None)(
        kv(mg_ok("stat", j.pid))), "m2's groups gone")
    r = mg("stat", f"{m2}:/tenant/a")
    check(r.returncode == 1, f"{r}")
    j.release()
    check(j.p.wait(timeout=20) == 0, "job")


# The group table (src/counter/job_group_table.h): a page of JobGroupArea
# after the member table, then entries of 512 bytes.
ENTRY_SIZE, PATH_AT = 512, 320


def groups_block(slots, entries, **kw):
    b = block(slots, **kw)
    off = (MEMBERS_AT + slots * MEMBER_SIZE + 4095) // 4096 * 4096
    total = off + 4096 + entries * ENTRY_SIZE
    b.extend(b"\0" * (total - len(b)))
    struct.pack_into("<Q", b, 16, total)
    struct.pack_into("<I", b, 308, entries)
    return b, off + 4096


def put_entry(b, at, i, state, pid, slot, path, ticks=0, seq=0, current=0,
              max_=INT64_MAX):
    e = at + i * ENTRY_SIZE
    struct.pack_into("<IIiIQQqqq", b, e, state, seq, pid, slot, ticks, 7,
                     current, current, max_)
    b[e + PATH_AT:e + PATH_AT + len(path)] = path


def case_hostile_group_table():
    os.makedirs(JOBDIR, 0o700, exist_ok=True)
    me = os.getpid()
    ticks = start_ticks(me)
    b, at = groups_block(4, 16, supervisor=me, ticks=ticks)
    put_member(b, 0, 2, me, ticks=ticks, charged=5)
    put_member(b, 1, 2, 2**31 - 1, ticks=1)
    struct.pack_into("<I", b, at - 4096, 0xffffffff)  # used: clamped to 16
    put_entry(b, at, 0, 2, me, 0, b"/good", ticks=ticks, current=123)
    put_entry(b, at, 1, 2, me, 0, b"/x" * 200, ticks=ticks)  # no NUL
    put_entry(b, at, 2, 2, me, 0, b"/\x1b[2J", ticks=ticks)  # bad characters
    put_entry(b, at, 3, 2, me, 0, b"//a", ticks=ticks)
    put_entry(b, at, 4, 2, me, 0, b"/a/", ticks=ticks)
    put_entry(b, at, 5, 2, me, 9999, b"/slot", ticks=ticks)  # slot out of range
    put_entry(b, at, 6, 2, me, 1, b"/wrong-owner", ticks=ticks)
    put_entry(b, at, 7, 2, me, 0, b"/old", ticks=ticks + 1)  # another image
    put_entry(b, at, 8, 2, me, 0, b"/torn", ticks=ticks, seq=3)  # odd seq
    put_entry(b, at, 9, 7, me, 0, b"/garbage-state", ticks=ticks)
    put_entry(b, at, 10, 2, -1, 0, b"/neg", ticks=ticks)
    put_entry(b, at, 15, 2, me, 0, b"/last.one_-9", ticks=ticks, max_=-5)
    write("job-groups", b)
    t0 = time.time()
    d = kv(mg_ok("stat", me, timeout=10))
    check(time.time() - t0 < 5, "stat took too long")
    names = [g.split()[0] for g in as_list(d.get("member_group"))]
    check(names == [f"{me}:/good", f"{me}:/last.one_-9"], f"{names}")
    s = kv(mg_ok("stat", f"{me}:/good"))
    check(s["current"] == "123" and s["path"] == "/good", f"{s}")
    s = kv(mg_ok("stat", f"{me}:/last.one_-9"))
    check(s["max"] == "-5", f"{s}")
    for args in (["stat", "--json", me], ["stat", "--prometheus", me],
                 ["top", "-n", "1"], ["list"]):
        out = mg_ok(*args)
        check(all(c == "\n" or " " <= c < "\x7f" or ord(c) > 0x9f
                  for c in out), f"{args}: {out!r}")
    json.loads(mg_ok("stat", "--json", me))
    for path in ("/torn", "/x", "/slot", "/wrong-owner", "/old"):
        r = mg("stat", f"{me}:{path}")
        check(r.returncode == 1 and "unknown group" in r.stderr, f"{path} {r}")
    # set on the hostile block: the owner has no agent: said, nothing hangs.
    r = mg("set", f"{me}:/good", "max=1M", timeout=10)
    check(r.returncode == 1 and "no control agent" in r.stderr, f"{r}")
    # A table whose size does not match the file is refused.
    bad, _ = groups_block(4, 16, supervisor=me, ticks=ticks)
    struct.pack_into("<I", bad, 308, 17)
    write("job-groups", bad)
    r = mg("stat", me)
    check(r.returncode == 1, f"{r}")
    bad, _ = groups_block(4, 16, supervisor=me, ticks=ticks)
    struct.pack_into("<I", bad, 308, 1 << 20)
    write("job-groups", bad)
    r = mg("list")
    check("inconsistent job block layout" in r.stderr, f"{r}")


def case_usage_errors():
    cases = [[], ["bogus"], ["--bogus"], ["list", "x"], ["stat"], ["stat", "abc"],
             ["stat", "0"], ["stat", "-1"], ["stat", "99999999999"],
             ["stat", "--json", "--prometheus", "1"], ["stat", "--bogus", "1"],
             ["stat", "1", "/", "x"], ["set", "1"], ["set", "1", "/"],
             ["set", "1", "/", "max=abc"], ["set", "1", "/", "max=-1"],
             ["set", "1", "/", "low=1M"], ["set", "1", "/", "min=1M"],
             ["set", "1", "/", "foo=1"], ["set", "1", "/", "max"],
             ["set", "1", "/", "oom=sometimes"], ["events"],
             ["events", "1", "2"], ["events", "--bogus", "1"],
             ["top", "-n", "0"], ["top", "-n"], ["top", "-d", "x"],
             ["top", "-d", "0"], ["top", "-z"], ["reclaim"],
             ["reclaim", "1"], ["reclaim", "1", "/"],
             ["reclaim", "1", "/", "abc"], ["reclaim", "1", "/", "max"],
             ["reclaim", "1", "/", "-1"], ["reclaim", "1", "/", "1M", "x"],
             ["reclaim", "--timeout", "0", "1", "/", "1M"],
             ["reclaim", "--timeout", "x", "1", "/", "1M"],
             ["reclaim", "--timeout=1", "--timeout=2", "1", "/", "1M"],
             ["reclaim", "1", "/", "1M", "--timeout"],
             ["reclaim", "--bogus", "1", "/", "1M"],
             # A repeated option or key is an error, not "the last wins".
             ["set", "1", "/", "max=1M", "max=2M"],
             ["set", "1", "/", "oom=kill", "high=1M", "oom=wait"],
             ["top", "-n", "1", "-n", "2"], ["top", "-d", "1", "-d", "2"],
             ["events", "--follow", "-f", "1"]]
    for args in cases:
        r = mg(*args)
        check(r.returncode == 2 and "Usage: memgroup" in r.stderr and
              r.stderr.startswith("memgroup: "), f"{args}: {r}")
    for args in (["list", "--help"], ["stat", "--help"], ["set", "-h"],
                 ["reclaim", "--help"]):
        r = mg(*args)
        check(r.returncode == 0 and "Usage: memgroup" in r.stdout, f"{args}")
    dead = subprocess.Popen(["true"])
    dead.wait()
    for args in (["stat", dead.pid], ["set", dead.pid, "/", "max=1M"],
                 ["reclaim", dead.pid, "/", "1M"],
                 ["events", dead.pid], ["top", dead.pid]):
        r = mg(*args)
        check(r.returncode == 1 and f"no process {dead.pid}" in r.stderr,
              f"{args}: {r}")
    r = mg("stat", os.getpid())
    check(r.returncode == 1 and "is not in a memgroup job" in r.stderr, f"{r}")
    j = Job([], [ALLOC, "1", "HOLD"])
    j.wait_for("^done$")
    for args in (["stat", j.pid, "/a/b"], ["set", j.pid, "/x", "max=1M"],
                 ["reclaim", j.pid, "/x", "1M"],
                 ["stat", j.pid, "1:/"], ["stat", j.pid, f"{j.pid}:/a"]):
        r = mg(*args)
        check(r.returncode == 1 and "unknown group" in r.stderr, f"{args}: {r}")
    check(j.finish() == 0, "job")


def main():
    fn = globals().get("case_" + CASE)
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


if __name__ == "__main__":
    sys.exit(main())
