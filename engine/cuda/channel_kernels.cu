// kernels.h's per-channel ops over NHWC: batch norm forward and backward
// (from x, or from the BN→ReLU codes) and the bias of linear/conv layers.
//
// All walk channel tiles (kernel_util.cuh): one channel per thread, its
// constants in registers. Sums over the M = N·H·W values of a channel are
// two-level and in double, as the reference's (engine/cpu/reference_kernels.cc):
//   1. a sums kernel: each block adds its tile of rows per channel and
//      writes one partial per chunk of rows to the stream's scratch;
//   2. a finishing kernel, one block per tile of channels, adds each
//      channel's chunks in a fixed order (kernel_util.cuh, SumTilePartials;
//      one thread per channel took 60% of a ResNet-56 step on an H200, with
//      two thousand chunks) and writes the outputs (stats, running
//      statistics, dγ, dβ, db) and, for backward, the double totals the
//      elementwise pass reads;
//   3. an elementwise pass (normalise, dx) in double, rounded once.
// Deterministic on a given device (the partition depends only on the SM
// count). Batch-norm statistics use sums shifted by each channel's first
// value, Σ(x − x₀) and Σ(x − x₀)², so one read of x gives the mean and a
// variance that does not cancel (the reference sums twice, about the mean:
// the double results differ in their last bits, the float stats they round
// to practically never). Cost: forward reads x twice and writes y; backward
// reads dy and x (or the codes) twice and writes dx.
// In place (y == x, dx == dy) is allowed: every pass reads an element
// before the same thread writes it, and sums finish before any write.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"
#include "engine/quant.h"
#include "planner/strategy.h"

