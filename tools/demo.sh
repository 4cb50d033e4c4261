#!/usr/bin/env bash
# tools/demo.sh — the main job: set up, build everything, and show what
# slimtrain does on this machine, saying what happens at each step.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "1. setup: installing missing Debian packages (tools/setup.sh)"
tools/setup.sh

step "2. build: everything, with Bazel (offline)"
log=$(mktemp)
trap 'rm -f "${log}"' EXIT
if ! bazel build //... --color=no --curses=no --noshow_progress >"${log}" 2>&1; then
  tail -n 30 "${log}"
  echo "demo: the build failed (above)." >&2
  exit 1
fi
grep -E '^INFO: (Elapsed|Build completed)' "${log}" | head -n 2
echo "CUDA targets compiled: $(tools/cuda_status.sh)"

step "3. GPUs: what this machine offers (engine/cuda:gpu_probe)"
bazel-bin/engine/cuda/gpu_probe

slimtrain=bazel-bin/client/slimtrain

step "4. plan: memory of one training step of ResNet-164 (CIFAR, batch 128) under every strategy"
"${slimtrain}" plan --model zoo:resnet164 --batch 128

step "5. budget: which strategy fits ResNet-164 at batch 128 in 1 GiB, and the largest batch each allows"
"${slimtrain}" plan --model zoo:resnet164 --batch 128 --strategies auto --budget 1GiB
"${slimtrain}" plan --model zoo:resnet164 --batch 128 --strategies exact,approx4,checkpoint_optimal \
  --budget 1GiB --max-batch

svg="${TMPDIR:-/tmp}/slimtrain-resnet164-approx4.svg"
step "6. picture: the approx4 arena over the steps, written to ${svg}"
"${slimtrain}" plan --model zoo:resnet164 --batch 128 --strategies approx4 --svg "${svg}" >/dev/null

weights="${TMPDIR:-/tmp}/slimtrain-fmnist-approx4.safetensors"
step "7. train: the Fashion-MNIST ResNet with approx4, 300 steps on this machine's CPU"
"${slimtrain}" train --model zoo:fmnist_resnet --dataset fashion-mnist --strategy approx4 --steps 300 \
  --batch 128 --lr 0.1 --nesterov --crop-padding 2 --flip --output "${weights}"

step "8. eval: the exported weights (safetensors, PyTorch names) scored on the test set"
"${slimtrain}" eval --model zoo:fmnist_resnet --weights "${weights}" --dataset fashion-mnist

step "done: every step above ran"
