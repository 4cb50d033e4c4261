// kernels.h's view kernels: strided copies, reductions, broadcast binary
// ops and matrix products (one thread per output element) over TensorViews (engine/tensor_view.h, the same element functions as
// the CPU backends), one thread per output element in a grid-stride loop,
// sums in double in the reference's order and rounded once.
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"
#include "engine/pool_math.h"
#include "engine/tensor_view.h"

namespace slimtrain::engine::cuda {
namespace {

__global__ void StridedCopyKernel(TensorView src, const float* x, TensorView dst, float* y, double scale,
                                  bool accumulate, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    Store(&y[dst.At(k)], scale * static_cast<double>(x[src.At(k)]), accumulate);
  }
}

__global__ void ReduceKernel(TensorView src, const float* x, TensorView dst, float* y, double scale,
                             bool accumulate, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const double sum =
        view::SumOver<double>(src, dst, j, [&](int64_t k) { return static_cast<double>(x[src.At(k)]); });
    Store(&y[dst.At(j)], scale * sum, accumulate);
  }
}

__global__ void BinaryForwardKernel(BinaryOp op, TensorView a, const float* a_data, TensorView b,
                                    const float* b_data, TensorView y, float* y_data, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const double v =
        view::Apply<double>(op, static_cast<double>(a_data[a.At(k)]), static_cast<double>(b_data[b.At(k)]));
    y_data[y.At(k)] = static_cast<float>(v);
  }
}

__global__ void BinaryBackwardKernel(BinaryOp op, int index, TensorView a, const float* a_data, TensorView b,
                                     const float* b_data, TensorView dy, const float* dy_data, TensorView d,
                                     float* d_data, bool accumulate, int64_t n) {
  const bool reads_a = (op == BinaryOp::kMul || op == BinaryOp::kDiv) && index == 1;
  const bool reads_b = (op == BinaryOp::kMul && index == 0) || op == BinaryOp::kDiv;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const double sum = view::SumOver<double>(dy, d, j, [&](int64_t k) {
      const double av = reads_a ? static_cast<double>(a_data[a.At(k)]) : 0.0;
      const double bv = reads_b ? static_cast<double>(b_data[b.At(k)]) : 0.0;
      return static_cast<double>(dy_data[dy.At(k)]) * view::Partial<double>(op, index, av, bv);
    });
    Store(&d_data[d.At(j)], sum, accumulate);
  }
}

__global__ void MatMulKernel(TensorView a, const float* a_data, TensorView b, const float* b_data, TensorView y,
                             float* y_data, bool accumulate, int64_t n) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t h = y.dims[1], m = y.dims[2], p = y.dims[3], k = a.dims[3];
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = e % p, r = (e / p) % m, i1 = (e / (p * m)) % h, i0 = e / (p * m * h);
    double sum = 0;
    for (int64_t t = 0; t < k; ++t) {
      sum += static_cast<double>(
                 a_data[a.offset + i0 * a.strides[0] + i1 * a.strides[1] + r * a.strides[2] + t * a.strides[3]]) *
             static_cast<double>(
                 b_data[b.offset + i0 * b.strides[0] + i1 * b.strides[1] + t * b.strides[2] + c * b.strides[3]]);
    }
    Store(&y_data[y.offset + i0 * y.strides[0] + i1 * y.strides[1] + r * y.strides[2] + c * y.strides[3]], sum,
          accumulate);
  }
}

__global__ void EmbeddingForwardKernel(int64_t n, int64_t d, const float* ids, const float* table, float* y) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t t = e / d, c = e % d;
    y[e] = table[static_cast<int64_t>(ids[t]) * d + c];
  }
}

// One thread per column: the positions in order, so the sums are the same
// on every run (no atomics).
__global__ void EmbeddingBackwardKernel(int64_t tokens, int64_t d, const float* ids, const float* dy,
                                        float* dtable) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < d; c += stride) {
    for (int64_t t = 0; t < tokens; ++t) dtable[static_cast<int64_t>(ids[t]) * d + c] += dy[t * d + c];
  }
}

__global__ void AdaptiveAvgPoolForwardKernel(pool::Adaptive g, int64_t n, const float* x, float* y) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = e % g.c, j = (e / g.c) % g.ow, i = (e / (g.c * g.ow)) % g.oh, b = e / (g.c * g.ow * g.oh);
    y[e] = static_cast<float>(pool::AdaptiveAvg(g, x, b, i, j, c));
  }
}

__global__ void AdaptiveAvgPoolBackwardKernel(pool::Adaptive g, int64_t n, const float* dy, float* dx,
                                              bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = e % g.c, w = (e / g.c) % g.w, h = (e / (g.c * g.w)) % g.h, b = e / (g.c * g.w * g.h);
    Store(&dx[e], pool::AdaptiveAvgGrad(g, dy, b, h, w, c), accumulate);
  }
}

__global__ void UpsampleForwardKernel(pool::Upsample g, int64_t n, const float* x, float* y) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = e % g.c, j = (e / g.c) % g.ow, i = (e / (g.c * g.ow)) % g.oh, b = e / (g.c * g.ow * g.oh);
    y[e] = static_cast<float>(pool::UpsampleAt(g, x, b, i, j, c));
  }
}

