// kernels.h — the CUDA backend's own kernels (everything but convolution and
// linear layers, which are cuDNN's and cuBLAS's): float32, NHWC as
// engine/backend.h describes, launched asynchronously on `stream`.
//
// Each function mirrors one engine::Backend method (same semantics, same
// in-place rules: y == x, dx == dy allowed where backend.h allows them);
// shapes arrive as plain integers so this header needs no planner types
// (a pointwise op as engine/pointwise_math.h's plain PointwiseFn, a saved
// tensor's code as engine/quant.h's CodeSpec).
// Every function returns the launch's cudaError_t (cudaSuccess, or the
// error cudaGetLastError reports right after the launch); the caller turns
// it into an absl::Status with file and line (cuda_status.h).
//
// Numerics follow the CPU reference backend: batch-norm statistics and the
// per-channel sums of backward accumulate in double, the quantizer is
// engine/quant.h's code for code (its functions are __host__ __device__),
// dropout's mask is engine::DropoutKeep's hash, so the GPU and the CPU keep
// the same elements.
#ifndef SLIMTRAIN_ENGINE_CUDA_KERNELS_H_
#define SLIMTRAIN_ENGINE_CUDA_KERNELS_H_

#include <cstdint>

#include <cuda_runtime.h>

#include "engine/norm_math.h"
#include "engine/pointwise_math.h"
#include "engine/pool_math.h"
#include "engine/quant.h"
#include "engine/tensor_view.h"

namespace slimtrain::engine::cuda {

// Shape of an NHWC activation: n images of h x w x c (features: h = w = 1).
struct Nhwc {
  int64_t n = 0, h = 1, w = 1, c = 0;
  int64_t count() const { return n * h * w * c; }
};

// Pooling window (max_pool, avg_pool): kernel, stride, padding per axis;
// output ho x wo.
struct Pool {
  int kernel_h = 2, kernel_w = 2, stride_h = 2, stride_w = 2;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t ho = 0, wo = 0;
  bool count_include_pad = true;  // avg_pool: divide by the window's area (PyTorch's default)
};

// --- memory helpers.
// Reductions (batch-norm statistics and sums, bias gradients, the loss) keep
// partial sums in a per-stream scratch block of 1 MiB (more when a graph
// needs it), made by its first user. A backend calls this when it creates
// `stream`, and again with ScratchDoublesFor its graph before the first step,
// so no step ever allocates: the block is part of the backend's fixed memory,
// like its library handles.
cudaError_t ReserveScratch(cudaStream_t stream, int64_t min_doubles = 0);
// The scratch doubles the reductions need over at most `units` channels or
// columns (BatchNorm*, BiasGrad) and a loss over `rows` examples.
int64_t ScratchDoublesFor(int64_t units, int64_t rows);
cudaError_t Fill(void* dst, uint8_t byte, int64_t bytes, cudaStream_t stream);
// *all_finite (device int) = 1 when every x[i] is finite, else 0.
cudaError_t AllFinite(int64_t count, const float* x, int* all_finite, cudaStream_t stream);

// --- elementwise (count elements). accumulate: dst += instead of dst =.
cudaError_t ReluForward(int64_t count, const float* x, float* y, cudaStream_t stream);
cudaError_t ReluBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate,
                         cudaStream_t stream);
cudaError_t SigmoidForward(int64_t count, const float* x, float* y, cudaStream_t stream);
cudaError_t SigmoidBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate,
                            cudaStream_t stream);
cudaError_t TanhForward(int64_t count, const float* x, float* y, cudaStream_t stream);
cudaError_t TanhBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate,
                         cudaStream_t stream);
// Pointwise activation f (engine/pointwise_math.h, evaluated in double);
// backward from `saved` (y or x, as f.from_output says).
cudaError_t PointwiseForward(int64_t count, const PointwiseFn& f, const float* x, float* y, cudaStream_t stream);
cudaError_t PointwiseBackward(int64_t count, const PointwiseFn& f, const float* saved, const float* dy, float* dx,
                              bool accumulate, cudaStream_t stream);
// softmax (log: log_softmax) along lines of `size` elements `inner` apart,
// `outer` blocks of them (engine::AxisSpan); backward from the output y.
// causal: line o (of outer) is row o mod size of an (L, L) block and keeps
// positions j <= row (planner::Node::causal); backward needs nothing more.
cudaError_t SoftmaxForward(int64_t outer, int64_t size, int64_t inner, bool log, bool causal, const float* x,
                           float* y, cudaStream_t stream);
cudaError_t SoftmaxBackward(int64_t outer, int64_t size, int64_t inner, bool log, const float* y, const float* dy,
                            float* dx, bool accumulate, cudaStream_t stream);
