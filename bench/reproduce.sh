#!/usr/bin/env bash
# bench/reproduce.sh [--epochs N] [--out DIR] — the paper's comparison on
# Fashion-MNIST: the zoo's fmnist_resnet trained with exact, approx8, approx4,
# approx2, naive8 and naive4, same seed and schedule (SGD with Nesterov
# momentum 0.9, cosine learning rate from 0.1, weight decay 5e-4, batch 128,
# random crop with 2-pixel padding and flips), evaluated on the test set after
# every epoch. Then the fidelity report for approx4 and approx8 on the exact
# run's trained weights, and the report (bench/reproduce_report.py).
#
# Resumable: each run checkpoints to OUT (default bench/reproduce-runs,
# git-ignored) and a rerun continues where it stopped; finished runs are
# skipped. Writes docs/reproduce.md and its plots.
set -euo pipefail
cd "$(dirname "$0")/.."

epochs=10
out=bench/reproduce-runs
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: bench/reproduce.sh [--epochs N] [--out DIR]" >&2; exit 2 ;;
  esac
done
mkdir -p "${out}"
bazel build //client:slimtrain --noshow_progress >/dev/null
slimtrain=bazel-bin/client/slimtrain
steps_per_epoch=$((60000 / 128))

for s in exact approx8 approx4 approx2 naive8 naive4; do
  if [[ -f "${out}/${s}.summary.json" ]]; then
    echo "== ${s}: done (${out}/${s}.summary.json)"
    continue
  fi
  echo "== ${s}: training ${epochs} epochs (resumes from ${out}/${s}.ckpt)"
  "${slimtrain}" train --model zoo:fmnist_resnet --dataset fashion-mnist --strategy "${s}" \
    --epochs "${epochs}" --batch 128 --optimizer sgd --lr 0.1 --momentum 0.9 --nesterov \
    --weight-decay 5e-4 --schedule cosine --crop-padding 2 --flip --seed 1 \
    --eval-every "${steps_per_epoch}" --checkpoint "${out}/${s}.ckpt" --resume --checkpoint-every 100 \
    --metrics-out "${out}/${s}.metrics.jsonl" --output "${out}/${s}.safetensors" --format json \
    > "${out}/${s}.summary.tmp"
  mv "${out}/${s}.summary.tmp" "${out}/${s}.summary.json"
done

echo "== memory plans at batch 128"
"${slimtrain}" plan --model zoo:fmnist_resnet --batch 128 \
  --strategies exact,approx8,approx4,approx2,naive8,naive4 --format json > "${out}/plans.json"
for s in approx4 approx8; do
  echo "== fidelity of ${s} on the trained exact weights"
  "${slimtrain}" fidelity --model zoo:fmnist_resnet --strategy "${s}" --weights "${out}/exact.safetensors" \
    --format json --svg "docs/reproduce-fidelity-${s}.svg" > "${out}/fidelity-${s}.json"
done
/usr/bin/python3 bench/reproduce_report.py "${out}" docs
echo "== wrote docs/reproduce.md"
