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
  events_blocked_reader  a follower that is stopped, its pipe unread:
                   it maps the block read-only, and the job's refusal,
                   stat and exit take no longer; resumed, it prints the
                   event and exits
  other_user       set, reclaim and stat refuse another user's job (setpriv;
                   root only)
  usage_errors     usage errors exit 2 with the usage; unknown pid/group 1
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
import subprocess
import sys
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)


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


# `stat` reads the job's current and each member's charge one after
# another: a member may charge or uncharge in between (its agent's decay of
# free pages, for one), so the tests read it until they add up.
def text_adds_up(s):
    """The `stat` text's kv s when its members add up to current."""
    members = sum(int(m.split()[1]) for m in as_list(s.get("member")))
    return s if members == int(s["current"]) else None


def json_adds_up(d):
    """The `stat --json` document d when its members add up to current."""
    return d if sum(m["current"] for m in d["members"]) == d["current"] else None


def case_stat_text():
    j, sleep_pid = mixed_job(["--max", "64M", "--high", "32M",
                              "--oom", "wait:5"])
    time.sleep(0.2)  # quiescent: every member has charged what it holds
    s = until(lambda: text_adds_up(kv(mg_ok("stat", j.pid))),
              "the members' charges to add up to current")
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
    doc = until(lambda: json_adds_up(json.loads(mg_ok("stat", "--json", j.pid))),
                "the members' charges to add up to current")
    schema = {"schema": str, "pid": int, "group": str, "command": str,
              "start_unix_ns": int, "current": int, "peak": int,
              "max": (int, type(None)), "high": (int, type(None)),
              "oom": dict, "failcnt": int, "events": dict,
              "events_local": dict, "stat": dict,
              "pressure": dict, "members": list, "untracked": list,
              "groups": list, "groups_unpublished": int}
    check(set(doc) == set(schema), f"keys {sorted(doc)}")
    for k, t in schema.items():
        check(isinstance(doc[k], t), f"{k}: {doc[k]!r}")
    check(doc["schema"] == "memgroup.stat.v1" and doc["pid"] == j.pid, f"{doc}")
    check(doc["max"] == 64 * MIB and doc["high"] is None, f"{doc}")
    check(doc["oom"] == {"policy": "enomem", "waiters": 0}, f"{doc['oom']}")
    check(set(doc["events"]) == set(doc["events_local"]) ==
          {"high", "max", "oom", "oom_kill"}, f"{doc}")
    stat_keys = {"heap", "mmap", "explicit", "stock", "stock_bound",
                 "reclaimed", "engine_free", "engine_cached", "engine_slack"}
    check(set(doc["stat"]) == stat_keys | {"throttled_usec"} and
          doc["stat"]["throttled_usec"] == 0 and
          all(isinstance(v, int) for v in doc["stat"].values()),
          f"{doc['stat']}")
    check(set(doc["pressure"]) == {"some", "full"}, f"{doc['pressure']}")
    for kind in ("some", "full"):
        p = doc["pressure"][kind]
        check(set(p) == {"avg10", "avg60", "avg300", "total_usec"} and
              all(isinstance(p[k], (int, float)) and p[k] >= 0
                  for k in p) and isinstance(p["total_usec"], int),
              f"{doc['pressure']}")
    for m in doc["members"]:
        check(set(m) == {"pid", "command", "current", "peak", "stat",
                         "crossings"}, f"{m}")
        check(set(m["stat"]) == stat_keys, f"{m}")
        check(m["crossings"] == {"threshold_above": 0, "threshold_below": 0,
                                 "pressure_low": 0, "pressure_medium": 0,
                                 "pressure_critical": 0,
                                 "threshold_above_last": None,
                                 "threshold_below_last": None}, f"{m}")
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
            "memgroup_stat_bytes": "gauge",
            "memgroup_pressure_stall_seconds": "counter",
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
    # The job's pressure: both kinds, the JSON's totals (in seconds; read
    # a moment apart, and nothing stalls).
    check([s.labels["kind"] for s in
           fams["memgroup_pressure_stall_seconds"].samples] == ["some", "full"],
          "pressure kinds")
    for kind in ("some", "full"):
        check(abs(value("memgroup_pressure_stall_seconds", kind=kind) -
                  doc["pressure"][kind]["total_usec"] / 1e6) < 0.05,
              f"pressure {kind}")
    # The job's stat bytes: one series per key (job_stat_test.py checks
    # their values).
    check(sorted(s.labels["key"] for s in fams["memgroup_stat_bytes"].samples)
          == sorted(doc["stat"].keys() - {"throttled_usec"}), "stat keys")
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


def case_events_blocked_reader():
    j = Job(["--max", "4M"], [ALLOC, "3", "HOLD"])
    j.wait_for("^done$")
    f = subprocess.Popen([MEMGROUP, "events", "--follow", str(j.pid)],
                         env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # its first snapshot is the baseline
    # The follower maps the block read-only (shared): it cannot write it.
    with open(f"/proc/{f.pid}/maps") as m:
        maps = [l for l in m if "/memgroup/job-" in l]
    check(len(maps) == 1 and maps[0].split()[1] == "r--s", f"{maps}")
    os.kill(f.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        j.release()  # one more MiB: refused at the job's max (an event)
        j.wait_for("^extra enomem$", timeout=5)
        refused = time.time() - t0
        s = kv(mg_ok("stat", j.pid))
        check(int(s["events.max"]) >= 1, f"{s}")
        t1 = time.time()
        check(j.finish(timeout=10) == 0, "job")
        print(f"refusal {refused:.3f} s, exit {time.time() - t1:.3f} s "
              f"with the follower stopped")
        check(refused < 2 and time.time() - t1 < 5, "the job waited")
    finally:
        os.kill(f.pid, signal.SIGCONT)
    out, err = f.communicate(timeout=10)
    check(f.returncode == 0 and "has ended" in err, f"{f.returncode} {err}")
    check(re.search(r"^\S+ / max [1-9]\d* \+[1-9]\d*$", out, re.M), out)


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


def case_usage_errors():
    cases = [[], ["bogus"], ["--bogus"], ["list", "x"], ["stat"], ["stat", "abc"],
             ["stat", "0"], ["stat", "-1"], ["stat", "99999999999"],
             ["stat", "--json", "--prometheus", "1"], ["stat", "--bogus", "1"],
             ["stat", "1", "/", "x"], ["set", "1"], ["set", "1", "/"],
             ["set", "1", "/", "max=abc"], ["set", "1", "/", "max=-1"],
             ["set", "1", "/", "low=1M"], ["set", "1", "/", "min=1M"],
             ["set", "1", "/", "foo=1"], ["set", "1", "/", "max"],
             ["set", "1", "/", "oom=sometimes"], ["events"],
             ["events", "1", "/", "x"], ["events", "--bogus", "1"],
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


if __name__ == "__main__":
    sys.exit(run_case(globals()))
