// kernels.h's memory helpers and elementwise ops: fill, all-finite, relu,
// sigmoid, tanh (forward and backward), add, copy and dropout.
//
// Each op is a small functor giving element i's value in double from its
// one or two inputs; MapKernel applies it over the tensor with the
// reference's rounding (engine/cpu/reference_kernels.cc: formed in double,
// rounded to float once; `accumulate` adds the old value in double first).
// Grid-stride loops, float4 loads and stores when every pointer is 16-byte
// aligned (the tail and unaligned tensors element by element). In place
// (out == an input) is allowed: each element's inputs are read before it
// is written, by the same thread.
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"
#include "engine/dropout_hash.h"

namespace slimtrain::engine::cuda {
namespace {

// --- the ops: double operator()(element index, first input, second input).

struct ReluForwardOp {  // NaN -> 0: the mask is x > 0, as the quantizer's
  __device__ double operator()(int64_t, float x, float) const { return x > 0.0f ? x : 0.0f; }
};
struct ReluBackwardOp {  // (y, dy): dy where the relu's output y > 0
  __device__ double operator()(int64_t, float y, float dy) const { return y > 0.0f ? static_cast<double>(dy) : 0.0; }
};
struct SigmoidForwardOp {  // exp of a non-positive argument only: no overflow
  __device__ double operator()(int64_t, float x, float) const {
    const double v = x;
    const double e = exp(-fabs(v));  // in (0, 1]
    return v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  }
};
struct SigmoidBackwardOp {  // (y, dy)
  __device__ double operator()(int64_t, float y, float dy) const {
    const double s = y;
    return static_cast<double>(dy) * s * (1.0 - s);
  }
};
struct TanhForwardOp {
  __device__ double operator()(int64_t, float x, float) const { return tanh(static_cast<double>(x)); }
};
struct TanhBackwardOp {  // (y, dy)
  __device__ double operator()(int64_t, float y, float dy) const {
    const double t = y;
    return static_cast<double>(dy) * (1.0 - t * t);
  }
};
struct CopyOp {
  __device__ double operator()(int64_t, float x, float) const { return x; }
};
// Dropout forward (x) and backward (dy) alike: kept elements scaled.
struct DropoutOp {
  uint64_t base;  // dropout::Base(seed, step, node)
  double p, scale;
  __device__ double operator()(int64_t i, float x, float) const {
    return dropout::KeepAt(base, i, p) ? static_cast<double>(x) * scale : 0.0;
  }
};

template <typename Op>
__device__ __forceinline__ float Apply(const Op& op, int64_t i, float a, float b, float old, bool accumulate) {
  const double v = op(i, a, b);
  return static_cast<float>(accumulate ? static_cast<double>(old) + v : v);
}

// out[i] = op(i, a[i], b[i]) (b null: 0), or out[i] += with accumulate.
// vec: a, b and out are 16-byte aligned.
template <typename Op>
__global__ void MapKernel(int64_t n, const float* a, const float* b, float* out, bool accumulate, bool vec,
                          Op op) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vec) {
    const int64_t groups = n / 4;
    for (int64_t g = first; g < groups; g += stride) {
      const float4 va = reinterpret_cast<const float4*>(a)[g];
      const float4 vb = b != nullptr ? reinterpret_cast<const float4*>(b)[g] : make_float4(0, 0, 0, 0);
      const float4 vo = accumulate ? reinterpret_cast<const float4*>(out)[g] : make_float4(0, 0, 0, 0);
      const int64_t i = 4 * g;
      float4 r;
      r.x = Apply(op, i, va.x, vb.x, vo.x, accumulate);
      r.y = Apply(op, i + 1, va.y, vb.y, vo.y, accumulate);
      r.z = Apply(op, i + 2, va.z, vb.z, vo.z, accumulate);
      r.w = Apply(op, i + 3, va.w, vb.w, vo.w, accumulate);
      reinterpret_cast<float4*>(out)[g] = r;
    }
    done = 4 * groups;
  }
  for (int64_t i = done + first; i < n; i += stride) {
    out[i] = Apply(op, i, a[i], b != nullptr ? b[i] : 0.0f, accumulate ? out[i] : 0.0f, accumulate);
  }
}

template <typename Op>
cudaError_t Map(int64_t n, const float* a, const float* b, float* out, bool accumulate, cudaStream_t stream,
                Op op) {
  if (n <= 0) return cudaSuccess;
  const bool vec = Aligned(a, 16) && Aligned(b, 16) && Aligned(out, 16);
  const int64_t blocks = StrideBlocks(vec ? (n + 3) / 4 : n);
  MapKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(n, a, b, out, accumulate, vec, op);
  return cudaGetLastError();
}

// --- add.

constexpr int kMaxAddInputs = 32;
struct AddInputs {
  const float* p[kMaxAddInputs];
};

