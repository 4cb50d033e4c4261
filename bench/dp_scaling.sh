#!/usr/bin/env bash
# bench/dp_scaling.sh [--model M] [--batch B] [--steps N] [--bucket-mib K] [--rounds R]
#
# Data-parallel step time and communication on this host: one rank against
# two (`slimtrain train --ranks 2`), each rank on 1 thread with batch B
# (default resnet56, 64, 20 steps, synthetic data, exact), the two ranks with
# the gradient buckets (K MiB, default 1) started while backward runs and
# after it (--no-overlap). The three runs go R times in turn (default 3) and
# the table gives each one's median: seconds a step, images/s of all ranks,
# the seconds a step waits for the gradients' sums after backward, and of
# those the exposed seconds (each step's least wait over the ranks: the rank
# arriving last waits only for what backward did not hide; the others also
# for its lag). Without overlap the exposed time is the whole all-reduce;
# with it, what backward did not hide: hidden = 1 - exposed with overlap /
# exposed after backward (issue 16 asks at least half).
set -euo pipefail
cd "$(dirname "$0")/.."
model=resnet56 batch=64 steps=20 bucket=1 rounds=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --bucket-mib) bucket="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    *) echo "usage: bench/dp_scaling.sh [--model M] [--batch B] [--steps N] [--bucket-mib K] [--rounds R]" >&2; exit 2 ;;
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
for ((i = 0; i < rounds; i++)); do
  run "one.${i}"
  run "overlap.${i}" --ranks 2 --bucket-mib "${bucket}"
  run "after.${i}" --ranks 2 --bucket-mib "${bucket}" --no-overlap
done
/usr/bin/python3 - "${out}" "${model}" "${batch}" "${steps}" "${bucket}" "${rounds}" <<'PY'
import json, statistics, sys
out, model, batch, steps, bucket, rounds = sys.argv[1:]
steps, rounds = int(steps), int(rounds)
runs = {n: [json.load(open(f"{out}/{n}.{i}.json")) for i in range(rounds)] for n in ("one", "overlap", "after")}
med = lambda n, key: statistics.median(r.get(key, 0) for r in runs[n])
print(f"{model}, batch {batch} a rank, {steps} steps, 1 thread a rank, {bucket} MiB buckets, median of {rounds} rounds")
print(f"{'run':<34}{'s/step':>8}{'images/s':>10}{'wait s/step':>13}{'exposed s/step':>16}")
names = {"one": "1 rank", "overlap": "2 ranks, buckets during backward", "after": "2 ranks, buckets after backward"}
for n in runs:
    print(f"{names[n]:<34}{med(n, 'seconds') / steps:>8.3f}{med(n, 'images_per_second'):>10.0f}"
          f"{med(n, 'communication_wait_seconds') / steps:>13.4f}{med(n, 'communication_exposed_seconds') / steps:>16.4f}")
print("per round, exposed s/step (overlap / after): " + ", ".join(
    f"{runs['overlap'][i]['communication_exposed_seconds'] / steps:.4f} / "
    f"{runs['after'][i]['communication_exposed_seconds'] / steps:.4f}" for i in range(rounds)))
after, over = med("after", "communication_exposed_seconds"), med("overlap", "communication_exposed_seconds")
if after > 0:
    print(f"hidden by overlap: {100 * (1 - over / after):.0f}% of the all-reduce time exposed after backward "
          f"(target: at least 50%)")
PY
