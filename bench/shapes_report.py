#!/usr/bin/env python3
"""Tables of one bench/shapes.sh run, read from its --out DIR (markdown).

DIR/results.tsv has one line per run: round, shape, allocator, metric,
value, minor faults, peak RSS in KiB ("error" where the run failed; the
figure is "n/a" where the shape does not exist under that allocator).
DIR/meta.txt has `key: value` lines describing the run.

Prints:
  1. the run (meta.txt);
  2. the median figure per shape and allocator over the rounds;
  3. memgroup's cost on each engine against the best stock allocator (by
     median), stock jemalloc and glibc: the ratio of the medians, above
     1.00x memgroup is slower (time ratio for wall times, inverse rate ratio
     for rates); separate groups exist only under memgroup and are compared
     with the stock allocators' one-group run of the same thread count (*);
  4. the spread of the rounds, max/min per allocator: how far one round
     can be trusted on this machine;
  5. the median minor page faults per run.

usage: bench/shapes_report.py DIR
"""
import os
import statistics
import sys

STOCK = ["glibc", "jemalloc", "mimalloc", "tcmalloc"]
MEMGROUP = ["memgroup", "memgroup_mi"]
ALLOCS = STOCK + MEMGROUP

LABELS = {
    "large_blocks": "large blocks",
    "working_set": "working set",
    "producer_consumer": "producer/consumer",
    "slow_leak": "slow leak",
    "short_lived": "short-lived processes",
}
for t in (1, 2, 4):
    word = "thread" if t == 1 else "threads"
    LABELS["scaling_%d_shared" % t] = "%d %s, one group" % (t, word)
    LABELS["scaling_%d_separate" % t] = "%d %s, a group each" % (t, word)
# The unit of each metric as printed (rates in millions).
UNITS = {"wall_s": "s", "ops_per_s": "M pairs/s", "frees_per_s": "M frees/s"}


def load(directory):
    runs = {}      # (shape, alloc) -> [value]
    faults = {}    # (shape, alloc) -> [minor faults]
    metric = {}    # shape -> metric
    order = []     # shapes in run order
    errors = []
    with open(os.path.join(directory, "results.tsv")) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 7:
                sys.exit("shapes_report: malformed line in results.tsv: %r" % line)
            _, shape, alloc, m, v, flt, _rss = fields
            if shape not in order:
                order.append(shape)
            if m == "error":
                errors.append((shape, alloc))
                continue
            metric.setdefault(shape, m)
            if v != "n/a":
                runs.setdefault((shape, alloc), []).append(float(v))
                faults.setdefault((shape, alloc), []).append(int(flt))
    return runs, faults, metric, order, errors


def load_meta(directory):
    meta = []
    path = os.path.join(directory, "meta.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition(": ")
                if sep:
                    meta.append((key, value))
    return meta


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        sys.exit(0 if len(sys.argv) == 2 else 2)
    directory = sys.argv[1]
    runs, faults, metric, order, errors = load(directory)
    shapes = [s for s in order if s in metric]

    def is_time(shape):
        return metric[shape] == "wall_s"

    def median(shape, alloc):
        vals = runs.get((shape, alloc))
        return statistics.median(vals) if vals else None

    def label(shape, unit=True):
        name = LABELS.get(shape, shape)
        return "%s (%s)" % (name, UNITS.get(metric[shape], metric[shape])) if unit else name

    def fmt(v, shape):
        if v is None:
            return "n/a"
        return "%.3g" % (v if is_time(shape) else v / 1e6)

    def cost(shape, mine, other):
        """memgroup's cost against `other`: above 1 memgroup is slower."""
        if mine is None or other is None:
            return None
        return mine / other if is_time(shape) else other / mine

    print("## The run\n")
    print("|  |  |\n|---|---|")
    for key, value in load_meta(directory):
        print("| %s | %s |" % (key, value))

    print("\n## Median of the rounds\n")
    print("| shape | " + " | ".join(ALLOCS) + " |")
    print("|---|" + "---|" * len(ALLOCS))
    for s in shapes:
        print("| %s | %s |" % (label(s), " | ".join(fmt(median(s, a), s) for a in ALLOCS)))

    print("\n## memgroup's cost (ratio of the medians; above 1.00x memgroup is slower)\n")
    head = ["best stock"]
    for m in MEMGROUP:
        head += ["%s/best" % m, "%s/jemalloc" % m, "%s/glibc" % m]
    print("| shape | " + " | ".join(head) + " |")
    print("|---|" + "---|" * len(head))
    for s in shapes:
        ref_shape, mark = s, ""
        if s.endswith("_separate"):
            ref_shape, mark = s[: -len("separate")] + "shared", "*"
        ref = {a: median(ref_shape, a) for a in STOCK if ref_shape in metric}
        present = [a for a in STOCK if ref.get(a) is not None]
        top = None
        if present:
            pick = min if is_time(s) else max
            top = pick(present, key=lambda a: ref[a])
        cells = [(top or "n/a") + mark]
        for m in MEMGROUP:
            mine = median(s, m)
            for a in (top, "jemalloc", "glibc"):
                c = cost(s, mine, ref.get(a) if a else None)
                cells.append("n/a" if c is None else "%.2fx%s" % (c, mark))
        print("| %s | %s |" % (label(s, unit=False), " | ".join(cells)))
    print("\n\\* Separate groups exist only under memgroup: compared with the stock "
          "allocators' one-group run of the same thread count.")

    print("\n## Spread of the rounds (max/min per allocator)\n")
    print("| shape | " + " | ".join(ALLOCS) + " |")
    print("|---|" + "---|" * len(ALLOCS))
    for s in shapes:
        cells = []
        for a in ALLOCS:
            vals = runs.get((s, a))
            cells.append("%.2f" % (max(vals) / min(vals)) if vals and min(vals) > 0 else "n/a")
        print("| %s | %s |" % (label(s, unit=False), " | ".join(cells)))

    print("\n## Minor page faults per run (median)\n")
    print("| shape | " + " | ".join(ALLOCS) + " |")
    print("|---|" + "---|" * len(ALLOCS))
    for s in shapes:
        cells = []
        for a in ALLOCS:
            vals = faults.get((s, a))
            cells.append("{:,}".format(int(statistics.median(vals))) if vals else "n/a")
        print("| %s | %s |" % (label(s, unit=False), " | ".join(cells)))

    if errors:
        print("\nFailed runs: " + ", ".join("%s under %s" % e for e in errors))


if __name__ == "__main__":
    main()
