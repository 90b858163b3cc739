#!/usr/bin/env python3
"""`memgroup top` and the job's pressure (docs/control.md, "memgroup top"
and "Pressure of a job"), one case per run, on real jobs as control_test.py
runs them:
  top_plain        top -n 2 without a terminal: two plain frames; PID filter
  top_tmux         top in a real terminal (tmux): drawn, q quits
  job_pressure     a job whose member waits 2 s at the job's max
                   (--oom wait:2): stat's pressure.some total counts the
                   stall, top's job row shows a PSI10 above 0 that then
                   decays as the kernel's avg10 does, in text and JSON and
                   Prometheus
  job_ask_pressure a member refused at the job's max while another member
                   holds free engine pages: the wait for the other
                   member's answer (the job-wide reclaim of free pages)
                   is a stall, counted in the refusing member's root group
                   and in the job's pressure.some
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: top_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import os
import re
import subprocess
import sys
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)


def job_psi10(pid):
    """The PSI10 column of the job's row in `top -n 1 PID`."""
    out = mg_ok("top", "-n", "1", pid)
    row = [l for l in out.splitlines() if l.startswith(str(pid))][0]
    return float(row.split()[-2]), out


def case_job_pressure():
    j = Job(["--max", "5M", "--oom", "wait:2"], [ALLOC, "8", "HOLD"])
    j.wait_for("^step 1$")
    before = kv(mg_ok("stat", j.pid))
    some0 = dict(x.split("=") for x in before["pressure.some"].split())
    check(int(some0["total"]) < 500_000, f"stalled already: {some0}")
    j.wait_for("^enomem at step", timeout=30)
    t_end = time.time()
    # The member waited 2 s at the job's max: that much `some` stall.
    s = kv(mg_ok("stat", j.pid))
    some = dict(x.split("=") for x in s["pressure.some"].split())
    check(1_800_000 <= int(some["total"]) <= 10_000_000, f"{some}")
    first, out = job_psi10(j.pid)
    print(out)
    # After 2 s stalled: about 1 - e^(-0.2) = 18% (the supervisor samples
    # every 200 ms; the read may come later on a loaded machine).
    check(5 <= first <= 25, f"PSI10 {first}")
    check(float(some["avg60"]) > 0 and float(some["avg300"]) > 0, f"{some}")
    time.sleep(3)
    later, out = job_psi10(j.pid)
    print(out)
    elapsed = time.time() - t_end
    # Decays by e^(-dt/10): at most what the time since the first read
    # allows (with 0.5 of slack for the read times), never to 0 this soon.
    check(0 < later < first, f"PSI10 {first} -> {later}")
    check(later <= first * 1.0 and later >= first * 0.5 ** (elapsed / 3),
          f"PSI10 {first} -> {later} in {elapsed:.1f} s")
    # The total did not grow while nothing stalled.
    s2 = kv(mg_ok("stat", j.pid))
    some2 = dict(x.split("=") for x in s2["pressure.some"].split())
    check(int(some2["total"]) - int(some["total"]) < 100_000, f"{some2}")
    doc = json.loads(mg_ok("stat", "--json", j.pid))
    check(set(doc["pressure"]["some"]) ==
          {"avg10", "avg60", "avg300", "total_usec"} and
          doc["pressure"]["some"]["total_usec"] >= 1_800_000, f"{doc}")
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        raise Skip("python3-prometheus-client is not installed")
    fams = {f.name: f for f in text_string_to_metric_families(
        mg_ok("stat", "--prometheus", j.pid))}
    smp = [x for x in fams["memgroup_pressure_stall_seconds"].samples
           if x.labels.get("group") == "/"]
    # Both kinds: its one member's one thread waited, so `full` too.
    check([x.labels["kind"] for x in smp] == ["some", "full"] and
          all(x.value >= 1.8 for x in smp), f"{smp}")
    j.release()
    j.finish()


# The member programs of job_ask_pressure: the parent frees 48 MiB of 8 MiB
# blocks (kept charged as its free engine pages, jemalloc engine), then
# starts a second member (a new python, not a fork: a fork child would
# inherit the parent's count of free pages) that allocates 48 MiB, which
# the job's max refuses until the parent's control agent has returned
# those pages; the child prints its root group's `some` stall total before
# and after (C ABI, ctypes), the parent then waits for HOLD.
ASK_CHILD = r"""
import ctypes
lib = ctypes.CDLL(None)
lib.mg_root.restype = ctypes.c_uint64
class Pressure(ctypes.Structure):
    _fields_ = [(n, ctypes.c_double) for n in
                ("s10", "s60", "s300", "f10", "f60", "f300")] + \
               [("some_total", ctypes.c_uint64), ("full_total", ctypes.c_uint64)]
def some():
    p = Pressure()
    assert lib.mg_group_pressure(ctypes.c_uint64(lib.mg_root()),
                                 ctypes.byref(p)) == 0
    return p.some_total
before = some()
got = [bytearray((8 << 20) - 4096) for _ in range(6)]
print("child got", len(got) * 8, "MiB some", before, some(), flush=True)
"""
ASK_PARENT = r"""
import os, subprocess, sys, time
held = [bytearray((8 << 20) - 4096) for _ in range(6)]
del held
subprocess.run([sys.executable, "-c", sys.argv[1]], check=True)
print("parent done", flush=True)
hold = sys.argv[2]
for _ in range(3000):
    if os.path.exists(hold):
        break
    time.sleep(0.01)
"""


def case_job_ask_pressure():
    j = Job(["--max", "80M"],
            [sys.executable, "-c", ASK_PARENT, ASK_CHILD, "HOLD"])
    j.wait_for("^parent done", timeout=30)
    child = [l for l in j.lines if l.startswith("child got")]
    check(child, f"no child line: {j.lines} {j.err}")
    words = child[0].split()
    check(words[2] == "48", f"the child was refused: {child[0]}")
    before, after = int(words[5]), int(words[6])
    # The refused charge waited for the parent's answer (at most 250 ms):
    # a stall of the child's root group, hence of the job.
    check(before == 0 and after > 0, f"child's root group some: {child[0]}")
    s = kv(mg_ok("stat", j.pid))
    some = dict(x.split("=") for x in s["pressure.some"].split())
    check(0 < int(some["total"]) <= 5_000_000, f"job's some: {some}")
    check(j.finish() == 0, f"job: {j.lines} {j.err}")


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
    j = Job(["--max", "16M"], [ALLOC, "3", "HOLD"])
    j.wait_for("^done$")
    top = TmuxTop("", 160, "mg-control")
    try:
        screen = top.screen_when(
            lambda s: str(j.pid) in s and "q quits" in s)
        check(str(j.pid) in screen and "q quits" in screen, "not drawn")
        row = [l for l in screen.splitlines() if l.startswith(str(j.pid))][0]
        check(re.search(r"\[#+-*\]\s+\d+%", row) and "16M" in row, row)
        with open(os.path.join(TMP, "top-screen.txt"), "w") as f:
            f.write(screen)
        top.quit()
        after = top.capture()
        check("q quits" not in after, f"alternate screen not left:\n{after}")
    finally:
        top.close()
    check(j.finish() == 0, "job")


if __name__ == "__main__":
    sys.exit(run_case(globals()))