// Fused attention (Backend::AttentionForward/Backward) on row-major q
// (batch,lq,d), k, v (batch,lk,d); lse (batch,heads,lq). Head sizes d/heads
// up to kMaxHeadDim (cudaErrorInvalidValue above it). accumulate: 3 flags
// for dq, dk, dv (each may be null).
inline constexpr int64_t kMaxHeadDim = 128;
cudaError_t AttentionForward(int64_t batch, int64_t lq, int64_t lk, int64_t d, int64_t heads, double scale,
                             bool causal, const float* q, const float* k, const float* v, float* out, float* lse,
                             cudaStream_t stream);
cudaError_t AttentionBackward(int64_t batch, int64_t lq, int64_t lk, int64_t d, int64_t heads, double scale,
                              bool causal, const float* q, const float* k, const float* v, const float* out,
                              const float* lse, const float* dout, float* dq, float* dk, float* dv,
                              const bool* accumulate, cudaStream_t stream);

// group_norm (Backend::GroupNormForward/Backward) of geometry `geo`.
cudaError_t GroupNormForward(const norm::Groups& geo, int64_t batch, double eps, const float* x, const float* gamma,
                             const float* beta, float* y, float* stats, cudaStream_t stream);
cudaError_t GroupNormBackward(const norm::Groups& geo, int64_t batch, const float* dy, const float* x,
                              const float* gamma, const float* stats, float* dx, bool accumulate, float* dgamma,
                              float* dbeta, cudaStream_t stream);

// layer_norm (Backend::LayerNormForward/Backward) over `rows` rows of `size`
// elements; image_c > 0 when each row is an image stored (H,W,C) with
// image_c channels (γ and β are (C,H,W)), else 0. gamma, beta, dgamma,
// dbeta null without affine parameters; dx null for the model input.
cudaError_t LayerNormForward(int64_t rows, int64_t size, int64_t image_c, double eps, const float* x,
                             const float* gamma, const float* beta, float* y, float* stats, cudaStream_t stream);
cudaError_t LayerNormBackward(int64_t rows, int64_t size, int64_t image_c, const float* dy, const float* x,
                              const float* gamma, const float* stats, float* dx, bool accumulate, float* dgamma,
                              float* dbeta, cudaStream_t stream);
// Views (engine/tensor_view.h): Backend::StridedCopy, Reduce,
// BinaryForward, BinaryBackward, one thread per output element.
cudaError_t StridedCopy(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale,
                        bool accumulate, cudaStream_t stream);
cudaError_t Reduce(const TensorView& src, const float* x, const TensorView& dst, float* y, double scale,
                   bool accumulate, cudaStream_t stream);
cudaError_t BinaryForward(BinaryOp op, const TensorView& a, const float* a_data, const TensorView& b,
                          const float* b_data, const TensorView& y, float* y_data, cudaStream_t stream);
cudaError_t MatMul(const TensorView& a, const float* a_data, const TensorView& b, const float* b_data,
                   const TensorView& y, float* y_data, bool accumulate, cudaStream_t stream);
// adaptive_avg_pool (engine/pool_math.h), one thread per element.
cudaError_t AdaptiveAvgPoolForward(const pool::Adaptive& g, int64_t batch, const float* x, float* y,
                                   cudaStream_t stream);
cudaError_t AdaptiveAvgPoolBackward(const pool::Adaptive& g, int64_t batch, const float* dy, float* dx,
                                    bool accumulate, cudaStream_t stream);
// upsample: engine/pool_math.h, one thread per output (input, for the
// backward's gather) element.
cudaError_t UpsampleForward(const pool::Upsample& g, int64_t batch, const float* x, float* y, cudaStream_t stream);
cudaError_t UpsampleBackward(const pool::Upsample& g, int64_t batch, const float* dy, float* dx, bool accumulate,
                             cudaStream_t stream);
// embedding over `tokens` positions of width d: rows by id; the backward
// zeroes dtable (vocabulary, d) unless `accumulate`, then adds dy's rows
// in position order.
cudaError_t EmbeddingForward(int64_t tokens, int64_t d, const float* ids, const float* table, float* y,
                             cudaStream_t stream);
cudaError_t EmbeddingBackward(int64_t tokens, int64_t d, int64_t vocabulary, const float* ids, const float* dy,
                              float* dtable, bool accumulate, cudaStream_t stream);
cudaError_t BinaryBackward(BinaryOp op, int index, const TensorView& a, const float* a_data, const TensorView& b,
                           const float* b_data, const TensorView& dy, const float* dy_data, const TensorView& d,
                           float* d_data, bool accumulate, cudaStream_t stream);
