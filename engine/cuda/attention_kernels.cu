// kernels.h's fused attention: the reference's definition in double, one
// thread per (example, head, query row) for the forward and dq, one per
// (example, head, key row) for dk and dv, so no thread writes what another
// does and no atomics are needed; the probabilities are recomputed from the
// saved log-sum-exp, never stored. Head sizes up to kMaxHeadDim (the
// per-thread accumulators live in registers). Correct first: tiled kernels
// with shared memory are the next step when a GPU profile asks for them.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"

namespace slimtrain::engine::cuda {
namespace {

struct AttentionShape {
  int64_t batch, lq, lk, d, heads, dh;
  double scale;
  bool causal;
};

__device__ double Score(const AttentionShape& s, const float* q, const float* k, int64_t b, int64_t h, int64_t i,
                        int64_t j) {
  double dot = 0;
  for (int64_t c = 0; c < s.dh; ++c) {
    dot += static_cast<double>(q[(b * s.lq + i) * s.d + h * s.dh + c]) *
           static_cast<double>(k[(b * s.lk + j) * s.d + h * s.dh + c]);
  }
  return dot * s.scale;
}

__global__ void AttentionForwardKernel(AttentionShape s, const float* q, const float* k, const float* v, float* out,
                                       float* lse) {
  const int64_t rows = s.batch * s.heads * s.lq;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < rows; t += stride) {
    const int64_t i = t % s.lq, h = (t / s.lq) % s.heads, b = t / (s.lq * s.heads);
    const int64_t keys = s.causal ? i + 1 : s.lk;
    double max = -INFINITY;
    for (int64_t j = 0; j < keys; ++j) max = fmax(max, Score(s, q, k, b, h, i, j));
    double sum = 0;
    for (int64_t j = 0; j < keys; ++j) sum += exp(Score(s, q, k, b, h, i, j) - max);
    const float l = static_cast<float>(max + log(sum));
    lse[t] = l;
    double acc[kMaxHeadDim];
    for (int64_t c = 0; c < s.dh; ++c) acc[c] = 0;
    for (int64_t j = 0; j < keys; ++j) {
      const double p = exp(Score(s, q, k, b, h, i, j) - static_cast<double>(l));
      for (int64_t c = 0; c < s.dh; ++c) acc[c] += p * static_cast<double>(v[(b * s.lk + j) * s.d + h * s.dh + c]);
    }
    for (int64_t c = 0; c < s.dh; ++c) out[(b * s.lq + i) * s.d + h * s.dh + c] = static_cast<float>(acc[c]);
  }
}

// Σ_c dO·O of query row i of head h: the rowsum in dS = P ⊙ (dP − rowsum).
__device__ double Delta(const AttentionShape& s, const float* out, const float* dout, int64_t b, int64_t h,
                        int64_t i) {
  double delta = 0;
  for (int64_t c = 0; c < s.dh; ++c) {
    const int64_t at = (b * s.lq + i) * s.d + h * s.dh + c;
    delta += static_cast<double>(dout[at]) * static_cast<double>(out[at]);
  }
  return delta;
}

// P_ij and dS_ij.
__device__ void Pair(const AttentionShape& s, const float* q, const float* k, const float* v, const float* lse,
                     const float* dout, double delta, int64_t b, int64_t h, int64_t i, int64_t j, double* p,
                     double* ds) {
  *p = exp(Score(s, q, k, b, h, i, j) - static_cast<double>(lse[(b * s.heads + h) * s.lq + i]));
  double dp = 0;
  for (int64_t c = 0; c < s.dh; ++c) {
    dp += static_cast<double>(dout[(b * s.lq + i) * s.d + h * s.dh + c]) *
          static_cast<double>(v[(b * s.lk + j) * s.d + h * s.dh + c]);
  }
  *ds = *p * (dp - delta);
}

__global__ void AttentionQueryGradKernel(AttentionShape s, const float* q, const float* k, const float* v,
                                         const float* out, const float* lse, const float* dout, float* dq,
                                         bool accumulate) {
  const int64_t rows = s.batch * s.heads * s.lq;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < rows; t += stride) {
    const int64_t i = t % s.lq, h = (t / s.lq) % s.heads, b = t / (s.lq * s.heads);
    const double delta = Delta(s, out, dout, b, h, i);
    double acc[kMaxHeadDim];
    for (int64_t c = 0; c < s.dh; ++c) acc[c] = 0;
    const int64_t keys = s.causal ? i + 1 : s.lk;
    for (int64_t j = 0; j < keys; ++j) {
      double p, ds;
      Pair(s, q, k, v, lse, dout, delta, b, h, i, j, &p, &ds);
      for (int64_t c = 0; c < s.dh; ++c) acc[c] += ds * static_cast<double>(k[(b * s.lk + j) * s.d + h * s.dh + c]);
    }
    for (int64_t c = 0; c < s.dh; ++c) Store(&dq[(b * s.lq + i) * s.d + h * s.dh + c], acc[c] * s.scale, accumulate);
  }
}

