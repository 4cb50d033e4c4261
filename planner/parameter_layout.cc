// See parameter_layout.h.
#include "planner/parameter_layout.h"

#include <utility>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace slimtrain::planner {

ParameterLayout LayoutParameters(const Graph& graph) {
  ParameterLayout layout;
  layout.nodes.resize(graph.size());
  const auto& export_names = graph.spec().parameter_names();
  const auto& export_shapes = graph.spec().parameter_shapes();
  auto add = [&](const Node& n, ParameterRole role, const char* what, std::vector<int64_t> shape, bool trainable) {
    ParameterTensor t;
    t.name = n.name + "." + what;
    t.node = n.id;
    t.role = role;
    t.count = NumElements(shape);
    // The source model's shape for it (the same elements), when it has one.
    if (auto it = export_shapes.find(t.name); it != export_shapes.end()) {
      int64_t theirs = 1;
      for (int64_t d : it->second.dims()) theirs *= d;  // Graph::Build checked the dims
      if (theirs == t.count) {
        shape.assign(it->second.dims().begin(), it->second.dims().end());
      } else {
        layout.shape_errors.push_back(absl::StrFormat("parameter_shapes['%s']: [%s] has %d elements, the parameter %d",
                                                      t.name, absl::StrJoin(it->second.dims(), ","), theirs,
                                                      t.count));
      }
    }
    // The source model's name for it (an imported ONNX model's initializer).
    if (auto it = export_names.find(t.name); it != export_names.end()) t.name = it->second;
    t.offset = layout.total_count;
    t.shape = std::move(shape);
    t.trainable = trainable;
    layout.total_count += t.count;
    layout.tensors.push_back(std::move(t));
    return layout.tensors.back().offset;
  };
  // 1. Trainable tensors, in node order.
  for (const Node& n : graph.nodes()) {
    NodeParams& p = layout.nodes[n.id];
    switch (n.kind) {
      case OpKind::kConv2d: {
        const int64_t cin = n.input_dims[0][0] / n.groups;
        p.weight = add(n, ParameterRole::kWeight, "weight", {n.out_channels, cin, n.kernel_h, n.kernel_w}, true);
        if (n.bias) p.bias = add(n, ParameterRole::kBias, "bias", {n.out_channels}, true);
        break;
      }
      case OpKind::kLinear: {
        const int64_t in = NumElements(KernelShape(n, 1).node.input_dims[0]);  // D of (L,D)
        // A tied linear's weight is the embedding's table (upstream, so
        // already added), as nn.Linear.weight = nn.Embedding.weight shares it.
        p.weight = n.tied_to >= 0 ? layout.nodes[n.tied_to].weight
                                  : add(n, ParameterRole::kWeight, "weight", {n.out_features, in}, true);
        if (n.bias) p.bias = add(n, ParameterRole::kBias, "bias", {n.out_features}, true);
        break;
      }
      case OpKind::kLayerNorm:
        if (n.affine) {
          // nn.LayerNorm's weight and bias have the normalised shape.
          const Dims shape(n.out.end() - n.norm_axes, n.out.end());
          p.gamma = add(n, ParameterRole::kGamma, "weight", shape, true);
          if (n.bias) p.beta = add(n, ParameterRole::kBeta, "bias", shape, true);
        }
        break;
      case OpKind::kPositionalEmbedding: {
        Dims shape = {1};
        shape.insert(shape.end(), n.out.begin(), n.out.end());
        p.weight = add(n, ParameterRole::kWeight, "weight", shape, true);
        break;
      }
      case OpKind::kGroupNorm:
        if (n.affine) {
          p.gamma = add(n, ParameterRole::kGamma, "weight", {n.out[0]}, true);
          p.beta = add(n, ParameterRole::kBeta, "bias", {n.out[0]}, true);
        }
        break;
      case OpKind::kEmbedding:
        p.weight = add(n, ParameterRole::kWeight, "weight", {n.vocabulary, n.out_features}, true);
        break;
      case OpKind::kClassToken:
        p.weight = add(n, ParameterRole::kWeight, "weight", {1, 1, n.out[1]}, true);
        break;
      case OpKind::kBatchNorm:
        p.gamma = add(n, ParameterRole::kGamma, "weight", {n.out[0]}, true);
        p.beta = add(n, ParameterRole::kBeta, "bias", {n.out[0]}, true);
        break;
      default:
        break;
    }
  }
  layout.trainable_count = layout.total_count;
  // 2. The running statistics.
  for (const Node& n : graph.nodes()) {
    if (n.kind != OpKind::kBatchNorm) continue;
    layout.nodes[n.id].running_mean = add(n, ParameterRole::kRunningMean, "running_mean", {n.out[0]}, false);
    layout.nodes[n.id].running_var = add(n, ParameterRole::kRunningVar, "running_var", {n.out[0]}, false);
  }
  return layout;
}

}  // namespace slimtrain::planner
