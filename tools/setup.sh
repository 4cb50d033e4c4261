#!/usr/bin/env bash
# tools/setup.sh — install the Debian packages slimtrain needs, and nothing else.
#
# Idempotent: prints what it installs, and does nothing (besides saying so) when
# every package is already present. Uses sudo only when not run as root.
#
# The package list below is the single source of truth: tools/check_deps.py
# (run by tools/test.sh) fails when a binary links, or the code includes, a
# system file whose Debian package is not reachable from this list.
set -euo pipefail

# One package per line; `#` starts a comment. Keep it sorted within groups.
PACKAGES=(
  # build
  bazel-bootstrap          # Bazel 4.2.3, runs offline
  g++                      # C++17 compiler
  python3                  # tools/test.sh summary, tools/check_deps.py
  # contracts and RPC
  libgrpc++-dev            # gRPC C++ (grpc++, reflection)
  libgrpc-dev              # gRPC core
  libprotobuf-dev          # Protobuf runtime and headers
  protobuf-compiler        # protoc
  protobuf-compiler-grpc   # grpc_cpp_plugin, grpc_python_plugin
  libabsl-dev              # Abseil 20220623: Status, StatusOr, strings, flags
  # tests and benchmarks
  googletest               # GoogleTest sources
  libgtest-dev             # GoogleTest
  libgmock-dev             # GoogleMock
  libbenchmark-dev         # Google Benchmark
  # engine and server
  libdnnl-dev              # oneDNN (CPU convolution, linear, pooling)
  libsqlite3-dev           # job store
  libcpp-httplib-dev       # the server's HTTP dashboard and /metrics (cpp-httplib 0.11, with OpenSSL)
  zlib1g-dev               # gzip for datasets and compression
  libonnx-dev              # ONNX protobufs and checker (model import)
  libpng-dev               # PNG decoding (image-folder datasets)
  libjpeg62-turbo-dev      # JPEG decoding (image-folder datasets)
  libopenmpi-dev           # OpenMPI 4.1 C API (engine/comm: data-parallel all-reduce, NCCL's bootstrap)
  openmpi-bin              # mpirun (tests/engine/comm's multi-process test; launching data-parallel jobs)
  python3-onnx             # building ONNX models in tests and scripts
  python3-prometheus-client  # tests parse /metrics with Prometheus' own text-format parser
  chromium                 # headless browser: the dashboard's end-to-end tests, tools/demo.sh's screenshot
  # data
  dataset-fashion-mnist    # /usr/share/datasets/fashion-mnist
  # Python client
  python3-grpcio
  python3-protobuf
)

# Only for the benchmarks against PyTorch (bench/engine_cpu, the weight export
# check): `tools/setup.sh --bench`. Large (about 275 packages), so not installed
# for the tests.
BENCH_PACKAGES=(
  python3-torch            # PyTorch 1.13, CPU (run with /usr/bin/python3)
  python3-torchvision      # torchvision's ResNets, for the weight export check
  libopenblas0-pthread     # an optimised BLAS for PyTorch's linear layers (Debian's default, netlib's reference BLAS, is ~10x slower)
)

# Only for the fuzz targets (bench/fuzz.sh): `tools/setup.sh --fuzz`. Clang
# builds them with -fsanitize=fuzzer,address,undefined; the tests replay their
# corpora with g++ and need none of this.
FUZZ_PACKAGES=(
  clang-14                 # the compiler with libFuzzer's instrumentation
  libclang-rt-14-dev       # libclang_rt.fuzzer, .asan, .ubsan: what -fsanitize= links (only recommended by clang-14)
  libfuzzer-14-dev         # libFuzzer as a library (libFuzzer.a)
  libomp-14-dev            # clang's -fopenmp (the fast CPU backend's kernels)
)

usage() {
  cat <<'USAGE'
usage: tools/setup.sh [--bench | --fuzz | --list | --help]

Installs the Debian packages slimtrain needs that are missing (with sudo when
not root), and nothing else.
  (none)    what the build, the tests and the demo need
  --bench   also PyTorch, for the benchmarks against it (about 275 packages)
  --fuzz    also clang-14 and libFuzzer, for bench/fuzz.sh
  --list    print the base package list and exit
  --help    this text
USAGE
}

case "${1:-}" in
  --list)
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
    ;;
  --bench)
    PACKAGES+=("${BENCH_PACKAGES[@]}")
    ;;
  --fuzz)
    PACKAGES+=("${FUZZ_PACKAGES[@]}")
    ;;
  --help | -h)
    usage
    exit 0
    ;;
  "")
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages present; nothing to install."
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
  SUDO="sudo"
fi

echo "setup: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package index only when apt has never been updated here, or the
# install fails for want of it.
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}"; then
  echo "setup: install failed; refreshing the package index and retrying"
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "setup: done."
