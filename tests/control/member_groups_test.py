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
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: member_groups_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import os
import re
import signal

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


if __name__ == "__main__":
    sys.exit(run_case(globals()))
