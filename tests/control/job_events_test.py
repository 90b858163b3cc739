#!/usr/bin/env python3
"""A job's events across nested jobs (docs/control.md, "memgroup events"),
on real jobs, one case per run:
  nested_job_events  an outer job (--max 200M) whose program is an inner
                   `memgroup run --max 20M` of control_alloc asking for 30
                   MiB: the inner job refuses (max, oom). The inner job's
                   local counts equal its hierarchical ones; the outer
                   job's hierarchical counts are at least the inner's and
                   its local ones 0, in `events`, `events --local`, stat's
                   text (events.*, events_local.*), JSON (events,
                   events_local) and Prometheus (memgroup_events_total,
                   hierarchical; parsed); one more refusal is followed by
                   the outer job's `events --follow` and not by its
                   `events --follow --local`
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: job_events_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import re
import subprocess
import sys
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)

EVENTS = ("high", "max", "oom", "oom_kill")


def events(*args):
    """`memgroup events ARGS`: the four job counters as ints."""
    out = kv(mg_ok("events", *args))
    return {e: int(out[e]) for e in EVENTS}


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[1])


def case_nested_job_events():
    j = Job(["--max", "200M"],
            [MEMGROUP, "run", "--max", "20M", "--", ALLOC, "30", "HOLD"])
    j.wait_for("^enomem at step")
    pids = [p for p, _ in allocator_pids(j)]
    check(len(pids) == 1, f"allocators {pids}")
    inner = parent_of(pids[0])  # the inner job's supervisor
    check(parent_of(inner) == j.pid, f"inner supervisor {inner}")
    outer = j.pid

    ih, il = events(inner), events("--local", inner)
    oh, ol = events(outer), events("--local", outer)
    print(f"inner events {ih} local {il}; outer events {oh} local {ol}")
    check(ih["max"] >= 1 and ih["oom"] >= 1, f"inner {ih}")
    check(il == ih, f"inner local {il} hierarchical {ih}")
    check(all(oh[e] >= ih[e] for e in EVENTS), f"outer {oh} inner {ih}")
    check(oh["max"] >= 1 and all(ol[e] == 0 for e in EVENTS),
          f"outer {oh} local {ol}")

    # stat: text and JSON carry both; Prometheus the hierarchical counts.
    for pid, h, loc in ((inner, ih, il), (outer, oh, ol)):
        s = kv(mg_ok("stat", pid))
        check({e: int(s[f"events.{e}"]) for e in EVENTS} == h and
              {e: int(s[f"events_local.{e}"]) for e in EVENTS} == loc,
              f"stat of {pid}: {s}")
        doc = json.loads(mg_ok("stat", "--json", pid))
        check(doc["events"] == h and doc["events_local"] == loc,
              f"json of {pid}: {doc['events']} {doc['events_local']}")
        fams = prom("stat", "--prometheus", pid)
        for e in EVENTS:
            v = sample(fams, "memgroup_events", "memgroup_events_total",
                       pid=str(pid), group="/", event=e)
            check(v == h[e], f"prometheus {pid} {e}: {v} {h}")

    # One more refusal in the inner job (control_alloc's extra MiB):
    # counted in the outer job's hierarchical follow, not in its local one.
    follow = subprocess.Popen([MEMGROUP, "events", "--follow", str(outer)],
                              env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    follow_local = subprocess.Popen(
        [MEMGROUP, "events", "--follow", "--local", str(outer)], env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # their first snapshots are the baselines
    j.release()
    j.wait_for("^extra enomem$")
    line = follow.stdout.readline().rstrip("\n")
    m = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z / "
                     r"(max|oom) (\d+) \+[1-9]\d*", line)
    check(m and int(m.group(2)) > oh[m.group(1)], f"outer follow: {line!r}")
    after = events(outer)
    check(events("--local", outer) == ol and after["max"] > oh["max"] and
          events("--local", inner) == events(inner), f"{after}")
    check(j.finish() == 3, f"job: {j.err}")
    out, err = follow.communicate(timeout=10)
    lout, lerr = follow_local.communicate(timeout=10)
    check(follow.returncode == 0 and "has ended" in err, f"{out} {err}")
    check(follow_local.returncode == 0 and "has ended" in lerr and
          not re.search(r" / (max|oom|oom_kill|high) ", lout),
          f"outer local follow: {lout!r} {lerr}")


if __name__ == "__main__":
    sys.exit(run_case(globals()))
