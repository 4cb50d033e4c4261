// cuda_status.h — CUDA runtime errors as absl::Status with file:line.
//
//   SLIM_CUDA_RETURN_IF_ERROR(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
//
// Only for translation units compiled with CUDA (SLIMTRAIN_HAVE_CUDA).
#ifndef SLIMTRAIN_ENGINE_CUDA_CUDA_STATUS_H_
#define SLIMTRAIN_ENGINE_CUDA_CUDA_STATUS_H_

#include <cuda_runtime.h>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace slimtrain::engine::cuda {

// OK for cudaSuccess; otherwise an error naming the call, the CUDA error and
// where it happened. "No device" errors map to UNAVAILABLE, out of memory to
// RESOURCE_EXHAUSTED, everything else to INTERNAL.
inline absl::Status CudaStatus(cudaError_t err, const char* expr, const char* file, int line) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string msg = absl::StrFormat("%s:%d: %s: %s (%s)", file, line, expr,
                                          cudaGetErrorString(err), cudaGetErrorName(err));
  switch (err) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
      return absl::UnavailableError(msg);
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace slimtrain::engine::cuda

#define SLIM_CUDA_RETURN_IF_ERROR(expr)                                               \
  do {                                                                                \
    ::absl::Status slim_cuda_status_ =                                                \
        ::slimtrain::engine::cuda::CudaStatus((expr), #expr, __FILE__, __LINE__);    \
    if (!slim_cuda_status_.ok()) return slim_cuda_status_;                            \
  } while (0)

#endif  // SLIMTRAIN_ENGINE_CUDA_CUDA_STATUS_H_
