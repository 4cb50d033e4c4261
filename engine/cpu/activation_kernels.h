// activation_kernels.h — the fast CPU backend's float32 pointwise
// activations (planner::IsPointwise) and softmax / log_softmax.
//
// Same semantics and layouts as the reference kernels
// (engine/cpu/reference_kernels.h, engine/pointwise_math.h), OpenMP-threaded
// over `threads` parts and vectorised (SLIM_VECTOR_CLONES). Precision: the
// pointwise ops evaluate in float with engine/cpu/vector_math.h's exp, tanh,
// erf and log1p (a few ulp; erf to 5e-7 absolute); softmax sums each line's
// exponentials in double, as the reference does.
//
// In place: dst == src is allowed (each element, or for softmax each line, is
// read before it is written). Kernels allocate nothing but a softmax line's
// per-thread double sums (`inner` of them).
#ifndef SLIMTRAIN_ENGINE_CPU_ACTIVATION_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_ACTIVATION_KERNELS_H_

#include <cstdint>

#include "engine/backend.h"
#include "planner/graph.h"

namespace slimtrain::engine::cpu {

// y = f(x) over `count` elements; f and its attributes from PointwiseFnOf(n).
void PointwiseForward(const planner::Node& n, int64_t count, const float* x, float* y, int threads);
// dx = dy · f'(saved), `saved` the output or the input as
// planner::BackwardReadsOutput(n) says.
void PointwiseBackward(const planner::Node& n, int64_t count, const float* saved, const float* dy, float* dx,
                       bool accumulate, int threads);

// softmax / log_softmax of x along n.axis (engine::PhysicalAxis); backward
// from the output y.
void SoftmaxForward(const planner::Node& n, int64_t batch, const float* x, float* y, int threads);
void SoftmaxBackward(const planner::Node& n, int64_t batch, const float* y, const float* dy, float* dx,
                     bool accumulate, int threads);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_ACTIVATION_KERNELS_H_
