#!/usr/bin/env python3
"""Time per CUDA kernel of one training step, from ncu's CSV (tools/device/profile.sh).

  python3 tools/device/kernel_table.py [--all] [--top N] NCU_CSV...

Each CSV is `ncu --metrics gpu__time_duration.sum --csv --print-units base
--print-kernel-base function` over a run of several identical training steps.
The last step is the shortest tail that repeats just before itself (the
earlier steps hold cuDNN's algorithm trials). --all keeps every kernel, keyed
by name, grid and block (for benchmarks, not training runs). Prints, largest
first, each kernel's total time, share and launches, and the step's total.
ncu runs kernels one at a time: the total is kernel time, not step time.
"""
import collections
import csv
import sys


def read(path):
    with open(path) as f:
        lines = [line for line in f if line.startswith('"')]
    rows = []
    for r in csv.DictReader(lines):
        if r.get("Metric Name") == "gpu__time_duration.sum":
            ns = float(r["Metric Value"].replace(",", ""))
            rows.append((r["Kernel Name"], ns, r.get("Grid Size", ""), r.get("Block Size", "")))
    return rows


def last_step(rows):
    names = [r[0] for r in rows]
    n = len(names)
    for p in range(1, n // 2 + 1):
        if names[n - p:] == names[n - 2 * p:n - p]:
            return rows[n - p:]
    return None


def main(argv):
    whole, top, paths = False, 40, []
    i = 0
    while i < len(argv):
        if argv[i] == "--all":
            whole = True
        elif argv[i] == "--top" and i + 1 < len(argv):
            i += 1
            top = int(argv[i])
        else:
            paths.append(argv[i])
        i += 1
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            rows = read(path)
        except (OSError, KeyError, ValueError) as e:
            print(f"{path}: cannot read ncu's CSV: {e}")
            status = 1
            continue
        seq = rows if whole else last_step(rows)
        if not seq:
            print(f"{path}: no repeated step among {len(rows)} kernels (run at least 2 steps)")
            status = 1
            continue
        by = collections.defaultdict(lambda: [0.0, 0])
        for name, ns, grid, block in seq:
            key = f"{name} grid{grid} block{block}" if whole else name
            by[key][0] += ns
            by[key][1] += 1
        total = sum(v[0] for v in by.values())
        what = "every kernel" if whole else "the last step"
        print(f"== {path}: {len(seq)} launches, {total / 1e6:.3f} ms of kernel time in {what}")
        print(f"{'ms':>9} {'share':>6} {'launches':>8}  kernel")
        for key, (ns, count) in sorted(by.items(), key=lambda kv: -kv[1][0])[:top]:
            print(f"{ns / 1e6:9.3f} {100 * ns / total:5.1f}% {count:8d}  {key[:150]}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
