#!/usr/bin/env python3
"""What `memgroup stat MEMBER:/a/b` asking the member for fresh figures costs
and buys (docs/control.md, "Fresh figures"): a job of control_groups
(tests/control) allocates 1 MiB in /tenant/a, then `memgroup stat` of the
group runs at once, N times with the refresh request and N times with
--no-refresh, interleaved. For each mode prints how often the stat showed
the allocation just made, the figures' age when read (`age_ms`: median and
max) and the stat command's wall time (median and 90th percentile).

usage: bench/member_group_fresh.py [--count N] MEMGROUP LIBRARY CONTROL_GROUPS
  MEMGROUP        the memgroup command (build/release/memgroup)
  LIBRARY         libmemgroup.so (build/release/libmemgroup.so)
  CONTROL_GROUPS  build/release/tests/control/control_groups
  --count N       stats per mode (default 40)
Runs with a private XDG_RUNTIME_DIR.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def main(argv):
    count = 40
    if len(argv) >= 2 and argv[0] == "--count":
        count = int(argv[1])
        argv = argv[2:]
    if len(argv) != 3 or count < 1:
        print(__doc__, file=sys.stderr)
        return 2
    memgroup, library, groups = argv
    tmp = tempfile.mkdtemp(prefix="mg-fresh-")
    os.chmod(tmp, 0o700)
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("MEMGROUP_")}
    env.update(XDG_RUNTIME_DIR=tmp, MEMGROUP_LIBRARY=library)
    job = subprocess.Popen([memgroup, "run", "--", groups], env=env,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True)
    try:
        member = int(job.stdout.readline().split()[1])
        group = f"{member}:/tenant/a"

        def command(line):
            job.stdin.write(line + "\n")
            job.stdin.flush()
            return job.stdout.readline()

        def stat(mode):
            t0 = time.perf_counter()
            r = subprocess.run([memgroup, "stat", *mode, group], env=env,
                               capture_output=True, text=True, check=True)
            wall = (time.perf_counter() - t0) * 1000
            return dict(l.split(" ", 1) for l in r.stdout.splitlines()), wall

        modes = {"refresh": [], "no-refresh": ["--no-refresh"]}
        results = {name: {"ages": [], "walls": [], "seen": 0}
                   for name in modes}
        allocated = 0
        for i in range(count):
            for name, mode in modes.items():
                if allocated == 48:  # stay well below the group's bounds
                    command("destroy")
                    command("create")
                    allocated = 0
                before = int(stat(["--no-refresh"])[0]["current"])
                if command("alloc a 1").split()[-1] != "ok":
                    raise SystemExit("the member could not allocate")
                allocated += 1
                d, wall = stat(mode)
                res = results[name]
                res["ages"].append(int(d["age_ms"]))
                res["walls"].append(wall)
                res["seen"] += int(d["current"]) >= before + (1 << 20)
        for name, res in results.items():
            walls = sorted(res["walls"])
            print(f"{name}: N={count}, showed the allocation {res['seen']}/"
                  f"{count}; age_ms median {statistics.median(res['ages'])} "
                  f"max {max(res['ages'])}; stat wall time median "
                  f"{statistics.median(walls):.1f} ms, p90 "
                  f"{walls[int(len(walls) * 0.9) - 1]:.1f} ms")
    finally:
        job.stdin.close()
        job.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