__global__ void AttentionKeyValueGradKernel(AttentionShape s, const float* q, const float* k, const float* v,
                                            const float* out, const float* lse, const float* dout, float* dk,
                                            float* dv, bool accumulate_k, bool accumulate_v) {
  const int64_t rows = s.batch * s.heads * s.lk;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < rows; t += stride) {
    const int64_t j = t % s.lk, h = (t / s.lk) % s.heads, b = t / (s.lk * s.heads);
    double gk[kMaxHeadDim], gv[kMaxHeadDim];
    for (int64_t c = 0; c < s.dh; ++c) gk[c] = gv[c] = 0;
    for (int64_t i = s.causal ? j : 0; i < s.lq; ++i) {
      double p, ds;
      Pair(s, q, k, v, lse, dout, Delta(s, out, dout, b, h, i), b, h, i, j, &p, &ds);
      for (int64_t c = 0; c < s.dh; ++c) {
        const int64_t at = (b * s.lq + i) * s.d + h * s.dh + c;
        gk[c] += ds * static_cast<double>(q[at]);
        gv[c] += p * static_cast<double>(dout[at]);
      }
    }
    for (int64_t c = 0; c < s.dh; ++c) {
      const int64_t at = (b * s.lk + j) * s.d + h * s.dh + c;
      if (dk != nullptr) Store(&dk[at], gk[c] * s.scale, accumulate_k);
      if (dv != nullptr) Store(&dv[at], gv[c], accumulate_v);
    }
  }
}

AttentionShape ShapeOf(int64_t batch, int64_t lq, int64_t lk, int64_t d, int64_t heads, double scale, bool causal) {
  return {batch, lq, lk, d, heads, d / heads, scale, causal};
}

}  // namespace

cudaError_t AttentionForward(int64_t batch, int64_t lq, int64_t lk, int64_t d, int64_t heads, double scale,
                             bool causal, const float* q, const float* k, const float* v, float* out, float* lse,
                             cudaStream_t stream) {
  if (d / heads > kMaxHeadDim) return cudaErrorInvalidValue;
  const AttentionShape s = ShapeOf(batch, lq, lk, d, heads, scale, causal);
  const int64_t rows = batch * heads * lq;
  if (rows <= 0) return cudaSuccess;
  AttentionForwardKernel<<<static_cast<unsigned>(StrideBlocks(rows)), kThreads, 0, stream>>>(s, q, k, v, out, lse);
  return cudaGetLastError();
}

cudaError_t AttentionBackward(int64_t batch, int64_t lq, int64_t lk, int64_t d, int64_t heads, double scale,
                              bool causal, const float* q, const float* k, const float* v, const float* out,
                              const float* lse, const float* dout, float* dq, float* dk, float* dv,
                              const bool* accumulate, cudaStream_t stream) {
  if (d / heads > kMaxHeadDim) return cudaErrorInvalidValue;
  const AttentionShape s = ShapeOf(batch, lq, lk, d, heads, scale, causal);
  if (dq != nullptr && batch * heads * lq > 0) {
    AttentionQueryGradKernel<<<static_cast<unsigned>(StrideBlocks(batch * heads * lq)), kThreads, 0, stream>>>(
        s, q, k, v, out, lse, dout, dq, accumulate[0]);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  if ((dk != nullptr || dv != nullptr) && batch * heads * lk > 0) {
    AttentionKeyValueGradKernel<<<static_cast<unsigned>(StrideBlocks(batch * heads * lk)), kThreads, 0, stream>>>(
        s, q, k, v, out, lse, dout, dk, dv, accumulate[1], accumulate[2]);
    return cudaGetLastError();
  }
  return cudaSuccess;
}

}  // namespace slimtrain::engine::cuda
