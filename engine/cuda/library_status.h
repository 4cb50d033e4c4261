// library_status.h — cuDNN and cuBLAS statuses as absl::Status with file:line.
//
// Overloads of cuda_status.h's CudaStatus, so the one macro covers the CUDA
// runtime, cuDNN and cuBLAS alike:
//
//   SLIM_CUDA_RETURN_IF_ERROR(cudnnSetStream(handle, stream));
//   SLIM_CUDA_RETURN_IF_ERROR(cublasSgemm(handle, ...));
//
// Mapping: library loading and initialisation failures (cuDNN's 1xxx
// statuses and CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE, cuBLAS's
// NOT_INITIALIZED) are UNAVAILABLE; "not supported" is UNIMPLEMENTED; failed
// allocations are RESOURCE_EXHAUSTED; everything else is INTERNAL. cuDNN's
// messages add cudnnGetLastErrorString's detail when it has one.
//
// Only for translation units compiled with CUDA and linked against cuDNN and
// cuBLAS (target //engine/cuda:library_status).
#ifndef SLIMTRAIN_ENGINE_CUDA_LIBRARY_STATUS_H_
#define SLIMTRAIN_ENGINE_CUDA_LIBRARY_STATUS_H_

#include <cudnn.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "engine/cuda/cublas_include.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/dynamic_libs.h"

namespace slimtrain::engine::cuda {

// OK for CUDNN_STATUS_SUCCESS; otherwise an error naming the call, cuDNN's
// message and where it happened.
inline absl::Status CudaStatus(cudnnStatus_t status, const char* expr, const char* file, int line) {
  if (status == CUDNN_STATUS_SUCCESS) return absl::OkStatus();
  char detail[512] = {0};
  cuda::Cudnn().cudnnGetLastErrorString(detail, sizeof(detail));
  std::string msg = absl::StrFormat("%s:%d: %s: %s (cuDNN status %d)", file, line, expr,
                                    cuda::Cudnn().cudnnGetErrorString(status), static_cast<int>(status));
  if (detail[0] != '\0') absl::StrAppendFormat(&msg, ": %s", detail);
  const int category = static_cast<int>(status) / 1000 * 1000;
  if (category == 1000 || status == CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE ||
      status == CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER ||
      status == CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART) {
    return absl::UnavailableError(msg);
  }
  if (status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
      status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
    return absl::ResourceExhaustedError(msg);
  }
  if (category == 3000) return absl::UnimplementedError(msg);
  return absl::InternalError(msg);
}

// OK for CUBLAS_STATUS_SUCCESS; otherwise an error naming the call, cuBLAS's
// status and where it happened.
inline absl::Status CudaStatus(cublasStatus_t status, const char* expr, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string msg =
      absl::StrFormat("%s:%d: %s: %s (%s)", file, line, expr, cuda::Cublas().cublasGetStatusString(status),
                      cuda::Cublas().cublasGetStatusName(status));
  switch (status) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return absl::UnavailableError(msg);
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::ResourceExhaustedError(msg);
    case CUBLAS_STATUS_NOT_SUPPORTED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return absl::UnimplementedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_LIBRARY_STATUS_H_
