// norm_kernels.h — the fast CPU backend's float32 layer_norm (forward and
// backward), with the reference's semantics (engine/cpu/reference_kernels.h)
// and its arithmetic: each row's sums and each element's expression in
// double in the reference's order, so the results are bit for bit the
// reference's. Threads take whole rows (forward, dx) or blocks of columns
// (dγ, dβ, summed over the rows in order). In place (y == x, dx == dy) is
// allowed. Allocates nothing.
#ifndef SLIMTRAIN_ENGINE_CPU_NORM_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_NORM_KERNELS_H_

#include <cstdint>

#include "planner/graph.h"

namespace slimtrain::engine::cpu {

void LayerNormForward(const planner::Node& n, int64_t batch, const float* x, const float* gamma, const float* beta,
                      float* y, float* stats, int threads);
void LayerNormBackward(const planner::Node& n, int64_t batch, const float* dy, const float* x, const float* gamma,
                       const float* stats, float* dx, bool accumulate, float* dgamma, float* dbeta, int threads);

// group_norm: engine/norm_math.h's functions, threads over (example,
// group) pairs and over channels for dγ, dβ (the reference's results bit
// for bit).
void GroupNormForward(const planner::Node& n, int64_t batch, const float* x, const float* gamma, const float* beta,
                      float* y, float* stats, int threads);
void GroupNormBackward(const planner::Node& n, int64_t batch, const float* dy, const float* x, const float* gamma,
                       const float* stats, float* dx, bool accumulate, float* dgamma, float* dbeta, int threads);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_NORM_KERNELS_H_
