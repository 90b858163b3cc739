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
With --chart PATH it also writes an SVG chart to PATH: per shape, each
allocator's cost against glibc (ratio of the medians, log scale; left of
1 is faster than glibc), drawn by hand (no plotting library needed).

usage: bench/shapes_report.py [--chart PATH] DIR
"""
import math
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


COLOURS = {"glibc": "#888888", "jemalloc": "#1f77b4", "mimalloc": "#2ca02c",
           "tcmalloc": "#9467bd", "memgroup": "#d62728", "memgroup_mi": "#ff7f0e"}


def write_chart(path, rows, title):
    """rows: [(label, {alloc: cost against glibc})]; an SVG of grouped bars
    on a log2 axis from 1/8 to 8, bars growing from 1 (glibc)."""
    lo, hi = -3.0, 3.0  # log2 of the axis ends
    left, width, bar, gap = 230, 520, 9, 14
    allocs = [a for a in ALLOCS if any(a in r for _, r in rows)]
    height = 60 + len(rows) * (len(allocs) * bar + gap) + 40 + 20 * len(allocs)
    def x(v):
        t = min(max(math.log2(v), lo), hi)
        return left + (t - lo) / (hi - lo) * width
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (left + width + 30, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="18" font-size="13">%s</text>' % title]
    top = 40
    for tick in range(int(lo), int(hi) + 1):
        tx = x(2.0 ** tick)
        label = ("%g" % (2.0 ** tick)) if tick >= 0 else "1/%d" % (2 ** -tick)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>'
                   % (tx, top, tx, height - 30 - 20 * len(allocs),
                      "black" if tick == 0 else "#dddddd"))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (tx, top - 4, label))
    y = top + 6
    for name, costs in rows:
        block = len(allocs) * bar
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (left - 8, y + block / 2 + 4, name))
        for a in allocs:
            c = costs.get(a)
            if c is not None and c > 0:
                x0, x1 = sorted((x(1.0), x(c)))
                out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s">'
                           '<title>%s %s: %.2fx glibc</title></rect>'
                           % (x0, y, max(x1 - x0, 1.0), bar - 1, COLOURS[a], name, a, c))
            y += bar
        y += gap
    y += 10
    out.append('<text x="%d" y="%d">cost against glibc (time ratio; inverse rate ratio), '
               'log scale: left of 1 is faster</text>' % (left, y))
    for a in allocs:
        y += 20
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                   '<text x="%d" y="%d">%s</text>' % (left, y - 10, COLOURS[a], left + 18, y, a))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    args = sys.argv[1:]
    chart = None
    if len(args) == 3 and args[0] == "--chart":
        chart, args = args[1], args[2:]
    if len(args) != 1 or args[0] in ("-h", "--help") or args[0].startswith("-"):
        sys.stdout.write(__doc__)
        sys.exit(0 if args and args[0] in ("-h", "--help") else 2)
    directory = args[0]
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

    if chart:
        rows = []
        for s in shapes:
            glibc = median(s[: -len("separate")] + "shared" if s.endswith("_separate") else s,
                           "glibc")
            costs = {}
            for a in ALLOCS:
                c = cost(s, median(s, a), glibc)
                if c is not None:
                    costs[a] = c
            rows.append((label(s, unit=False), costs))
        meta = dict(load_meta(directory))
        write_chart(chart, rows, "bench/shapes.sh, commit %s, %s"
                    % (meta.get("commit", "?"), meta.get("date", "?")))


if __name__ == "__main__":
    main()
