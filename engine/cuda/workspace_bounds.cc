// See workspace_bounds.h.
#include "engine/cuda/workspace_bounds.h"

#include <algorithm>

namespace slimtrain::engine::cuda {
namespace {

constexpr int64_t kFloatBytes = 4;

bool ConvOnImage(const planner::Node& node) {
  return node.kind == planner::OpKind::kConv2d && node.input_dims.size() == 1 && node.input_dims[0].size() == 3 &&
         node.out.size() == 3;
}

bool AsymmetricPadding(const planner::Node& node) {
  return node.pad_top != node.pad_bottom || node.pad_left != node.pad_right;
}

// x's (C,H,W) as cuDNN sees it: zero padded when the padding is asymmetric.
int64_t InputPerExample(const planner::Node& node) {
  const planner::Dims& in = node.input_dims[0];
  int64_t h = in[1], w = in[2];
  if (AsymmetricPadding(node)) {
    h += node.pad_top + node.pad_bottom;
    w += node.pad_left + node.pad_right;
  }
  return in[0] * h * w;
}

}  // namespace

int64_t ConvWorkspaceCap(const planner::Node& node, int64_t batch) {
  if (!ConvOnImage(node)) return kMinConvWorkspaceCap;
  const int64_t per = std::max(InputPerExample(node), node.out[0] * node.out[1] * node.out[2]);
  return std::max(kMinConvWorkspaceCap, kFloatBytes * batch * per);
}

int64_t ConvWorkspaceBound(const planner::Node& node, int64_t batch) {
  if (!ConvOnImage(node) || node.groups <= 0) return 0;
  const int64_t filter = node.out[0] * (node.input_dims[0][0] / node.groups) * node.kernel_h * node.kernel_w;
  const int64_t padded = AsymmetricPadding(node) ? RoundUpWorkspace(kFloatBytes * batch * InputPerExample(node)) : 0;
  return RoundUpWorkspace(kFloatBytes * filter) + padded + RoundUpWorkspace(ConvWorkspaceCap(node, batch));
}

int64_t LinearWorkspaceBytes(const planner::Node& node, int64_t batch) {
  const planner::Dims in = node.input_dims.empty() ? planner::Dims{} : node.input_dims[0];
  if (in.size() != 3 || in[0] <= 1 || in[1] * in[2] <= 1) return 0;
  const int64_t features = planner::NumElements(in);
  const int64_t outputs = node.out_features > 0 ? node.out_features : planner::NumElements(node.out);
  return RoundUpWorkspace(std::min(batch, outputs) * features * kFloatBytes);
}

int64_t CudaWorkspaceBound::WorkspaceBytes(const planner::Graph&, const planner::Node& node, int64_t batch,
                                           planner::Pass) const {
  // As CudaBackend::WorkspaceBytes, with each conv2d pass at its bound.
  if (node.kind == planner::OpKind::kLinear) return LinearWorkspaceBytes(node, batch);
  if (node.kind == planner::OpKind::kConv2d) return ConvWorkspaceBound(node, batch);
  return 0;
}

}  // namespace slimtrain::engine::cuda
