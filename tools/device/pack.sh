#!/usr/bin/env bash
# tools/device/pack.sh — builds the GPU check's binaries here and packs them,
# with the shared libraries the GPU machine lacks, for the device tool.
#
#   tools/device/pack.sh        # then: the device tool's run with
#                               #   carry: ["tools/device/pack"]
#                               #   command: "tools/device/check.sh"
#
# 1. `bazel build -c opt` the check's binaries:
#    //tests/engine/cuda:cuda_{ops,kernels,activation,view_ops,executor}_test,
#    //bench:gpu_quant_bench, //bench:gpu_train_bench (a CUDA build: it fails
#    when @local_cuda found no toolkit, since the pack would test nothing).
# 2. Copies them (debug sections stripped) to a staging folder, and every
#    shared library `ldd` lists for them (and for the copied libraries) except
#    a basic system's (libc, libm, libdl, librt, libpthread, the loader,
#    libstdc++, libgcc_s), the driver's (libcuda, libnvidia-*) and cuDNN/cuBLAS,
#    which come from PyTorch's pip packages there (check.sh finds them). oneDNN
#    (libdnnl.so.*) and its libOpenCL.so.1 are among those copied when linked.
# 3. Fails if a binary links gRPC (it must stay out of these binaries) or if
#    `ldd` reports a library "not found" other than cuDNN/cuBLAS.
# 4. Writes tools/device/pack/slimtrain-gpu.tar.xz (bin/, lib/, MANIFEST) and
#    tools/device/pack/MANIFEST; prints the folder's size and fails, saying so,
#    when it is over 64 MiB (the most the device tool carries, working tree
#    included: the sizes of both are printed).
# The folder is git-ignored (.gitignore: /tools/device/pack/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PACK=tools/device/pack
LIMIT=$((64 * 1024 * 1024))
TARGETS=(//tests/engine/cuda:cuda_ops_test //tests/engine/cuda:cuda_kernels_test //tests/engine/cuda:cuda_activation_test //tests/engine/cuda:cuda_view_ops_test //tests/engine/cuda:cuda_executor_test //tests/engine/cuda:cuda_saved_codes_test //tests/engine/cuda:workspace_bounds_gpu_test //tests/engine/cuda:gpu_targets_test //tests/engine/comm:nccl_communicator_test //tests/engine/cuda:cuda_data_parallel_test
  //bench:gpu_quant_bench //bench:gpu_train_bench)
BINARIES=(tests/engine/cuda/cuda_ops_test tests/engine/cuda/cuda_kernels_test tests/engine/cuda/cuda_activation_test tests/engine/cuda/cuda_view_ops_test tests/engine/cuda/cuda_executor_test tests/engine/cuda/cuda_saved_codes_test tests/engine/cuda/workspace_bounds_gpu_test tests/engine/cuda/gpu_targets_test tests/engine/comm/nccl_communicator_test tests/engine/cuda/cuda_data_parallel_test
  bench/gpu_quant_bench bench/gpu_train_bench)

fail() {
  echo "pack.sh: FAILED: $*" >&2
  exit 1
}

git check-ignore -q "$PACK/x" || fail "$PACK is not git-ignored (add /$PACK/ to .gitignore)"

echo "== bazel build -c opt ${TARGETS[*]}"
bazel build -c opt "${TARGETS[@]}"
BIN_DIR=$(bazel info -c opt bazel-bin 2>/dev/null)
DEFS="$(bazel info output_base 2>/dev/null)/external/local_cuda/defs.bzl"
grep -q "^CUDA_ENABLED = True" "$DEFS" ||
  fail "this build has no CUDA toolkit ($DEFS): the GPU check needs a CUDA build (nvcc at /usr/local/cuda)"

STAGE=$(mktemp -d /tmp/slimtrain-pack.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib"

for b in "${BINARIES[@]}"; do
  cp -L "$BIN_DIR/$b" "$STAGE/bin/"
  chmod u+w "$STAGE/bin/$(basename "$b")"
  strip --strip-debug "$STAGE/bin/$(basename "$b")"
done

# What a basic system has, and what comes from the GPU machine itself.
basic() {
  case "$1" in
    linux-vdso.so* | ld-linux*.so* | libc.so* | libm.so* | libdl.so* | librt.so* | libpthread.so* | \
      libstdc++.so* | libgcc_s.so* | libutil.so* | libresolv.so*) return 0 ;;
  esac
  return 1
}
from_gpu_machine() {  # the driver; cuDNN and cuBLAS from PyTorch's nvidia-* packages
  case "$1" in
    libcuda.so* | libnvidia*.so* | libcudnn*.so* | libcublas*.so*) return 0 ;;  # libcublas* covers libcublasLt
  esac
  return 1
}

