// bn_kernels.h — the fast CPU backend's batch norm, forward and backward.
//
// x, y, dy, dx are (N,H,W,C) or (N,C): M = N·H·W values per channel, the
// channel innermost. Per-channel constants are replicated over a period of
// lcm(C, 16) elements (parallel.h), so the loops run whole vectors whatever
// C is. Two passes each, both multi-threaded:
//   1. per-thread partial sums per period position, in double (forward:
//      Σ(x − x₀) and Σ(x − x₀)² shifted by the channel's first value x₀, so
//      the variance does not cancel; backward: Σdy and Σdy·(x − mean));
//      folded per channel in a fixed order (deterministic for a thread
//      count);
//   2. the elementwise pass in float: y = (x − mean)·(γ·invstd) + β, and
//      dx = γ·invstd·(dy − mean(dy)) − (x − mean)·γ·invstd²·mean(dy·x̂).
// Semantics are reference_kernels.h's: biased batch variance; stats =
// (mean, 1/sqrt(var + eps)) rounded to float, and y normalised with those
// rounded values; running statistics updated in kTrain with the unbiased
// variance (biased when M = 1). In place (y == x, dx == dy) is allowed.
// Cost: two reads of x (forward), two of x and dy (backward); O(C·threads)
// scratch from `scratch` (backend-owned, reserved by Prepare).
#ifndef SLIMTRAIN_ENGINE_CPU_BN_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_BN_KERNELS_H_

#include <cstdint>

#include "engine/backend.h"
#include "engine/cpu/parallel.h"
#include "planner/graph.h"

namespace slimtrain::engine::cpu {

// Channels C and values per channel M of batch_norm node `n` at `batch`.
ChannelPeriod BatchNormPeriod(const planner::Node& n, int64_t batch);

// stats (2,C) written in the training modes; running statistics read in
// kInference and updated in kTrain (may be null in kTrainNoUpdate).
void BatchNormForward(const planner::Node& n, int64_t batch, BatchNormMode mode, const float* x,
                      const float* gamma, const float* beta, float* running_mean, float* running_var, float* y,
                      float* stats, int threads, Scratch* scratch);

// Training-mode backward: dx (or dx +=), dgamma = Σ dy·x̂, dbeta = Σ dy.
void BatchNormBackward(const planner::Node& n, int64_t batch, const float* dy, const float* x, const float* gamma,
                       const float* stats, float* dx, bool accumulate, float* dgamma, float* dbeta, int threads,
                       Scratch* scratch);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_BN_KERNELS_H_
