#!/usr/bin/env python3
"""The last table of tools/device/check.sh: tests, bandwidth, slimtrain vs PyTorch.

  python3 tools/device/summary.py OUT_DIR

Reads OUT_DIR/{cuda_ops_test,cuda_kernels_test,cuda_activation_test,cuda_view_ops_test,cuda_executor_test,cuda_saved_codes_test,workspace_bounds_gpu_test,nccl_communicator_test,cuda_data_parallel_test,gpu_quant_bench,gpu_train_bench,
torch_gpu_bench}.log (the RESULT lines the benchmarks print, gtest's summary
lines) and prints:
  - the test binary's passed / failed / skipped counts (and why it skipped);
  - quantize and restore bandwidth against the device-to-device copy;
  - per model and TF32 setting, PyTorch and slimtrain's three strategies side by
    side: images/s and the ratio to PyTorch, slimtrain's planned peak and
    measured bytes, PyTorch's max_memory_allocated;
  - the targets, each PASS or MISS:
      pack (quantize) >= 0.80 x copy bandwidth, for K = 8, 4, 2 (the 411 MB tensor);
      approx4 step time <= 1.10 x slimtrain exact's;
      slimtrain exact images/s >= 0.90 x PyTorch's (TF32 off: fp32 against fp32);
      approx4 planned peak <= 0.25 x PyTorch's max_memory_allocated (TF32 off).
A part with no results says why (its "no GPU: ..." line, or its last line).
"""
import json
import os
import re
import sys

BIG_TENSOR = "128x56x56x256"


