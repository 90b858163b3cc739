#!/usr/bin/env python3
"""Runs one program under several allocators, alternating, and compares them
as paired ratios to the first one.

compare_allocators.sh reports the min and the median of a few rounds, which
on a noisy VM moves by 1-3% between runs. For a program that runs within a
percent or two of another allocator, this tool answers "is it slower?" with a
confidence interval: each round runs every allocator once (in alternating
order), the ratio of each allocator's time to the first allocator's time in
the same round is one sample, and the median of those samples comes with a
95% confidence interval (order statistics of the binomial distribution,
normal approximation).

usage: bench/paired_runs.py [--rounds N] [--stdin FILE] NAME=LIB [NAME=LIB...] -- PROGRAM [ARGS...]
  NAME=LIB    an allocator: LIB is preloaded (empty for the system's malloc);
              a NAME containing "memgroup" also gets MEMGROUP_MAX=4G and
              MEMGROUP_ENGINE=mimalloc if NAME ends in "_mi", else
              MEMGROUP_ENGINE=jemalloc (as in compare_allocators.sh)
  --rounds N  rounds (default 20)
  --stdin F   the program's standard input (default /dev/null)
Example (the sqlite3 workload of compare_allocators.sh in a file):
  bench/paired_runs.py --rounds 40 --stdin sqlite.sql glibc= \\
      memgroup=build/release/libmemgroup.so -- /usr/bin/sqlite3 :memory:
Prints each allocator's median wall time, CPU time (user + system), page
faults and peak RSS, then each allocator's median paired ratio to the first
with its 95% interval, of the wall time and of the CPU time. The peak
RSS has this launcher's own (about 14 MiB) as a floor: the kernel keeps the
peak of the process image that exec replaced.
"""
import os
import statistics
import sys
import time


def usage():
    print(__doc__.split("\n\n", 2)[2].split("Prints")[0].rstrip(), file=sys.stderr)
    sys.exit(2)


def main(argv):
    rounds, stdin = 20, "/dev/null"
    if "--" not in argv:
        usage()
    split = argv.index("--")
    opts, prog = argv[:split], argv[split + 1:]
    allocs = {}
    i = 0
    while i < len(opts):
        a = opts[i]
        if a == "--rounds" and i + 1 < len(opts):
            rounds = int(opts[i + 1])
            i += 1
        elif a == "--stdin" and i + 1 < len(opts):
            stdin = opts[i + 1]
            i += 1
        elif "=" in a and not a.startswith("-"):
            name, lib = a.split("=", 1)
            allocs[name] = os.path.abspath(lib) if lib else ""
        else:
            usage()
        i += 1
    if len(allocs) < 2 or not prog or rounds < 2:
        usage()

    def run(name):
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if allocs[name]:
            env["LD_PRELOAD"] = allocs[name]
        if "memgroup" in name:
            env["MEMGROUP_MAX"] = "4G"
            env["MEMGROUP_ENGINE"] = "mimalloc" if name.endswith("_mi") else "jemalloc"
        # posix_spawn (vfork and exec), not fork: a forked child starts as a
        # copy of this Python process, whose RSS would then be the peak of
        # any smaller program.
        actions = [(os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawnp(prog[0], prog, env, file_actions=actions)
        _, status, ru = os.wait4(pid, 0)
        if status != 0:
            sys.exit(f"{prog[0]} under {name}: exit status {status}")
        cpu = (ru.ru_utime + ru.ru_stime) * 1e3
        return (time.perf_counter_ns() - t0) / 1e6, ru.ru_minflt, ru.ru_maxrss / 1024, cpu

    names = list(allocs)
    samples = {n: [] for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            samples[n].append(run(n))
    for n in names:
        wall = statistics.median(s[0] for s in samples[n])
        faults = statistics.median(s[1] for s in samples[n])
        rss = statistics.median(s[2] for s in samples[n])
        cpu = statistics.median(s[3] for s in samples[n])
        print(f"{n:10s} median {wall:10.3f} ms  CPU {cpu:10.3f} ms  faults {faults:8.0f}  "
              f"peak RSS {rss:7.1f} MiB")
    base = names[0]
    # Wall time, and CPU time (user + system of the program): on a machine
    # that other jobs load, waiting for a CPU inflates the wall time but not
    # the CPU time.
    for what, i in (("wall", 0), ("CPU", 3)):
        for n in names[1:]:
            ratios = sorted(a[i] / b[i] for a, b in zip(samples[n], samples[base]))
            k = len(ratios)
            half = 1.96 * k ** 0.5 / 2
            lo = ratios[max(0, int(k / 2 - half))]
            hi = ratios[min(k - 1, int(k / 2 + half))]
            print(f"{n}/{base} {what}: median paired ratio {statistics.median(ratios):.4f}, "
                  f"95% interval [{lo:.4f}, {hi:.4f}], {k} rounds")


if __name__ == "__main__":
    main(sys.argv[1:])
