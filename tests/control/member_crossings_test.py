#!/usr/bin/env python3
"""Threshold and pressure-level crossings of callbacks a job member
registered through the C ABI, seen from outside (docs/control.md, "Groups
inside members"), one case per run, on real jobs as control_test.py runs
them:
  member_group_crossings  a threshold and a pressure-level callback the
                   member registered on /tenant/b through the C ABI, crossed
                   many times: `events` (one-shot and --follow, of the
                   group and of the job), stat's text, JSON and Prometheus
                   (parsed) count exactly the calls the callbacks received
  member_root_crossings  the same callbacks registered on the member's
                   root group (mg_root()): `events PID` (of the supervisor
                   and of the member), the job's `events --follow` (the
                   member's pid as GROUP), stat's member_crossings line,
                   JSON members[].crossings and Prometheus (parsed, a
                   `member` label) count exactly the calls
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: member_crossings_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import re
import subprocess
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)


def callback_calls(j):
    """The member's own tally of its callbacks' calls ("calls" command)."""
    n = sum(1 for l in j.lines if l.startswith("calls "))
    send(j, "calls", "^calls ", count=n + 1)
    line = [l for l in j.lines if l.startswith("calls ")][-1]
    return {k: int(v) for k, v in (x.split("=") for x in line.split()[1:])}


FOLLOW_RX = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\d+:/\S*) "
                       r"(\w+) (\d+) \+(\d+)( threshold=(-?\d+))?")


def follow_sums(text, group):
    """Per event of `group` in a follow's output: (sum of the deltas, last
    count, last threshold=)."""
    out = {}
    for line in text.splitlines():
        mt = FOLLOW_RX.fullmatch(line)
        check(mt, f"follow line {line!r}")
        if mt.group(1) != group:
            continue
        d, _, _ = out.get(mt.group(2), (0, 0, None))
        out[mt.group(2)] = (d + int(mt.group(4)), int(mt.group(3)),
                            mt.group(6))
    return out


def case_member_group_crossings():
    j, m = groups_job()
    b = f"{m}:/tenant/b"
    ev = kv(mg_ok("events", b))
    names = ["threshold_above", "threshold_below", "pressure_low",
             "pressure_medium", "pressure_critical"]
    check(list(ev) == ["low", "high", "max", "oom", "oom_kill",
                       "oom_group_kill", *names] and
          set(ev.values()) == {"0"}, f"{ev}")
    s = group_kv(b)
    check(s["crossings.threshold_above_last"] == "-1" and
          s["crossings.threshold_below_last"] == "-1", f"{s}")
    cur = int(s["current"])
    thr = cur + MIB // 2
    send(j, f"threshold b {thr}", "^threshold b ok$")
    send(j, "pressure b 1", "^pressure b ok$")
    follows = [subprocess.Popen([MEMGROUP, "events", "--follow", target],
                                env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
               for target in (b, str(j.pid))]
    time.sleep(0.5)  # their first snapshots are the baselines
    # Crossings in bursts (many between two polls of the followers: their
    # lines coalesce, their counts may not lose any), and reclaim rounds
    # from inside and from outside (the reclaim callback releases nothing:
    # critical pressure).
    n = 0
    for burst in (1, 200, 3, 500):
        send(j, f"cross b 1 {burst}", "^cross b done$",
             count=sum(1 for l in j.lines if l == "cross b done") + 1)
        n += burst
        time.sleep(0.15)
    send(j, "reclaim b 1", r"^reclaim b \d+$")
    r = mg("reclaim", b, "1M", timeout=10)
    check(r.returncode in (0, 1), f"{r}")
    calls = callback_calls(j)
    check(calls["above"] == calls["below"] == n and
          calls["last_above"] == calls["last_below"] == thr, f"{calls} {n}")
    check(calls["critical"] >= 2, f"{calls}")
    want = {"threshold_above": n, "threshold_below": n,
            "pressure_low": calls["low"], "pressure_medium": calls["medium"],
            "pressure_critical": calls["critical"]}
    # One-shot (the member republishes on request): exact.
    ev = kv(mg_ok("events", b))
    check({k: int(ev[k]) for k in names} == want, f"{ev} {want}")
    check({k: int(v) for k, v in kv(mg_ok("events", "--local", b)).items()
           if k in names} == want, "--local")
    # Nothing counted on the other groups.
    for other in (f"{m}:/tenant", f"{m}:/tenant/a"):
        check(all(kv(mg_ok("events", other))[k] == "0" for k in names), other)
    # The followers: every crossing counted, lines coalesced.
    time.sleep(0.5)
    for f in follows:
        f.terminate()
    outs = [f.communicate(timeout=10)[0] for f in follows]
    for out in outs:
        got = follow_sums(out, b)
        for k, v in want.items():
            if v == 0:
                check(k not in got, f"{k} in {out}")
                continue
            check(got[k][0] == v and got[k][1] == v, f"{k}: {got[k]} != {v}")
        for k in ("threshold_above", "threshold_below"):
            check(got[k][2] == str(thr), f"{k} threshold= {got[k]}")
        check(sum(1 for l in out.splitlines() if " threshold_above " in l)
              < n, f"the lines did not coalesce:\n{out}")
    # stat: text, JSON, Prometheus (parsed), of the group and of the job.
    s = group_kv(b)
    check({k: int(s[f"crossings.{k}"]) for k in names} == want, f"{s}")
    check(s["crossings.threshold_above_last"] == str(thr) and
          s["crossings.threshold_below_last"] == str(thr), f"{s}")
    doc = json.loads(mg_ok("stat", "--json", b))
    check(doc["crossings"] == {**want, "threshold_above_last": thr,
                               "threshold_below_last": thr}, f"{doc}")
    for args in (("stat", "--prometheus", b),
                 ("stat", "--prometheus", j.pid)):
        fams = prom(*args)
        lab = {"pid": str(j.pid), "group": b}
        for k, v in want.items():
            check(sample(fams, "memgroup_crossings", "memgroup_crossings_total",
                         event=k, **lab) == v, f"{args} {k}")
        for d in ("above", "below"):
            check(sample(fams, "memgroup_threshold_last_bytes",
                         "memgroup_threshold_last_bytes", direction=d,
                         **lab) == thr, f"{args} {d}")
        check(fams["memgroup_crossings"].type == "counter", "type")
        if args[-1] == b:
            check({x.labels["group"] for x in
                   fams["memgroup_crossings"].samples} == {b}, "b alone")
            continue
        # /tenant/a registered nothing: counters at 0, no last threshold.
        a = f"{m}:/tenant/a"
        check(sample(fams, "memgroup_crossings", "memgroup_crossings_total",
                     event="threshold_above", pid=str(j.pid), group=a) == 0,
              "a's counter")
        check(not any(x.labels["group"] == a for x in
                      fams["memgroup_threshold_last_bytes"].samples), "a last")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")

ROOT_FOLLOW_RX = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                            r"(/|\d+|\d+:/\S*) (\w+) (\d+) \+(\d+)"
                            r"( threshold=(-?\d+))?")


def member_crossings(text, member):
    """The member_crossings line of `member` in stat's or events' text, as
    a dict, or None."""
    for line in text.splitlines():
        f = line.split()
        if f[:2] == ["member_crossings", str(member)]:
            return {k: int(v) for k, v in (x.split("=") for x in f[2:])}
    return None


def case_member_root_crossings():
    j, m = groups_job()
    names = ["threshold_above", "threshold_below", "pressure_low",
             "pressure_medium", "pressure_critical"]
    # Nothing registered: no line, JSON zeros and nulls.
    check(member_crossings(mg_ok("stat", j.pid), m) is None, "no line yet")
    check(member_crossings(mg_ok("events", j.pid), m) is None, "no line yet")
    jd = json.loads(mg_ok("stat", "--json", j.pid))
    mine = [x for x in jd["members"] if x["pid"] == m][0]
    check(mine["crossings"] == {**{k: 0 for k in names},
                                "threshold_above_last": None,
                                "threshold_below_last": None}, f"{mine}")
    cur = [int(x.split()[1]) for x in as_list(kv(mg_ok("stat", j.pid))["member"])
           if x.split()[0] == str(m)][0]
    thr = cur + MIB // 2
    send(j, f"threshold r {thr}", "^threshold r ok$")
    send(j, "pressure r 1", "^pressure r ok$")
    follow = subprocess.Popen([MEMGROUP, "events", "--follow", str(j.pid)],
                              env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # its first snapshot is the baseline
    n = 0
    for burst in (1, 300, 2):
        send(j, f"cross r 1 {burst}", "^cross r done$",
             count=sum(1 for l in j.lines if l == "cross r done") + 1)
        n += burst
        time.sleep(0.15)
    send(j, "reclaim r 1", r"^reclaim r \d+$")
    calls = callback_calls(j)
    check(calls["above"] == calls["below"] == n and
          calls["last_above"] == calls["last_below"] == thr, f"{calls} {n}")
    check(calls["critical"] >= 1, f"{calls}")
    want = {"threshold_above": n, "threshold_below": n,
            "pressure_low": calls["low"], "pressure_medium": calls["medium"],
            "pressure_critical": calls["critical"]}
    want_line = {**want, "threshold_above_last": thr,
                 "threshold_below_last": thr}
    # events of the job (supervisor) and of the member: the job's events,
    # then the member's line (published at most 100 ms ago).
    for pid in (j.pid, m):
        got = until(lambda: (lambda d: d if d == want_line else None)(
            member_crossings(mg_ok("events", pid), m)),
            f"events {pid}: {want_line}")
        ev = kv(mg_ok("events", pid))
        check(list(ev)[:4] == ["high", "max", "oom", "oom_kill"], f"{ev}")
    # The follower: the member's pid as GROUP, every crossing counted.
    time.sleep(0.5)
    follow.terminate()
    out = follow.communicate(timeout=10)[0]
    sums = {}
    for line in out.splitlines():
        mt = ROOT_FOLLOW_RX.fullmatch(line)
        check(mt, f"follow line {line!r}")
        if mt.group(1) != str(m):
            continue
        d, _, _ = sums.get(mt.group(2), (0, 0, None))
        sums[mt.group(2)] = (d + int(mt.group(4)), int(mt.group(3)),
                             mt.group(6))
    for k, v in want.items():
        if v == 0:
            check(k not in sums, f"{k} in {out}")
            continue
        check(sums[k][0] == v and sums[k][1] == v, f"{k}: {sums.get(k)} {v}")
    for k in ("threshold_above", "threshold_below"):
        check(sums[k][2] == str(thr), f"{k} threshold= {sums[k]}")
    # stat: text line, JSON, Prometheus (a member label on the job's).
    check(member_crossings(mg_ok("stat", j.pid), m) == want_line, "stat line")
    jd = json.loads(mg_ok("stat", "--json", j.pid))
    mine = [x for x in jd["members"] if x["pid"] == m][0]
    check(mine["crossings"] == want_line, f"{mine}")
    fams = prom("stat", "--prometheus", j.pid)
    lab = {"pid": str(j.pid), "group": "/", "member": str(m)}
    for k, v in want.items():
        check(sample(fams, "memgroup_crossings", "memgroup_crossings_total",
                     event=k, **lab) == v, f"prometheus {k}")
    for d in ("above", "below"):
        check(sample(fams, "memgroup_threshold_last_bytes",
                     "memgroup_threshold_last_bytes", direction=d,
                     **lab) == thr, f"prometheus {d}")
    # The member's groups counted nothing of it.
    for g in ("/tenant", "/tenant/a", "/tenant/b"):
        ev = kv(mg_ok("events", f"{m}:{g}"))
        check(all(ev[k] == "0" for k in names), f"{g}: {ev}")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")


if __name__ == "__main__":
    sys.exit(run_case(globals()))
