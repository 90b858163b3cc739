#!/usr/bin/env python3
"""A job's own `stat` bytes and `full` pressure (docs/control.md, "memgroup
stat", "Pressure of a job"), on real jobs, one case per run:
  job_stat_bytes   two members each holding 8 MiB: the job's stat.heap is
                   the sum of the members' published figures and within
                   [16 MiB, 16 MiB + 4 MiB]; the same keys in the text,
                   the JSON and Prometheus (parsed with prometheus_client)
  job_full_pressure  a single-member job whose only thread waits under
                   --oom wait: the job's full total grows with some's and
                   stays within 50 ms of it, in all three formats (also
                   after `memgroup reclaim` made the member's control
                   agent return its free pages); then a
                   job whose shell member never stalls: full stays 0 while
                   some grows
  job_stat_engine_free  a member holding 8 MiB that freed 16 MiB more
                   (free engine pages, charged): the job's stat.heap
                   leaves them out, stat.engine_free holds them, and
                   stat.heap and the stat.engine_* keys read the same in
                   the text, the JSON and Prometheus
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: job_stat_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import re
import sys
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)

STAT_KEYS = ("heap", "mmap", "explicit", "stock", "stock_bound", "reclaimed",
             "engine_free", "engine_cached", "engine_slack")
ENGINE_KEYS = ("heap", "engine_free", "engine_cached", "engine_slack")


def pressure(text_value):
    return {k: float(v) for k, v in
            (x.split("=") for x in text_value.split())}


def case_job_stat_bytes():
    n = 8
    j = Job(["--max", "256M"],
            ["bash", "-c", f"{ALLOC} {n} $0 & {ALLOC} {n} $0 & wait", "HOLD"])
    j.wait_for("^done$", count=2)
    pids = [p for p, _ in allocator_pids(j)]
    check(len(pids) == 2, f"allocators {pids}")

    # Each member's control agent publishes its figures at least once a
    # second: wait until both allocators' show their N MiB.
    def published():
        doc = json.loads(mg_ok("stat", "--json", j.pid))
        by = {m["pid"]: m for m in doc["members"]}
        if all(p in by and by[p]["stat"]["heap"] >= n * MIB for p in pids):
            return doc
        return None
    doc = until(published, "the members' heap figures", timeout=5)
    members = doc["members"]
    check(len(members) == 3, f"members {members}")  # bash and two allocators
    for m in members:
        check(set(m["stat"]) == set(STAT_KEYS), f"{m}")
    # The job's figures are the sums of its members' (one snapshot).
    for k in STAT_KEYS:
        check(doc["stat"][k] == sum(m["stat"][k] for m in members),
              f"stat.{k} {doc['stat'][k]} is not the members' sum "
              f"{[m['stat'][k] for m in members]}")
    # Each allocator's heap is its 8 MiB and its stdio buffer and array;
    # the job's adds bash's own heap: within 4 MiB above 2 x 8 MiB.
    for m in members:
        if m["pid"] in pids:
            check(n * MIB <= m["stat"]["heap"] <= (n + 1) * MIB, f"{m}")
    # What a member's stocks hold is within its bound (the shared stocks of
    # a job member counted in both); the allocators hold some after their
    # charges.
    for m in members:
        check(m["stat"]["stock"] <= m["stat"]["stock_bound"], f"{m}")
        if m["pid"] in pids:
            check(m["stat"]["stock_bound"] > 0, f"{m}")
    heap = doc["stat"]["heap"]
    check(2 * n * MIB <= heap <= (2 * n + 4) * MIB, f"stat.heap {heap}")
    check(heap <= doc["current"], f"heap {heap} above current "
          f"{doc['current']}")
    print(f"stat.heap {heap} = " +
          " + ".join(str(m["stat"]["heap"]) for m in members) +
          f" (current {doc['current']})")

    # The text: a stat.KEY line per key, the same figures (the members are
    # quiescent, hold their memory and have published it).
    s = kv(mg_ok("stat", j.pid))
    for k in STAT_KEYS:
        check(re.fullmatch(r"-?\d+", s[f"stat.{k}"]), f"stat.{k}: {s}")
    check(2 * n * MIB <= int(s["stat.heap"]) <= (2 * n + 4) * MIB, f"{s}")
    check(int(s["stat.heap"]) == heap, f"text {s['stat.heap']} json {heap}")

    # Prometheus, parsed: the job's memgroup_stat_bytes, one per key, and
    # both kinds of the job's pressure.
    fams = prom("stat", "--prometheus", j.pid)
    lab = {"pid": str(j.pid), "group": "/"}
    got = {x.labels["key"]: x.value for x in fams["memgroup_stat_bytes"].samples
           if x.labels["pid"] == lab["pid"] and x.labels["group"] == "/"}
    check(set(got) == set(STAT_KEYS), f"keys {got}")
    check(got["heap"] == heap, f"prometheus heap {got['heap']} json {heap}")
    kinds = sorted(x.labels["kind"] for x in
                   fams["memgroup_pressure_stall_seconds"].samples
                   if x.labels["group"] == "/")
    check(kinds == ["full", "some"], f"kinds {kinds}")
    check(j.finish() == 0, f"job failed: {j.err}")


def job_pressure(pid):
    """(some, full) of a job from text, JSON and Prometheus, in us."""
    s = kv(mg_ok("stat", pid))
    doc = json.loads(mg_ok("stat", "--json", pid))
    fams = prom("stat", "--prometheus", pid)
    text = (pressure(s["pressure.some"]), pressure(s["pressure.full"]))
    js = (doc["pressure"]["some"], doc["pressure"]["full"])
    pr = tuple(sample(fams, "memgroup_pressure_stall_seconds",
                      "memgroup_pressure_stall_seconds_total", pid=str(pid),
                      group="/", kind=k) * 1e6 for k in ("some", "full"))
    return text, js, pr


def check_fully_stalled(j, what):
    """The job's one member waits at its max with its one thread: `full`
    grows with `some`, within 50 ms of it, in all three formats."""
    until(lambda: int(kv(mg_ok("stat", j.pid))["oom.waiters"]) >= 1,
          "a waiter")
    time.sleep(1.5)
    text, js, pr = job_pressure(j.pid)
    some, full = text
    print(f"{what}: pressure.some {some}, pressure.full {full}")
    check(full["total"] >= 1_000_000, f"full {full}")
    check(0 <= some["total"] - full["total"] <= 50_000, f"{some} {full}")
    # The supervisor's averages: 1.5 s of 10 s fully stalled is about 14%.
    check(full["avg10"] >= 5, f"full avg10 {full}")
    check(js[1]["total_usec"] >= full["total"] and
          0 <= js[0]["total_usec"] - js[1]["total_usec"] <= 50_000,
          f"json {js}")
    check(pr[1] >= js[1]["total_usec"] and 0 <= pr[0] - pr[1] <= 50_000,
          f"prometheus {pr}")
    mg_ok("set", j.pid, "/", "max=128M")
    j.wait_for("^done$", timeout=10)
    check(j.p.wait(timeout=10) == 0, f"exit {j.p.returncode}")


# A member that freed 8 MiB (free engine pages) and had them returned by
# `memgroup reclaim` before it waits: the uncharge ran in its control
# agent's thread, which must not become a member of its root group's PSI
# (then the program's one waiting thread would never make it `full`).
AFTER_PURGE = r"""
import os, sys, time
b = bytearray(8 << 20)
del b
print("freed", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
keep = []
for i in range(64):
    keep.append(bytearray(1 << 20))
    print(f"step {i + 1}", flush=True)
print("done", flush=True)
"""


def case_job_full_pressure():
    # One member, one thread, waiting at its max: fully stalled.
    j = Job(["--max", "5M", "--oom", "wait"], [ALLOC, "8"])
    j.wait_for("^step 3$")
    check_fully_stalled(j, "waiting job")

    # The same after its control agent returned free pages.
    p = Job(["--max", "24M", "--oom", "wait"],
            [sys.executable, "-c", AFTER_PURGE, "HOLD"])
    p.wait_for("^freed$")
    r = mg("reclaim", p.pid, "/", "64M")
    check(r.returncode in (0, 1), f"reclaim: {r.returncode} {r.stderr}")
    p.release()
    p.wait_for("^step 3$")
    check_fully_stalled(p, "waiting job after a purge")

    # The same wait with an idle member beside it (the shell that waits for
    # its child never stalls): the job is never fully stalled.
    k = Job(["--max", "5M", "--oom", "wait"],
            ["bash", "-c", f"{ALLOC} 8 & wait"])
    k.wait_for("^step 3$")
    until(lambda: int(kv(mg_ok("stat", k.pid))["oom.waiters"]) >= 1,
          "a waiter")
    time.sleep(1.0)
    text, js, pr = job_pressure(k.pid)
    some, full = text
    print(f"with an idle member: pressure.some {some}, pressure.full {full}")
    check(some["total"] >= 500_000, f"some {some}")
    check(full["total"] == 0 and full["avg10"] == 0, f"full {full}")
    check(js[1]["total_usec"] == 0 and pr[1] == 0, f"{js} {pr}")
    mg_ok("set", k.pid, "/", "max=16M")
    k.wait_for("^done$", timeout=10)
    check(k.p.wait(timeout=10) == 0, f"exit {k.p.returncode}")


# Holds 8 MiB and frees 16 MiB every 100 ms (so that the decay, 3 s after
# a group's last use of its free pages, never returns them): between two
# rounds the freed blocks' pages are the member's free engine pages.
FREES_LARGE = r"""
import os, sys, time
keep = bytearray(8 << 20)
print("holding", flush=True)
while not os.path.exists(sys.argv[1]):
    b = bytearray(16 << 20)
    del b
    time.sleep(0.1)
"""


def case_job_stat_engine_free():
    j = Job(["--max", "256M"], [sys.executable, "-c", FREES_LARGE, "HOLD"])
    j.wait_for("^holding$")
    lab = {"pid": str(j.pid), "group": "/"}
    # The three formats read one after the other: the member's agent may
    # publish between them (at least once a second), and a round may be
    # allocating then: read again until they agree.
    for attempt in range(40):
        doc = json.loads(mg_ok("stat", "--json", j.pid))
        s = kv(mg_ok("stat", j.pid))
        fams = prom("stat", "--prometheus", j.pid)
        got = {x.labels["key"]: int(x.value)
               for x in fams["memgroup_stat_bytes"].samples
               if x.labels["pid"] == lab["pid"] and x.labels["group"] == "/"}
        js = {k: doc["stat"][k] for k in ENGINE_KEYS}
        text = {k: int(s[f"stat.{k}"]) for k in ENGINE_KEYS}
        pr = {k: got[k] for k in ENGINE_KEYS}
        if js == text == pr and js["engine_free"] >= 16 * MIB:
            break
        time.sleep(0.1)
    print(f"json {js} text {text} prometheus {pr} current {doc['current']}")
    check(js == text == pr, f"formats disagree: json {js} text {text} "
          f"prometheus {pr}")
    check(set(doc["stat"]) == set(STAT_KEYS) | {"throttled_usec"},
          f"{doc['stat']}")
    # The freed 16 MiB are free pages, not live blocks: the heap is the
    # member's 8 MiB and the interpreter's own blocks.
    check(js["engine_free"] >= 16 * MIB, f"engine_free {js}")
    check(8 * MIB <= js["heap"] <= doc["current"] - js["engine_free"],
          f"heap {js} current {doc['current']}")
    check(j.finish() == 0, f"job failed: {j.err}")


if __name__ == "__main__":
    sys.exit(run_case(globals()))
