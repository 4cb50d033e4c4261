// reference_kernels.h — the reference backend's kernels: plain loops, typed.
//
// One function per Backend method (engine/backend.h), templated on the element
// type T (float or double; both are instantiated in reference_kernels.cc and,
// for batch norm and the BN→ReLU codes, reference_bn_kernels.cc; for the
// other saved tensors' codes, reference_code_kernels.cc).
// ReferenceBackend (reference_backend.h) only casts its void pointers and
// calls these. They are the truth every fast kernel is tested against, so they
// favour the obvious over the fast:
//
//   1. single-threaded loops straight from the definition of each op;
//   2. every sum (convolution, matrix product, batch statistics, pooling,
//      softmax) is accumulated in double, also for T = float, and rounded to T
//      once when stored; with `accumulate` the old value is added in double too;
//   3. backward-data passes *gather*: each input-gradient element sums the
//      output gradients that read it, so no kernel needs scratch memory and
//      every element is written exactly once (workspace 0 for every op).
// Cost: direct loops, O(N·Ho·Wo·K·C/g·R²) for a convolution; meant for tests
// and small models, not for training speed.
//
// Shapes come from the planner's Node (per-example dims, see planner/graph.h)
// and the batch N. Layouts are backend.h's: activations (N,H,W,C) or (N,F),
// conv weights (K,C/g,R,R), linear weights (O,F) with F in PyTorch's (C,H,W)
// order, BN stats (2,C) = batch mean then 1/sqrt(var + eps).
//
// In place: where backend.h allows dst == src (relu, sigmoid, tanh, dropout,
// batch_norm, add, copy; forward and backward, and the BN→ReLU code paths),
// each element of the source is read before the same element of the
// destination is written, and per-channel sums are finished before any write.
#ifndef SLIMTRAIN_ENGINE_CPU_REFERENCE_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_REFERENCE_KERNELS_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/backend.h"
#include "engine/quant.h"
#include "planner/graph.h"

namespace slimtrain::engine::reference {

// --- conv2d, PyTorch semantics (stride, zero padding, dilation, groups).
// x (N,H,W,C), w (K,C/g,R,R), b (K) or null, y (N,Ho,Wo,K).
template <typename T>
void Conv2dForward(const planner::Node& n, int64_t batch, const T* x, const T* w, const T* b, T* y);
// dx (N,H,W,C) from dy (N,Ho,Wo,K).
template <typename T>
void Conv2dBackwardData(const planner::Node& n, int64_t batch, const T* dy, const T* w, T* dx,
                        bool accumulate);
// dw (K,C/g,R,R) and db (K, when not null), overwritten.
template <typename T>
void Conv2dBackwardWeights(const planner::Node& n, int64_t batch, const T* x, const T* dy, T* dw, T* db);

// --- linear: x (N,F) or (N,H,W,C) with F = C·H·W, w (O,F), b (O) or null,
// y (N,O).
template <typename T>
void LinearForward(const planner::Node& n, int64_t batch, const T* x, const T* w, const T* b, T* y);
template <typename T>
void LinearBackwardData(const planner::Node& n, int64_t batch, const T* dy, const T* w, T* dx, bool accumulate);
// dw (O,F), db (O) when not null; overwritten.
template <typename T>
void LinearBackwardWeights(const planner::Node& n, int64_t batch, const T* x, const T* dy, T* dw, T* db);

// --- batch_norm over M = N·H·W values per channel (N for (N,F) inputs).
// Training modes: mean and biased variance of the batch; stats = (mean,
// 1/sqrt(var + eps)) rounded to T, and y is normalised with those rounded
// values (so the backward, which only sees stats, uses the forward's x̂).
// kTrain also updates running = (1 − momentum)·running + momentum·batch, with
// the unbiased variance var·M/(M − 1) for running_var (the biased one when
// M = 1, where PyTorch refuses to train). kInference normalises with the
// running statistics and leaves stats untouched (stats and the running
// pointers may be null where they are not read).
template <typename T>
void BatchNormForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const T* x, const T* gamma,
                      const T* beta, T* running_mean, T* running_var, T* y, T* stats);
// dx = γ·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
template <typename T>
void BatchNormBackward(const planner::Node& n, int64_t batch, const T* dy, const T* x, const T* gamma,
                       const T* stats, T* dx, bool accumulate, T* dgamma, T* dbeta);

// --- layer_norm (Backend::LayerNormForward/Backward): per-row mean and
// biased variance in double; dx = (1/σ)(g − mean(g) − x̂·mean(g·x̂)) with
// g = dy·γ, dγ = Σ_rows dy·x̂, dβ = Σ_rows dy (gathered per element).
template <typename T>
void LayerNormForward(const planner::Node& n, int64_t batch, const T* x, const T* gamma, const T* beta, T* y,
                      T* stats);
template <typename T>
void LayerNormBackward(const planner::Node& n, int64_t batch, const T* dy, const T* x, const T* gamma,
                       const T* stats, T* dx, bool accumulate, T* dgamma, T* dbeta);

