// cuda_backend.h — the CUDA backend: engine::Backend on one NVIDIA GPU.
//
// cuDNN runs convolution forward, backward-data and backward-filter (the
// algorithm chosen per shape to fit the workspace the plan gives it, which
// the backend reports as its planner::CostModel), cuBLAS the linear layers,
// and engine/cuda/kernels.h everything else. float32 only; fp32 is true fp32
// (tensor-core TF32 off) unless CudaBackendOptions.tf32. All kernels run on
// one stream; every byte a step uses is in the executor's arena (allocated
// with Allocate, i.e. cudaMalloc, once): no allocation inside a step.
// CUDA/cuDNN/cuBLAS failures are recorded with file and line and returned
// by ConsumeError.
//
//   absl::StatusOr<std::unique_ptr<Backend>> gpu = NewCudaBackend({});
//   if (!gpu.ok()) ... // UNAVAILABLE: no toolkit in this build, no GPU, no cuDNN
#ifndef SLIMTRAIN_ENGINE_CUDA_CUDA_BACKEND_H_
#define SLIMTRAIN_ENGINE_CUDA_CUDA_BACKEND_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "engine/backend.h"

namespace slimtrain::engine {

struct CudaBackendOptions {
  int device = 0;     // CUDA device ordinal
  bool tf32 = false;  // allow tensor-core TF32 math in cuDNN and cuBLAS
};

// The CUDA backend on `options.device`. UNAVAILABLE, saying why, when this
// build has no CUDA toolkit, the machine has no usable GPU (or driver), or
// cuDNN/cuBLAS cannot be loaded; INVALID_ARGUMENT for a device ordinal out of
// range.
absl::StatusOr<std::unique_ptr<Backend>> NewCudaBackend(const CudaBackendOptions& options = {});

// Bytes cudaMemGetInfo reports taken (total - free) on `device`; -1 without
// CUDA or a GPU.
int64_t CudaDeviceBytesInUse(int device = 0);

}  // namespace slimtrain::engine

#endif  // SLIMTRAIN_ENGINE_CUDA_CUDA_BACKEND_H_
