// probe_kernel.h — the smallest end-to-end use of the GPU: launch one kernel
// (y = a*x + y over n floats) and read the result back.
//
// Plain C linkage so that the .cu file needs no project headers; gpu_probe.cc
// turns the returned cudaError_t into an absl::Status.
#ifndef SLIMTRAIN_ENGINE_CUDA_PROBE_KERNEL_H_
#define SLIMTRAIN_ENGINE_CUDA_PROBE_KERNEL_H_

#ifdef __cplusplus
extern "C" {
#endif

// Runs saxpy with a = 2 on x[i] = i, y[i] = 1 on `device` and stores the largest
// absolute difference from the exact result in *max_error. Returns a
// cudaError_t value (0 is success). Allocates and frees its own device memory.
int SlimProbeSaxpy(int device, int n, float* max_error);

#ifdef __cplusplus
}
#endif

#endif  // SLIMTRAIN_ENGINE_CUDA_PROBE_KERNEL_H_
