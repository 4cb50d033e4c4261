#!/usr/bin/python3
"""Writes the reproduction's report from bench/reproduce.sh's runs.

  /usr/bin/python3 bench/reproduce_report.py RUNS_DIR DOCS_DIR [MODEL]

Reads RUNS_DIR/<strategy>.metrics.jsonl (one JSON Metrics per step and per
evaluation; a resumed run may repeat steps after its last checkpoint: the
last line for a step wins), <strategy>.summary.json, plans.json and
fidelity-<strategy>.json. Writes DOCS_DIR/reproduce.md and
DOCS_DIR/reproduce-curves.svg (training loss and test accuracy per epoch);
for a MODEL other than fmnist_resnet, reproduce-MODEL.md and
reproduce-MODEL-curves.svg.
Standard library only.
"""
import json
import math
import os
import sys

STRATEGIES = ["exact", "approx8", "approx4", "approx2", "naive8", "naive4", "mixed"]
COLORS = {"exact": "#000000", "approx8": "#1f77b4", "approx4": "#2ca02c", "approx2": "#9467bd",
          "naive8": "#ff7f0e", "naive4": "#d62728", "mixed": "#8c564b"}


def read_metrics(path):
    steps, evals = {}, {}
    with open(path) as f:
        for line in f:
            m = json.loads(line)
            step = int(m.get("step", 0))
            (evals if m.get("has_eval") else steps)[step] = m
    return steps, evals


def mib(b):
    return f"{int(b) / 1048576:.1f} MiB"


def polyline(points, color, dash=""):
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.5"{extra}/>\n'


def curves_svg(runs, steps_per_epoch):
    w, h, left, top = 420, 300, 60, 40
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w + 2 * left + 160}" height="{h + 100}" '
           f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n']
    max_epoch = max((max(s) / steps_per_epoch for s, _ in runs.values() if s), default=1)
    # Left: training loss (mean per 50 steps), log scale. Right: test accuracy per evaluation.
    losses = [m["loss"] for s, _ in runs.values() for m in s.values() if m.get("loss", 0) > 0]
    lo, hi = math.log10(min(losses)), math.log10(max(losses))
    accs = [m["eval_accuracy"] for _, e in runs.values() for m in e.values()]
    alo, ahi = (min(accs), max(accs)) if accs else (0, 1)
    for panel, title in ((0, "training loss (mean of 50 steps, log scale)"), (1, "test accuracy")):
        x0 = left + panel * (w + left + 20)
        svg.append(f'<rect x="{x0}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#888"/>\n')
        svg.append(f'<text x="{x0}" y="{top - 10}">{title}</text>\n')
        svg.append(f'<text x="{x0 + w / 2}" y="{top + h + 30}" text-anchor="middle">epoch</text>\n')
        for e in range(int(max_epoch) + 1):
            x = x0 + w * e / max_epoch
            svg.append(f'<text x="{x:.1f}" y="{top + h + 15}" text-anchor="middle">{e}</text>\n')
        if panel == 1:
            for k in range(5):
                a = alo + (ahi - alo) * k / 4
                y = top + h - h * (a - alo) / max(ahi - alo, 1e-9)
                svg.append(f'<text x="{x0 - 5}" y="{y + 4:.1f}" text-anchor="end">{100 * a:.1f}%</text>\n')
        else:
            for k in range(int(math.floor(lo)), int(math.ceil(hi)) + 1):
                y = top + h - h * (k - lo) / max(hi - lo, 1e-9)
                if top <= y <= top + h:
                    svg.append(f'<text x="{x0 - 5}" y="{y + 4:.1f}" text-anchor="end">1e{k}</text>\n')
        for name, (steps, evals) in runs.items():
            if panel == 0:
                ordered = [steps[k]["loss"] for k in sorted(steps)]
                pts = []
                for i in range(0, len(ordered) - 49, 50):
                    mean = sum(ordered[i:i + 50]) / 50
                    pts.append((x0 + w * (i + 25) / steps_per_epoch / max_epoch,
                                top + h - h * (math.log10(mean) - lo) / max(hi - lo, 1e-9)))
            else:
                pts = [(x0 + w * k / steps_per_epoch / max_epoch,
                        top + h - h * (evals[k]["eval_accuracy"] - alo) / max(ahi - alo, 1e-9)) for k in sorted(evals)]
            svg.append(polyline(pts, COLORS[name], "4 2" if name.startswith("naive") else ""))
    for i, name in enumerate(runs):
        y = top + 14 * i
        x = 2 * w + 2 * left + 40
        svg.append(f'<rect x="{x}" y="{y}" width="14" height="3" fill="{COLORS[name]}"/>'
                   f'<text x="{x + 20}" y="{y + 5}">{name}</text>\n')
    svg.append("</svg>\n")
    return "".join(svg)


