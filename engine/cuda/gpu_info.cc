// See gpu_info.h.
#include "engine/cuda/gpu_info.h"

#include "absl/strings/str_format.h"

#if SLIMTRAIN_HAVE_CUDA
#include <cuda_runtime.h>

#include "engine/cuda/cuda_status.h"
#include "engine/cuda/probe_kernel.h"
#endif

namespace slimtrain::engine::cuda {

#if SLIMTRAIN_HAVE_CUDA

bool BuiltWithCuda() { return true; }

std::string CudaBuildDescription() {
  int runtime = 0;
  cudaRuntimeGetVersion(&runtime);
  return absl::StrFormat("CUDA %d.%d, kernels for sm_80 and sm_90", runtime / 1000,
                         (runtime % 1000) / 10);
}

absl::StatusOr<std::vector<GpuInfo>> ListGpus() {
  int count = 0;
  SLIM_CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count));
  if (count == 0) return absl::UnavailableError("the CUDA runtime reports 0 devices");
  std::vector<GpuInfo> gpus;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    SLIM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, i));
    SLIM_CUDA_RETURN_IF_ERROR(cudaSetDevice(i));
    size_t free_bytes = 0, total_bytes = 0;
    SLIM_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_bytes, &total_bytes));
    GpuInfo info;
    info.index = i;
    info.name = prop.name;
    info.total_bytes = static_cast<int64_t>(total_bytes);
    info.free_bytes = static_cast<int64_t>(free_bytes);
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    gpus.push_back(info);
  }
  return gpus;
}

absl::Status RunProbeKernel(int index) {
  constexpr int kElements = 1 << 20;
  float max_error = -1.0f;
  SLIM_CUDA_RETURN_IF_ERROR(
      static_cast<cudaError_t>(SlimProbeSaxpy(index, kElements, &max_error)));
  if (max_error != 0.0f) {
    return absl::InternalError(
        absl::StrFormat("probe kernel on GPU %d: result off by %g", index, max_error));
  }
  return absl::OkStatus();
}

#else  // !SLIMTRAIN_HAVE_CUDA

bool BuiltWithCuda() { return false; }

std::string CudaBuildDescription() { return "built without CUDA"; }

absl::StatusOr<std::vector<GpuInfo>> ListGpus() {
  return absl::UnavailableError("this binary was built without CUDA");
}

absl::Status RunProbeKernel(int) {
  return absl::UnavailableError("this binary was built without CUDA");
}

#endif  // SLIMTRAIN_HAVE_CUDA

}  // namespace slimtrain::engine::cuda