missing=()
expected_missing=()
queue=("$STAGE"/bin/*)
while ((${#queue[@]} > 0)); do
  file=${queue[0]}
  queue=("${queue[@]:1}")
  while read -r name arrow path _; do
    [[ "$arrow" == "=>" ]] || continue
    if [[ "$name" == libgrpc* || "$name" == libgpr* ]]; then
      fail "$(basename "$file") links $name: keep gRPC out of the GPU check's binaries"
    fi
    if [[ "$path" == "not" ]]; then
      if from_gpu_machine "$name"; then
        [[ " ${expected_missing[*]-} " == *" $name "* ]] || expected_missing+=("$name")
      else
        [[ " ${missing[*]-} " == *" $name "* ]] || missing+=("$name (needed by $(basename "$file"))")
      fi
      continue
    fi
    basic "$name" && continue
    from_gpu_machine "$name" && continue
    if [[ ! -e "$STAGE/lib/$name" ]]; then
      cp -L "$path" "$STAGE/lib/$name"
      chmod u+w "$STAGE/lib/$name"
      queue+=("$STAGE/lib/$name")
    fi
  done < <(LD_LIBRARY_PATH="$STAGE/lib" ldd "$file" 2>/dev/null)
done

echo "== ldd"
if ((${#expected_missing[@]} > 0)); then
  echo "not found here, expected: ${expected_missing[*]} (check.sh takes them from PyTorch's nvidia packages)"
fi
if ((${#missing[@]} > 0)); then
  printf 'ldd: not found: %s\n' "${missing[@]}"
  fail "libraries not found (above): the binaries would not start on the GPU machine"
fi
echo "no other library not found"
# The C and C++ runtimes the GPU machine must have (they do not travel).
glibc=$(find "$STAGE/bin" "$STAGE/lib" -type f -exec objdump -T {} + 2>/dev/null | grep -o 'GLIBC_2\.[0-9]*' |
  sort -t. -k2 -n -u | tail -1)
glibcxx=$(find "$STAGE/bin" "$STAGE/lib" -type f -exec objdump -T {} + 2>/dev/null | grep -o 'GLIBCXX_3\.4\.[0-9]*' |
  sort -t. -k3 -n -u | tail -1)
runtimes="needs ${glibc:-GLIBC ?} (glibc) and ${glibcxx:-GLIBCXX ?} (libstdc++) on the GPU machine"
echo "$runtimes"

{
  echo "slimtrain GPU check pack, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + local changes')"
  echo "targets: ${TARGETS[*]}"
  echo "$runtimes"
  (cd "$STAGE" && find bin lib -type f -printf '%s\t%p\n' | sort -k2)
} >"$STAGE/MANIFEST"

rm -rf "$PACK"
mkdir -p "$PACK"
echo "== compress"
tar -C "$STAGE" -cf - MANIFEST bin lib | xz -T0 -9 >"$PACK/slimtrain-gpu.tar.xz"
cp "$STAGE/MANIFEST" "$PACK/MANIFEST"

cat "$PACK/MANIFEST"
staged=$(du -sb "$STAGE" | cut -f1)
size=$(du -sb "$PACK" | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
echo
echo "uncompressed: $((staged / 1024 / 1024)) MiB; $PACK: $size bytes ($((size / 1024 / 1024)) MiB)"
echo "working tree that travels with it: $tree bytes ($(((tree + size) / 1024 / 1024)) MiB in all, limit 64 MiB)"
if ((size > LIMIT)); then
  fail "$PACK is $size bytes, over the 64 MiB the device tool carries"
fi
if ((tree + size > LIMIT)); then
  fail "working tree + $PACK is $((tree + size)) bytes, over the 64 MiB the device tool carries"
fi
echo "pack.sh: OK — run on the GPU machine: carry [\"$PACK\"], command tools/device/check.sh"
