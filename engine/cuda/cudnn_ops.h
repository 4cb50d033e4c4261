// cudnn_ops.h — one conv2d layer on cuDNN: descriptors, algorithms, workspace.
//
// A ConvOp holds everything cuDNN needs to run one conv2d node at one batch
// size (forward, backward-data, backward-filter), chosen once, when the
// CUDA backend first sees the shape (planning or Prepare), so every step
// runs the algorithm whose workspace the plan reserved.
//
//   absl::StatusOr<std::unique_ptr<ConvOp>> op = ConvOp::Create(cudnn, node, batch, /*tf32=*/false);
//   int64_t ws = (*op)->forward_workspace_bytes();        // planned in the arena
//   SLIM_RETURN_IF_ERROR((*op)->Forward(cudnn, stream, x, w, b, y, Workspace{arena + off, ws}));
//
// Layouts (engine/backend.h): x, dx (N,H,W,C) and y, dy (N,Ho,Wo,K) as NHWC
// tensor descriptors; w, dw (K,C/g,R,R) OIHW as PyTorch; b, db (K).
//
// Algorithm choice, per pass:
//   1. The filter layout: KRSC (the NHWC filter cuDNN's NHWC kernels are
//      built for; the OIHW weights are transposed into the workspace with
//      kernels.h's OihwToOhwi, and backward-filter's KRSC result is
//      transposed back with OhwiToOihw) when cuDNN's heuristics offer an
//      algorithm for all three passes with it; otherwise the OIHW (KCRS)
//      filter as it is, with no copy.
//   2. The math type: CUDNN_FMA_MATH (true fp32) unless tf32, where the
//      heuristic's own math type (TF32 tensor cores allowed) is used.
//   3. The algorithm: cuDNN's heuristics (cudnnGet*Algorithm_v7, ordered by
//      expected speed), the first that succeeds, is deterministic and needs at
//      most the workspace cap (the larger of 64 MiB and the op's largest
//      activation tensor); failing that the first within the cap; failing
//      that the one with the smallest workspace. Heuristics, not timed
//      cudnnFind*: the choice, hence the plan, is the same in every process
//      on the same GPU and cuDNN. Not necessarily the fastest algorithm.
//   4. The workspace of a pass = the transposed filter (KRSC only, rounded up
//      to 256 bytes) + the zero-padded input (asymmetric padding only) +
//      cudnnGet*WorkspaceSize of the chosen algorithm.
// Batches whose x or y exceed cuDNN's 2^31 - 1 elements per tensor run in
// chunks of examples (each chunk's descriptors and algorithms chosen as
// above; backward-filter accumulates over chunks with beta = 1).
//
// Errors: Create returns INVALID_ARGUMENT naming the layer for a shape cuDNN
// disagrees with, UNIMPLEMENTED naming it when no algorithm supports the
// shape, and cuDNN's own failures. The run methods return the first failed
// CUDA/cuDNN status (with file and line) and FAILED_PRECONDITION for a
// workspace smaller than the pass needs (the caller adds the layer's name);
// they launch asynchronously on the handle's stream.
// Not thread-safe: one call at a time per handle.
#ifndef SLIMTRAIN_ENGINE_CUDA_CUDNN_OPS_H_
#define SLIMTRAIN_ENGINE_CUDA_CUDNN_OPS_H_

#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "planner/graph.h"

namespace slimtrain::engine::cuda {

class ConvOp {
 public:
  // Descriptors and algorithms for conv2d `node` at `batch` on `handle`'s
  // device. The handle is used only during the call.
  static absl::StatusOr<std::unique_ptr<ConvOp>> Create(cudnnHandle_t handle, const planner::Node& node,
                                                        int64_t batch, bool tf32);
  ~ConvOp();
  ConvOp(const ConvOp&) = delete;
  ConvOp& operator=(const ConvOp&) = delete;

  // Workspace bytes each call needs (multiples of 256).
  int64_t forward_workspace_bytes() const { return forward_bytes_; }
  int64_t backward_data_workspace_bytes() const { return backward_data_bytes_; }
  int64_t backward_filter_workspace_bytes() const { return backward_filter_bytes_; }

  // "filter KRSC; fwd algo 1 (FMA, 0 B); bwd_data algo 1 (FMA, 0 B); ..."
  std::string Describe() const;

  // y (N,Ho,Wo,K) = conv(x, w) (+ b when b is not null).
  absl::Status Forward(cudnnHandle_t handle, cudaStream_t stream, const float* x, const float* w, const float* b,
                       float* y, Workspace ws) const;
  // dx (N,H,W,C) = (or +=, accumulate) the data gradient from dy and w.
  absl::Status BackwardData(cudnnHandle_t handle, cudaStream_t stream, const float* dy, const float* w, float* dx,
                            bool accumulate, Workspace ws) const;
  // dw (K,C/g,R,R) and db (K, when not null), overwritten.
  absl::Status BackwardFilter(cudnnHandle_t handle, cudaStream_t stream, const float* x, const float* dy,
                              float* dw, float* db, Workspace ws) const;

 private:
  // The descriptors and algorithms of `n` consecutive examples.
  struct Chunk;

  ConvOp() = default;
  absl::Status Build(cudnnHandle_t handle, bool krsc, bool tf32);
  absl::Status CheckWorkspace(const char* pass, int64_t needed, const Workspace& ws) const;
  float* FilterCopy(const Workspace& ws) const;
  // The filter as the algorithms read it: w, or its KRSC copy (made now) at
  // the start of the workspace.
  absl::StatusOr<const float*> FilterFor(const float* w, const Workspace& ws, cudaStream_t stream) const;
  void* CudnnWorkspace(const Workspace& ws, size_t* bytes) const;
  // The zero-padded copy of x in the workspace (asymmetric padding), or null.
  float* PaddedInput(const Workspace& ws) const;

  std::string layer_;
  int64_t batch_ = 0;
  int64_t h_ = 0, w_ = 0, c_ = 0;     // input per example (H,W,C) as cuDNN sees it (padded: see below)
  // Asymmetric padding (cuDNN pads both sides alike): x is copied, zero
  // padded to h_ x w_, into the workspace after the filter copy, and cuDNN
  // runs without padding; the data gradient comes back cropped. in_h_ x
  // in_w_ is the layer's own input; padded_bytes_ 0 without.
  int64_t in_h_ = 0, in_w_ = 0, pad_top_ = 0, pad_left_ = 0, padded_bytes_ = 0;
  int64_t ho_ = 0, wo_ = 0, k_ = 0;   // output per example (Ho,Wo,K)
  // Kernel r x s; per-axis stride, padding (both sides alike) and dilation.
  int64_t r_ = 0, s_ = 0, stride_h_ = 1, stride_w_ = 1, pad_h_ = 0, pad_w_ = 0, dil_h_ = 1, dil_w_ = 1, groups_ = 1;
  int64_t chunk_examples_ = 0;        // examples per chunk (the last may be fewer)
  int64_t workspace_cap_ = 0;         // bytes; see the header comment, step 3

  bool krsc_ = false;                 // filter transposed to KRSC in the workspace
  int64_t filter_copy_bytes_ = 0;     // rounded to 256; 0 without KRSC
  cudnnFilterDescriptor_t filter_ = nullptr;
  std::vector<std::unique_ptr<Chunk>> chunks_;  // full chunk, then the tail (if any)

  int64_t forward_bytes_ = 0, backward_data_bytes_ = 0, backward_filter_bytes_ = 0;
};

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_CUDNN_OPS_H_
