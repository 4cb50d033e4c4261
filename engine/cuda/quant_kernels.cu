// kernels.h's BN→ReLU quantizer: SAVE (QuantizeBnRelu), RestoreRelu and
// ReluBackwardFromCode; the BN backward from codes is in channel_kernels.cu.
//
// Codes are engine/quant.h's, code for code: every kernel calls quant.h's own
// functions (__host__ __device__ under nvcc), per-channel constants come from
// quant::MakeChannel, and the build has no fused multiply-adds, so device and
// CPU perform the same IEEE float operations. For γ = 0 channels
// x̂ = (x − mean)·invstd is formed in double and rounded once, as the reference.
//
// Packing (backend.h): element i in byte i·K/8 at bit (i·K) mod 8, low bits
// first. SAVE walks channel tiles (kernel_util.cuh) whose unit is one code
// byte, the V = 8/K consecutive channels it holds: each thread owns whole
// bytes (no read-modify-write, no atomics), keeps its V channels' constants
// in registers, reads its V values of y with one vector load and writes its
// byte; a warp reads 32·V contiguous floats and writes 32 contiguous bytes.
// That needs rows of whole bytes (C·K a multiple of 8); other channel counts
// take a slow path, one byte per thread with the channel found per element
// (at K = 2 that includes MakeChannel's erfc and exp per element).
// The reading kernels walk channel tiles of single channels and read each
// element's code with quant::GetCode (a warp's codes share sectors).
// Pass-through (K = planner::kPassThroughBits) codes are float values.
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"
#include "engine/quant.h"
#include "planner/strategy.h"

namespace slimtrain::engine::cuda {
namespace {

using Channel = quant::Channel<float>;

constexpr int kRowsPerTurn = 4;  // rows whose loads are issued together

bool ValidBits(int bits) { return bits == 8 || bits == 4 || bits == 2 || bits == planner::kPassThroughBits; }

// x̂ of a γ = 0 channel, as the reference forms it.
__device__ __forceinline__ float ZeroGammaXhat(float x, float mean, float invstd) {
  return static_cast<float>((static_cast<double>(x) - static_cast<double>(mean)) * static_cast<double>(invstd));
}

// V consecutive floats at p (aligned to V floats when vec).
template <int V>
__device__ __forceinline__ void LoadValues(const float* p, bool vec, float* v) {
  if constexpr (V == 4) {
    if (vec) {
      const float4 q = *reinterpret_cast<const float4*>(p);
      v[0] = q.x, v[1] = q.y, v[2] = q.z, v[3] = q.w;
      return;
    }
  } else if constexpr (V == 2) {
    if (vec) {
      const float2 q = *reinterpret_cast<const float2*>(p);
      v[0] = q.x, v[1] = q.y;
      return;
    }
  }
#pragma unroll
  for (int k = 0; k < V; ++k) v[k] = p[k];
}

// ---------------------------------------------------------------- SAVE

// Codes of rows × (C / V) bytes, V = 8 / K: thread owns byte `unit` of each
// of its rows, i.e. channels unit·V ... unit·V + V − 1. vec: y is aligned to
// V floats.
template <int K>
__global__ void __launch_bounds__(kThreads, 4)
    QuantizeBytesKernel(Tiling t, const float* x, const float* y, const float* gamma, const float* beta,
                        const float* stats, uint8_t* code, bool vec) {
  constexpr int V = 8 / K;
  // Rows whose loads are issued together: 4 floats or more per thread and
  // turn, and no register spills at 4 blocks per SM.
  constexpr int kTurn = V == 4 ? 2 : kRowsPerTurn;
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t channels = t.units * V, c0 = l.unit * V;
  Channel ch[V];
  float mean[V], invstd[V];  // γ = 0 channels only
  bool any_zero = false;
#pragma unroll
  for (int k = 0; k < V; ++k) {
    ch[k] = quant::MakeChannel<float>(K, gamma[c0 + k], beta[c0 + k]);
    mean[k] = invstd[k] = 0;
    if (ch[k].zero_gamma()) {
      mean[k] = stats[c0 + k];
      invstd[k] = stats[channels + c0 + k];
      any_zero = true;
    }
  }
  for (int64_t row = l.row; row < l.row_end; row += kTurn * t.r) {
    float v[kTurn][V];
#pragma unroll
    for (int j = 0; j < kTurn; ++j) {
      const int64_t rj = row + j * t.r;
      if (rj < l.row_end) LoadValues<V>(y + rj * channels + c0, vec, v[j]);
    }
#pragma unroll
    for (int j = 0; j < kTurn; ++j) {
      const int64_t rj = row + j * t.r;
      if (rj >= l.row_end) continue;
      unsigned byte = 0;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        float xhat = 0;  // read only where γ = 0
        if (any_zero && ch[k].zero_gamma()) xhat = ZeroGammaXhat(x[rj * channels + c0 + k], mean[k], invstd[k]);
        byte |= static_cast<unsigned>(quant::Encode(ch[k], v[j][k], xhat)) << (k * K);
      }
      code[rj * t.units + l.unit] = static_cast<uint8_t>(byte);
    }
  }
}

// Any channel count: one code byte per thread, each element's channel and
// constants found on the spot; bits past the tensor's end are 0.
__global__ void QuantizeAnyKernel(int64_t count, int64_t channels, int bits, const float* x, const float* y,
                                  const float* gamma, const float* beta, const float* stats, uint8_t* code) {
  const int per_byte = 8 / bits;
  const int64_t bytes = (count + per_byte - 1) / per_byte;
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < bytes; b += stride) {
    unsigned byte = 0;
    for (int k = 0; k < per_byte; ++k) {
      const int64_t i = b * per_byte + k;
      if (i >= count) break;
      const int64_t c = i % channels;
      const Channel ch = quant::MakeChannel<float>(bits, gamma[c], beta[c]);
      const float xhat = ch.zero_gamma() ? ZeroGammaXhat(x[i], stats[c], stats[channels + c]) : 0.0f;
      byte |= static_cast<unsigned>(quant::Encode(ch, y[i], xhat)) << (k * bits);
    }
    code[b] = static_cast<uint8_t>(byte);
  }
}

