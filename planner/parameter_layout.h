// parameter_layout.h — where each parameter of a graph sits in the parameter
// region: a function of the graph alone, defined once, used by the planner
// (gradient buckets, data_parallel.h) and by the engine (engine/params.h's
// ParameterRegion, which allocates and initialises what this lays out).
//
//   const ParameterLayout layout = LayoutParameters(graph);
//   const NodeParams& p = layout.nodes[conv_id];  // element offsets, -1: none
//   for (const ParameterTensor& t : layout.tensors) { ... t.offset, t.count ... }
//
// Layout, in elements of one element type:
// 1. Every trainable tensor, node by node in topological order: conv2d and
//    linear weight then bias; batch_norm, layer_norm and group_norm γ then β
//    (PyTorch's "weight" and "bias"); embedding, positional embedding and
//    class token their weight. A linear tied to an embedding has no weight
//    of its own: its weight offset is the embedding's table.
// 2. Then every batch_norm's running_mean and running_var (not trainable).
// The gradients and the optimizer state mirror part 1, so
// trainable_count == Graph::parameter_count() and total_count ==
// parameter_count() + buffer_count().
#ifndef SLIMTRAIN_PLANNER_PARAMETER_LAYOUT_H_
#define SLIMTRAIN_PLANNER_PARAMETER_LAYOUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "planner/graph.h"

namespace slimtrain::planner {

// Element offsets of one node's tensors in the region (-1: none).
struct NodeParams {
  int64_t weight = -1, bias = -1;               // conv2d, linear, embeddings
  int64_t gamma = -1, beta = -1;                // batch_norm, layer_norm, group_norm
  int64_t running_mean = -1, running_var = -1;  // batch_norm, not trainable
};

// What a tensor is to its node.
enum class ParameterRole { kWeight, kBias, kGamma, kBeta, kRunningMean, kRunningVar };

struct ParameterTensor {
  // PyTorch's state_dict name ("layer1.0.conv1.weight"), or the model's
  // parameter_names entry for it (an imported ONNX model's initializer).
  std::string name;
  int node = 0;  // the node that owns it
  ParameterRole role = ParameterRole::kWeight;
  int64_t offset = 0;  // elements into the region
  int64_t count = 0;   // elements
  // PyTorch's shape, e.g. (K, C/g, R, R); the model's parameter_shapes entry
  // when it has one with the same element count.
  std::vector<int64_t> shape;
  bool trainable = true;
};

struct ParameterLayout {
  std::vector<NodeParams> nodes;         // by node id
  std::vector<ParameterTensor> tensors;  // in region order
  int64_t trainable_count = 0;           // elements of part 1
  int64_t total_count = 0;               // elements of parts 1 and 2
  // The model's parameter_shapes entries whose element count is not their
  // parameter's ("parameter_shapes['fc.weight']: [3,4] has 12 elements, the
  // parameter 20"); those tensors keep slimtrain's shape.
  std::vector<std::string> shape_errors;
};

// The layout of `graph`'s parameters (above). Never fails: Graph::Build has
// checked every size.
ParameterLayout LayoutParameters(const Graph& graph);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_PARAMETER_LAYOUT_H_
