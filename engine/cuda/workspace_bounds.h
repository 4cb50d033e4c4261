// workspace_bounds.h — the CUDA backend's workspaces, known without a GPU.
//
// A linear layer's workspace is a formula of its shape (cublas_ops.h). A
// conv2d's depends on the algorithm cuDNN's heuristics offer on the GPU at
// hand (cudnn_ops.h), but never exceeds what these functions say: the KRSC
// filter copy, the zero-padded input (asymmetric padding), and the cap every
// algorithm is chosen within. CudaWorkspaceBound is the cost model of those
// bounds: a server with no CUDA context admits GPU jobs with it, and the
// worker's plan with the real workspaces must fit the admitted peak
// (engine::ExecutorOptions::peak_limit_bytes). Host code only, no CUDA.
//
//   const CudaWorkspaceBound bound;
//   PlanMemory(graph, Strategy::kExact, options, bound);   // peak >= the GPU's
//
// The one case past the bound: when no algorithm cuDNN offers fits the cap,
// the backend runs the one with the smallest workspace; the worker's check
// then fails the job with both numbers.
#ifndef SLIMTRAIN_ENGINE_CUDA_WORKSPACE_BOUNDS_H_
#define SLIMTRAIN_ENGINE_CUDA_WORKSPACE_BOUNDS_H_

#include <cstdint>
#include <string>

#include "planner/cost_model.h"
#include "planner/graph.h"

namespace slimtrain::engine::cuda {

// Every workspace the CUDA backend reports is a multiple of this.
inline constexpr int64_t kWorkspaceAlignment = 256;
// The least cap on a conv2d algorithm's own workspace.
inline constexpr int64_t kMinConvWorkspaceCap = int64_t{64} << 20;  // 64 MiB

inline int64_t RoundUpWorkspace(int64_t bytes) {
  return (bytes + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment;
}

// The workspace cap of conv2d `node` (input (C,H,W)) at `batch`: the larger
// of 64 MiB and its largest tensor (x, zero-padded when the padding is
// asymmetric, or y) at the batch, in fp32 bytes.
int64_t ConvWorkspaceCap(const planner::Node& node, int64_t batch);

// The most workspace any pass of conv2d `node` at `batch` can report: the
// KRSC filter copy, the zero-padded input when the padding is asymmetric,
// and the cap, each rounded up to kWorkspaceAlignment.
int64_t ConvWorkspaceBound(const planner::Node& node, int64_t batch);

// The workspace of linear `node` at `batch` rows: a (C,H,W) input with more
// than one channel and pixel is flattened (batch <= outputs) or the weight
// permuted, in min(batch, outputs) · features fp32 values; otherwise none.
int64_t LinearWorkspaceBytes(const planner::Node& node, int64_t batch);

// The CUDA backend's cost model with every conv2d workspace at its bound.
class CudaWorkspaceBound : public planner::CostModel {
 public:
  std::string name() const override { return "cudnn-bound"; }
  int64_t element_bytes() const override { return 4; }
  int64_t alignment_bytes() const override { return kWorkspaceAlignment; }
  int64_t WorkspaceBytes(const planner::Graph& graph, const planner::Node& node, int64_t batch,
                         planner::Pass pass) const override;
};

}  // namespace slimtrain::engine::cuda

#endif  // SLIMTRAIN_ENGINE_CUDA_WORKSPACE_BOUNDS_H_
