#!/usr/bin/env bash
# bench/dp_accuracy.sh [--epochs N] [--model M] [--out DIR]
#
# Data-parallel training against one process at the same global batch:
# fmnist_resnet (default) on Fashion-MNIST, exact, 1 rank x 128 (2 threads)
# and 2 ranks x 64 (`slimtrain train --ranks 2`, 1 thread each, per-rank batch
# norm statistics as PyTorch DDP without SyncBatchNorm), the flags and seed
# of bench/reproduce.sh; prints the test accuracy of each and the difference
# (issue 16 asks for within 0.5 points). Outputs in DIR (default
# /tmp/slimtrain-dp-accuracy): each run's summary JSON and metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=10 model=fmnist_resnet out=/tmp/slimtrain-dp-accuracy
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: bench/dp_accuracy.sh [--epochs N] [--model M] [--out DIR]" >&2; exit 2 ;;
  esac
done
bazel build -c opt //client:slimtrain >&2
slimtrain=bazel-bin/client/slimtrain
mkdir -p "${out}"
common=(--model "zoo:${model}" --dataset fashion-mnist --strategy exact --epochs "${epochs}" --optimizer sgd
  --lr 0.1 --momentum 0.9 --nesterov --weight-decay 5e-4 --schedule cosine --crop-padding 2 --flip --seed 1
  --format json)
echo "== 1 rank x 128, ${epochs} epochs" >&2
"${slimtrain}" train "${common[@]}" --batch 128 --threads 2 --metrics-out "${out}/one.metrics.jsonl" \
  > "${out}/one.summary.json"
echo "== 2 ranks x 64, ${epochs} epochs" >&2
"${slimtrain}" train "${common[@]}" --batch 64 --threads 1 --ranks 2 --metrics-out "${out}/two.metrics.jsonl" \
  > "${out}/two.summary.json"
/usr/bin/python3 - "${out}" "${model}" "${epochs}" <<'PY'
import json, sys
out, model, epochs = sys.argv[1:]
one = json.load(open(f"{out}/one.summary.json"))
two = json.load(open(f"{out}/two.summary.json"))
a, b = 100 * one["test_accuracy"], 100 * two["test_accuracy"]
print(f"{model}, exact, {epochs} epochs, global batch 128")
print(f"{'run':<22}{'test accuracy':>14}{'images/s':>10}")
print(f"{'1 rank x 128':<22}{a:>13.2f}%{one['images_per_second']:>10.0f}")
print(f"{'2 ranks x 64':<22}{b:>13.2f}%{two['images_per_second']:>10.0f}")
print(f"difference {b - a:+.2f} points (target: within 0.5)")
PY