namespace slimtrain::engine::cuda {
namespace {

// Rows handled per loop turn by the elementwise passes: their loads are
// issued before any store (in place forbids the compiler from reordering).
constexpr int kRowsPerTurn = 4;

// ---------------------------------------------------------------- forward

// Σ (x − x₀) and Σ (x − x₀)² per channel and chunk, x₀ = the channel's
// value in row 0.
__global__ void BnStatsSumsKernel(Tiling t, const float* x, double* partials) {
  const TileLane l = ThisLane(t);
  double s = 0, ss = 0;
  if (l.active) {
    const int64_t c = l.unit, channels = t.units;
    const double pivot = x[c];
#pragma unroll 4
    for (int64_t row = l.row; row < l.row_end; row += t.r) {
      const double d = static_cast<double>(x[row * channels + c]) - pivot;
      s += d;
      ss += d * d;
    }
  }
  WriteTilePartials(t, l, s, ss, partials);
}

// stats = (mean, 1/sqrt(var + eps)) rounded to float; the running statistics
// (kTrain) with the unbiased variance (biased when M = 1), as PyTorch.
__global__ void BnStatsFinishKernel(Tiling t, const float* x, double eps, double momentum, bool update,
                                    float* running_mean, float* running_var, float* stats, const double* partials) {
  double s, ss;
  const int64_t c = SumTilePartials(t, partials, &s, &ss);
  if (c < 0) return;
  const double m = static_cast<double>(t.rows);
  const double mean = static_cast<double>(x[c]) + s / m;
  const double squares = fmax(ss - s * s / m, 0.0);  // Σ (x − mean)²
  const double var = squares / m;
  stats[c] = static_cast<float>(mean);
  stats[t.units + c] = static_cast<float>(1.0 / sqrt(var + eps));
  if (update) {
    const double unbiased = t.rows > 1 ? squares / (m - 1) : var;
    running_mean[c] = static_cast<float>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
    running_var[c] = static_cast<float>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
  }
}

// y = γ·((x − mean)·invstd) + β in double: mean and invstd from stats
// (training: the rounded floats) or from the running statistics
// (inference: invstd = 1/sqrt(running_var + eps), not rounded).
__global__ void BnNormalizeKernel(Tiling t, bool inference, double eps, const float* x, const float* gamma,
                                  const float* beta, const float* running_mean, const float* running_var,
                                  const float* stats, float* y) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, channels = t.units;
  double mean, invstd;
  if (inference) {
    mean = running_mean[c];
    invstd = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
  } else {
    mean = stats[c];
    invstd = stats[channels + c];
  }
  const double gm = gamma[c], bt = beta[c];
  for (int64_t row = l.row; row < l.row_end; row += kRowsPerTurn * t.r) {
    float v[kRowsPerTurn];
#pragma unroll
    for (int k = 0; k < kRowsPerTurn; ++k) {
      const int64_t rk = row + k * t.r;
      if (rk < l.row_end) v[k] = x[rk * channels + c];
    }
#pragma unroll
    for (int k = 0; k < kRowsPerTurn; ++k) {
      const int64_t rk = row + k * t.r;
      if (rk < l.row_end) {
        y[rk * channels + c] = static_cast<float>(gm * ((static_cast<double>(v[k]) - mean) * invstd) + bt);
      }
    }
  }
}

// ---------------------------------------------------------------- backward

// Where x̂ comes from, per channel: Xhat(i) is element i's x̂ in double,
// Term(i, dy) its contribution to Σ dy·x̂ formed as the reference forms it.
struct XhatFromInput {  // x̂ = (x − mean)·invstd from x and the stats
  const float* x;
  double mean, invstd;
  __device__ double Xhat(int64_t i) const { return (static_cast<double>(x[i]) - mean) * invstd; }
  __device__ double Term(int64_t i, double d) const { return d * (static_cast<double>(x[i]) - mean) * invstd; }
};
struct InputSource {
  const float* x;
  const float* stats;
  int64_t channels;
  __device__ XhatFromInput operator()(int64_t c) const {
    return XhatFromInput{x, static_cast<double>(stats[c]), static_cast<double>(stats[channels + c])};
  }
};

struct XhatFromCode {  // x̂' restored from the codes (quant.h), a float
  quant::Channel<float> ch;
  const void* code;
  int bits;
  __device__ double Xhat(int64_t i) const {
    if (bits == planner::kPassThroughBits) {
      return quant::PassThroughXhat(ch, static_cast<const float*>(code)[i]);
    }
    return quant::RestoreXhat(ch, quant::GetCode(static_cast<const uint8_t*>(code), bits, i));
  }
  __device__ double Term(int64_t i, double d) const { return d * Xhat(i); }
};
struct CodeSource {
  const void* code;
  int bits;
  const float* gamma;
  const float* beta;
  __device__ XhatFromCode operator()(int64_t c) const {
    return XhatFromCode{quant::MakeChannel<float>(bits, gamma[c], beta[c]), code, bits};
  }
};

// Σ dy and Σ dy·x̂ per channel and chunk.
template <typename Source>
__global__ void BnGradSumsKernel(Tiling t, const float* dy, Source source, double* partials) {
  const TileLane l = ThisLane(t);
  double s = 0, sx = 0;
  if (l.active) {
    const int64_t c = l.unit, channels = t.units;
    const auto xs = source(c);
#pragma unroll 4
    for (int64_t row = l.row; row < l.row_end; row += t.r) {
      const int64_t i = row * channels + c;
      const double d = dy[i];
      s += d;
      sx += xs.Term(i, d);
    }
  }
  WriteTilePartials(t, l, s, sx, partials);
}

// dγ = Σ dy·x̂, dβ = Σ dy; the double totals stay in the scratch for dx.
__global__ void BnGradFinishKernel(Tiling t, double* scratch, float* dgamma, float* dbeta) {
  double s, sx;
  const int64_t c = SumTilePartials(t, Partials(t, scratch), &s, &sx);
  if (c < 0) return;
  scratch[c] = s;
  scratch[t.units + c] = sx;
  dgamma[c] = static_cast<float>(sx);
  dbeta[c] = static_cast<float>(s);
}

// dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)), the totals from the
// finishing kernel.
template <typename Source>
__global__ void BnGradDxKernel(Tiling t, const float* dy, Source source, const float* gamma, const float* stats,
                               const double* totals, float* dx, bool accumulate) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, channels = t.units;
  const auto xs = source(c);
  const double scale = static_cast<double>(gamma[c]) * static_cast<double>(stats[channels + c]);
  const double m = static_cast<double>(t.rows);
  const double mean_dy = totals[c] / m, mean_dy_xhat = totals[channels + c] / m;
  for (int64_t row = l.row; row < l.row_end; row += kRowsPerTurn * t.r) {
    double v[kRowsPerTurn];
#pragma unroll
    for (int k = 0; k < kRowsPerTurn; ++k) {
      const int64_t rk = row + k * t.r;
      if (rk < l.row_end) {
        const int64_t i = rk * channels + c;
        v[k] = scale * (static_cast<double>(dy[i]) - mean_dy - xs.Xhat(i) * mean_dy_xhat);
      }
    }
#pragma unroll
    for (int k = 0; k < kRowsPerTurn; ++k) {
      const int64_t rk = row + k * t.r;
      if (rk < l.row_end) Store(&dx[rk * channels + c], v[k], accumulate);
    }
  }
}

