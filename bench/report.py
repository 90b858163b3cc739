#!/usr/bin/python3
"""Report of one bench/compare_allocators.sh run, read from its --out DIR.

Prints markdown: the run's setup (command, machine, commit) and one table per
benchmark family, each with the absolute values for glibc, jemalloc,
mimalloc, tcmalloc, memgroup (the jemalloc engine) and memgroup_mi (the
mimalloc engine) and the ratios memgroup/jemalloc, memgroup/glibc and
memgroup_mi/mimalloc (mi/mimalloc):
  - micro benchmarks (bench/malloc_benchmark): ns per malloc+free pair,
    min over rounds;
  - real programs: wall time (min / median over rounds), median peak RSS,
    redis requests/s (max over rounds);
  - callgrind: instructions per pair, (Ir(2N) - Ir(N)) / N;
  - the programs against the targets: median peak RSS of memgroup within
    1.10x + 2 MiB of stock jemalloc's and of memgroup_mi within 1.10x +
    2 MiB of stock mimalloc's; memgroup_mi's wall time (min and median; for
    redis, time per request) within 1.05x of stock mimalloc's.
With --chart PATH it also draws each allocator's ratio to glibc per
benchmark (log scale; .svg or .png by PATH's suffix; needs python3-matplotlib).

usage: bench/report.py [--chart PATH] [--details] OUT_DIR
  --chart PATH   draw the chart to PATH (.svg or .png)
  --details      also print the median micro table and, for memgroup, memgroup_mi and
                 jemalloc, the callgrind instructions per pair by function
"""

import argparse
import csv
import glob
import json
import os
import re
import statistics
import sys
from collections import defaultdict

NAMES = ["glibc", "jemalloc", "mimalloc", "tcmalloc", "memgroup", "memgroup_mi"]
# Ratio columns: (numerator, denominator, header).
RATIOS = [("memgroup", "jemalloc", "mg/jemalloc"), ("memgroup", "glibc", "mg/glibc"),
          ("memgroup_mi", "mimalloc", "mi/mimalloc")]
CG_LABELS = {
    "malloc": "malloc(64)+free",
    "new": "new(64)+delete",
    "sized": "new(64)+delete(p, 64)",
    "fresh": "malloc(64)+free, page-aligned block",
}


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    """argparse that exits 2 with the module's usage on a bad command line."""

    def error(self, message):
        raise UsageError(message)


# ------------------------------------------------------------------- loading

