// gpu_info.h — which GPUs this process can use, asked of the CUDA runtime.
//
// The same code is built with and without the CUDA toolkit: without it every
// query answers UNAVAILABLE("built without CUDA"), so callers (the device pool,
// the trainer's backend choice, the probe binary) never branch on the build.
//
//   absl::StatusOr<std::vector<GpuInfo>> gpus = ListGpus();
//   if (!gpus.ok()) std::printf("no GPU, using CPU: %s\n", gpus.status().message());
#ifndef SLIMTRAIN_ENGINE_CUDA_GPU_INFO_H_
#define SLIMTRAIN_ENGINE_CUDA_GPU_INFO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace slimtrain::engine::cuda {

struct GpuInfo {
  int index = 0;             // CUDA device ordinal
  std::string name;          // e.g. "NVIDIA H200"
  int64_t total_bytes = 0;   // device memory
  int64_t free_bytes = 0;    // free now, as cudaMemGetInfo reports it
  int compute_major = 0;     // compute capability, e.g. 9.0
  int compute_minor = 0;
};

// Whether this binary was compiled with the CUDA toolkit.
bool BuiltWithCuda();

// "CUDA 13.0, kernels for sm_80 and sm_90" or "built without CUDA".
std::string CudaBuildDescription();

// The GPUs visible to this process. UNAVAILABLE with the runtime's reason when
// there is none (no driver, no device) or the binary has no CUDA. Creates a
// CUDA context on each device it inspects.
absl::StatusOr<std::vector<GpuInfo>> ListGpus();

// Launches a small kernel on GPU `index` and checks its result: proof that
// code compiled by nvcc runs there. INTERNAL when the result is wrong.
absl::Status RunProbeKernel(int index);

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_GPU_INFO_H_