template <typename Source>
cudaError_t BnBackward(const Nhwc& shape, const float* dy, Source source, const float* gamma, const float* stats,
                       float* dx, bool accumulate, float* dgamma, float* dbeta, cudaStream_t stream) {
  const int64_t channels = shape.c, rows = shape.n * shape.h * shape.w;
  if (channels <= 0) return cudaSuccess;
  if (rows <= 0) return cudaErrorInvalidValue;  // the reference divides by M
  const Tiling t = MakeTiling(rows, channels, MaxReductionChunks(channels));
  double* scratch = nullptr;
  cudaError_t err = StreamScratch(stream, ReductionScratchDoubles(t), &scratch);
  if (err != cudaSuccess) return err;
  BnGradSumsKernel<<<t.grid(), kThreads, 0, stream>>>(t, dy, source, Partials(t, scratch));
  if ((err = cudaGetLastError()) != cudaSuccess) return err;
  BnGradFinishKernel<<<t.tiles, kThreads, 0, stream>>>(t, scratch, dgamma, dbeta);
  if ((err = cudaGetLastError()) != cudaSuccess || dx == nullptr) return err;
  const Tiling te = MakeTiling(rows, channels, 65535);
  BnGradDxKernel<<<te.grid(), kThreads, 0, stream>>>(te, dy, source, gamma, stats, scratch, dx, accumulate);
  return cudaGetLastError();
}

// ---------------------------------------------------------------- bias

// y[r, c] += b[c] (a float addition rounds as the reference's double one).
__global__ void AddBiasKernel(Tiling t, const float* b, float* y) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t c = l.unit, cols = t.units;
  const float bias = b[c];
  for (int64_t row = l.row; row < l.row_end; row += kRowsPerTurn * t.r) {
    float v[kRowsPerTurn];
#pragma unroll
    for (int k = 0; k < kRowsPerTurn; ++k) {
      const int64_t rk = row + k * t.r;
      if (rk < l.row_end) v[k] = y[rk * cols + c];
    }
#pragma unroll
    for (int k = 0; k < kRowsPerTurn; ++k) {
      const int64_t rk = row + k * t.r;
      if (rk < l.row_end) y[rk * cols + c] = v[k] + bias;
    }
  }
}

// Σ_r dy[r, c] per column and chunk (the second quantity unused).
__global__ void ColumnSumsKernel(Tiling t, const float* dy, double* partials) {
  const TileLane l = ThisLane(t);
  double s = 0;
  if (l.active) {
#pragma unroll 4
    for (int64_t row = l.row; row < l.row_end; row += t.r) s += dy[row * t.units + l.unit];
  }
  WriteTilePartials(t, l, s, 0.0, partials);
}

__global__ void ColumnSumsFinishKernel(Tiling t, const double* partials, float* db) {
  double s, unused;
  const int64_t c = SumTilePartials(t, partials, &s, &unused);
  if (c < 0) return;
  db[c] = static_cast<float>(s);
}

// ---------------------------------------------------------------- batch norm over (N,C,L)

// The sum of every thread's v in the block (blockDim.x == kThreads), in a
// fixed tree order; every thread gets it.
__device__ double BlockSum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();
  return total;
}

// Channel c's j-th value (j < N·L) of a row-major (N,C,L) tensor.
__device__ __forceinline__ int64_t SequenceAt(int64_t c, int64_t channels, int64_t l, int64_t j) {
  return ((j / l) * channels + c) * l + j % l;
}

// One block per channel: the mean, then Σ (x − mean)², in double.
__global__ void BnSequenceStatsKernel(int64_t n, int64_t channels, int64_t l, double eps, double momentum,
                                      bool update, const float* x, float* running_mean, float* running_var,
                                      float* stats) {
  __shared__ double shared[kThreads];
  const int64_t m = n * l;
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    double s = 0;
    for (int64_t j = threadIdx.x; j < m; j += kThreads) s += static_cast<double>(x[SequenceAt(c, channels, l, j)]);
    const double mean = BlockSum(s, shared) / static_cast<double>(m);
    double q = 0;
    for (int64_t j = threadIdx.x; j < m; j += kThreads) {
      const double d = static_cast<double>(x[SequenceAt(c, channels, l, j)]) - mean;
      q += d * d;
    }
    const double squares = BlockSum(q, shared);
    if (threadIdx.x == 0) {
      const double var = squares / static_cast<double>(m);
      stats[c] = static_cast<float>(mean);
      stats[channels + c] = static_cast<float>(1.0 / sqrt(var + eps));
      if (update) {
        const double unbiased = m > 1 ? squares / static_cast<double>(m - 1) : var;
        running_mean[c] =
            static_cast<float>((1.0 - momentum) * static_cast<double>(running_mean[c]) + momentum * mean);
        running_var[c] =
            static_cast<float>((1.0 - momentum) * static_cast<double>(running_var[c]) + momentum * unbiased);
      }
    }
  }
}