// --- group_norm: engine/norm_math.h's group functions, every example and
// group (channel for dγ, dβ) in order.
template <typename T>
void GroupNormForward(const planner::Node& n, int64_t batch, const T* x, const T* gamma, const T* beta, T* y,
                      T* stats);
template <typename T>
void GroupNormBackward(const planner::Node& n, int64_t batch, const T* dy, const T* x, const T* gamma,
                       const T* stats, T* dx, bool accumulate, T* dgamma, T* dbeta);

// --- attention (Backend::AttentionForward/Backward): scores, softmax and
// products in double per example, head and query; backward from the saved
// log-sum-exp, with dS = P ⊙ (dO·Vᵀ − rowsum(dO ⊙ O)), dq = scale·dS·K,
// dk = scale·dSᵀ·Q, dv = Pᵀ·dO (gathered per element).
template <typename T>
void AttentionForward(const planner::Node& n, int64_t batch, const T* q, const T* k, const T* v, T* out, T* lse);
template <typename T>
void AttentionBackward(const planner::Node& n, int64_t batch, const T* q, const T* k, const T* v, const T* out,
                       const T* lse, const T* dout, T* dq, T* dk, T* dv, const bool* accumulate);

// --- the BN→ReLU quantizer, engine/quant.h element by element. `code` holds
// packed K-bit codes (bits 8, 4, 2), or T values when bits is
// planner::kPassThroughBits. x and stats are read only for channels whose
// γ is 0 (x̂ = (x − mean)·invstd is coded there); they may be null otherwise.
template <typename T>
void QuantizeBnRelu(const planner::Node& bn, int64_t batch, int bits, const T* x, const T* y, const T* gamma,
                    const T* beta, const T* stats, void* code);
template <typename T>
void RestoreRelu(const planner::Node& bn, int64_t batch, int bits, const void* code, const T* gamma,
                 const T* beta, T* z);
template <typename T>
void ReluBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const T* dz, const void* code,
                          const T* gamma, const T* beta, T* dy, bool accumulate);
// BatchNormBackward with x̂' restored from the code instead of x.
template <typename T>
void BatchNormBackwardFromCode(const planner::Node& bn, int64_t batch, int bits, const T* dy, const void* code,
                               const T* gamma, const T* beta, const T* stats, T* dx, bool accumulate,
                               T* dgamma, T* dbeta);

// --- codes of the other saved tensors (engine/quant.h's CodeSpec), element by
// element: `code` is planner::CodeBytes(spec.coding, spec.bits, spec.count,
// sizeof(T)) bytes, every one of them written by EncodeSaved; stats is a
// kBnInput code's (2, C) mean and invstd or a kLnInput code's (rows, 2) mean
// and rstd (read only there). Aborts unless quant::ValidCodeSpec(spec).
template <typename T>
void EncodeSaved(const quant::CodeSpec& spec, const T* x, const T* stats, void* code);
template <typename T>
void DecodeSaved(const quant::CodeSpec& spec, const void* code, const T* stats, T* x);

// --- elementwise. ReLU maps NaN to 0 (the mask is y > 0, as the quantizer's).
template <typename T>
void ReluForward(int64_t count, const T* x, T* y);
template <typename T>
void ReluBackward(int64_t count, const T* y, const T* dy, T* dx, bool accumulate);
// Sigmoid evaluates exp of a non-positive argument only (no overflow).
template <typename T>
void SigmoidForward(int64_t count, const T* x, T* y);
template <typename T>
void SigmoidBackward(int64_t count, const T* y, const T* dy, T* dx, bool accumulate);
template <typename T>
void TanhForward(int64_t count, const T* x, T* y);
template <typename T>
void TanhBackward(int64_t count, const T* y, const T* dy, T* dx, bool accumulate);
// The pointwise activations (planner::IsPointwise): engine/pointwise_math.h
// in double. `saved` is y or x as planner::BackwardReadsOutput(n) says.
template <typename T>
void PointwiseForward(const planner::Node& n, int64_t count, const T* x, T* y);
template <typename T>
void PointwiseBackward(const planner::Node& n, int64_t count, const T* saved, const T* dy, T* dx,
                       bool accumulate);
// softmax / log_softmax along n.axis (engine::PhysicalAxis), each line
// max-shifted and summed in double; backward from the output y.
template <typename T>
void SoftmaxForward(const planner::Node& n, int64_t batch, const T* x, T* y);
template <typename T>
void SoftmaxBackward(const planner::Node& n, int64_t batch, const T* y, const T* dy, T* dx, bool accumulate);
// Views (engine/tensor_view.h): Backend::StridedCopy, Reduce, BinaryForward,
// BinaryBackward element by element; sums in double in a fixed order.
// BinaryBackward gathers: each d element sums the output elements that read it.
template <typename T>
void StridedCopy(const TensorView& src, const T* x, const TensorView& dst, T* y, double scale, bool accumulate);
template <typename T>
void Reduce(const TensorView& src, const T* x, const TensorView& dst, T* y, double scale, bool accumulate);
template <typename T>
void BinaryForward(BinaryOp op, const TensorView& a, const T* a_data, const TensorView& b, const T* b_data,
                   const TensorView& y, T* y_data);