def load_meta(out):
    """meta.txt: `key: value` lines written by compare_allocators.sh."""
    meta = {}
    path = os.path.join(out, "meta.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition(": ")
                if sep:
                    meta[key] = value
    return meta


def load_micro(out):
    """{benchmark: {allocator: [ns per item, one per round]}}, in run order.

    ns per item = 1e9 / items_per_second (CPU time, or real time where the
    benchmark uses UseRealTime)."""
    micro = defaultdict(lambda: defaultdict(list))
    order = []
    for path in sorted(glob.glob(os.path.join(out, "micro", "*.json"))):
        alloc = os.path.basename(path)[:-5].split("-", 1)[1]
        try:
            with open(path) as f:
                data = json.load(f)
        except ValueError:
            print(f"unreadable {path}", file=sys.stderr)
            continue
        for b in data.get("benchmarks", []):
            ips = b.get("items_per_second")
            if not ips:
                continue
            name = b["name"].replace("/real_time", "")
            if name not in order:
                order.append(name)
            micro[name][alloc].append(1e9 / ips)
    return order, micro


def load_programs(out):
    """{(program, metric): {allocator: [value per round]}}, in run order."""
    prog = defaultdict(lambda: defaultdict(list))
    order = []
    path = os.path.join(out, "programs.csv")
    if os.path.exists(path):
        with open(path) as f:
            for _, alloc, name, metric, value in csv.reader(f):
                key = (name, metric)
                if key not in order:
                    order.append(key)
                prog[key][alloc].append(float(value))
    return order, prog


def load_callgrind(out):
    """({mode: {allocator: Ir per pair}}, {(alloc, mode): (N, 2N)})."""
    cg = {}
    path = os.path.join(out, "callgrind.csv")
    if os.path.exists(path):
        with open(path) as f:
            for alloc, mode, n, ir in csv.reader(f):
                if ir:
                    cg[(alloc, mode, int(n))] = int(ir)
    per, ns_of = {}, {}
    for mode in CG_LABELS:
        for a in NAMES:
            ns = sorted(n for (al, m, n) in cg if al == a and m == mode)
            if len(ns) == 2:
                ns_of[(a, mode)] = tuple(ns)
                per.setdefault(mode, {})[a] = (
                    (cg[(a, mode, ns[1])] - cg[(a, mode, ns[0])]) / (ns[1] - ns[0]))
    return per, ns_of


class Results:
    def __init__(self, out):
        self.out = out
        self.meta = load_meta(out)
        self.micro_order, self.micro = load_micro(out)
        self.prog_order, self.prog = load_programs(out)
        self.cg, self.cg_ns = load_callgrind(out)

    def micro_agg(self, name, agg=min):
        return {a: agg(self.micro[name][a]) for a in NAMES if self.micro[name][a]}

    def rounds(self, family):
        d = self.micro if family == "micro" else self.prog
        return max((len(v) for per in d.values() for v in per.values()), default=0)

    def programs(self):
        """[(program, {metric: {allocator: aggregated value}})], run order.

        Interference from other processes only slows a run down: wall time
        keeps its min (and its median, which one lucky round cannot move),
        requests/s its max; peak RSS is the median."""
        rows = {}
        for name, metric in self.prog_order:
            vals = self.prog[(name, metric)]
            m = rows.setdefault(name, {})
            if metric == "failed":
                m["failed"] = sorted(vals)
            elif metric == "wall_s":
                m["wall_min"] = {a: min(vals[a]) for a in NAMES if vals[a]}
                m["wall_median"] = {a: statistics.median(vals[a]) for a in NAMES if vals[a]}
            elif metric.endswith("_rps"):
                m[metric] = {a: max(vals[a]) for a in NAMES if vals[a]}
            elif metric == "rss_kib":
                m["rss_mib"] = {a: statistics.median(vals[a]) / 1024
                                for a in NAMES if vals[a]}
        return list(rows.items())


# ------------------------------------------------------------------- tables

def rounds(r, family):
    n = r.rounds(family)
    return f"{n} round" if n == 1 else f"{n} rounds"


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cells(values, fmt):
    """One cell per allocator, then the RATIOS. `values` is a list of
    {allocator: value} joined with " / " in each cell."""
    out = []
    for a in NAMES:
        out.append(" / ".join(fmt(v[a]) if a in v else "-" for v in values))
    for num, base, _ in RATIOS:
        out.append(" / ".join(ratio(v.get(num), v.get(base)) for v in values))
    return out


def setup_section(r):
    m = r.meta
    rows = []
    for key, label in [("command", "command"), ("date", "date (UTC)"),
                       ("commit", "library source commit"),
                       ("compiler", "library compiler"),
                       ("cpu", "CPU"), ("nproc", "nproc"), ("memory", "memory"),
                       ("kernel", "kernel"), ("allocators", "allocator packages"),
                       ("settings", "settings")]:
        if key in m:
            value = m[key]
            if key in ("command", "commit", "settings"):
                value = f"`{value}`"
            rows.append([label, value.replace("|", "\\|")])
    if "load_start" in m or "load_end" in m:
        rows.append(["load average (1/5/15 min)",
                     f"{m.get('load_start', '?')} at start, {m.get('load_end', '?')} at end"])
    if "elapsed_s" in m:
        rows.append(["run time", f"{m['elapsed_s']} s"])
    if not rows:
        return "No meta.txt in this directory (a run from before it was recorded)."
    return table(["", ""], rows)


HEADER = NAMES + [h for _, _, h in RATIOS]


def micro_section(r, agg=min, agg_name="min"):
    rows = []
    for name in r.micro_order:
        rows.append([name] + cells([r.micro_agg(name, agg)], lambda v: f"{v:.1f}"))
    return (f"Micro benchmarks (`bench/malloc_benchmark`): ns per malloc+free pair "
            f"(1e9 / items_per_second), {agg_name} of {rounds(r, 'micro')}\n\n"
            + table(["benchmark"] + HEADER, rows))


def programs_section(r):
    rows = []
    for name, m in r.programs():
        if "failed" in m:
            rows.append([name, "FAILED under " + ", ".join(m["failed"])]
                        + [""] * (len(HEADER)))
        if "wall_min" in m and r.rounds("programs") == 1:
            rows.append([name, "wall s"] + cells([m["wall_min"]], lambda v: f"{v:.3f}"))
        elif "wall_min" in m:
            rows.append([name, "wall s, min / median"]
                        + cells([m["wall_min"], m["wall_median"]], lambda v: f"{v:.3f}"))
        rps = [k for k in m if k.endswith("_rps")]
        if rps:
            label = " / ".join(k[:-4].upper() for k in rps) + " requests/s (max)"
            rows.append([name, label] + cells([m[k] for k in rps], lambda v: f"{v:,.0f}"))
        if "rss_mib" in m:
            rows.append([name, "peak RSS MiB (median)"]
                        + cells([m["rss_mib"]], lambda v: f"{v:.1f}"))
    return (f"Real programs ({rounds(r, 'programs')}; redis: the server under "
            "the allocator, the client plain; redis-server links libjemalloc, so its "
            "glibc column is jemalloc)\n\n"
            + table(["program", "metric"] + HEADER, rows))


# The targets of the programs: peak RSS within RSS_FACTOR x + RSS_SLACK_MIB of
# the stock allocator of the same family, wall time within WALL_FACTOR x.
RSS_FACTOR, RSS_SLACK_MIB, WALL_FACTOR = 1.10, 2.0, 1.05
RSS_TARGETS = [("memgroup", "jemalloc"), ("memgroup_mi", "mimalloc")]
WALL_TARGETS = [("memgroup_mi", "mimalloc")]


def verdict(ok):
    return "met" if ok else "**missed**"


def targets_section(r):
    """Peak RSS and wall time of each program against the targets."""
    rss_rows, wall_rows = [], []
    for name, m in r.programs():
        rss = m.get("rss_mib", {})
        for mg, stock in RSS_TARGETS:
            if mg in rss and stock in rss:
                bound = rss[stock] * RSS_FACTOR + RSS_SLACK_MIB
                rss_rows.append([name, f"{mg} / {stock}", f"{rss[mg]:.1f}",
                                 f"{rss[stock]:.1f}", f"{bound:.1f}",
                                 f"{rss[mg] / rss[stock]:.3f}",
                                 verdict(rss[mg] <= bound)])
        for mg, stock in WALL_TARGETS:
            pairs = []
            if "wall_min" in m and r.rounds("programs") == 1:
                pairs = [("wall", m["wall_min"])]
            elif "wall_min" in m:
                pairs = [("wall min", m["wall_min"]), ("wall median", m["wall_median"])]
            # Requests/s: time per request is its inverse.
            pairs += [(f"1 / {k[:-4].upper()} req/s", {a: 1 / v for a, v in m[k].items() if v})
                      for k in m if k.endswith("_rps")]
            for label, vals in pairs:
                if mg in vals and stock in vals:
                    q = vals[mg] / vals[stock]
                    wall_rows.append([name, label, f"{mg} / {stock}", f"{q:.3f}",
                                      verdict(q <= WALL_FACTOR)])
    parts = []
    if rss_rows:
        parts.append(f"Peak RSS against the targets (median MiB; bound = {RSS_FACTOR:.2f} x "
                     f"stock + {RSS_SLACK_MIB:g} MiB)\n\n"
                     + table(["program", "engine / stock", "memgroup", "stock", "bound",
                              "ratio", "target"], rss_rows))
    if wall_rows:
        parts.append(f"Wall time against the target (at most {WALL_FACTOR:.2f}x stock; "
                     f"{rounds(r, 'programs')}, min and median taken separately)\n\n"
                     + table(["program", "metric", "engine / stock", "ratio", "target"],
                             wall_rows))
    return parts


def callgrind_section(r):
    rows = []
    for mode, label in CG_LABELS.items():
        if mode in r.cg:
            rows.append([label] + cells([r.cg[mode]], lambda v: f"{v:.1f}"))
    ns = sorted({n for pair in r.cg_ns.values() for n in pair})
    n_text = f", N = {ns[0]:,}" if len(ns) == 2 else ""
    return (f"Callgrind (`bench/malloc_loop_callgrind`): instructions per pair, "
            f"(Ir(2N) - Ir(N)) / N{n_text}\n\n" + table(["pair"] + HEADER, rows))


LINE_RE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\S+?):(.+?)(?: \[(.*)\])?$")


