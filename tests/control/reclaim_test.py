#!/usr/bin/env python3
"""`memgroup reclaim` and `set` below usage on running jobs (docs/control.md),
one case per run, on real jobs as control_test.py runs them:
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
  fork_reclaim     a member forks for 4 s while reclaim requests keep its
                   agent busy in a callback that allocates: every fork
                   child runs and exits (a fork may leave the agent out of
                   its locks only while it is parked: control_fork.c)
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: reclaim_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import os
import signal
import subprocess
import sys
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)


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


def case_fork_reclaim():
    if GROUPS is None:
        raise Skip("no CONTROL_GROUPS argument (control_fork lies beside it)")
    prog = os.path.join(os.path.dirname(GROUPS), "control_fork")
    j = Job(["--max", "256M"], [prog, "4"], stdin=subprocess.PIPE)
    j.wait_for("^ready ")
    agents_ready(j, 1)
    j.p.stdin.write("go\n")
    j.p.stdin.close()
    requests = answered = 0
    while j.p.poll() is None:
        r = mg("reclaim", j.pid, "/", "1M")
        requests += 1
        # 1: the callback releases nothing, so the request falls short.
        answered += r.returncode in (0, 1) and "answered" in r.stdout
    check(j.p.wait(timeout=20) == 0, f"job {j.p.returncode} {j.lines} {j.err}")
    time.sleep(0.05)  # let the reader threads drain
    counts = [l.split() for l in j.lines if l.startswith("forks ")]
    check(len(counts) == 1, f"{j.lines}")
    forks, calls = int(counts[0][1]), int(counts[0][3])
    print(f"{forks} forks, {requests} requests ({answered} answered), "
          f"{calls} callbacks")
    check(not any(l.startswith("stuck") for l in j.lines), f"{j.lines}")
    # About 390 forks and 27 callbacks on an idle 2-vCPU machine.
    check(forks >= 50 and calls >= 3, f"forks {forks}, callbacks {calls}")


if __name__ == "__main__":
    sys.exit(run_case(globals()))
