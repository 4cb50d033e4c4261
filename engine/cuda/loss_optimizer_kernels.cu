// kernels.h's softmax cross-entropy and optimizers.
//
// Softmax cross-entropy (label smoothing ε: target ε/classes on every class
// plus 1 − ε on the label), as the reference: per row, in double, the
// maximum subtracted, lse = max + log Σ exp(logit − max), probs = exp(−(lse −
// logit)) rounded to float, the row's loss Σ_j target_j·(lse − logit_j). One
// warp per row (its lanes stride over the classes and combine by shuffles);
// each row's loss goes to the stream's scratch and one block adds the rows in
// a fixed order, so the loss is deterministic. A label outside [0, classes)
// (the reference aborts) makes its row's loss and gradient NaN.
//
// Optimizers: one thread per parameter (grid-stride), the arithmetic of
// engine/backend.h's contracts in double exactly as the CPU code forms it
// (reference SgdUpdate; backend.cc's Adam and RMSprop, whose bias
// corrections 1 − β^t are computed on the host with std::pow as there).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "engine/cuda/kernel_util.cuh"
#include "engine/cuda/kernels.h"

namespace slimtrain::engine::cuda {
namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;

// Smoothed target of class j for a row labelled `label`.
__device__ __forceinline__ double Target(double eps, int64_t classes, int64_t j, int32_t label) {
  return eps / static_cast<double>(classes) + (j == label ? 1.0 - eps : 0.0);
}

__device__ __forceinline__ double WarpSum(double v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__device__ __forceinline__ double WarpMax(double v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = fmax(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// One warp per row: probs, and the row's loss into row_loss[row].
__global__ void SoftmaxRowsKernel(int64_t n, int64_t classes, double eps, const float* logits, const int32_t* labels,
                                  float* probs, double* row_loss) {
  const int lane = static_cast<int>(threadIdx.x) % kWarp;
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  if (row >= n) return;  // whole warps leave together
  const float* in = logits + row * classes;
  float* out = probs + row * classes;
  const int32_t label = labels[row];
  double mx = -INFINITY;
  for (int64_t j = lane; j < classes; j += kWarp) mx = fmax(mx, static_cast<double>(in[j]));
  mx = WarpMax(mx);
  double sum = 0;
  for (int64_t j = lane; j < classes; j += kWarp) sum += exp(static_cast<double>(in[j]) - mx);
  const double lse = mx + log(WarpSum(sum));
  double total = 0;
  for (int64_t j = lane; j < classes; j += kWarp) {
    const double nll = lse - static_cast<double>(in[j]);  // −log p_j
    out[j] = static_cast<float>(exp(-nll));
    const double t = Target(eps, classes, j, label);
    if (t != 0) total += t * nll;
  }
  total = WarpSum(total);
  if (lane == 0) row_loss[row] = label >= 0 && label < classes ? total : NAN;
}

// loss = Σ row_loss / n, one block, a fixed order.
__global__ void MeanLossKernel(int64_t n, const double* row_loss, float* loss) {
  __shared__ double partial[kThreads];
  double s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += row_loss[i];
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = static_cast<float>(partial[0] / static_cast<double>(n));
}

// Rows n of units classes: dlogits = (probs − target) / n.
__global__ void SoftmaxBackwardKernel(Tiling t, double eps, const float* probs, const int32_t* labels,
                                      float* dlogits, bool accumulate) {
  const TileLane l = ThisLane(t);
  if (!l.active) return;
  const int64_t j = l.unit, classes = t.units;
  const double m = static_cast<double>(t.rows);  // the batch
  for (int64_t row = l.row; row < l.row_end; row += t.r) {
    const int32_t label = labels[row];
    const int64_t i = row * classes + j;
    const bool valid = label >= 0 && label < classes;
    const double g = valid ? (static_cast<double>(probs[i]) - Target(eps, classes, j, label)) / m : NAN;
    Store(&dlogits[i], g, accumulate);
  }
}

#define SLIM_GRID_STRIDE(i, count)                                                                  \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (count);     \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

__global__ void SgdKernel(int64_t count, double lr, double momentum, double weight_decay, bool nesterov,
                          float* param, const float* grad, float* momentum_buffer) {
  SLIM_GRID_STRIDE(i, count) {
    const double p = param[i];
    const double g = static_cast<double>(grad[i]) + weight_decay * p;
    double step = g;
    if (momentum != 0) {
      const double buf = momentum * static_cast<double>(momentum_buffer[i]) + g;
      momentum_buffer[i] = static_cast<float>(buf);
      step = nesterov ? g + momentum * buf : buf;
    }
    param[i] = static_cast<float>(p - lr * step);
  }
}

// c1 = 1 − β1^t, c2 = 1 − β2^t.
__global__ void AdamKernel(int64_t count, double lr, double beta1, double beta2, double eps, double wd, double c1,
                           double c2, float* p, const float* grad, float* m, float* v) {
  SLIM_GRID_STRIDE(i, count) {
    const double g = static_cast<double>(grad[i]) + wd * p[i];
    m[i] = static_cast<float>(beta1 * m[i] + (1.0 - beta1) * g);
    v[i] = static_cast<float>(beta2 * v[i] + (1.0 - beta2) * g * g);
    p[i] = static_cast<float>(p[i] - lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps));
  }
}

__global__ void RmspropKernel(int64_t count, double lr, double alpha, double eps, double wd, double momentum,
                              float* p, const float* grad, float* sq, float* buf) {
  SLIM_GRID_STRIDE(i, count) {
    const double g = static_cast<double>(grad[i]) + wd * p[i];
    sq[i] = static_cast<float>(alpha * sq[i] + (1.0 - alpha) * g * g);
    const double d = g / (sqrt(static_cast<double>(sq[i])) + eps);
    if (momentum > 0) {
      buf[i] = static_cast<float>(momentum * buf[i] + d);
      p[i] = static_cast<float>(p[i] - lr * buf[i]);
    } else {
      p[i] = static_cast<float>(p[i] - lr * d);
    }
  }
}

#undef SLIM_GRID_STRIDE

// mse_loss: one block sums (x − t)² in double in a fixed order.
__global__ void MseLossKernel(int64_t count, const float* x, const float* t, float* loss) {
  __shared__ double partial[kThreads];
  double s = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    const double d = static_cast<double>(x[i]) - static_cast<double>(t[i]);
    s += d * d;
  }
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = static_cast<float>(partial[0] / static_cast<double>(count));
}

__global__ void MseLossBackwardKernel(int64_t count, const float* x, const float* t, float* dx, bool accumulate) {
  const int64_t stride = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const double scale = 2.0 / static_cast<double>(count);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    Store(&dx[i], scale * (static_cast<double>(x[i]) - static_cast<double>(t[i])), accumulate);
  }
}

}  // namespace

