// vector_kernels.h — the fast CPU backend's own float32 kernels for the
// memory-bound ops: elementwise, dropout, layout, pooling, loss, SGD.
//
// Each function is one Backend method (engine/backend.h) on float pointers,
// with the same layouts and the same semantics as the reference kernels
// (engine/cpu/reference_kernels.h), multi-threaded with OpenMP over
// `threads` parts (parallel.h) and vectorised: the loops are plain C++ that
// GCC vectorises, compiled for AVX-512, AVX2 and the baseline
// (SLIM_VECTOR_CLONES; the loader picks one per CPU).
//
// Precision: where the reference rounds one double expression to float
// (dropout, pools, global average pool, softmax cross-entropy, SGD) these
// kernels evaluate the same expression in double in the same order, so the
// results agree bit for bit; elementwise sums (add, accumulate) are float
// adds; sigmoid and tanh use a polynomial exp (error about 2 ulp).
//
// In place: dst == src is allowed for the elementwise ops, dropout and copy
// (each element is read before the same element is written). Kernels
// allocate nothing.
#ifndef SLIMTRAIN_ENGINE_CPU_VECTOR_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_VECTOR_KERNELS_H_

#include <cstdint>

#include "absl/types/span.h"
#include "engine/backend.h"
#include "planner/graph.h"

namespace slimtrain::engine::cpu {

// --- elementwise over `count` elements. ReLU maps NaN to 0 (mask y > 0).
void ReluForward(int64_t count, const float* x, float* y, int threads);
void ReluBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate, int threads);
void SigmoidForward(int64_t count, const float* x, float* y, int threads);
void SigmoidBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate, int threads);
void TanhForward(int64_t count, const float* x, float* y, int threads);
void TanhBackward(int64_t count, const float* y, const float* dy, float* dx, bool accumulate, int threads);
// y = inputs[0] + inputs[1] + ... (float adds, left to right).
void AddForward(int64_t count, absl::Span<const void* const> inputs, float* y, int threads);
// dst = src, or dst += src.
void Copy(int64_t count, const float* src, float* dst, bool accumulate, int threads);

// --- dropout: element i (memory order) kept when DropoutKeep(key, n.id, i,
// n.dropout_p), then scaled by 1/(1 − p) in double. The keep decision is
// DropoutKeep's hash evaluated inline (vectorised); the tests check it
// against DropoutKeep itself.
void DropoutForward(const planner::Node& n, int64_t batch, const DropoutKey& key, const float* x, float* y,
                    int threads);
void DropoutBackward(const planner::Node& n, int64_t batch, const DropoutKey& key, const float* dy, float* dx,
                     bool accumulate, int threads);

// --- layout: concat along channels, flatten to PyTorch's (C,H,W) order.
void ConcatForward(const planner::Node& n, int64_t batch, absl::Span<const void* const> inputs, float* y,
                   int threads);
void ConcatBackward(const planner::Node& n, int64_t batch, int index, const float* dy, float* dx, bool accumulate,
                    int threads);
void FlattenForward(const planner::Node& n, int64_t batch, const float* x, float* y, int threads);
void FlattenBackward(const planner::Node& n, int64_t batch, const float* dy, float* dx, bool accumulate,
                     int threads);

// --- pooling, NHWC, vectorised across channels. Max: padding is −inf, the
// first maximum in window order wins, NaN wins; indices hold h·W + w of the
// input plane. Backward passes gather (each input element sums, in double,
// the output gradients whose window or argmax is it), so they need no
// workspace and write every dx element once.
void MaxPoolForward(const planner::Node& n, int64_t batch, const float* x, float* y, int32_t* indices,
                    int threads);
void MaxPoolBackward(const planner::Node& n, int64_t batch, const float* dy, const int32_t* indices, float* dx,
                     bool accumulate, int threads);
void AvgPoolForward(const planner::Node& n, int64_t batch, const float* x, float* y, int threads);
void AvgPoolBackward(const planner::Node& n, int64_t batch, const float* dy, float* dx, bool accumulate,
                     int threads);
void GlobalAvgPoolForward(const planner::Node& n, int64_t batch, const float* x, float* y, int threads);
void GlobalAvgPoolBackward(const planner::Node& n, int64_t batch, const float* dy, float* dx, bool accumulate,
                           int threads);

// --- softmax cross-entropy with label smoothing (reference_kernels.h's
// formula, in double). A label outside [0, classes) aborts.
void SoftmaxCrossEntropyForward(const planner::Node& n, int64_t batch, const float* logits, const int32_t* labels,
                                float* probs, float* loss, int threads);
void SoftmaxCrossEntropyBackward(const planner::Node& n, int64_t batch, const float* probs, const int32_t* labels,
                                 float* dlogits, bool accumulate, int threads);

// --- SGD (backend.h), in double per element. momentum_buffer starts at
// zero; with momentum == 0 it is not touched (may be null).
void SgdUpdate(int64_t count, double lr, double momentum, double weight_decay, bool nesterov, float* param,
               const float* grad, float* momentum_buffer, int threads);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_VECTOR_KERNELS_H_
