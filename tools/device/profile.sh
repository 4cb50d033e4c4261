#!/usr/bin/env bash
# tools/device/profile.sh — time per CUDA kernel of one training step, on the
# GPU machine, under Nsight Compute (ncu), from the pack check.sh uses.
#
#   here:        tools/device/pack.sh
#   device tool: run, carry ["tools/device/pack"],
#                command "tools/device/profile.sh resnet56 exact off"
#                (about 70 s a strategy for ResNet-56), then give_back
#
#   tools/device/profile.sh [MODEL [STRATEGIES [TF32]]]
#     MODEL       resnet56 (default), resnet164
#     STRATEGIES  comma-separated: exact (default), approx4, checkpoint
#     TF32        off (default) or on
#
# Runs gpu_train_bench for 3 steps (1 warm-up) per strategy under
# `ncu --metrics gpu__time_duration.sum` (clocks left alone), writes the CSV
# to $OUT/ncu_MODEL_STRATEGY.csv.xz and prints tools/device/kernel_table.py's
# table of the last step: each kernel's total time, share and launches.
# ncu runs kernels one at a time, so the total is kernel time, not step time
# (gpu_train_bench's step ms); the difference is launch and host time.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source=tools/device/libs.sh
source tools/device/libs.sh
MODEL=${1:-resnet56}
STRATEGIES=${2:-exact}
TF32=${3:-off}
ARCHIVE=tools/device/pack/slimtrain-gpu.tar.xz
OUT=${OUT:-$(mktemp -d /tmp/slimtrain-gpu-profile.XXXXXX)}
mkdir -p "$OUT"

[[ -f "$ARCHIVE" ]] || { echo "profile.sh: no $ARCHIVE: run tools/device/pack.sh here first" >&2; exit 1; }
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[[ -n "$NCU" ]] || { echo "profile.sh: no ncu (Nsight Compute) on this machine" >&2; exit 1; }
WORK=$(mktemp -d /tmp/slimtrain-gpu.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
tar -C "$WORK" -xJf "$ARCHIVE" || { echo "profile.sh: cannot unpack $ARCHIVE" >&2; exit 1; }
NVIDIA_LIBS=$(nvidia_libs)
export CUDA_MODULE_LOADING=EAGER

status=0
IFS=, read -ra list <<<"$STRATEGIES"
for s in "${list[@]}"; do
  csv="$OUT/ncu_${MODEL}_${s}.csv"
  t0=$(date +%s)
  LD_LIBRARY_PATH="$WORK/lib${NVIDIA_LIBS:+:$NVIDIA_LIBS}" timeout 300 "$NCU" --clock-control none \
    --metrics gpu__time_duration.sum --csv --print-units base --print-kernel-base function \
    "$WORK/bin/gpu_train_bench" --models "$MODEL" --batch 128 --steps 2 --warmup 1 --tf32 "$TF32" \
    --strategies "$s" >"$csv" 2>"$OUT/ncu_${MODEL}_${s}.err"
  rc=$?
  echo "ncu $MODEL $s tf32 $TF32: exit $rc in $(($(date +%s) - t0))s"
  if ((rc != 0)); then
    tail -5 "$OUT/ncu_${MODEL}_${s}.err"
    status=1
    continue
  fi
  python3 tools/device/kernel_table.py --top 30 "$csv" || status=1
  xz -9f "$csv"
done
exit $status