// y = sum of `k` inputs (inputs: a host array of k device pointers; y may be one of them).
cudaError_t AddForward(int64_t count, const float* const* inputs, int k, float* y, cudaStream_t stream);
cudaError_t Copy(int64_t count, const float* src, float* dst, bool accumulate, cudaStream_t stream);
// Dropout of node `node` with probability p, key (seed, step): element i is kept,
// scaled by 1/(1-p), exactly when engine::DropoutKeep(key, node, i, p).
cudaError_t DropoutForward(int64_t count, uint64_t seed, int64_t step, int node, double p, const float* x, float* y,
                           cudaStream_t stream);
cudaError_t DropoutBackward(int64_t count, uint64_t seed, int64_t step, int node, double p, const float* dy,
                            float* dx, bool accumulate, cudaStream_t stream);

// --- layout.
// Concatenation along channels: input `index` has c_in channels starting at
// channel `offset` of y, which has c_out channels; shape.c is ignored.
cudaError_t ConcatForwardOne(Nhwc shape, int64_t c_in, int64_t offset, int64_t c_out, const float* x, float* y,
                             cudaStream_t stream);
cudaError_t ConcatBackwardOne(Nhwc shape, int64_t c_in, int64_t offset, int64_t c_out, const float* dy, float* dx,
                              bool accumulate, cudaStream_t stream);
// (N,H,W,C) -> (N, C*H*W) in (C,H,W) order, and back.
cudaError_t FlattenForward(Nhwc x_shape, const float* x, float* y, cudaStream_t stream);
cudaError_t FlattenBackward(Nhwc x_shape, const float* dy, float* dx, bool accumulate, cudaStream_t stream);

// --- pooling: x (N,H,W,C) -> y (N,Ho,Wo,C).
cudaError_t MaxPoolForward(Nhwc x_shape, Pool pool, const float* x, float* y, int32_t* indices,
                           cudaStream_t stream);
cudaError_t MaxPoolBackward(Nhwc x_shape, Pool pool, const float* dy, const int32_t* indices, float* dx,
                            bool accumulate, cudaStream_t stream);
cudaError_t AvgPoolForward(Nhwc x_shape, Pool pool, const float* x, float* y, cudaStream_t stream);
cudaError_t AvgPoolBackward(Nhwc x_shape, Pool pool, const float* dy, float* dx, bool accumulate,
                            cudaStream_t stream);
cudaError_t GlobalAvgPoolForward(Nhwc x_shape, const float* x, float* y, cudaStream_t stream);
cudaError_t GlobalAvgPoolBackward(Nhwc x_shape, const float* dy, float* dx, bool accumulate, cudaStream_t stream);

// --- batch norm over NHWC with C = shape.c channels. mode: 0 train (batch
// statistics, running ones updated with momentum and the unbiased variance),
// 1 train without the update (recomputation), 2 inference (running statistics,
// stats untouched). stats (2,C): mean, then 1/sqrt(var + eps), rounded to float
// before y is formed from them.
cudaError_t BatchNormForward(Nhwc shape, int mode, double eps, double momentum, const float* x, const float* gamma,
                             const float* beta, float* running_mean, float* running_var, float* y, float* stats,
                             cudaStream_t stream);
// dx (null: only dgamma, dbeta), dgamma and dbeta overwritten.
cudaError_t BatchNormBackward(Nhwc shape, const float* dy, const float* x, const float* gamma, const float* stats,
                              float* dx, bool accumulate, float* dgamma, float* dbeta, cudaStream_t stream);

// --- batch norm over (N,C,L) stored row-major (BatchNorm1d on sequences):
// modes, stats and outputs as above; one block per channel sums its N·L
// values in double, two passes about the mean (the reference's), in a fixed
// order (deterministic, within rounding of the reference).
cudaError_t BatchNormSequenceForward(int64_t n, int64_t c, int64_t l, int mode, double eps, double momentum,
                                     const float* x, const float* gamma, const float* beta, float* running_mean,
                                     float* running_var, float* y, float* stats, cudaStream_t stream);
cudaError_t BatchNormSequenceBackward(int64_t n, int64_t c, int64_t l, const float* dy, const float* x,
                                      const float* gamma, const float* stats, float* dx, bool accumulate,
                                      float* dgamma, float* dbeta, cudaStream_t stream);

// --- the BN->ReLU quantizer (engine/quant.h), bits 8, 4, 2 or
// planner::kPassThroughBits; codes packed as backend.h says.
cudaError_t QuantizeBnRelu(Nhwc shape, int bits, const float* x, const float* y, const float* gamma,
                           const float* beta, const float* stats, void* code, cudaStream_t stream);
