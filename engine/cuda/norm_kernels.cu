// kernels.h's layer_norm and group_norm (engine/norm_math.h's group
// functions, one thread per (example, group), per channel for dγ, dβ): the reference's arithmetic (per-row sums and each
// element in double, rounded once), one thread per row for the forward and
// dx, one thread per column for dγ and dβ (summed over the rows in order, so
// the results equal the reference's). Rows of a few hundred elements leave
// the GPU underused at small batches: a block-per-row kernel is the next
// step when a profile asks for it.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"
#include "engine/norm_math.h"

namespace slimtrain::engine::cuda {
namespace {

// γ's index of row element i (engine::LayerNormParamIndex): an image's row
// is stored (H,W,C), its γ is (C,H,W).
__device__ __forceinline__ int64_t ParamIndex(int64_t i, int64_t size, int64_t image_c) {
  return image_c > 0 ? (i % image_c) * (size / image_c) + i / image_c : i;
}

__global__ void LayerNormForwardKernel(int64_t rows, int64_t size, int64_t image_c, double eps, const float* x,
                                       const float* gamma, const float* beta, float* y, float* stats) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    const float* xr = x + r * size;
    float m, s;
    norm::RowStats(xr, size, eps, &m, &s);
    stats[2 * r] = m;
    stats[2 * r + 1] = s;
    for (int64_t i = 0; i < size; ++i) {
      const double xhat = norm::Normalized(xr[i], m, s);
      const int64_t p = ParamIndex(i, size, image_c);
      y[r * size + i] = static_cast<float>(gamma != nullptr ? xhat * gamma[p] + (beta != nullptr ? beta[p] : 0) : xhat);
    }
  }
}

__device__ __forceinline__ double Xhat(const float* x, const float* stats, int64_t size, int64_t r, int64_t i) {
  return norm::Normalized(x[r * size + i], stats[2 * r], stats[2 * r + 1]);
}

__global__ void LayerNormParamGradKernel(int64_t rows, int64_t size, int64_t image_c, const float* dy,
                                         const float* x, const float* stats, float* dgamma, float* dbeta) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < size; i += stride) {
    double dg = 0, db = 0;
    for (int64_t r = 0; r < rows; ++r) {
      dg += static_cast<double>(dy[r * size + i]) * Xhat(x, stats, size, r, i);
      db += static_cast<double>(dy[r * size + i]);
    }
    const int64_t p = ParamIndex(i, size, image_c);
    dgamma[p] = static_cast<float>(dg);
    if (dbeta != nullptr) dbeta[p] = static_cast<float>(db);
  }
}

__global__ void LayerNormDataGradKernel(int64_t rows, int64_t size, int64_t image_c, const float* dy,
                                        const float* x, const float* gamma, const float* stats, float* dx,
                                        bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    auto g_at = [&](int64_t i) {
      return static_cast<double>(dy[r * size + i]) *
             (gamma != nullptr ? static_cast<double>(gamma[ParamIndex(i, size, image_c)]) : 1.0);
    };
    double mean_g = 0, mean_gx = 0;
    for (int64_t i = 0; i < size; ++i) {
      const double g = g_at(i);
      mean_g += g;
      mean_gx += g * Xhat(x, stats, size, r, i);
    }
    mean_g /= static_cast<double>(size);
    mean_gx /= static_cast<double>(size);
    const double s = static_cast<double>(stats[2 * r + 1]);
    for (int64_t i = 0; i < size; ++i) {
      Store(&dx[r * size + i], s * (g_at(i) - mean_g - Xhat(x, stats, size, r, i) * mean_gx), accumulate);
    }
  }
}

__global__ void GroupNormForwardKernel(norm::Groups geo, int64_t batch, double eps, const float* x,
                                       const float* gamma, const float* beta, float* y, float* stats) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < batch * geo.groups;
       t += stride) {
    norm::GroupForward(geo, t / geo.groups, t % geo.groups, eps, x, gamma, beta, y, stats);
  }
}

__global__ void GroupNormParamGradKernel(norm::Groups geo, int64_t batch, const float* dy, const float* x,
                                         const float* stats, float* dgamma, float* dbeta) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < geo.channels; c += stride) {
    norm::GroupParamGrad(geo, batch, c, dy, x, stats, dgamma, dbeta);
  }
}

__global__ void GroupNormDataGradKernel(norm::Groups geo, int64_t batch, const float* dy, const float* x,
                                        const float* gamma, const float* stats, float* dx, bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < batch * geo.groups;
       t += stride) {
    norm::GroupDataGrad(geo, t / geo.groups, t % geo.groups, dy, x, gamma, stats, dx, accumulate);
  }
}

}  // namespace

cudaError_t GroupNormForward(const norm::Groups& geo, int64_t batch, double eps, const float* x, const float* gamma,
                             const float* beta, float* y, float* stats, cudaStream_t stream) {
  if (batch * geo.groups <= 0) return cudaSuccess;
  GroupNormForwardKernel<<<static_cast<unsigned>(StrideBlocks(batch * geo.groups)), kThreads, 0, stream>>>(
      geo, batch, eps, x, gamma, beta, y, stats);
  return cudaGetLastError();
}

cudaError_t GroupNormBackward(const norm::Groups& geo, int64_t batch, const float* dy, const float* x,
                              const float* gamma, const float* stats, float* dx, bool accumulate, float* dgamma,
                              float* dbeta, cudaStream_t stream) {
  if (dgamma != nullptr) {
    GroupNormParamGradKernel<<<static_cast<unsigned>(StrideBlocks(geo.channels)), kThreads, 0, stream>>>(
        geo, batch, dy, x, stats, dgamma, dbeta);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  if (dx == nullptr || batch * geo.groups <= 0) return cudaSuccess;
  GroupNormDataGradKernel<<<static_cast<unsigned>(StrideBlocks(batch * geo.groups)), kThreads, 0, stream>>>(
      geo, batch, dy, x, gamma, stats, dx, accumulate);
  return cudaGetLastError();
}

cudaError_t LayerNormForward(int64_t rows, int64_t size, int64_t image_c, double eps, const float* x,
                             const float* gamma, const float* beta, float* y, float* stats, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  LayerNormForwardKernel<<<static_cast<unsigned>(StrideBlocks(rows)), kThreads, 0, stream>>>(
      rows, size, image_c, eps, x, gamma, beta, y, stats);
  return cudaGetLastError();
}

cudaError_t LayerNormBackward(int64_t rows, int64_t size, int64_t image_c, const float* dy, const float* x,
                              const float* gamma, const float* stats, float* dx, bool accumulate, float* dgamma,
                              float* dbeta, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  // dγ and dβ first: dx may be dy's storage.
  if (dgamma != nullptr) {
    LayerNormParamGradKernel<<<static_cast<unsigned>(StrideBlocks(size)), kThreads, 0, stream>>>(
        rows, size, image_c, dy, x, stats, dgamma, dbeta);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  if (dx == nullptr) return cudaSuccess;
  LayerNormDataGradKernel<<<static_cast<unsigned>(StrideBlocks(rows)), kThreads, 0, stream>>>(
      rows, size, image_c, dy, x, gamma, stats, dx, accumulate);
  return cudaGetLastError();
}

}  // namespace slimtrain::engine::cuda
