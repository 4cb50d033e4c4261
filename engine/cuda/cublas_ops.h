// cublas_ops.h — linear layers on cuBLAS: y = x·wᵀ + b and its gradients.
//
// Layouts (engine/backend.h): x, dx (N,F), or (N,H,W,C) images with F =
// C·H·W; w, dw (O,F) with F in PyTorch's (C,H,W) flatten order; b, db (O);
// y, dy (N,O). Row-major products run as column-major cuBLAS GEMMs (a
// row-major (r,c) matrix is the column-major (c,r) one), in float32 with
// cublasSgemm_64 on the handle's stream and math mode.
//
// The flatten order. On an image with C > 1 and H·W > 1 the NHWC element
// order of x differs from w's (C,H,W) order, and the workspace holds one
// operand in the other order (kernels.h), whichever is smaller:
//   N <= O  kFlattenInput:  x flattened to (N, C·H·W) (FlattenForward);
//           backward-data computes dx in that order there, then scatters it
//           to NHWC (FlattenBackward, which also accumulates).
//   N >  O  kPermuteWeight: w (O,C,H,W) permuted to (O,H,W,C) (OihwToOhwi);
//           backward-weights computes dw in that order there, then permutes
//           it back (OhwiToOihw).
// Workspace: min(N,O)·F floats rounded up to 256 bytes on such images, 0
// otherwise; the same for forward and backward.
//
//   const LinearPlan plan = PlanLinear(node, batch);   // plan.workspace_bytes
//   SLIM_RETURN_IF_ERROR(LinearForward(cublas, stream, plan, x, w, b, y, ws));
//
// Errors: the first failed cuBLAS/CUDA status with file and line, or
// FAILED_PRECONDITION for a workspace smaller than plan.workspace_bytes.
// Calls are asynchronous on the stream.
#ifndef SLIMTRAIN_ENGINE_CUDA_CUBLAS_OPS_H_
#define SLIMTRAIN_ENGINE_CUDA_CUBLAS_OPS_H_

#include <cuda_runtime.h>

#include <cstdint>

#include "absl/status/status.h"
#include "engine/backend.h"
#include "engine/cuda/cublas_include.h"
#include "engine/cuda/kernels.h"
#include "planner/graph.h"

namespace slimtrain::engine::cuda {

enum class LinearPath { kDirect, kFlattenInput, kPermuteWeight };

// One linear layer at one batch size.
struct LinearPlan {
  int64_t n = 0, f = 0, o = 0;  // x (n,f), w (o,f), y (n,o)
  Nhwc image;                   // x as (n,H,W,C); (n,1,1,F) for features
  LinearPath path = LinearPath::kDirect;
  int64_t workspace_bytes = 0;
};

// The plan of linear `node` (input (C,H,W) or (F)) at `batch`.
LinearPlan PlanLinear(const planner::Node& node, int64_t batch);

// y = x·wᵀ (+ b when b is not null).
absl::Status LinearForward(cublasHandle_t handle, cudaStream_t stream, const LinearPlan& p, const float* x,
                           const float* w, const float* b, float* y, Workspace ws);
// dx = (or +=, accumulate) dy·w.
absl::Status LinearBackwardData(cublasHandle_t handle, cudaStream_t stream, const LinearPlan& p, const float* dy,
                                const float* w, float* dx, bool accumulate, Workspace ws);
// dw = dyᵀ·x and db (when not null) = column sums of dy, overwritten.
absl::Status LinearBackwardWeights(cublasHandle_t handle, cudaStream_t stream, const LinearPlan& p, const float* x,
                                   const float* dy, float* dw, float* db, Workspace ws);

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_CUBLAS_OPS_H_
