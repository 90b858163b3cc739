"""Where python's pages are while compare_allocators.sh's python workload runs.

Run it inside the python under test, with the allocator preloaded:
  PYTHONMALLOC=malloc MEMGROUP_MAX=4G LD_PRELOAD=build/release/libmemgroup.so \\
      /usr/bin/python3 bench/python_regrow_probe.py [ROUNDS] [--extents]
(or LD_PRELOAD=<stock libjemalloc.so.2>: both export jemalloc's mallctl).

The workload is compare_allocators.sh's `py_workload` (a dict of 200,000
lists, tuples, strings and dicts built and cleared, 6 rounds by default).
At each phase of each round (every 25,000 entries, the dict built, the list
made, the dict cleared, the list deleted) it prints the process's RssAnon
and jemalloc's active, dirty and retained bytes (stats.active,
stats.arenas.4096.pdirty, stats.retained, after an epoch refresh), in MiB.
With --extents it also prints, after each build and each clear, the
arenas' free extents by page-size class (stats.arenas.4096.extents.<j>:
count and MiB, dirty and retained): what sizes the free pages come in.
Only the phases' figures are printed, after the run, so that printing does
not allocate between them.
"""
import ctypes
import sys

lib = ctypes.CDLL(None)
MIB = 1 << 20


def ctl(name):
    v = ctypes.c_size_t(0)
    n = ctypes.c_size_t(ctypes.sizeof(v))
    if lib.mallctl(name.encode(), ctypes.byref(v), ctypes.byref(n), None, 0):
        return None
    return v.value


def refresh():
    e = ctypes.c_uint64(1)
    lib.mallctl(b"epoch", None, None, ctypes.byref(e), ctypes.sizeof(e))


def rss_anon_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) / 1024
    return -1.0


def phase(log, tag):
    refresh()
    log.append("%-14s rss %6.1f active %6.1f dirty %6.1f retained %6.1f" % (
        tag, rss_anon_mib(), ctl("stats.active") / MIB,
        ctl("stats.arenas.4096.pdirty") * 4096 / MIB,
        ctl("stats.retained") / MIB))


def extents(log, tag):
    refresh()
    out = []
    for j in range(512):
        nd = ctl("stats.arenas.4096.extents.%d.ndirty" % j)
        if nd is None:
            break
        nr = ctl("stats.arenas.4096.extents.%d.nretained" % j)
        if nd or nr:
            out.append("[%d] dirty %d/%.1f retained %d/%.1f" % (
                j, nd, ctl("stats.arenas.4096.extents.%d.dirty_bytes" % j) / MIB,
                nr, ctl("stats.arenas.4096.extents.%d.retained_bytes" % j) / MIB))
    log.append("%-14s extents %s" % (tag, "; ".join(out)))


def main(argv):
    args = [a for a in argv if a != "--extents"]
    rounds = int(args[0]) if args else 6
    with_extents = "--extents" in argv
    if not hasattr(lib, "mallctl"):
        print("no mallctl in this process: preload memgroup or jemalloc",
              file=sys.stderr)
        sys.exit(2)
    log = []
    d = {}
    for r in range(rounds):
        for i in range(200000):
            d[i] = [str(i), (i, i * 2), {"k": i}]
            if i % 25000 == 0:
                phase(log, "r%d i%d" % (r, i))
        phase(log, "r%d built" % r)
        lst = [v[0] * 3 for v in d.values()]
        phase(log, "r%d list" % r)
        if with_extents:
            extents(log, "r%d built" % r)
        d.clear()
        phase(log, "r%d clear" % r)
        del lst
        phase(log, "r%d list freed" % r)
        if with_extents:
            extents(log, "r%d cleared" % r)
    print("\n".join(log))


if __name__ == "__main__":
    main(sys.argv[1:])
