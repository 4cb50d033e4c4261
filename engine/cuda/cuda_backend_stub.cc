// See cuda_backend.h: the build without a CUDA toolkit, where no CUDA backend
// exists and no GPU memory can be measured.
#include "engine/cuda/cuda_backend.h"

namespace slimtrain::engine {

absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(const CudaBackendOptions&) {
  return absl::UnavailableError(
      "this build has no CUDA toolkit (cuda_configure found none; see third_party/cuda/cuda_configure.bzl): "
      "the CUDA backend is unavailable, use a CPU backend");
}

int64_t CudaDeviceBytesInUse(int) { return -1; }

}  // namespace slimtrain::engine
