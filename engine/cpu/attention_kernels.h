// attention_kernels.h — the fast CPU backend's float32 fused attention
// (proto/model.proto's Attention; semantics of the reference kernels in
// engine/cpu/reference_kernels.h), memory-efficient: the forward keeps one
// log-sum-exp per head and query, never the Lq×Lk probabilities, and the
// backward recomputes them one query row at a time.
//
// Threads take (example, head) pairs; each owns its head's columns of dk and
// dv, so nothing races and no atomics are needed. Per thread the kernels
// use one row of Lk scores (forward) or two (backward: probabilities and
// dS) in the planned workspace: WorkspaceFloats. Dot products and
// accumulations are float, vectorised over the head's columns; the softmax
// sum is double. Results agree with the reference to about 1e-6 of the
// scale (tested).
#ifndef SLIMTRAIN_ENGINE_CPU_ATTENTION_KERNELS_H_
#define SLIMTRAIN_ENGINE_CPU_ATTENTION_KERNELS_H_

#include <cstdint>

#include "planner/cost_model.h"
#include "planner/graph.h"

namespace slimtrain::engine::cpu {

// Floats of workspace a pass needs with `threads` threads.
int64_t AttentionWorkspaceFloats(const planner::Node& n, planner::Pass pass, int threads);

void AttentionForward(const planner::Node& n, int64_t batch, const float* q, const float* k, const float* v,
                      float* out, float* lse, float* workspace, int threads);
void AttentionBackward(const planner::Node& n, int64_t batch, const float* q, const float* k, const float* v,
                       const float* out, const float* lse, const float* dout, float* dq, float* dk, float* dv,
                       const bool* accumulate, float* workspace, int threads);

}  // namespace slimtrain::engine::cpu

#endif  // SLIMTRAIN_ENGINE_CPU_ATTENTION_KERNELS_H_