def main(runs_dir, docs_dir, model="fmnist_resnet"):
    prefix = "reproduce" if model == "fmnist_resnet" else f"reproduce-{model}"
    steps_per_epoch = 60000 // 128
    plans = {p["strategy"]: p for p in json.load(open(os.path.join(runs_dir, "plans.json")))["plans"]}
    runs, rows = {}, []
    for s in STRATEGIES:
        path = os.path.join(runs_dir, f"{s}.metrics.jsonl")
        if not os.path.exists(path):
            continue
        steps, evals = read_metrics(path)
        runs[s] = (steps, evals)
        rates = sorted(m["images_per_second"] for m in steps.values() if m.get("images_per_second"))
        rate = rates[len(rates) // 2] if rates else float("nan")
        final = evals[max(evals)] if evals else {}
        best = max((m["eval_accuracy"] for m in evals.values()), default=float("nan"))
        epochs = max(steps) / steps_per_epoch if steps else 0
        rows.append((s, final.get("eval_accuracy", float("nan")), best, epochs,
                     int(plans[s]["saved_activation_bytes"]), int(plans[s]["peak_bytes"]), 60000 / rate))
    exact = dict((r[0], r) for r in rows).get("exact")
    out = ["# The comparison, reproduced: Fashion-MNIST\n",
           "Measured by `bench/reproduce.sh` on this project's CPU machine (2 cores, fast CPU backend): the zoo's "
           f"`{model}` trained with each strategy, same seed and schedule (SGD, Nesterov momentum 0.9, cosine "
           "learning rate from 0.1, weight decay 5e-4, batch 128, random crop with 2-pixel padding and flips). "
           "Test accuracy is on the 10,000 test images after the last epoch (and the best epoch); saved activation "
           "memory and peak are the planner's numbers at batch 128; time per epoch is 60,000 images over the "
           "median training throughput (evaluation excluded).\n",
           "| strategy | epochs | test accuracy | best epoch | vs exact | saved activations | peak | time per epoch |",
           "|---|---|---|---|---|---|---|---|"]
    for s, final, best, epochs, saved, peak, seconds in rows:
        diff = f"{100 * (final - exact[1]):+.2f} pts" if exact and s != "exact" else "—"
        out.append(f"| {s} | {epochs:.1f} | {100 * final:.2f}% | {100 * best:.2f}% | {diff} | {mib(saved)} | "
                   f"{mib(peak)} | {seconds:.0f} s |")
    if plans.get("mixed", {}).get("choice"):
        out.append(f"\nmixed, at a budget of {mib(int(plans['mixed']['budget_bytes']))}: {plans['mixed']['choice']}.")
    out.append(f"\n![training loss and test accuracy per epoch]({prefix}-curves.svg)\n")
    for s in ("approx4", "approx8"):
        path = os.path.join(runs_dir, f"fidelity-{s}.json")
        if not os.path.exists(path):
            continue
        f = json.load(open(path))
        errs = [l["approx_error"] for l in f["layers"] if l["approx_error"] > 0]
        noise = [l["sgd_noise"] for l in f["layers"]]
        out.append(f"## Fidelity of {s} (trained exact weights, batch 128, SGD noise over 16 batches)\n")
        out.append(f"Median over the approximated layers of SGD noise / approximation error: "
                   f"**{f['median_ratio']:.1f}x**; approximation error {min(errs):.3g} to {max(errs):.3g}, "
                   f"SGD noise {min(noise):.3g} to {max(noise):.3g}.\n")
        out.append(f"![fidelity of {s}]({prefix}-fidelity-{s}.svg)\n")
        out.append("| layer | input kept as | approx error | SGD noise | ratio |\n|---|---|---|---|---|")
        for l in f["layers"]:
            ratio = f"{l['sgd_noise'] / l['approx_error']:.1f}x" if l["approx_error"] > 0 else "exact"
            out.append(f"| {l['layer']} | {l.get('input', '')} | {l['approx_error']:.4g} | {l['sgd_noise']:.4g} | "
                       f"{ratio} |")
        out.append("")
        tensors = f.get("tensors", [])
        if tensors:
            noise = f["model_sgd_noise"]
            worst = max(t["approx_error"] for t in tensors)
            out.append(f"Each coded tensor alone ({len(tensors)} tensors), error of every conv/linear weight "
                       f"gradient together against SGD's noise of the same weights ({noise:.4g}); all coded: "
                       f"{f['model_error']:.4g}. Largest tensor error / SGD noise: **{worst / noise:.3g}** "
                       "(target <= 0.1 at 4 bits).\n")
            out.append("| tensor (output of) | kept as | approx error | / SGD noise |\n|---|---|---|---|")
            for t in tensors:
                out.append(f"| {t['tensor']} | {t['coding']} | {t['approx_error']:.4g} | "
                           f"{t['approx_error'] / noise:.3g} |")
            out.append("")
    with open(os.path.join(docs_dir, f"{prefix}.md"), "w") as fh:
        fh.write("\n".join(out) + "\n")
    with open(os.path.join(docs_dir, f"{prefix}-curves.svg"), "w") as fh:
        fh.write(curves_svg(runs, steps_per_epoch))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