// embedding: rows of the table by id; backward gathers, per table row, the
// positions holding its id (O(V·N·L·D): fine for tests, not for training).
template <typename T>
void EmbeddingForward(const planner::Node& n, int64_t batch, const T* ids, const T* table, T* y);
template <typename T>
void EmbeddingBackward(const planner::Node& n, int64_t batch, const T* ids, const T* dy, T* dtable, bool accumulate);
// adaptive_avg_pool: engine/pool_math.h per element; backward gathers.
template <typename T>
void AdaptiveAvgPoolForward(const planner::Node& n, int64_t batch, const T* x, T* y);
template <typename T>
void AdaptiveAvgPoolBackward(const planner::Node& n, int64_t batch, const T* dy, T* dx, bool accumulate);
// upsample: engine/pool_math.h per element; backward gathers.
template <typename T>
void UpsampleForward(const planner::Node& n, int64_t batch, const T* x, T* y);
template <typename T>
void UpsampleBackward(const planner::Node& n, int64_t batch, const T* dy, T* dx, bool accumulate);
// y (+)= a·b over rank-4 views (N,H,M,K) x (N,H,K,P), sums in double.
template <typename T>
void MatMul(const TensorView& a, const T* a_data, const TensorView& b, const T* b_data, const TensorView& y, T* y_data,
            bool accumulate);
template <typename T>
void BinaryBackward(BinaryOp op, int index, const TensorView& a, const T* a_data, const TensorView& b,
                    const T* b_data, const TensorView& dy, const T* dy_data, const TensorView& d, T* d_data,
                    bool accumulate);
template <typename T>
void AddForward(int64_t count, absl::Span<const void* const> inputs, T* y);
template <typename T>
void Copy(int64_t count, const T* src, T* dst, bool accumulate);
// Element i of the (N,...) tensor in memory order is kept when
// DropoutKeep(key, n.id, i, n.dropout_p), and then scaled by 1/(1 − p).
template <typename T>
void DropoutForward(const planner::Node& n, int64_t batch, const DropoutKey& key, const T* x, T* y);
template <typename T>
void DropoutBackward(const planner::Node& n, int64_t batch, const DropoutKey& key, const T* dy, T* dx,
                     bool accumulate);

// --- layout.
template <typename T>
void ConcatForward(const planner::Node& n, int64_t batch, absl::Span<const void* const> inputs, T* y);
template <typename T>
void ConcatBackward(const planner::Node& n, int64_t batch, int index, const T* dy, T* dx, bool accumulate);
template <typename T>
void FlattenForward(const planner::Node& n, int64_t batch, const T* x, T* y);
template <typename T>
void FlattenBackward(const planner::Node& n, int64_t batch, const T* dy, T* dx, bool accumulate);

// --- pooling (floor mode, as the planner's shapes). Max: padding is −inf,
// ties keep the first maximum in window order (rows, then columns), NaN wins
// (PyTorch's rule); indices (N,Ho,Wo,C) hold h·W + w of the input plane.
template <typename T>
void MaxPoolForward(const planner::Node& n, int64_t batch, const T* x, T* y, int32_t* indices);
template <typename T>
void MaxPoolBackward(const planner::Node& n, int64_t batch, const T* dy, const int32_t* indices, T* dx,
                     bool accumulate);
// Divisor: the window clipped to the padded input (count_include_pad) or to
// the input (otherwise), as PyTorch.
template <typename T>
void AvgPoolForward(const planner::Node& n, int64_t batch, const T* x, T* y);
template <typename T>
void AvgPoolBackward(const planner::Node& n, int64_t batch, const T* dy, T* dx, bool accumulate);
template <typename T>
void GlobalAvgPoolForward(const planner::Node& n, int64_t batch, const T* x, T* y);
template <typename T>
void GlobalAvgPoolBackward(const planner::Node& n, int64_t batch, const T* dy, T* dx, bool accumulate);

// --- softmax cross-entropy with label smoothing ε: target (1 − ε) on the
// label plus ε/classes on every class; loss = mean over the batch of
// Σ_j target_j·(logsumexp − logit_j), computed with the row maximum
// subtracted. Labels outside [0, classes) abort (the data loader checks them).
template <typename T>
void SoftmaxCrossEntropyForward(const planner::Node& n, int64_t batch, const T* logits, const int32_t* labels,
                                T* probs, T* loss);
template <typename T>
void SoftmaxCrossEntropyBackward(const planner::Node& n, int64_t batch, const T* probs, const int32_t* labels,
                                 T* dlogits, bool accumulate);

// --- SGD as backend.h states it, in double. momentum_buffer must start at
// zero: the first step then sets buf = g, exactly PyTorch's initialisation.
// With momentum == 0 the buffer is neither read nor written (may be null).
template <typename T>
void SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, T* param,
               const T* grad, T* momentum_buffer);

}  // namespace slimtrain::engine::reference

#endif  // SLIMTRAIN_ENGINE_CPU_REFERENCE_KERNELS_H_