// y = γ·(x − mean)·invstd + β elementwise, from the float stats (or the
// running statistics in inference).
__global__ void BnSequenceNormalizeKernel(int64_t count, int64_t channels, int64_t l, bool inference, double eps,
                                          const float* x, const float* gamma, const float* beta,
                                          const float* running_mean, const float* running_var, const float* stats,
                                          float* y) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    const int64_t c = (e / l) % channels;
    const double mean = inference ? static_cast<double>(running_mean[c]) : static_cast<double>(stats[c]);
    const double invstd = inference ? 1.0 / sqrt(static_cast<double>(running_var[c]) + eps)
                                    : static_cast<double>(stats[channels + c]);
    y[e] = static_cast<float>(static_cast<double>(gamma[c]) * ((static_cast<double>(x[e]) - mean) * invstd) +
                              static_cast<double>(beta[c]));
  }
}

// One block per channel: Σ dy and Σ dy·x̂ (to dβ, dγ and the scratch).
__global__ void BnSequenceGradSumsKernel(int64_t n, int64_t channels, int64_t l, const float* dy, const float* x,
                                         const float* stats, float* dgamma, float* dbeta, double* totals) {
  __shared__ double shared[kThreads];
  const int64_t m = n * l;
  for (int64_t c = blockIdx.x; c < channels; c += gridDim.x) {
    const double mean = static_cast<double>(stats[c]), invstd = static_cast<double>(stats[channels + c]);
    double s = 0, sx = 0;
    for (int64_t j = threadIdx.x; j < m; j += kThreads) {
      const int64_t i = SequenceAt(c, channels, l, j);
      const double d = static_cast<double>(dy[i]);
      s += d;
      sx += d * (static_cast<double>(x[i]) - mean) * invstd;
    }
    const double sum_dy = BlockSum(s, shared);
    const double sum_dy_xhat = BlockSum(sx, shared);
    if (threadIdx.x == 0) {
      dgamma[c] = static_cast<float>(sum_dy_xhat);
      dbeta[c] = static_cast<float>(sum_dy);
      totals[c] = sum_dy;
      totals[channels + c] = sum_dy_xhat;
    }
  }
}

__global__ void BnSequenceGradDxKernel(int64_t count, int64_t channels, int64_t l, double m, const float* dy,
                                       const float* x, const float* gamma, const float* stats, const double* totals,
                                       float* dx, bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < count; e += stride) {
    const int64_t c = (e / l) % channels;
    const double invstd = static_cast<double>(stats[channels + c]);
    const double xhat = (static_cast<double>(x[e]) - static_cast<double>(stats[c])) * invstd;
    const double v = static_cast<double>(gamma[c]) * invstd *
                     (static_cast<double>(dy[e]) - totals[c] / m - xhat * totals[channels + c] / m);
    Store(&dx[e], v, accumulate);
  }
}

unsigned ChannelBlocks(int64_t channels) { return static_cast<unsigned>(channels < 65535 ? channels : 65535); }

}  // namespace

