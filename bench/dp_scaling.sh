#!/usr/bin/env bash
# bench/dp_scaling.sh [--model M] [--batch B] [--steps N] [--bucket-mib K]
#
# Data-parallel step time and communication on this host: one rank against
# two (`slimtrain train --ranks 2`), each rank on 1 thread with batch B
# (default resnet56, 64, 20 steps, synthetic data, exact), the two ranks with
# the gradient buckets (K MiB, default 1) started while backward runs and
# after it (--no-overlap). Prints a table: seconds a step, images/s of all
# ranks, and the seconds a step waits for the gradients' sums after
# backward. Without overlap that wait is the whole all-reduce; with it, what
# backward did not hide: hidden = 1 - overlapped wait / wait after backward
# (issue 16 asks at least half).
set -euo pipefail
cd "$(dirname "$0")/.."
model=resnet56 batch=64 steps=20 bucket=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --bucket-mib) bucket="$2"; shift 2 ;;
    *) echo "usage: bench/dp_scaling.sh [--model M] [--batch B] [--steps N] [--bucket-mib K]" >&2; exit 2 ;;
  esac
done
bazel build -c opt //client:slimtrain >&2
slimtrain=bazel-bin/client/slimtrain
out=$(mktemp -d)
common=(--model "zoo:${model}" --dataset synthetic --synthetic-examples $((batch * 2 * (steps + 1)))
  --strategy exact --batch "${batch}" --steps "${steps}" --threads 1 --format json --lr 0.01)
run() {
  local name=$1
  shift
  echo "== ${name}" >&2
  "${slimtrain}" train "${common[@]}" "$@" --eval-every 0 > "${out}/${name}.json"
}
run one
run overlap --ranks 2 --bucket-mib "${bucket}"
run after --ranks 2 --bucket-mib "${bucket}" --no-overlap
/usr/bin/python3 - "${out}" "${model}" "${batch}" "${steps}" "${bucket}" <<'PY'
import json, sys
out, model, batch, steps, bucket = sys.argv[1:]
steps = int(steps)
r = {n: json.load(open(f"{out}/{n}.json")) for n in ("one", "overlap", "after")}
print(f"{model}, batch {batch} a rank, {steps} steps, 1 thread a rank, {bucket} MiB buckets")
print(f"{'run':<34}{'s/step':>8}{'images/s':>10}{'wait s/step':>13}")
names = {"one": "1 rank", "overlap": "2 ranks, buckets during backward", "after": "2 ranks, buckets after backward"}
for n, v in r.items():
    print(f"{names[n]:<34}{v['seconds'] / steps:>8.3f}{v['images_per_second']:>10.0f}"
          f"{v['communication_wait_seconds'] / steps:>13.4f}")
after, over = r["after"]["communication_wait_seconds"], r["overlap"]["communication_wait_seconds"]
if after > 0:
    print(f"hidden by overlap: {100 * (1 - over / after):.0f}% of the wait after backward (target: at least 50%)")
PY
