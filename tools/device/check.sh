#!/usr/bin/env bash
# tools/device/check.sh — the standing GPU check, one call on the GPU machine
# (under 5 minutes), or a dry run on a machine without a GPU.
#
#   here:        tools/device/pack.sh
#   device tool: run, carry ["tools/device/pack"], command "tools/device/check.sh",
#                timeout_s 420 (then give_back)
#
# It builds nothing. It unpacks tools/device/pack/slimtrain-gpu.tar.xz into a
# temporary folder, points LD_LIBRARY_PATH (for slimtrain's binaries only, not
# for python) at the carried libraries and at PyTorch's cuDNN and cuBLAS
# (site-packages/nvidia/*/lib, found through python3), exports
# CUDA_MODULE_LOADING=EAGER (all kernels load when a library is first used,
# so device memory measured after a warm-up step does not grow later), and
# runs, each under a time limit:
#   cuda_{ops,kernels,activation,view_ops,executor}_test  the CUDA backend against the reference, and
#                                docs/DESIGN.md's invariants on the GPU;
#   gpu_quant_bench              quantize/restore bandwidth against a copy;
#   gpu_train_bench              slimtrain ResNet-56/164, exact, approx4,
#                                checkpoint, TF32 off and on;
#   bench/torch_gpu_bench.py     the same models in PyTorch (from the tree).
# Full logs go to $OUT (a temporary folder when OUT is unset): check.log,
# summary.txt, and logs.tar.gz with one log per binary (cuda_*_test.log,
# gpu_quant_bench.log, gpu_train_bench.log, torch_gpu_bench.log...): the
# device tool brings back at most 8 files. The side-by-side table with the targets
# (tools/device/summary.py) is printed last.
#
# Without a GPU every part still runs: the test binary skips every test, the
# benchmarks print "no GPU: ..." and exit 0, and so does this script. Exit
# status: 1 when the pack is missing or the tests fail or a binary crashes
# or times out; missed performance targets are reported, not failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source=tools/device/libs.sh
source tools/device/libs.sh
ARCHIVE=tools/device/pack/slimtrain-gpu.tar.xz
OUT=${OUT:-$(mktemp -d /tmp/slimtrain-gpu-check.XXXXXX)}
mkdir -p "$OUT"
LOG="$OUT/check.log"
: >"$LOG"
START=$(date +%s)
status=0

say() { echo "$*" | tee -a "$LOG"; }
elapsed() { echo "$(($(date +%s) - START))s"; }

if [[ ! -f "$ARCHIVE" ]]; then
  say "check.sh: no $ARCHIVE: run tools/device/pack.sh on the build machine and carry tools/device/pack"
  exit 1
fi
WORK=$(mktemp -d /tmp/slimtrain-gpu.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
tar -C "$WORK" -xJf "$ARCHIVE" || { say "check.sh: cannot unpack $ARCHIVE"; exit 1; }
say "== slimtrain GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), logs in $OUT"
say "pack: $(head -1 "$WORK/MANIFEST")"

# The GPU, if any.
GPU=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >>"$LOG" 2>&1; then
  GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
fi
if [[ -n "$GPU" ]]; then
  say "GPU: $GPU"
else
  say "no GPU: nvidia-smi found none; dry run (the binaries skip their GPU parts)"
fi

NVIDIA_LIBS=$(nvidia_libs 2>>"$LOG")
say "cuDNN/cuBLAS from: ${NVIDIA_LIBS:-(none found: no nvidia packages in python3, no /usr/local/cuda)}"
SLIM_LD="$WORK/lib${NVIDIA_LIBS:+:$NVIDIA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The CUDA backend dlopens these (engine/cuda/dynamic_libs.h): ldd cannot see them.
for lib in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13; do
  found=""
  IFS=: read -ra dirs <<<"$NVIDIA_LIBS"
  for d in "${dirs[@]}"; do [[ -e "$d/$lib" ]] && found="$d/$lib" && break; done
  say "$lib: ${found:-NOT FOUND (the CUDA backend will report UNAVAILABLE)}"
done
export CUDA_MODULE_LOADING=EAGER

# Every library the binaries need must resolve (cuDNN/cuBLAS: only with a GPU's packages).
for b in "$WORK"/bin/*; do
  LD_LIBRARY_PATH="$SLIM_LD" ldd "$b" >>"$LOG" 2>&1
  nf=$(LD_LIBRARY_PATH="$SLIM_LD" ldd "$b" 2>/dev/null | grep "not found" | awk '{print $1}' | tr '\n' ' ')
  if [[ -n "$nf" ]]; then
    say "ldd $(basename "$b"): not found: $nf"
    if [[ -n "$GPU" ]]; then status=1; fi
  fi
done

# run NAME LIMIT_SECONDS COMMAND...: output to $OUT/NAME.log, one status line.
run() {
  local name=$1 limit=$2
  shift 2
  local t0 rc
  t0=$(date +%s)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  local line="$name: exit $rc in $(($(date +%s) - t0))s"
  if ((rc == 124)); then line="$line (TIMED OUT after ${limit}s)"; fi
  say "$line"
  return $rc
}

say "== running ($(elapsed) so far)"
for t in cuda_ops_test cuda_kernels_test cuda_activation_test cuda_view_ops_test cuda_executor_test cuda_saved_codes_test workspace_bounds_gpu_test gpu_targets_test nccl_communicator_test cuda_data_parallel_test; do
  run "$t" 60 env LD_LIBRARY_PATH="$SLIM_LD" "$WORK/bin/$t" || status=1
done
run gpu_quant_bench 30 env LD_LIBRARY_PATH="$SLIM_LD" "$WORK/bin/gpu_quant_bench" || status=1
run gpu_train_bench 90 env LD_LIBRARY_PATH="$SLIM_LD" "$WORK/bin/gpu_train_bench" \
  --models resnet56,resnet164 --batch 128 --steps 10 --warmup 3 || status=1
run torch_gpu_bench 75 env PYTHONUNBUFFERED=1 python3 bench/torch_gpu_bench.py \
  --models resnet56,resnet164 --batch 128 --steps 10 --warmup 3 || status=1
say "== done in $(elapsed)"

# The failures of the test binary, in the check's own log.
for t in cuda_ops_test cuda_kernels_test cuda_activation_test cuda_view_ops_test cuda_executor_test cuda_saved_codes_test workspace_bounds_gpu_test gpu_targets_test nccl_communicator_test cuda_data_parallel_test; do
  grep -E "^\[  FAILED  \]|Failure$" "$OUT/$t.log" | head -40 >>"$LOG"
done
# On a GPU machine a skip is a failure: the backend could not start there.
if [[ -n "$GPU" ]] && grep -qh "^no GPU: " "$OUT"/cuda_*_test.log 2>/dev/null; then
  say "FAILED: there is a GPU but the CUDA backend did not start: $(grep -h -m1 "^no GPU: " "$OUT"/cuda_*_test.log | head -1)"
  status=1
fi

echo
python3 tools/device/summary.py "$OUT" | tee "$OUT/summary.txt"
# The device tool brings back 8 files at most: the per-binary logs travel as
# one archive beside check.log and summary.txt.
(cd "$OUT" && ls -- *.log | grep -vx check.log | tar -czf logs.tar.gz -T - && ls -- *.log | grep -vx check.log | xargs rm -f)
exit $status
