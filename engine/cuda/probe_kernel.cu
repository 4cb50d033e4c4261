// See probe_kernel.h.
#include <cuda_runtime.h>

#include <cmath>
#include <vector>

#include "engine/cuda/probe_kernel.h"

namespace {

__global__ void Saxpy(int n, float a, const float* x, float* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

}  // namespace

extern "C" int SlimProbeSaxpy(int device, int n, float* max_error) {
  cudaError_t err = cudaSetDevice(device);
  if (err != cudaSuccess) return err;
  std::vector<float> x(n), y(n, 1.0f);
  for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i);
  float* dx = nullptr;
  float* dy = nullptr;
  const size_t bytes = sizeof(float) * n;
  if ((err = cudaMalloc(&dx, bytes)) != cudaSuccess) return err;
  if ((err = cudaMalloc(&dy, bytes)) != cudaSuccess) {
    cudaFree(dx);
    return err;
  }
  cudaMemcpy(dx, x.data(), bytes, cudaMemcpyHostToDevice);
  cudaMemcpy(dy, y.data(), bytes, cudaMemcpyHostToDevice);
  Saxpy<<<(n + 255) / 256, 256>>>(n, 2.0f, dx, dy);
  err = cudaGetLastError();
  if (err == cudaSuccess) err = cudaMemcpy(y.data(), dy, bytes, cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dy);
  if (err != cudaSuccess) return err;
  float worst = 0.0f;
  for (int i = 0; i < n; ++i) worst = std::fmax(worst, std::fabs(y[i] - (2.0f * i + 1.0f)));
  *max_error = worst;
  return cudaSuccess;
}
