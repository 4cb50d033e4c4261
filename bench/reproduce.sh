#!/usr/bin/env bash
# bench/reproduce.sh [--epochs N] [--model M] [--strategies a,b,...] [--out DIR]
#                    [--mixed-budget BYTES|STRATEGY]
# — the paper's comparison on Fashion-MNIST: a zoo model (default
# fmnist_resnet, pre-activation; fmnist_resnet_post has post-activation
# blocks) trained with exact, approx8, approx4, approx2, naive8 and naive4 (or
# --strategies), same seed and schedule (SGD with Nesterov momentum 0.9,
# cosine learning rate from 0.1, weight decay 5e-4, batch 128, random crop
# with 2-pixel padding and flips), evaluated on the test set after every
# epoch (mixed, when listed, with --budget the bytes given or the named
# strategy's planned peak: default approx2's). Then the fidelity report for approx4 and approx8 on the exact run's
# trained weights, and the report (bench/reproduce_report.py).
#
# Resumable: each run checkpoints to OUT (default bench/reproduce-runs, or
# bench/reproduce-runs-<model> for another model; git-ignored) and a rerun
# continues where it stopped; finished runs are skipped. Writes
# docs/reproduce.md and its plots (docs/reproduce-<model>.md for another
# model).
set -euo pipefail
cd "$(dirname "$0")/.."

epochs=10
model=fmnist_resnet
strategies=exact,approx8,approx4,approx2,naive8,naive4
mixed_budget=approx2
out=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --strategies) strategies="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --mixed-budget) mixed_budget="$2"; shift 2 ;;
    *) echo "usage: bench/reproduce.sh [--epochs N] [--model M] [--strategies a,b,...] [--out DIR]" \
         "[--mixed-budget BYTES|STRATEGY]" >&2; exit 2 ;;
  esac
done
if [[ -z "${out}" ]]; then
  out=bench/reproduce-runs
  [[ "${model}" == fmnist_resnet ]] || out="bench/reproduce-runs-${model}"
fi
prefix=reproduce
[[ "${model}" == fmnist_resnet ]] || prefix="reproduce-${model}"
mkdir -p "${out}"
bazel build //client:slimtrain --noshow_progress >/dev/null
slimtrain=bazel-bin/client/slimtrain
steps_per_epoch=$((60000 / 128))

# mixed's budget: bytes, or a strategy's peak as its run planned it (the
# training backend's plan, a few KiB above `slimtrain plan --device cpu`'s
# default cost model), so that strategy must come first in --strategies.
budget_flags=()
mixed_budget_bytes() {
  if [[ "${mixed_budget}" =~ ^[0-9]+$ ]]; then
    echo "${mixed_budget}"
  else
    /usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["planned_peak_bytes"])' \
      "${out}/${mixed_budget}.summary.json"
  fi
}

for s in ${strategies//,/ }; do
  if [[ "${s}" == mixed && ${#budget_flags[@]} -eq 0 ]]; then
    budget_flags=(--budget "$(mixed_budget_bytes)")
    echo "== mixed: budget ${budget_flags[1]} bytes (${mixed_budget})"
  fi
  if [[ -f "${out}/${s}.summary.json" ]]; then
    echo "== ${s}: done (${out}/${s}.summary.json)"
    continue
  fi
  echo "== ${s}: training ${epochs} epochs (resumes from ${out}/${s}.ckpt)"
  extra=()
  [[ "${s}" == mixed ]] && extra=("${budget_flags[@]}")
  # A table measured beforehand (slimtrain calibrate --output OUT/sensitivity.json);
  # without one the mixed run measures its own when it starts.
  [[ "${s}" == mixed && -f "${out}/sensitivity.json" ]] && extra+=(--sensitivity "${out}/sensitivity.json")
  "${slimtrain}" train "${extra[@]}" --model "zoo:${model}" --dataset fashion-mnist --strategy "${s}" \
    --epochs "${epochs}" --batch 128 --optimizer sgd --lr 0.1 --momentum 0.9 --nesterov \
    --weight-decay 5e-4 --schedule cosine --crop-padding 2 --flip --seed 1 \
    --eval-every "${steps_per_epoch}" --checkpoint "${out}/${s}.ckpt" --resume --checkpoint-every 100 \
    --metrics-out "${out}/${s}.metrics.jsonl" --output "${out}/${s}.safetensors" --format json \
    > "${out}/${s}.summary.tmp"
  mv "${out}/${s}.summary.tmp" "${out}/${s}.summary.json"
done

if [[ ",${strategies}," == *",mixed,"* && ${#budget_flags[@]} -eq 0 ]]; then
  budget_flags=(--budget "$(mixed_budget_bytes)")
fi
echo "== memory plans at batch 128"
sensitivity_flags=()
[[ -f "${out}/sensitivity.json" ]] && sensitivity_flags=(--sensitivity "${out}/sensitivity.json")
"${slimtrain}" plan "${budget_flags[@]}" "${sensitivity_flags[@]}" --model "zoo:${model}" --batch 128 --strategies "${strategies}" \
  --format json > "${out}/plans.json"
for s in approx4 approx8; do
  [[ ",${strategies}," == *",${s},"* && -f "${out}/exact.safetensors" ]] || continue
  echo "== fidelity of ${s} on the trained exact weights"
  "${slimtrain}" fidelity --model "zoo:${model}" --strategy "${s}" --weights "${out}/exact.safetensors" \
    --format json --svg "docs/${prefix}-fidelity-${s}.svg" > "${out}/fidelity-${s}.json"
done
/usr/bin/python3 bench/reproduce_report.py "${out}" docs "${model}"
echo "== wrote docs/${prefix}.md"