def per_function(out, alloc, mode, n):
    res = {}
    path = os.path.join(out, "callgrind", f"{alloc}-{mode}-{n}.out.annotate")
    try:
        f = open(path)
    except OSError:
        return res
    with f:
        for line in f:
            m = LINE_RE.match(line.rstrip("\n"))
            if m and "PROGRAM TOTALS" not in line:
                fn = m.group(3) + (f" [{os.path.basename(m.group(4))}]" if m.group(4) else "")
                res[fn] = res.get(fn, 0) + int(m.group(1).replace(",", ""))
    return res


def details_sections(r):
    out = []
    if r.micro:
        out.append(micro_section(r, statistics.median, "median"))
    for alloc in ("memgroup", "memgroup_mi", "jemalloc"):
        for mode in ("malloc", "fresh"):
            if (alloc, mode) not in r.cg_ns:
                continue
            lo_n, hi_n = r.cg_ns[(alloc, mode)]
            lo = per_function(r.out, alloc, mode, lo_n)
            hi = per_function(r.out, alloc, mode, hi_n)
            rows = []
            for fn in hi:
                d = (hi[fn] - lo.get(fn, 0)) / (hi_n - lo_n)
                if d >= 0.5:
                    rows.append((d, fn))
            rows.sort(reverse=True)
            out.append(f"{alloc}, {CG_LABELS[mode]}: instructions per pair by function\n\n"
                       + table(["Ir/pair", "function"],
                               [[f"{d:.1f}", fn] for d, fn in rows[:14]]))
    return out


