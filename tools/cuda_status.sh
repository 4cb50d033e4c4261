#!/usr/bin/env bash
# Prints whether this build compiles the CUDA targets, as cuda_configure
# decided (third_party/cuda/cuda_configure.bzl).
cd "$(dirname "$0")/.." || exit 1
defs="$(bazel info output_base 2>/dev/null)/external/local_cuda/defs.bzl"
if [[ -f "${defs}" ]] && grep -q '^CUDA_ENABLED = True' "${defs}"; then
  echo "yes, $(grep '^CUDA_PATH' "${defs}" | cut -d'"' -f2), CUDA $(grep '^CUDA_VERSION' "${defs}" | cut -d'"' -f2)"
elif [[ -f "${defs}" ]]; then
  echo "no, CPU-only build"
else
  echo "not yet configured"
fi
