#!/usr/bin/env python3
"""Process start-up inside a job: a shell loop that starts N short processes,
timed plain (glibc), under the preload outside any job, inside a job
(`memgroup run`), and inside a job whose processes start no control agent
(MEMGROUP_CONTROL=0), in interleaved rounds of one run.

usage: bench/job_startup.py [--rounds R] [--count N] [--program P] MEMGROUP LIBRARY
  MEMGROUP   the memgroup command (build/release/memgroup)
  LIBRARY    libmemgroup.so (build/release/libmemgroup.so)
  --rounds R rounds (default 10); each runs the four modes once, in an order
             that rotates from round to round
  --count N  processes per loop (default 1000)
  --program P the short process (default /bin/true)
Example:
  bench/job_startup.py build/release/memgroup build/release/libmemgroup.so

Each mode runs `bash -c 'for ((i = 0; i < N; i++)); do P; done'`: bash and
every P load the library in the preload and job modes (the job mode also
starts the supervisor and creates the control block, once per loop). Prints
each mode's median wall time per loop and per process, and the median of
the per-round ratios job/preload, preload/plain, job/noagent (the control
agents' cost) and noagent/preload (paired in the same round), with their
min and max, for the wall time and for the CPU time (user + system) of the
loop's processes (getrusage of the children), which a loaded machine
disturbs less.
"""
import os
import resource
import statistics
import subprocess
import sys
import time


def usage():
    print(__doc__.split("\n\n", 2)[1], file=sys.stderr)
    sys.exit(2)


def main(argv):
    rounds, count, program = 10, 1000, "/bin/true"
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--rounds", "--count", "--program") and i + 1 < len(argv):
            v = argv[i + 1]
            i += 2
            if a == "--program":
                program = v
                continue
            try:
                n = int(v)
            except ValueError:
                usage()
            if n <= 0:
                usage()
            if a == "--rounds":
                rounds = n
            else:
                count = n
            continue
        if a.startswith("-"):
            usage()
        args.append(a)
        i += 1
    if len(args) != 2:
        usage()
    memgroup, library = (os.path.abspath(p) for p in args)
    for path in (memgroup, library, program):
        if not os.path.exists(path):
            print(f"job_startup: {path} does not exist", file=sys.stderr)
            sys.exit(2)

    loop = f"for ((i = 0; i < {count}; i++)); do {program}; done"
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("MEMGROUP_") and k != "LD_PRELOAD"}
    modes = {
        "plain": (["bash", "-c", loop], base_env),
        "preload": (["bash", "-c", loop], dict(base_env, LD_PRELOAD=library)),
        "job": ([memgroup, "run", "--", "bash", "-c", loop],
                dict(base_env, MEMGROUP_LIBRARY=library)),
        # The same job with MEMGROUP_CONTROL=0 in every process of the loop:
        # no member starts a control agent (docs/control.md).
        "noagent": ([memgroup, "run", "--", "env", "MEMGROUP_CONTROL=0",
                     "bash", "-c", loop],
                    dict(base_env, MEMGROUP_LIBRARY=library)),
    }
    names = list(modes)
    times = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            cmd, env = modes[name]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdin=subprocess.DEVNULL)
            times[name].append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime +
                             after.ru_stime - before.ru_stime)

    print(f"{count} x {program} per loop, {rounds} interleaved rounds")
    print(f"{'mode':8} {'loop median':>12} {'per process':>12} "
          f"{'CPU per process':>16}")
    for name in names:
        med = statistics.median(times[name])
        c = statistics.median(cpu[name])
        print(f"{name:8} {med * 1e3:10.1f} ms {med / count * 1e6:9.1f} us "
              f"{c / count * 1e6:13.1f} us")
    for label, data in (("wall", times), ("cpu", cpu)):
        for a, b in (("job", "preload"), ("preload", "plain"),
                     ("job", "plain"), ("job", "noagent"),
                     ("noagent", "preload")):
            ratios = [x / y for x, y in zip(data[a], data[b])]
            print(f"{label} {a}/{b}: median {statistics.median(ratios):.3f} "
                  f"(min {min(ratios):.3f}, max {max(ratios):.3f})")


if __name__ == "__main__":
    main(sys.argv[1:])