__global__ void UpsampleBackwardKernel(pool::Upsample g, int64_t n, const float* dy, float* dx, bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += stride) {
    const int64_t c = e % g.c, w = (e / g.c) % g.w, h = (e / (g.c * g.w)) % g.h, b = e / (g.c * g.w * g.h);
    Store(&dx[e], pool::UpsampleGrad(g, dy, b, h, w, c), accumulate);
  }
}

unsigned Blocks(int64_t n) { return static_cast<unsigned>(StrideBlocks(n)); }

}  // namespace

cudaError_t StridedCopy(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale,
                        bool accumulate, cudaStream_t stream) {
  const int64_t n = dst.count();
  if (n <= 0) return cudaSuccess;
  StridedCopyKernel<<<Blocks(n), kThreads, 0, stream>>>(src, x, dst, y, scale, accumulate, n);
  return cudaGetLastError();
}

cudaError_t Reduce(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale,
                   bool accumulate, cudaStream_t stream) {
  const int64_t n = dst.count();
  if (n <= 0) return cudaSuccess;
  ReduceKernel<<<Blocks(n), kThreads, 0, stream>>>(src, x, dst, y, scale, accumulate, n);
  return cudaGetLastError();
}

cudaError_t BinaryForward(BinaryOp op, const TensorView& a, const float* a_data, const TensorView& b,
                          const float* b_data, const TensorView& y, float* y_data, cudaStream_t stream) {
  const int64_t n = y.count();
  if (n <= 0) return cudaSuccess;
  BinaryForwardKernel<<<Blocks(n), kThreads, 0, stream>>>(op, a, a_data, b, b_data, y, y_data, n);
  return cudaGetLastError();
}

cudaError_t BinaryBackward(BinaryOp op, int index, const TensorView& a, const float* a_data, const TensorView& b,
                           const float* b_data, const TensorView& dy, const float* dy_data, const TensorView& d,
                           float* d_data, bool accumulate, cudaStream_t stream) {
  const int64_t n = d.count();
  if (n <= 0) return cudaSuccess;
  BinaryBackwardKernel<<<Blocks(n), kThreads, 0, stream>>>(op, index, a, a_data, b, b_data, dy, dy_data, d, d_data,
                                                           accumulate, n);
  return cudaGetLastError();
}

cudaError_t MatMul(const TensorView& a, const float* a_data, const TensorView& b, const float* b_data,
                   const TensorView& y, float* y_data, bool accumulate, cudaStream_t stream) {
  const int64_t n = y.count();
  if (n <= 0) return cudaSuccess;
  MatMulKernel<<<Blocks(n), kThreads, 0, stream>>>(a, a_data, b, b_data, y, y_data, accumulate, n);
  return cudaGetLastError();
}

cudaError_t EmbeddingForward(int64_t tokens, int64_t d, const float* ids, const float* table, float* y,
                             cudaStream_t stream) {
  const int64_t n = tokens * d;
  if (n <= 0) return cudaSuccess;
  EmbeddingForwardKernel<<<Blocks(n), kThreads, 0, stream>>>(n, d, ids, table, y);
  return cudaGetLastError();
}

cudaError_t EmbeddingBackward(int64_t tokens, int64_t d, int64_t vocabulary, const float* ids, const float* dy,
                              float* dtable, bool accumulate, cudaStream_t stream) {
  const cudaError_t err =
      accumulate ? cudaSuccess
                 : cudaMemsetAsync(dtable, 0, static_cast<size_t>(vocabulary) * static_cast<size_t>(d) * sizeof(float),
                                   stream);
  if (err != cudaSuccess || tokens <= 0) return err;
  EmbeddingBackwardKernel<<<Blocks(d), kThreads, 0, stream>>>(tokens, d, ids, dy, dtable);
  return cudaGetLastError();
}

cudaError_t AdaptiveAvgPoolForward(const pool::Adaptive& g, int64_t batch, const float* x, float* y,
                                   cudaStream_t stream) {
  const int64_t n = batch * g.oh * g.ow * g.c;
  if (n <= 0) return cudaSuccess;
  AdaptiveAvgPoolForwardKernel<<<Blocks(n), kThreads, 0, stream>>>(g, n, x, y);
  return cudaGetLastError();
}

cudaError_t AdaptiveAvgPoolBackward(const pool::Adaptive& g, int64_t batch, const float* dy, float* dx,
                                    bool accumulate, cudaStream_t stream) {
  const int64_t n = batch * g.h * g.w * g.c;
  if (n <= 0) return cudaSuccess;
  AdaptiveAvgPoolBackwardKernel<<<Blocks(n), kThreads, 0, stream>>>(g, n, dy, dx, accumulate);
  return cudaGetLastError();
}

cudaError_t UpsampleForward(const pool::Upsample& g, int64_t batch, const float* x, float* y, cudaStream_t stream) {
  const int64_t n = batch * g.oh * g.ow * g.c;
  if (n <= 0) return cudaSuccess;
  UpsampleForwardKernel<<<Blocks(n), kThreads, 0, stream>>>(g, n, x, y);
  return cudaGetLastError();
}

cudaError_t UpsampleBackward(const pool::Upsample& g, int64_t batch, const float* dy, float* dx, bool accumulate,
                             cudaStream_t stream) {
  const int64_t n = batch * g.h * g.w * g.c;
  if (n <= 0) return cudaSuccess;
  UpsampleBackwardKernel<<<Blocks(n), kThreads, 0, stream>>>(g, n, dy, dx, accumulate);
  return cudaGetLastError();
}

}  // namespace slimtrain::engine::cuda