def report(r, details):
    parts = ["Setup\n\n" + setup_section(r)]
    if r.micro:
        parts.append(micro_section(r))
    if r.prog:
        parts.append(programs_section(r))
        parts += targets_section(r)
    if r.cg:
        parts.append(callgrind_section(r))
    if details:
        parts += details_sections(r)
    return "\n\n".join(parts) + "\n"


# -------------------------------------------------------------------- chart

def chart_panels(r):
    """[(title, [(label, {allocator: value / glibc's value})])]."""
    def rel(values):
        base = values.get("glibc")
        return {a: v / base for a, v in values.items() if base and v} if base else {}

    panels = []
    if r.micro:
        panels.append((f"Micro benchmarks: ns per malloc+free pair (min of {rounds(r, 'micro')})",
                       [(name, rel(r.micro_agg(name))) for name in r.micro_order]))
    progs = r.programs()
    wall, rss = [], []
    for name, m in progs:
        if "wall_min" in m:
            wall.append((name, rel(m["wall_min"])))
        for k in (k for k in m if k.endswith("_rps")):
            # Time per request, so that lower is better as everywhere else.
            wall.append((f"{name} {k[:-4].upper()}\n(1 / requests/s)",
                         rel({a: 1 / v for a, v in m[k].items() if v})))
        if "rss_mib" in m:
            rss.append((name, rel(m["rss_mib"])))
    if wall:
        panels.append((f"Real programs: wall time (min of {rounds(r, 'programs')})", wall))
    if rss:
        panels.append(("Real programs: peak RSS (median)", rss))
    if r.cg:
        panels.append(("Callgrind: instructions per pair",
                       [(CG_LABELS[mode], rel(r.cg[mode])) for mode in CG_LABELS
                        if mode in r.cg]))
    return [(t, rows) for t, rows in panels if any(v for _, v in rows)]


TICKS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
FINE_TICKS = [0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10]


