#!/usr/bin/env bash
# bench/export_check.sh [MODEL] — slimtrain's exported weights load into
# Debian's PyTorch/torchvision with load_state_dict(strict=True) and give
# slimtrain's logits within 1e-4. Needs `tools/setup.sh --bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-resnet18}"
dir=$(mktemp -d)
trap 'rm -rf "${dir}"' EXIT
if ! log=$(bazel build //bench:export_check --noshow_progress 2>&1); then echo "${log}" | tail -20; exit 1; fi
bazel-bin/bench/export_check "${model}" "${dir}"
/usr/bin/python3 bench/export_check.py "${model}" "${dir}"
