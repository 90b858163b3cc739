#!/usr/bin/env python3
"""Hand-made job blocks in the job directory (docs/control.md): truncated,
hostile and odd blocks and group tables; every command gives one clear line
and never trusts them. One case per run:
  hostile_blocks   truncated, hostile and odd files in the job directory
  hostile_group_table  a hostile group table: bad paths, owners that are
                   not members, torn figures, indices out of range, and
                   extreme failcnt, stat, pressure and publication times
Exit status 0 pass, 1 fail, 77 skip (the reason is printed).
Usage: hostile_test.py MEMGROUP LIBRARY CONTROL_ALLOC CASE [CONTROL_GROUPS]
"""
import json
import os
import re
import struct
import subprocess
import time

from control_lib import *  # noqa: F403 (the shared helpers and globals)


def case_hostile_blocks():
    live = Job(["--max", "8M"], [ALLOC, "1", "HOLD"])
    live.wait_for("^done$")
    me = os.getpid()
    write("job-trunc", b"\0" * 100)
    write("job-badmagic", block(1, magic=0x1234))
    write("job-badversion", block(1, version=12))
    write("job-v6", block(1, version=6))  # entries without the crossings
    write("job-v7", block(1, version=7))  # slots without root crossings
    write("job-v8", block(1, version=8))  # slots without root stat, no full
    write("job-v9", block(1, version=9))  # a node without local events
    write("job-v10", block(1, version=10))  # 256-byte slots, no engine stat
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
             events=(INT64_MAX, -1, 7, 0), policy=99, wait_ns=-7,
             events_local=(-(1 << 63), 3, INT64_MAX, -2))
    put_member(evil, 0, 2, -5, charged=10)
    put_member(evil, 1, 7, me, charged=11)
    put_member(evil, 2, 2, me, charged=123, peak=456)
    put_member(evil, 3, 2, 2**31 - 1, charged=-7, peak=-(1 << 63))
    put_member(evil, 4, 0xffffffff, 0)
    # Hostile root crossings (extreme counts, a negative and an INT64_MAX
    # last threshold; slot 3's torn: an odd sequence count) and pressure (a
    # stall count with a garbage start, averages of 0xffffffff hundredths,
    # a negative completed total).
    put_root_crossings(evil, 2, (2**64 - 1, 2**63, 0, 1, 7),
                       last=(-(1 << 63), INT64_MAX), stalling=0xffffffff)
    put_root_crossings(evil, 3, (5, 5, 5, 5, 5), seq=3)
    put_node_pressure(evil, stall_state=(0xfffffffffff << 20) | 3,
                      some_ns=-(1 << 63), avgs=(0xffffffff, 10000, 1))
    # Hostile `full` (counts and a stamp of all ones: fully stalled by the
    # counts, a garbage time; a negative total) and root stat bytes
    # (extremes that saturate the sums; a garbage full flag).
    put_node_full(evil, full_state=(2**64 - 1) ^ ((1 << 17) - 1),
                  full_ns=-(1 << 63), avgs=(0xffffffff, 1, 10000))
    put_root_stat(evil, 2, (INT64_MAX, -(1 << 63), 7, -1, 0, 5),
                  full_flag=0xffffffff, engine=(INT64_MAX, -3, 11))
    put_root_stat(evil, 3, (INT64_MAX, -(1 << 63), 3, 0, 0, 5),
                  engine=(1, -(1 << 63), 4))
    evil_path = write("job-evil", evil)
    t0 = time.time()
    r = mg("list", timeout=10)
    check(time.time() - t0 < 5, "list took too long")
    check(r.returncode == 0, f"list: {r.returncode}\n{r.stderr}")
    for name, why in (("job-trunc", "too small"),
                      ("job-badmagic", "not a memgroup job block"),
                      ("job-badversion", "unsupported job block version"),
                      ("job-v6", "unsupported job block version"),
                      ("job-v7", "unsupported job block version"),
                      ("job-v8", "unsupported job block version"),
                      ("job-v9", "unsupported job block version"),
                      ("job-v10", "unsupported job block version"),
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
    # The root crossings as they are (a negative last threshold as -1 in
    # text, null in JSON); the torn slot's not shown. The pressure's
    # averages as they are; its total from the garbage state, not negative.
    check(s["member_crossings"] ==
          f"{me} threshold_above={2**64 - 1} threshold_below={2**63} "
          f"pressure_low=0 pressure_medium=1 pressure_critical=7 "
          f"threshold_above_last={-(1 << 63)} "
          f"threshold_below_last={INT64_MAX}", f"{s}")
    some = dict(x.split("=") for x in s["pressure.some"].split())
    check(some["avg10"] == "42949672.95" and some["avg60"] == "100.00" and
          some["avg300"] == "0.01" and int(some["total"]) >= 0, f"{some}")
    full = dict(x.split("=") for x in s["pressure.full"].split())
    check(full["avg10"] == "42949672.95" and full["avg60"] == "0.01" and
          full["avg300"] == "100.00" and int(full["total"]) >= 0, f"{full}")
    # The members' root stat bytes, summed with saturation, as they are.
    check(s["stat.heap"] == str(INT64_MAX) and
          s["stat.mmap"] == str(-(1 << 63)) and s["stat.explicit"] == "10" and
          s["stat.stock"] == "-1" and s["stat.reclaimed"] == "10" and
          s["stat.engine_free"] == str(INT64_MAX) and
          s["stat.engine_cached"] == str(-(1 << 63)) and
          s["stat.engine_slack"] == "15", f"{s}")
    # The events, hierarchical and local, as they are (kernel order: high,
    # max, oom, oom_kill).
    check([s[f"events.{e}"] for e in ("high", "max", "oom", "oom_kill")] ==
          ["0", str(INT64_MAX), "-1", "7"] and
          [s[f"events_local.{e}"] for e in ("high", "max", "oom", "oom_kill")]
          == ["-2", str(-(1 << 63)), "3", str(INT64_MAX)], f"{s}")
    ev = mg_ok("events", me)
    check(f"member_crossings {me} threshold_above={2**64 - 1}" in ev and
          f"member_crossings {2**31 - 1}" not in ev, ev)
    evl = kv(mg_ok("events", "--local", me))
    check(evl["max"] == str(-(1 << 63)) and evl["high"] == "-2", f"{evl}")
    doc = json.loads(mg_ok("stat", "--json", me))
    check(doc["command"] == s["command"] and doc["max"] == -5, f"{doc}")
    check(doc["events"]["max"] == INT64_MAX and
          doc["events_local"]["max"] == -(1 << 63) and
          doc["events_local"]["oom_kill"] == INT64_MAX, f"{doc}")
    check(sorted(m["pid"] for m in doc["members"]) == [me, 2**31 - 1],
          f"members {doc['members']} (slot 1 has a garbage state, slot 0 a "
          f"negative pid)")
    mine = [m for m in doc["members"] if m["pid"] == me][0]
    check(mine["crossings"]["threshold_above"] == 2**64 - 1 and
          mine["crossings"]["threshold_above_last"] is None and
          mine["crossings"]["threshold_below_last"] == INT64_MAX, f"{mine}")
    torn = [m for m in doc["members"] if m["pid"] == 2**31 - 1][0]
    check(set(torn["crossings"].values()) == {0, None}, f"{torn}")
    check(doc["pressure"]["some"]["avg10"] == 42949672.95 and
          doc["pressure"]["some"]["total_usec"] >= 0 and
          doc["pressure"]["full"]["avg300"] == 100.0 and
          doc["pressure"]["full"]["total_usec"] >= 0, f"{doc['pressure']}")
    check(doc["stat"]["heap"] == INT64_MAX and
          doc["stat"]["explicit"] == 10 and
          doc["stat"]["engine_free"] == INT64_MAX and
          doc["stat"]["engine_slack"] == 15 and
          mine["stat"]["explicit"] == 7 and
          mine["stat"]["engine_cached"] == -3, f"{doc['stat']}")
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
    # The job directory itself must be private: a directory others may
    # enter or write is refused by every command (and by `memgroup run`).
    os.chmod(JOBDIR, 0o755)
    try:
        for args in (["list"], ["stat", me], ["run", "--", "true"]):
            r = mg(*args)
            check(r.returncode != 0 and
                  "is accessible by other users (mode 0755)" in r.stderr,
                  f"{args}: {r}")
    finally:
        os.chmod(JOBDIR, 0o700)
    mg_ok("list")


# The group table (src/counter/job_group_table.h): a page of JobGroupArea
# after the member table, then entries of 768 bytes: failcnt and the
# publication time at 280, the path at 320, the stat figures at 512, the
# pressure averages (u32) at 592 and totals (u64) at 616, the crossings
# (u64) at 632, the last thresholds (i64) at 672 and (version 11) the
# engine's stat figures at 688.
ENTRY_SIZE, PATH_AT = 768, 320
FAILCNT_AT, STAT_AT, AVG_AT, TOTAL_AT = 280, 512, 592, 616
CROSS_AT, LAST_AT, ENGINE_STAT_AT = 632, 672, 688


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
    # Extreme values of the version-7 figures: printed as they are, never
    # trusted (a publication time in the future is an unknown age; a
    # negative last threshold is none: null in JSON, absent in Prometheus).
    e = at + 15 * ENTRY_SIZE
    struct.pack_into("<qq", b, e + FAILCNT_AT, -(1 << 63), 1 << 62)
    struct.pack_into("<10q", b, e + STAT_AT, INT64_MAX, -(1 << 63), -1, 0, 1,
                     2, 3, -(1 << 63), INT64_MAX, 7)
    struct.pack_into("<6I", b, e + AVG_AT, 0xffffffff, 10000, 0, 1, 99, 100)
    struct.pack_into("<QQ", b, e + TOTAL_AT, (1 << 64) - 1, 0)
    struct.pack_into("<5Q", b, e + CROSS_AT, (1 << 64) - 1, 0, 1, 1 << 63, 3)
    struct.pack_into("<qq", b, e + LAST_AT, -(1 << 63), INT64_MAX)
    struct.pack_into("<3q", b, e + ENGINE_STAT_AT, -1, INT64_MAX, -(1 << 63))
    e = at  # /good: a publication time before the epoch of the clock
    struct.pack_into("<qq", b, e + FAILCNT_AT, 5, -(1 << 63))
    write("job-groups", b)
    t0 = time.time()
    d = kv(mg_ok("stat", me, timeout=10))
    check(time.time() - t0 < 5, "stat took too long")
    names = [g.split()[0] for g in as_list(d.get("member_group"))]
    check(names == [f"{me}:/good", f"{me}:/last.one_-9"], f"{names}")
    s = kv(mg_ok("stat", f"{me}:/good"))
    check(s["current"] == "123" and s["path"] == "/good", f"{s}")
    # No agent answers for this block's member: the published figures,
    # said on stderr.
    r = mg("stat", f"{me}:/last.one_-9", timeout=10)
    check(r.returncode == 0 and "no fresh figures" in r.stderr, f"{r}")
    s = kv(r.stdout)
    check(s["max"] == "-5", f"{s}")
    check(s["failcnt"] == str(-(1 << 63)) and
          s["stat.heap"] == str(INT64_MAX) and
          s["stat.mmap"] == str(-(1 << 63)) and
          s["stat.throttled_usec"] == str(-(1 << 63)) and
          s["stat.fault_injected"] == "7" and
          s["stat.engine_free"] == "-1" and
          s["stat.engine_cached"] == str(INT64_MAX) and
          s["stat.engine_slack"] == str(-(1 << 63)), f"{s}")
    check(s["pressure.some"] == "avg10=42949672.95 avg60=100.00 avg300=0.00 "
          f"total={(1 << 64) - 1}", f"{s}")
    check(s["pressure.full"] == "avg10=0.01 avg60=0.99 avg300=1.00 total=0",
          f"{s}")
    check(s["age_ms"] == "-1" and s["refreshed"] == "0", f"{s}")
    check(s["crossings.threshold_above"] == str((1 << 64) - 1) and
          s["crossings.threshold_below"] == "0" and
          s["crossings.pressure_low"] == "1" and
          s["crossings.pressure_medium"] == str(1 << 63) and
          s["crossings.pressure_critical"] == "3" and
          s["crossings.threshold_above_last"] == str(-(1 << 63)) and
          s["crossings.threshold_below_last"] == str(INT64_MAX), f"{s}")
    doc = json.loads(mg_ok("stat", "--json", "--no-refresh",
                           f"{me}:/last.one_-9"))
    check(doc["failcnt"] == -(1 << 63) and doc["stat"]["heap"] == INT64_MAX and
          doc["pressure"]["some"]["total_usec"] == (1 << 64) - 1 and
          doc["age_ms"] == -1 and doc["refreshed"] is False, f"{doc}")
    check(doc["crossings"] == {
        "threshold_above": (1 << 64) - 1, "threshold_below": 0,
        "pressure_low": 1, "pressure_medium": 1 << 63,
        "pressure_critical": 3, "threshold_above_last": None,
        "threshold_below_last": INT64_MAX}, f"{doc}")
    check(kv(mg_ok("stat", "--no-refresh", f"{me}:/good"))["age_ms"] == "-1",
          "a negative publication time")
    ev = kv(mg_ok("events", "--no-refresh", f"{me}:/last.one_-9"))
    check(list(ev) == ["low", "high", "max", "oom", "oom_kill",
                       "oom_group_kill", "threshold_above", "threshold_below",
                       "pressure_low", "pressure_medium",
                       "pressure_critical"] and
          ev["threshold_above"] == str((1 << 64) - 1), f"{ev}")
    try:
        from prometheus_client.parser import text_string_to_metric_families
        fams = {f.name: f for f in text_string_to_metric_families(
            mg_ok("stat", "--prometheus", "--no-refresh",
                  f"{me}:/last.one_-9"))}
        smp = {tuple(sorted(x.labels.items())): x.value
               for x in fams["memgroup_pressure_stall_seconds"].samples}
        check(len(smp) == 2, f"{smp}")
        check(fams["memgroup_figures_age_seconds"].samples[0].value == -1,
              "age")
        cross = {x.labels["event"]: x.value
                 for x in fams["memgroup_crossings"].samples}
        check(cross == {"threshold_above": float((1 << 64) - 1),
                        "threshold_below": 0, "pressure_low": 1,
                        "pressure_medium": float(1 << 63),
                        "pressure_critical": 3}, f"{cross}")
        last = {x.labels["direction"]: x.value
                for x in fams["memgroup_threshold_last_bytes"].samples}
        check(last == {"below": float(INT64_MAX)}, f"{last}")
    except ImportError:
        print("prometheus_client missing: the exposition was not parsed")
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
    # 4,096 entries of one member, half of them the same deep paths
    # ("/d", "/d/d", ... up to 90 levels, each 23 times) and half distinct:
    # top draws the tree at once (one map lookup per group).
    b, at = groups_block(4, 4096, supervisor=me, ticks=ticks)
    put_member(b, 0, 2, me, ticks=ticks, charged=5)
    struct.pack_into("<I", b, at - 4096, 4096)
    for i in range(4096):
        path = b"/d" * (1 + (i // 2) % 90) if i % 2 == 0 else b"/x%d" % i
        put_entry(b, at, i, 2, me, 0, path, ticks=ticks, current=i)
    write("job-groups", b)
    t0 = time.time()
    out = mg_ok("top", "-n", "1", me, timeout=30)
    check(time.time() - t0 < 10, f"top took {time.time() - t0:.1f} s")
    rows = [l for l in out.splitlines() if l.startswith("        ")]
    check(len(rows) == 4096, f"{len(rows)} group rows")
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


if __name__ == "__main__":
    sys.exit(run_case(globals()))