def draw_panel(ax, title, rows, others, colors, ticker):
    """Horizontal bars from 1 (glibc) to each allocator's ratio, log scale."""
    bar = 0.8 / len(others)
    for i, a in enumerate(others):
        ys, xs = [], []
        for j, (_, values) in enumerate(rows):
            if a in values:
                ys.append(j + (i - (len(others) - 1) / 2) * bar)
                xs.append(values[a])
        ax.barh(ys, [x - 1 for x in xs], left=1, height=bar, color=colors[a], label=a)
        if a in ("memgroup", "memgroup_mi"):
            for y, x in zip(ys, xs):
                ax.annotate(f"{x:.2f}", (x, y), xytext=(3 if x >= 1 else -3, 0),
                            textcoords="offset points", va="center",
                            ha="left" if x >= 1 else "right", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_title(title, fontsize=9, loc="left")
    values = [v for _, vals in rows for v in vals.values()]
    lo, hi = min(min(values), 0.8) / 1.5, max(max(values), 1.25) * 1.5
    ax.set_xlim(lo, hi)
    ticks = FINE_TICKS if hi / lo < 20 else TICKS
    ax.xaxis.set_major_locator(ticker.FixedLocator([t for t in ticks if lo <= t <= hi]))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", which="major", linewidth=0.4, alpha=0.7)


def draw_chart(r, path):
    try:
        import matplotlib
    except ImportError:
        sys.exit("report.py: --chart needs matplotlib (Debian: apt-get install python3-matplotlib)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    if path.endswith(".svg"):
        # Same input, same file: no random ids in the SVG (and no date below).
        matplotlib.rcParams["svg.hashsalt"] = "memgroup"
    panels = chart_panels(r)
    if not panels:
        sys.exit("report.py: nothing to chart in " + r.out)
    others = [a for a in NAMES if a != "glibc"]
    colors = {"jemalloc": "#4c72b0", "mimalloc": "#55a868",
              "tcmalloc": "#8172b2", "memgroup": "#dd5144",
              "memgroup_mi": "#e8a33d"}

    # Two columns: each panel goes to the column with fewer rows so far.
    columns = [[], []]
    for panel in panels:
        min(columns, key=lambda c: sum(len(rows) + 2 for _, rows in c)).append(panel)
    columns = [c for c in columns if c]
    height = max(sum(len(rows) + 2 for _, rows in c) for c in columns)
    fig = plt.figure(figsize=(6 * len(columns), 1.4 + 0.42 * height),
                     layout="constrained")
    subfigs = fig.subfigures(1, len(columns), squeeze=False)[0]
    for subfig, col in zip(subfigs, columns):
        # Pad a short column so that both columns use the same row height.
        pad = height - sum(len(rows) + 2 for _, rows in col)
        ratios = [len(rows) + 2 for _, rows in col] + ([pad] if pad else [])
        axes = subfig.subplots(len(ratios), 1, squeeze=False,
                               gridspec_kw={"height_ratios": ratios})[:, 0]
        for ax, (title, rows) in zip(axes, col):
            draw_panel(ax, title, rows, others, colors, ticker)
        axes[len(col) - 1].set_xlabel("ratio to glibc (log scale; lower is better)",
                                      fontsize=8)
        if pad:
            axes[-1].axis("off")
    m = r.meta
    subtitle = ", ".join(x for x in [
        f"library {m['commit']}" if "commit" in m else "",
        m.get("date", ""),
        f"{m['cpu']}, nproc {m['nproc']}" if "cpu" in m and "nproc" in m else ""] if x)
    fig.suptitle("Allocators against glibc: each bar runs from 1 (glibc) to the ratio"
                 + (f"\n{subtitle}" if subtitle else ""), fontsize=10)
    # One legend, under the bottom panel of the first column.
    bottom = [ax for ax in fig.axes if ax.axison][len(columns[0]) - 1]
    bottom.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16 * 12 / (len(
        columns[0][-1][1]) + 2)), ncol=len(others), fontsize=8, frameon=False)
    metadata = {"Date": None} if path.endswith(".svg") else {}
    fig.savefig(path, metadata=metadata, dpi=110)
    print(f"chart: {path}", file=sys.stderr)


def main(argv):
    p = Parser(add_help=False)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("--chart")
    p.add_argument("--details", action="store_true")
    p.add_argument("out_dir", nargs="?")
    try:
        args = p.parse_args(argv)
        if args.help:
            print(__doc__.strip())
            return 0
        if args.out_dir is None:
            raise UsageError("OUT_DIR is missing")
        if not os.path.isdir(args.out_dir):
            raise UsageError(f"no such directory: {args.out_dir}")
        if args.chart and not args.chart.endswith((".svg", ".png")):
            raise UsageError("--chart PATH must end in .svg or .png")
    except UsageError as e:
        print(f"report.py: {e}\n\n{__doc__.strip()}", file=sys.stderr)
        return 2
    r = Results(args.out_dir)
    if not (r.micro or r.prog or r.cg):
        print(f"report.py: no results in {args.out_dir}", file=sys.stderr)
        return 1
    sys.stdout.write(report(r, args.details))
    if args.chart:
        draw_chart(r, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