cudaError_t MseLossForward(int64_t count, const float* x, const float* targets, float* loss, cudaStream_t stream) {
  if (count <= 0) return cudaErrorInvalidValue;
  MseLossKernel<<<1, kThreads, 0, stream>>>(count, x, targets, loss);
  return cudaGetLastError();
}

cudaError_t MseLossBackward(int64_t count, const float* x, const float* targets, float* dx, bool accumulate,
                            cudaStream_t stream) {
  if (count <= 0) return cudaErrorInvalidValue;
  MseLossBackwardKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(count, x, targets, dx,
                                                                                             accumulate);
  return cudaGetLastError();
}

cudaError_t SoftmaxCrossEntropyForward(int64_t n, int64_t classes, double smoothing, const float* logits,
                                       const int32_t* labels, float* probs, float* loss, cudaStream_t stream) {
  if (n <= 0 || classes <= 0) return cudaErrorInvalidValue;
  double* row_loss = nullptr;
  cudaError_t err = StreamScratch(stream, n, &row_loss);
  if (err != cudaSuccess) return err;
  const int64_t rows_per_block = kThreads / kWarp;
  SoftmaxRowsKernel<<<static_cast<unsigned>((n + rows_per_block - 1) / rows_per_block), kThreads, 0, stream>>>(
      n, classes, smoothing, logits, labels, probs, row_loss);
  if ((err = cudaGetLastError()) != cudaSuccess) return err;
  MeanLossKernel<<<1, kThreads, 0, stream>>>(n, row_loss, loss);
  return cudaGetLastError();
}

cudaError_t SoftmaxCrossEntropyBackward(int64_t n, int64_t classes, double smoothing, const float* probs,
                                        const int32_t* labels, float* dlogits, bool accumulate,
                                        cudaStream_t stream) {
  if (n <= 0 || classes <= 0) return cudaErrorInvalidValue;
  const Tiling t = MakeTiling(n, classes, 65535);
  SoftmaxBackwardKernel<<<t.grid(), kThreads, 0, stream>>>(t, smoothing, probs, labels, dlogits, accumulate);
  return cudaGetLastError();
}

cudaError_t SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, float* param,
                      const float* grad, float* momentum_buffer, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  if (momentum != 0 && momentum_buffer == nullptr) return cudaErrorInvalidValue;
  SgdKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(count, lr, momentum, weight_decay,
                                                                                 nesterov, param, grad,
                                                                                 momentum_buffer);
  return cudaGetLastError();
}

cudaError_t AdamUpdate(int64_t count, double lr, double beta1, double beta2, double eps, double weight_decay,
                       int64_t t, float* param, const float* grad, float* m, float* v, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  const double c1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double c2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  AdamKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(count, lr, beta1, beta2, eps,
                                                                                  weight_decay, c1, c2, param, grad,
                                                                                  m, v);
  return cudaGetLastError();
}

cudaError_t RmspropUpdate(int64_t count, double lr, double alpha, double eps, double weight_decay, double momentum,
                          float* param, const float* grad, float* square_avg, float* buf, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  if (momentum > 0 && buf == nullptr) return cudaErrorInvalidValue;
  RmspropKernel<<<static_cast<unsigned>(StrideBlocks(count)), kThreads, 0, stream>>>(count, lr, alpha, eps,
                                                                                     weight_decay, momentum, param,
                                                                                     grad, square_avg, buf);
  return cudaGetLastError();
}

}  // namespace slimtrain::engine::cuda
