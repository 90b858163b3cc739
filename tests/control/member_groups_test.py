#!/usr/bin/env python3
"""Groups inside job members (docs/control.md, "Groups inside members"), one
case per run, on real jobs as control_test.py runs them:
  member_groups    a member's C-ABI groups /tenant/a and /tenant/b: seen by
                   stat (text, JSON, Prometheus), addressed as PID:/a/b and
                   PID /a/b; set max on /tenant/a from outside makes its
                   next allocation fail while /tenant/b still allocates;
                   low, min, oom; reclaim; top shows them; gone after
                   destroy
  member_groups_exit  a member's groups vanish when it exits (exit hook)
                   and when it is SIGKILLed (its slot is released)
  member_group_events  `events MEMBER:/a/b`: a max hit counted (memory.events
                   and --local), `events --follow` of the group and of the
                   job print its line, the group's follow ends when it is
                   destroyed
  member_group_stat  failcnt, stat keys and pressure of a member group after
                   a 1 s wait at its max, in text, JSON and Prometheus
                   (parsed)
  member_group_fresh  stat right after an allocation shows it (the member
                   republishes on request); --no-refresh and a member
                   without an agent show the figures' age
  member_group_top  a member group's pressure (some avg10) in `top`, plain
                   and in a tmux terminal, its tree sorted by usage; the
                   job's row has the job's pressure (the member stalled)
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: member_groups_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import os
import re
import signal
import subprocess
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)


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


def case_member_group_events():
    j, m = groups_job()
    a, t = f"{m}:/tenant/a", f"{m}:/tenant"
    send(j, "alloc a 2", "^alloc a ok$")
    ev = kv(mg_ok("events", a))
    check(list(ev) == ["low", "high", "max", "oom", "oom_kill",
                       "oom_group_kill", "threshold_above", "threshold_below",
                       "pressure_low", "pressure_medium",
                       "pressure_critical"] and set(ev.values()) == {"0"},
          f"{ev}")
    cur = int(group_kv(a)["current"])
    mg_ok("set", a, f"max={cur + MIB // 2}")
    follow = subprocess.Popen([MEMGROUP, "events", "--follow", a], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    whole = subprocess.Popen([MEMGROUP, "events", "--follow", str(j.pid)],
                             env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)  # their first snapshots are the baselines
    send(j, "alloc a 1", "^alloc a enomem$")
    rx = (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z " + re.escape(a) +
          r" (max|oom) [1-9]\d* \+[1-9]\d*")
    line = follow.stdout.readline().rstrip("\n")
    check(re.fullmatch(rx, line), f"group follow: {line!r}")
    # The job's follow prints the member group's events too (a's, and its
    # parent's hierarchical ones).
    seen = []
    while not any(re.fullmatch(rx, l) for l in seen):
        seen.append(whole.stdout.readline().rstrip("\n"))
        check(seen[-1] != "" and len(seen) < 20, f"job follow: {seen}")
    # The counts, hierarchical and local: a's own, its parent's only
    # hierarchical.
    ev = kv(mg_ok("events", a))
    loc = kv(mg_ok("events", "--local", a))
    check(int(ev["max"]) >= 1 and int(loc["max"]) >= 1, f"{ev} {loc}")
    pt = kv(mg_ok("events", t))
    ptl = kv(mg_ok("events", "--local", m, "/tenant"))
    check(int(pt["max"]) >= 1 and ptl["max"] == "0", f"{pt} {ptl}")
    # The job's own events (no job nested in it: the same as its
    # hierarchical ones; a's refusals are its member's, not the job's).
    names = ("high", "max", "oom", "oom_kill")
    jh = kv(mg_ok("events", j.pid))
    jl = kv(mg_ok("events", "--local", j.pid))
    check(all(jl[e] == jh[e] == "0" for e in names), f"{jh} {jl}")
    # Destroyed: the group's follow says so and ends; the job's goes on.
    send(j, "destroy", "^destroyed$")
    out, err = follow.communicate(timeout=10)
    check(follow.returncode == 0 and "is gone" in err, f"{out} {err}")
    check(whole.poll() is None, "the job's follow ended with the group")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")
    out, err = whole.communicate(timeout=10)
    check(whole.returncode == 0 and "has ended" in err, f"{err}")


def case_member_group_stat():
    j, m = groups_job()
    a = f"{m}:/tenant/a"
    send(j, "alloc a 2", "^alloc a ok$")
    cur = int(group_kv(a)["current"])
    # A max just above usage and the wait policy for 1 s: the next MiB
    # waits 1 s (a stall: pressure), then fails (failcnt, events.max).
    mg_ok("set", a, f"max={cur + MIB // 2}", "oom=wait:1")
    t0 = time.time()
    send(j, "alloc a 1", "^alloc a enomem$")
    check(time.time() - t0 >= 0.9, "the wait policy did not wait")
    s = group_kv(a)
    check(s["refreshed"] == "1" and 0 <= int(s["age_ms"]) < 5000, f"{s}")
    check(int(s["failcnt"]) >= 1 and int(s["events.max"]) >= 1, f"{s}")
    check(int(s["stat.heap"]) >= 2 * MIB, f"{s}")
    check(int(s["stat.oom_wait_usec"]) >= 900_000, f"{s}")
    for k in ("mmap", "explicit", "stock", "stock_bound", "reclaim_calls",
              "reclaimed", "throttled_usec", "fault_injected"):
        check(re.fullmatch(r"-?\d+", s[f"stat.{k}"]), k)
    some = dict(x.split("=") for x in s["pressure.some"].split())
    full = dict(x.split("=") for x in s["pressure.full"].split())
    check(set(some) == set(full) == {"avg10", "avg60", "avg300", "total"},
          f"{some}")
    check(int(some["total"]) >= 900_000 and float(some["avg10"]) > 0,
          f"{some}")
    check(int(full["total"]) <= int(some["total"]), f"{full}")
    # JSON: the same figures.
    doc = json.loads(mg_ok("stat", "--json", a))
    check(doc["schema"] == "memgroup.group.v1" and doc["refreshed"] is True and
          doc["failcnt"] == int(s["failcnt"]) and
          doc["stat"]["heap"] >= 2 * MIB and
          doc["stat"]["oom_wait_usec"] >= 900_000 and
          set(doc["stat"]) == {"heap", "mmap", "explicit", "stock",
                               "stock_bound", "reclaim_calls", "reclaimed",
                               "throttled_usec", "oom_wait_usec",
                               "fault_injected", "engine_free",
                               "engine_cached", "engine_slack"} and
          doc["pressure"]["some"]["total_usec"] >= 900_000 and
          set(doc["pressure"]["full"]) == {"avg10", "avg60", "avg300",
                                           "total_usec"} and
          isinstance(doc["age_ms"], int), f"{doc}")
    # Prometheus, parsed, for the group alone and within the job's.
    for args in (("stat", "--prometheus", a),
                 ("stat", "--prometheus", j.pid)):
        fams = prom(*args)
        lab = {"pid": str(j.pid), "group": a}
        check(sample(fams, "memgroup_pressure_stall_seconds",
                     "memgroup_pressure_stall_seconds_total", kind="some",
                     **lab) >= 0.9, f"{args} some")
        check(sample(fams, "memgroup_pressure_stall_seconds",
                     "memgroup_pressure_stall_seconds_total", kind="full",
                     **lab) >= 0, f"{args} full")
        check(sample(fams, "memgroup_stat_bytes", "memgroup_stat_bytes",
                     key="heap", **lab) >= 2 * MIB, f"{args} heap")
        check(sample(fams, "memgroup_failcnt", "memgroup_failcnt_total",
                     **lab) >= 1, f"{args} failcnt")
        check(sample(fams, "memgroup_oom_wait_seconds",
                     "memgroup_oom_wait_seconds_total", **lab) >= 0.9,
              f"{args} oom wait")
        check(sample(fams, "memgroup_figures_age_seconds",
                     "memgroup_figures_age_seconds", **lab) >= 0, "age")
        keys = {x.labels["key"] for x in fams["memgroup_stat_bytes"].samples
                if x.labels["group"] == a}
        check(keys == {"heap", "mmap", "explicit", "stock", "stock_bound",
                       "reclaimed", "engine_free", "engine_cached",
                       "engine_slack"}, f"{keys}")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")


def case_member_group_fresh():
    j, m = groups_job()
    a = f"{m}:/tenant/a"
    # Each allocation is seen by the stat right after it: the member
    # republishes on the request (without it the figures lag by up to
    # 100 ms, longer than a stat takes).
    for k in range(1, 6):
        before = int(group_kv(a)["current"])
        send(j, "alloc a 1", "^alloc a ok$", count=k)
        s = group_kv(a)
        check(s["refreshed"] == "1" and int(s["current"]) >= before + MIB,
              f"allocation {k}: {before} -> {s}")
        check(0 <= int(s["age_ms"]) < 5000, f"{s}")
    # --no-refresh: what was published, with its age.
    s = kv(mg_ok("stat", "--no-refresh", a))
    check(s["refreshed"] == "0" and 0 <= int(s["age_ms"]) < 5000, f"{s}")
    # set then stat at once: the new limit.
    mg_ok("set", a, "max=40M")
    check(group_kv(a)["max"] == str(40 * MIB), "max after set")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")
    # A member without a control agent: no refresh, said on stderr; the
    # figures of its last C ABI call, their age growing.
    # (`memgroup run` sets MEMGROUP_CONTROL=1; env sets it back to 0.)
    j, m = groups_job(prefix=("env", "MEMGROUP_CONTROL=0"))
    a = f"{m}:/tenant/a"
    time.sleep(0.4)
    r = mg("stat", a)
    s = kv(r.stdout)
    check(r.returncode == 0 and "no fresh figures" in r.stderr and
          "no control agent" in r.stderr, f"{r}")
    check(s["refreshed"] == "0" and int(s["age_ms"]) >= 300, f"{s}")
    r = mg("events", a)
    check(r.returncode == 0 and "no fresh figures" in r.stderr and
          kv(r.stdout)["max"] == "0", f"{r}")
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")


def top_group_row(screen, name):
    rows = [l for l in screen.splitlines() if re.match(rf"\s+{name}\s", l)]
    check(len(rows) == 1, f"{name} in:\n{screen}")
    return rows[0]


def case_member_group_top():
    j, m = groups_job()
    a = f"{m}:/tenant/a"
    send(j, "alloc a 2", "^alloc a ok$")
    send(j, "alloc b 3", "^alloc b ok$")
    cur = int(group_kv(a)["current"])
    # A stall in /tenant/a (1 s under the wait policy): its pressure.
    mg_ok("set", a, f"max={cur + MIB // 2}", "oom=wait:1")
    send(j, "alloc a 1", "^alloc a enomem$")
    some = dict(x.split("=") for x in group_kv(a)["pressure.some"].split())
    check(float(some["avg10"]) > 0, f"{some}")
    out = mg_ok("top", "-n", "1", j.pid)
    print(out)
    head = [l for l in out.splitlines() if l.startswith("PID ")][0]
    check(" PSI10 " in head, head)
    check(head.split()[-3:-1] == ["PSI10", "EVENTS"], head)
    lines = out.splitlines()
    # The tree: the member, then tenant, then b (3 MiB) before a (2 MiB).
    order = [l.split()[0] for l in lines
             if re.match(r"\s+(tenant|a|b)\s", l)]
    check(order == ["tenant", "b", "a"], f"{order}")
    # PSI10 is the column before the events.
    row_a = top_group_row(out, "a")
    psi = row_a.split()[-2]
    check(re.fullmatch(r"\d+\.\d\d", psi) and float(psi) > 0, f"{row_a!r}")
    row_b = top_group_row(out, "b")
    check(row_b.split()[-2] == "0.00", f"{row_b!r}")
    # The job's own pressure: its member stalled during a's wait.
    job_row = [l for l in lines if l.startswith(str(j.pid))][0]
    check(re.fullmatch(r"\d+\.\d\d", job_row.split()[-2]) and
          float(job_row.split()[-2]) > 0, job_row)
    # The terminal view (tmux): the same row, q quits.
    top = TmuxTop(str(j.pid), 200, "mg-groups")
    try:
        screen = top.screen_when(
            lambda s: "q quits" in s and re.search(r"^\s+a\s", s, re.M))
        with open(os.path.join(TMP, "top-groups-screen.txt"), "w") as f:
            f.write(screen)
        row_a = top_group_row(screen, "a")
        psi = row_a.split()[-2]
        check(re.fullmatch(r"\d+\.\d\d", psi) and float(psi) > 0,
              f"{row_a!r}")
        check(re.search(r"\[#+-*\]\s+\d+%", row_a), row_a)
        top.quit()
    finally:
        top.close()
    j.p.stdin.close()
    check(j.p.wait(timeout=20) == 0, "job")


if __name__ == "__main__":
    sys.exit(run_case(globals()))
