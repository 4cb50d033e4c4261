// See cublas_ops.h.
#include "engine/cuda/cublas_ops.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "engine/cuda/cuda_status.h"
#include "engine/cuda/library_status.h"
#include "engine/cuda/workspace_bounds.h"

namespace slimtrain::engine::cuda {
namespace {


absl::Status CheckWorkspace(const LinearPlan& p, const Workspace& ws) {
  if (ws.bytes >= p.workspace_bytes && (p.workspace_bytes == 0 || ws.data != nullptr)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrFormat("linear got a workspace of %d bytes, it needs %d", ws.bytes, p.workspace_bytes));
}

// Column-major C (m,n) = op(A) op(B) + beta C.
absl::Status Gemm(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
                  int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                  int64_t ldc) {
  const float alpha = 1.0f;
  SLIM_CUDA_RETURN_IF_ERROR(
      cuda::Cublas().cublasSgemm_64(handle, ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc));
  return absl::OkStatus();
}

}  // namespace

LinearPlan PlanLinear(const planner::Node& node, int64_t batch) {
  LinearPlan p;
  const planner::Dims in = node.input_dims.empty() ? planner::Dims{} : node.input_dims[0];
  p.n = batch;
  p.f = planner::NumElements(in);
  p.o = node.out_features > 0 ? node.out_features : planner::NumElements(node.out);
  p.image.n = batch;
  if (in.size() == 3) {
    p.image.c = in[0];
    p.image.h = in[1];
    p.image.w = in[2];
  } else {
    p.image.c = p.f;
  }
  if (in.size() == 3 && p.image.c > 1 && p.image.h * p.image.w > 1) {
    p.path = batch <= p.o ? LinearPath::kFlattenInput : LinearPath::kPermuteWeight;
    p.workspace_bytes = LinearWorkspaceBytes(node, batch);  // workspace_bounds.h: the server plans with it
  }
  return p;
}

absl::Status LinearForward(cublasHandle_t handle, cudaStream_t stream, const LinearPlan& p, const float* x,
                           const float* w, const float* b, float* y, Workspace ws) {
  SLIM_RETURN_IF_ERROR(CheckWorkspace(p, ws));
  float* scratch = static_cast<float*>(ws.data);
  const float* in = x;
  const float* weight = w;
  if (p.path == LinearPath::kFlattenInput) {
    SLIM_CUDA_RETURN_IF_ERROR(FlattenForward(p.image, x, scratch, stream));  // (N, C·H·W)
    in = scratch;
  } else if (p.path == LinearPath::kPermuteWeight) {
    SLIM_CUDA_RETURN_IF_ERROR(OihwToOhwi(p.o, p.image.c, p.image.h, p.image.w, w, scratch, stream));  // (O,H,W,C)
    weight = scratch;
  }
  // yᵀ (O,N) = W (O,F) · xᵀ (F,N).
  SLIM_RETURN_IF_ERROR(Gemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, p.o, p.n, p.f, weight, p.f, in, p.f, 0.0f, y, p.o));
  if (b != nullptr) SLIM_CUDA_RETURN_IF_ERROR(AddBias(p.n, p.o, b, y, stream));
  return absl::OkStatus();
}

absl::Status LinearBackwardData(cublasHandle_t handle, cudaStream_t stream, const LinearPlan& p, const float* dy,
                                const float* w, float* dx, bool accumulate, Workspace ws) {
  SLIM_RETURN_IF_ERROR(CheckWorkspace(p, ws));
  float* scratch = static_cast<float*>(ws.data);
  const float beta = accumulate ? 1.0f : 0.0f;
  // dxᵀ (F,N) = Wᵀ (F,O) · dyᵀ (O,N).
  switch (p.path) {
    case LinearPath::kDirect:
      return Gemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, p.f, p.n, p.o, w, p.f, dy, p.o, beta, dx, p.f);
    case LinearPath::kPermuteWeight:
      SLIM_CUDA_RETURN_IF_ERROR(OihwToOhwi(p.o, p.image.c, p.image.h, p.image.w, w, scratch, stream));
      return Gemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, p.f, p.n, p.o, scratch, p.f, dy, p.o, beta, dx, p.f);
    case LinearPath::kFlattenInput:
      // dx in (C,H,W) order in the workspace, then to NHWC.
      SLIM_RETURN_IF_ERROR(Gemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, p.f, p.n, p.o, w, p.f, dy, p.o, 0.0f, scratch, p.f));
      SLIM_CUDA_RETURN_IF_ERROR(FlattenBackward(p.image, scratch, dx, accumulate, stream));
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Status LinearBackwardWeights(cublasHandle_t handle, cudaStream_t stream, const LinearPlan& p, const float* x,
                                   const float* dy, float* dw, float* db, Workspace ws) {
  SLIM_RETURN_IF_ERROR(CheckWorkspace(p, ws));
  float* scratch = static_cast<float*>(ws.data);
  // dWᵀ (F,O) = xᵀ (F,N) · dy (N,O).
  switch (p.path) {
    case LinearPath::kDirect:
      SLIM_RETURN_IF_ERROR(Gemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, p.f, p.o, p.n, x, p.f, dy, p.o, 0.0f, dw, p.f));
      break;
    case LinearPath::kFlattenInput:
      SLIM_CUDA_RETURN_IF_ERROR(FlattenForward(p.image, x, scratch, stream));
      SLIM_RETURN_IF_ERROR(
          Gemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, p.f, p.o, p.n, scratch, p.f, dy, p.o, 0.0f, dw, p.f));
      break;
    case LinearPath::kPermuteWeight:
      // dw in (O,H,W,C) order in the workspace, then to (O,C,H,W).
      SLIM_RETURN_IF_ERROR(
          Gemm(handle, CUBLAS_OP_N, CUBLAS_OP_T, p.f, p.o, p.n, x, p.f, dy, p.o, 0.0f, scratch, p.f));
      SLIM_CUDA_RETURN_IF_ERROR(OhwiToOihw(p.o, p.image.c, p.image.h, p.image.w, scratch, dw, stream));
      break;
  }
  if (db != nullptr) SLIM_CUDA_RETURN_IF_ERROR(BiasGrad(p.n, p.o, dy, db, stream));
  return absl::OkStatus();
}

}  // namespace slimtrain::engine::cuda