def read(out, name):
    try:
        with open(os.path.join(out, name + ".log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def results(text):
    rows = []
    for line in text.splitlines():
        if line.startswith("RESULT "):
            try:
                rows.append(json.loads(line[len("RESULT "):]))
            except json.JSONDecodeError:
                pass
    return rows


def why_empty(text):
    for line in text.splitlines():
        if line.startswith("no GPU"):
            return line.strip()
    lines = [l for l in text.splitlines() if l.strip()]
    return ("no results; last line: " + lines[-1].strip()) if lines else "no output"


def mib(n):
    return f"{n / 2**20:.1f} MiB" if n else "-"


def verdict(ok):
    return "PASS" if ok else "MISS"


def tests_line(name, text):
    def count(tag):
        m = re.search(r"^\[\s*" + tag + r"\s*\] (\d+) test", text, re.M)
        return int(m.group(1)) if m else 0

    passed, failed, skipped = count("PASSED"), count("FAILED"), count("SKIPPED")
    if not text:
        return f"{name}: no output"
    line = f"{name}: {passed} passed, {failed} failed, {skipped} skipped"
    m = re.search(r"^(no GPU: .*)$", text, re.M)
    if skipped and m:
        line += f" ({m.group(1)[:150]})"
    if not re.search(r"^\[==========\] \d+ tests? from .* ran", text, re.M):
        line += f" — the binary did not finish (see {name}.log)"
    failed_names = []
    for name in re.findall(r"^\[  FAILED  \] ([A-Za-z_][\w/.]*)", text, re.M):
        if name not in failed_names:
            failed_names.append(name)
    for name in failed_names[:10]:
        line += f"\n  FAILED {name}"
    return line


def main(out):
    print("== GPU check summary")
    for name in ("cuda_ops_test", "cuda_kernels_test", "cuda_activation_test", "cuda_view_ops_test", "cuda_executor_test",
                 "cuda_saved_codes_test", "workspace_bounds_gpu_test", "nccl_communicator_test",
                 "cuda_data_parallel_test"):
        print(tests_line(name, read(out, name)))
    print()
    targets = []

    qtext = read(out, "gpu_quant_bench")
    quant = results(qtext)
    print("-- quantizer bandwidth (CUDA events), against cudaMemcpyAsync device to device")
    if not quant:
        print(why_empty(qtext))
    else:
        print(f"{'tensor':<15} {'op':<9} {'bits':>4} {'GB/s':>9} {'vs copy':>8}")
        for r in quant:
            bits = str(r["bits"]) if r["bits"] else "-"
            print(f"{r['tensor']:<15} {r['op']:<9} {bits:>4} {r['gbps']:>9.1f} {r['vs_copy']:>7.2f}x")
        packs = [r for r in quant if r["tensor"] == BIG_TENSOR and r["op"] == "quantize"]
        if packs:
            worst = min(r["vs_copy"] for r in packs)
            each = ", ".join(f"K={r['bits']} {r['vs_copy']:.2f}" for r in packs)
            targets.append(f"{verdict(worst >= 0.80)}  pack >= 0.80 x copy bandwidth ({BIG_TENSOR}): {each}")
    print()

    stext, ttext = read(out, "gpu_train_bench"), read(out, "torch_gpu_bench")
    slim, torch = results(stext), results(ttext)
    print("-- training, batch 128, synthetic 3x32x32 (slimtrain: CUDA backend; PyTorch: cudnn.benchmark, "
          "faster layout)")
    if not slim:
        print("slimtrain: " + why_empty(stext))
    if not torch:
        print("pytorch: " + why_empty(ttext))
    if slim or torch:
        print(f"{'model':<10} {'tf32':<4} {'trainer':<22} {'images/s':>9} {'vs torch':>9} {'step ms':>8} "
              f"{'planned peak':>13} {'measured':>11} {'torch alloc':>12}")
        keys = []
        for r in torch + slim:
            k = (r["model"], r["tf32"])
            if k not in keys:
                keys.append(k)
        for model, tf32 in keys:
            t = next((r for r in torch if r["model"] == model and r["tf32"] == tf32), None)
            s = {r["strategy"]: r for r in slim if r["model"] == model and r["tf32"] == tf32}
            tf = "on" if tf32 else "off"
            if t:
                print(f"{model:<10} {tf:<4} {'pytorch ' + t['layout']:<22} {t['images_per_second']:>9.1f} "
                      f"{'1.00x':>9} {t['step_ms']:>8.2f} {'-':>13} {'-':>11} {mib(t['max_memory_allocated']):>12}")
            for name, r in s.items():
                ratio = "-"
                if t and r["images_per_second"]:
                    ratio = f"{r['images_per_second'] / t['images_per_second']:.2f}x"
                err = f"  ERROR {r['error']}" if r.get("error") else ""
                print(f"{model:<10} {tf:<4} {'slimtrain ' + name:<22} {r['images_per_second']:>9.1f} {ratio:>9} "
                      f"{r['step_ms']:>8.2f} {mib(r['planned_peak_bytes']):>13} {mib(r['measured_bytes']):>11} "
                      f"{'-':>12}{err}")
            exact, approx = s.get("exact"), s.get("approx4")
            if exact and approx and exact["step_ms"] > 0 and approx["step_ms"] > 0:
                q = approx["step_ms"] / exact["step_ms"]
                targets.append(f"{verdict(q <= 1.10)}  {model} tf32 {tf}: approx4 step time / exact = {q:.2f} "
                               f"(<= 1.10)")
            if not tf32 and exact and t and exact["images_per_second"] > 0:
                q = exact["images_per_second"] / t["images_per_second"]
                targets.append(f"{verdict(q >= 0.90)}  {model}: slimtrain exact / PyTorch fp32 images/s = {q:.2f} "
                               f"(>= 0.90)")
            if not tf32 and approx and t and t["max_memory_allocated"] > 0:
                q = approx["planned_peak_bytes"] / t["max_memory_allocated"]
                m = approx["measured_bytes"] / t["max_memory_allocated"]
                targets.append(f"{verdict(q <= 0.25)}  {model}: approx4 planned peak / PyTorch max_memory_allocated "
                               f"= {q:.2f} (<= 0.25; measured {m:.2f})")
    print()
    print("-- targets")
    if targets:
        for t in targets:
            print(t)
    else:
        print("none measured (no GPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", ".")))