cudaError_t BatchNormSequenceForward(int64_t n, int64_t c, int64_t l, int mode, double eps, double momentum,
                                     const float* x, const float* gamma, const float* beta, float* running_mean,
                                     float* running_var, float* y, float* stats, cudaStream_t stream) {
  if (mode < 0 || mode > 2) return cudaErrorInvalidValue;
  const int64_t count = n * c * l;
  if (count <= 0) return mode == 2 || c <= 0 ? cudaSuccess : cudaErrorInvalidValue;
  if (mode != 2) {
    BnSequenceStatsKernel<<<ChannelBlocks(c), kThreads, 0, stream>>>(n, c, l, eps, momentum, mode == 0, x,
                                                                     running_mean, running_var, stats);
    const cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  BnSequenceNormalizeKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(
      count, c, l, mode == 2, eps, x, gamma, beta, running_mean, running_var, stats, y);
  return cudaGetLastError();
}

cudaError_t BatchNormSequenceBackward(int64_t n, int64_t c, int64_t l, const float* dy, const float* x,
                                      const float* gamma, const float* stats, float* dx, bool accumulate,
                                      float* dgamma, float* dbeta, cudaStream_t stream) {
  const int64_t count = n * c * l;
  if (c <= 0) return cudaSuccess;
  if (count <= 0) return cudaErrorInvalidValue;  // the reference divides by N·L
  double* totals = nullptr;
  cudaError_t err = StreamScratch(stream, 2 * c, &totals);
  if (err != cudaSuccess) return err;
  BnSequenceGradSumsKernel<<<ChannelBlocks(c), kThreads, 0, stream>>>(n, c, l, dy, x, stats, dgamma, dbeta, totals);
  if ((err = cudaGetLastError()) != cudaSuccess || dx == nullptr) return err;
  BnSequenceGradDxKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(
      count, c, l, static_cast<double>(n * l), dy, x, gamma, stats, totals, dx, accumulate);
  return cudaGetLastError();
}

cudaError_t BatchNormForward(Nhwc shape, int mode, double eps, double momentum, const float* x, const float* gamma,
                             const float* beta, float* running_mean, float* running_var, float* y, float* stats,
                             cudaStream_t stream) {
  if (mode < 0 || mode > 2) return cudaErrorInvalidValue;
  const int64_t channels = shape.c, rows = shape.n * shape.h * shape.w;
  if (channels <= 0) return cudaSuccess;
  if (rows <= 0) return mode == 2 ? cudaSuccess : cudaErrorInvalidValue;  // no batch statistics of nothing
  cudaError_t err;
  if (mode != 2) {
    const Tiling t = MakeTiling(rows, channels, MaxReductionChunks(channels));
    double* scratch = nullptr;
    if ((err = StreamScratch(stream, ReductionScratchDoubles(t), &scratch)) != cudaSuccess) return err;
    double* partials = Partials(t, scratch);
    BnStatsSumsKernel<<<t.grid(), kThreads, 0, stream>>>(t, x, partials);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    BnStatsFinishKernel<<<t.tiles, kThreads, 0, stream>>>(t, x, eps, momentum, mode == 0, running_mean,
                                                           running_var, stats, partials);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
  }
  const Tiling t = MakeTiling(rows, channels, 65535);
  BnNormalizeKernel<<<t.grid(), kThreads, 0, stream>>>(t, mode == 2, eps, x, gamma, beta, running_mean,
                                                       running_var, stats, y);
  return cudaGetLastError();
}

cudaError_t BatchNormBackward(Nhwc shape, const float* dy, const float* x, const float* gamma, const float* stats,
                              float* dx, bool accumulate, float* dgamma, float* dbeta, cudaStream_t stream) {
  return BnBackward(shape, dy, InputSource{x, stats, shape.c}, gamma, stats, dx, accumulate, dgamma, dbeta, stream);
}

cudaError_t BatchNormBackwardFromCode(Nhwc shape, int bits, const float* dy, const void* code, const float* gamma,
                                      const float* beta, const float* stats, float* dx, bool accumulate,
                                      float* dgamma, float* dbeta, cudaStream_t stream) {
  if (bits != 8 && bits != 4 && bits != 2 && bits != planner::kPassThroughBits) return cudaErrorInvalidValue;
  return BnBackward(shape, dy, CodeSource{code, bits, gamma, beta}, gamma, stats, dx, accumulate, dgamma, dbeta,
                    stream);
}

cudaError_t AddBias(int64_t rows, int64_t cols, const float* b, float* y, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return cudaSuccess;
  const Tiling t = MakeTiling(rows, cols, 65535);
  AddBiasKernel<<<t.grid(), kThreads, 0, stream>>>(t, b, y);
  return cudaGetLastError();
}

cudaError_t BiasGrad(int64_t rows, int64_t cols, const float* dy, float* db, cudaStream_t stream) {
  if (cols <= 0) return cudaSuccess;
  if (rows <= 0) return Fill(db, 0, cols * static_cast<int64_t>(sizeof(float)), stream);
  const Tiling t = MakeTiling(rows, cols, MaxReductionChunks(cols));
  double* scratch = nullptr;
  cudaError_t err = StreamScratch(stream, ReductionScratchDoubles(t), &scratch);
  if (err != cudaSuccess) return err;
  ColumnSumsKernel<<<t.grid(), kThreads, 0, stream>>>(t, dy, Partials(t, scratch));
  if ((err = cudaGetLastError()) != cudaSuccess) return err;
  ColumnSumsFinishKernel<<<t.tiles, kThreads, 0, stream>>>(t, Partials(t, scratch), db);
  return cudaGetLastError();
}

}  // namespace slimtrain::engine::cuda
