// kernels.h's pointwise activations and softmax / log_softmax.
//
// Pointwise ops evaluate engine/pointwise_math.h in double, element by
// element, and round once (as the reference backend), one thread per
// element in a grid-stride loop; in place is allowed (each element is read
// before it is written by the same thread). Softmax gives one thread one
// line of `size` elements `inner` apart (consecutive threads take
// consecutive lines, so with inner > 1 their loads coalesce), max-shifted
// and summed in double; a line's elements are all read before any is
// written, so y == x is allowed too. Long lines with few of them (inner == 1
// and a small outer) leave most of the GPU idle: a block-per-line kernel is
// the next step when a profile shows it.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"
#include "engine/pointwise_math.h"

namespace slimtrain::engine::cuda {
namespace {

__global__ void PointwiseForwardKernel(int64_t n, PointwiseFn f, const float* x, float* y) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[i] = static_cast<float>(pointwise::Value<double>(f, static_cast<double>(x[i])));
  }
}

__global__ void PointwiseBackwardKernel(int64_t n, PointwiseFn f, const float* saved, const float* dy, float* dx,
                                        bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double s = f.op == PointwiseOp::kScale ? 0.0 : static_cast<double>(saved[i]);  // scale reads nothing
    const double g = static_cast<double>(dy[i]) * pointwise::Derivative<double>(f, s);
    Store(&dx[i], g, accumulate);
  }
}

// Line t = o·inner + i starts at o·size·inner + i.
__device__ __forceinline__ int64_t LineStart(int64_t t, int64_t size, int64_t inner) {
  return (t / inner) * size * inner + t % inner;
}

__global__ void SoftmaxForwardKernel(int64_t lines, int64_t size, int64_t inner, bool log, bool causal,
                                     const float* x, float* y) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < lines; t += stride) {
    const int64_t base = LineStart(t, size, inner);
    // Causal: row (t / inner) mod size of an (L, L) block keeps j <= row.
    const int64_t valid = causal ? (t / inner) % size + 1 : size;
    double max = -INFINITY;
    for (int64_t j = 0; j < valid; ++j) max = fmax(max, static_cast<double>(x[base + j * inner]));
    double sum = 0;
    for (int64_t j = 0; j < valid; ++j) sum += exp(static_cast<double>(x[base + j * inner]) - max);
    const double lse = max + ::log(sum);
    for (int64_t j = 0; j < size; ++j) {
      const double v = static_cast<double>(x[base + j * inner]) - lse;
      y[base + j * inner] = j >= valid ? 0.0f : static_cast<float>(log ? v : exp(v));
    }
  }
}

__global__ void SoftmaxBackwardKernel(int64_t lines, int64_t size, int64_t inner, bool log, const float* y,
                                      const float* dy, float* dx, bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < lines; t += stride) {
    const int64_t base = LineStart(t, size, inner);
    double dot = 0;  // softmax: Σ dy·y; log_softmax: Σ dy
    for (int64_t j = 0; j < size; ++j) {
      const double d = dy[base + j * inner];
      dot += log ? d : d * static_cast<double>(y[base + j * inner]);
    }
    for (int64_t j = 0; j < size; ++j) {
      const int64_t k = base + j * inner;
      const double yv = y[k], d = dy[k];
      Store(&dx[k], log ? d - exp(yv) * dot : yv * (d - dot), accumulate);
    }
  }
}

}  // namespace

cudaError_t PointwiseForward(int64_t count, const PointwiseFn& f, const float* x, float* y, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  PointwiseForwardKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(count, f, x, y);
  return cudaGetLastError();
}

cudaError_t PointwiseBackward(int64_t count, const PointwiseFn& f, const float* saved, const float* dy, float* dx,
                              bool accumulate, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  PointwiseBackwardKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(count, f, saved, dy,
                                                                                              dx, accumulate);
  return cudaGetLastError();
}

cudaError_t SoftmaxForward(int64_t outer, int64_t size, int64_t inner, bool log, bool causal, const float* x,
                           float* y, cudaStream_t stream) {
  const int64_t lines = outer * inner;
  if (lines <= 0) return cudaSuccess;
  SoftmaxForwardKernel<<<static_cast<unsigned>(StrideBlocks(lines)), kThreads, 0, stream>>>(lines, size, inner, log,
                                                                                           causal, x, y);
  return cudaGetLastError();
}

cudaError_t SoftmaxBackward(int64_t outer, int64_t size, int64_t inner, bool log, const float* y, const float* dy,
                            float* dx, bool accumulate, cudaStream_t stream) {
  const int64_t lines = outer * inner;
  if (lines <= 0) return cudaSuccess;
  SoftmaxBackwardKernel<<<static_cast<unsigned>(StrideBlocks(lines)), kThreads, 0, stream>>>(
      lines, size, inner, log, y, dy, dx, accumulate);
  return cudaGetLastError();
}

}  // namespace slimtrain::engine::cuda