cudaError_t RestoreRelu(Nhwc shape, int bits, const void* code, const float* gamma, const float* beta, float* z,
                        cudaStream_t stream);
cudaError_t ReluBackwardFromCode(Nhwc shape, int bits, const float* dz, const void* code, const float* gamma,
                                 const float* beta, float* dy, bool accumulate, cudaStream_t stream);
cudaError_t BatchNormBackwardFromCode(Nhwc shape, int bits, const float* dy, const void* code, const float* gamma,
                                      const float* beta, const float* stats, float* dx, bool accumulate,
                                      float* dgamma, float* dbeta, cudaStream_t stream);

// --- codes of the other saved tensors (code_kernels.cu; engine/quant.h's
// "saved-tensor codes", float): `code` holds planner::CodeBytes(spec.coding,
// spec.bits, spec.count, 4) bytes, every one written by EncodeSaved; stats is
// kBnInput's (2, C) mean and invstd or kLnInput's (rows, 2) mean and rstd.
// cudaErrorInvalidValue unless quant::ValidCodeSpec(spec) (and stats for
// kBnInput and kLnInput).
cudaError_t EncodeSaved(const quant::CodeSpec& spec, const float* x, const float* stats, void* code,
                        cudaStream_t stream);
cudaError_t DecodeSaved(const quant::CodeSpec& spec, const void* code, const float* stats, float* x,
                        cudaStream_t stream);

// --- mse_loss over `count` elements: loss (a device float) = mean (x − t)²,
// one block summing in double; dx = 2 (x − t) / count.
cudaError_t MseLossForward(int64_t count, const float* x, const float* targets, float* loss, cudaStream_t stream);
cudaError_t MseLossBackward(int64_t count, const float* x, const float* targets, float* dx, bool accumulate,
                            cudaStream_t stream);

// --- loss: logits (N,classes), labels (N) -> probs (N,classes), loss (a
// device float: the mean cross-entropy, with label smoothing `smoothing`).
cudaError_t SoftmaxCrossEntropyForward(int64_t n, int64_t classes, double smoothing, const float* logits,
                                       const int32_t* labels, float* probs, float* loss, cudaStream_t stream);
cudaError_t SoftmaxCrossEntropyBackward(int64_t n, int64_t classes, double smoothing, const float* probs,
                                        const int32_t* labels, float* dlogits, bool accumulate,
                                        cudaStream_t stream);

// --- bias of linear layers and convolutions (cuBLAS/cuDNN do the rest):
// y (rows, cols) += b broadcast over rows; db (cols) = column sums of dy.
cudaError_t AddBias(int64_t rows, int64_t cols, const float* b, float* y, cudaStream_t stream);
cudaError_t BiasGrad(int64_t rows, int64_t cols, const float* dy, float* db, cudaStream_t stream);
// Zero padding of NHWC images: `x` (n,h,w,c) into `padded` (n, h+top+bottom,
// w+left+right, c) at (top, left), zeros around; and back: `padded`'s
// interior at (top, left) into dx (n,h,w,c), or added to it.
cudaError_t PadNhwc(int64_t n, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left, int64_t padded_h,
                    int64_t padded_w, const float* x, float* padded, cudaStream_t stream);
cudaError_t CropNhwc(int64_t n, int64_t h, int64_t w, int64_t c, int64_t top, int64_t left, int64_t padded_h,
                     int64_t padded_w, const float* padded, float* dx, bool accumulate, cudaStream_t stream);
// OIHW (K,C,R,S) <-> KRSC (K,R,S,C) weight layouts.
cudaError_t OihwToOhwi(int64_t k, int64_t c, int64_t r, int64_t s, const float* src, float* dst,
                       cudaStream_t stream);
cudaError_t OhwiToOihw(int64_t k, int64_t c, int64_t r, int64_t s, const float* src, float* dst,
                       cudaStream_t stream);

// --- optimizers over `count` parameters, as engine::Backend's SgdUpdate,
// AdamUpdate, RmspropUpdate (arithmetic in double per element, as the CPU).
cudaError_t SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, float* param,
                      const float* grad, float* momentum_buffer, cudaStream_t stream);
cudaError_t AdamUpdate(int64_t count, double lr, double beta1, double beta2, double eps, double weight_decay,
                       int64_t t, float* param, const float* grad, float* m, float* v, cudaStream_t stream);
cudaError_t RmspropUpdate(int64_t count, double lr, double alpha, double eps, double weight_decay, double momentum,
                          float* param, const float* grad, float* square_avg, float* buf, cudaStream_t stream);

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_KERNELS_H_