// Pass-through: the code is y (γ = 0: x̂) as a float.
__global__ void QuantizePassThroughKernel(Tiling t, const float* x, const float* y, const float* gamma,
                                          const float* beta, const float* stats, float* code) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, channels = t.units;
  const Channel ch = quant::MakeChannel<float>(planner::kPassThroughBits, gamma[c], beta[c]);
  const bool zero = ch.zero_gamma();
  const float mean = zero ? stats[c] : 0.0f, invstd = zero ? stats[channels + c] : 0.0f;
#pragma unroll 4
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const int64_t i = row * channels + c;
    code[i] = quant::PassThroughValue(ch, y[i], zero ? ZeroGammaXhat(x[i], mean, invstd) : 0.0f);
  }
}

template <int K>
cudaError_t LaunchQuantizeBytes(int64_t rows, int64_t channels, const float* x, const float* y, const float* gamma,
                                const float* beta, const float* stats, uint8_t* code, cudaStream_t stream) {
  constexpr int V = 8 / K;
  const Tiling t = MakeTiling(rows, channels / V, 65535);
  const bool vec = Aligned(y, V * static_cast<int>(sizeof(float)));
  QuantizeBytesKernel<K><<<t.grid(), kThreads, 0, stream>>>(t, x, y, gamma, beta, stats, code, vec);
  return cudaGetLastError();
}

// ---------------------------------------------------------------- reading codes

// Reads element i's code: its mask and z'.
struct CodeView {
  const void* code;
  int bits;
  __device__ bool pass() const { return bits == planner::kPassThroughBits; }
  __device__ float value(int64_t i) const { return static_cast<const float*>(code)[i]; }
  __device__ int q(int64_t i) const { return quant::GetCode(static_cast<const uint8_t*>(code), bits, i); }
  __device__ bool Mask(const Channel& ch, int64_t i) const {
    return pass() ? quant::PassThroughMask(ch, value(i)) : quant::Mask(ch, q(i));
  }
  __device__ float Relu(const Channel& ch, int64_t i) const {
    return pass() ? quant::PassThroughRelu(ch, value(i)) : quant::RestoreRelu(ch, q(i));
  }
};