// y[i] = Σ_j inputs[j][i] in double, in input order, rounded once.
__global__ void AddKernel(int64_t n, AddInputs in, int k, float* y, bool vec) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t done = 0;
  if (vec) {
    const int64_t groups = n / 4;
    for (int64_t g = first; g < groups; g += stride) {
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int j = 0; j < k; ++j) {
        const float4 v = reinterpret_cast<const float4*>(in.p[j])[g];
        s0 += v.x;
        s1 += v.y;
        s2 += v.z;
        s3 += v.w;
      }
      reinterpret_cast<float4*>(y)[g] =
          make_float4(static_cast<float>(s0), static_cast<float>(s1), static_cast<float>(s2), static_cast<float>(s3));
    }
    done = 4 * groups;
  }
  for (int64_t i = done + first; i < n; i += stride) {
    double s = 0;
    for (int j = 0; j < k; ++j) s += in.p[j][i];
    y[i] = static_cast<float>(s);
  }
}

// --- all-finite.

__global__ void SetIntKernel(int* dst, int value) { *dst = value; }

// Clears *flag when an element is not finite (threads race to write the
// same 0: harmless).
__global__ void FiniteKernel(int64_t n, const float* x, int* flag, bool vec) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  bool finite = true;
  int64_t done = 0;
  if (vec) {
    const int64_t groups = n / 4;
    for (int64_t g = first; g < groups; g += stride) {
      const float4 v = reinterpret_cast<const float4*>(x)[g];
      finite = finite && isfinite(v.x) && isfinite(v.y) && isfinite(v.z) && isfinite(v.w);
    }
    done = 4 * groups;
  }
  for (int64_t i = done + first; i < n; i += stride) finite = finite && isfinite(x[i]);
  if (!finite) *flag = 0;
}

}  // namespace

// ---------------------------------------------------------------- memory

cudaError_t Fill(void* dst, uint8_t byte, int64_t bytes, cudaStream_t stream) {
  if (bytes <= 0) return cudaSuccess;
  return cudaMemsetAsync(dst, byte, static_cast<size_t>(bytes), stream);
}

cudaError_t AllFinite(int64_t count, const float* x, int* all_finite, cudaStream_t stream) {
  SetIntKernel<<<1, 1, 0, stream>>>(all_finite, 1);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || count <= 0) return err;
  const bool vec = Aligned(x, 16);
  const int64_t blocks = StrideBlocks(vec ? (count + 3) / 4 : count);
  FiniteKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(count, x, all_finite, vec);
  return cudaGetLastError();
}

// ---------------------------------------------------------------- elementwise

cudaError_t ReluForward(int64_t count, const float* x, float* y, cudaStream_t stream) {
  return Map(count, x, nullptr, y, false, stream, ReluForwardOp{});
}

cudaError_t ReluBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate,
                         cudaStream_t stream) {
  return Map(count, y, dy, dx, accumulate, stream, ReluBackwardOp{});
}

cudaError_t SigmoidForward(int64_t count, const float* x, float* y, cudaStream_t stream) {
  return Map(count, x, nullptr, y, false, stream, SigmoidForwardOp{});
}

cudaError_t SigmoidBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate,
                            cudaStream_t stream) {
  return Map(count, y, dy, dx, accumulate, stream, SigmoidBackwardOp{});
}

cudaError_t TanhForward(int64_t count, const float* x, float* y, cudaStream_t stream) {
  return Map(count, x, nullptr, y, false, stream, TanhForwardOp{});
}

cudaError_t TanhBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate,
                         cudaStream_t stream) {
  return Map(count, y, dy, dx, accumulate, stream, TanhBackwardOp{});
}

cudaError_t AddForward(int64_t count, const float* const* inputs, int k, float* y, cudaStream_t stream) {
  if (k < 1 || k > kMaxAddInputs) return cudaErrorInvalidValue;
  if (count <= 0) return cudaSuccess;
  AddInputs in = {};
  bool vec = Aligned(y, 16);
  for (int j = 0; j < k; ++j) {
    in.p[j] = inputs[j];
    vec = vec && Aligned(inputs[j], 16);
  }
  const int64_t blocks = StrideBlocks(vec ? (count + 3) / 4 : count);
  AddKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(count, in, k, y, vec);
  return cudaGetLastError();
}

cudaError_t Copy(int64_t count, const float* src, float* dst, bool accumulate, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  if (accumulate) return Map(count, src, nullptr, dst, true, stream, CopyOp{});
  if (src == dst) return cudaSuccess;
  return cudaMemcpyAsync(dst, src, static_cast<size_t>(count) * sizeof(float), cudaMemcpyDeviceToDevice, stream);
}

cudaError_t DropoutForward(int64_t count, uint64_t seed, int64_t step, int node, double p, const float* x, float* y,
                           cudaStream_t stream) {
  const DropoutOp op{dropout::Base(seed, step, node), p, 1.0 / (1.0 - p)};
  return Map(count, x, nullptr, y, false, stream, op);
}

cudaError_t DropoutBackward(int64_t count, uint64_t seed, int64_t step, int node, double p, const float* dy,
                            float* dx, bool accumulate, cudaStream_t stream) {
  const DropoutOp op{dropout::Base(seed, step, node), p, 1.0 / (1.0 - p)};
  return Map(count, dy, nullptr, dx, accumulate, stream, op);
}

}  // namespace slimtrain::engine::cuda
