# tools/device/libs.sh — sourced by check.sh and profile.sh on the GPU machine.
#
# nvidia_libs: prints, colon-separated, the folders holding cuDNN, cuBLAS and
# NCCL from PyTorch's pip packages (nvidia/cudnn/lib, nvidia/nccl/lib,
# nvidia/cublas/lib, or nvidia/cu13/lib in CUDA 13's wheels), then, as a last
# resort (the build machine's dry run), the toolkit's own library folder.
# The CUDA backend dlopens cuDNN and cuBLAS (engine/cuda/dynamic_libs.h), so
# LD_LIBRARY_PATH must name these folders.

nvidia_libs() {
  local libs d
  libs=$(python3 - <<'PY'
import glob, os, site, sys
roots = []
try:
    import nvidia
    roots += list(nvidia.__path__)
except Exception:
    pass
for sp in site.getsitepackages() + [site.getusersitepackages()] + sys.path:
    if sp and os.path.isdir(os.path.join(sp, "nvidia")):
        roots.append(os.path.join(sp, "nvidia"))
dirs = []
for root in roots:
    for lib in ("libcudnn.so*", "libcublas.so*", "libcublasLt.so*", "libnccl.so*"):
        for f in sorted(glob.glob(os.path.join(root, "*", "lib", lib))):
            d = os.path.dirname(os.path.realpath(f))
            if d not in dirs:
                dirs.append(d)
print(":".join(dirs))
PY
  )
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    if [[ -e "$d/libcublas.so.13" || -e "$d/libcudnn.so.9" ]]; then
      libs="${libs:+$libs:}$d"
      break
    fi
  done
  echo "$libs"
}