// z = z' per element.
__global__ void RestoreReluKernel(Tiling t, CodeView view, const float* gamma, const float* beta, float* z) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, channels = t.units;
  const Channel ch = quant::MakeChannel<float>(view.bits, gamma[c], beta[c]);
#pragma unroll 4
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const int64_t i = row * channels + c;
    z[i] = view.Relu(ch, i);
  }
}

// dy = dz·mask (or dy +=), in place (dy == dz) allowed.
__global__ void ReluBackwardFromCodeKernel(Tiling t, CodeView view, const float* dz, const float* gamma,
                                           const float* beta, float* dy, bool accumulate) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, channels = t.units;
  const Channel ch = quant::MakeChannel<float>(view.bits, gamma[c], beta[c]);
  for (int64_t row = l.row; row < l.row_end; row += kRowsPerTurn * t.r) {
    double v[kRowsPerTurn];
#pragma unroll
    for (int j = 0; j < kRowsPerTurn; ++j) {
      const int64_t rj = row + j * t.r;
      if (rj < l.row_end) {
        const int64_t i = rj * channels + c;
        v[j] = view.Mask(ch, i) ? static_cast<double>(dz[i]) : 0.0;
      }
    }
#pragma unroll
    for (int j = 0; j < kRowsPerTurn; ++j) {
      const int64_t rj = row + j * t.r;
      if (rj < l.row_end) Store(&dy[rj * channels + c], v[j], accumulate);
    }
  }
}

}  // namespace

cudaError_t QuantizeBnRelu(Nhwc shape, int bits, const float* x, const float* y, const float* gamma,
                           const float* beta, const float* stats, void* code, cudaStream_t stream) {
  if (!ValidBits(bits)) return cudaErrorInvalidValue;
  const int64_t channels = shape.c, rows = shape.n * shape.h * shape.w;
  if (channels <= 0 || rows <= 0) return cudaSuccess;
  if (bits == planner::kPassThroughBits) {
    const Tiling t = MakeTiling(rows, channels, 65535);
    QuantizePassThroughKernel<<<t.grid(), kThreads, 0, stream>>>(t, x, y, gamma, beta, stats,
                                                                 static_cast<float*>(code));
    return cudaGetLastError();
  }
  uint8_t* bytes = static_cast<uint8_t*>(code);
  if (channels % (8 / bits) == 0) {
    switch (bits) {
      case 8: return LaunchQuantizeBytes<8>(rows, channels, x, y, gamma, beta, stats, bytes, stream);
      case 4: return LaunchQuantizeBytes<4>(rows, channels, x, y, gamma, beta, stats, bytes, stream);
      default: return LaunchQuantizeBytes<2>(rows, channels, x, y, gamma, beta, stats, bytes, stream);
    }
  }
  const int64_t count = shape.count();
  const int64_t blocks = StrideBlocks((count * bits + 7) / 8);
  QuantizeAnyKernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(count, channels, bits, x, y, gamma, beta,
                                                                            stats, bytes);
  return cudaGetLastError();
}

cudaError_t RestoreRelu(Nhwc shape, int bits, const void* code, const float* gamma, const float* beta, float* z,
                        cudaStream_t stream) {
  if (!ValidBits(bits)) return cudaErrorInvalidValue;
  const int64_t channels = shape.c, rows = shape.n * shape.h * shape.w;
  if (channels <= 0 || rows <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(rows, channels, 65535);
  RestoreReluKernel<<<t.grid(), kThreads, 0, stream>>>(t, CodeView{code, bits}, gamma, beta, z);
  return cudaGetLastError();
}

cudaError_t ReluBackwardFromCode(Nhwc shape, int bits, const float* dz, const void* code, const float* gamma,
                                 const float* beta, float* dy, bool accumulate, cudaStream_t stream) {
  if (!ValidBits(bits)) return cudaErrorInvalidValue;
  const int64_t channels = shape.c, rows = shape.n * shape.h * shape.w;
  if (channels <= 0 || rows <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(rows, channels, 65535);
  ReluBackwardFromCodeKernel<<<t.grid(), kThreads, 0, stream>>>(t, CodeView{code, bits}, dz, gamma, beta, dy,
                                                                accumulate);
  return cudaGetLastError();
}

}  // namespace slimtrain::engine::cuda
