// See graph.h.
#include "planner/graph.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "planner/op_rules.h"

namespace slimtrain::planner {
namespace {

using v1::Layer;
using op_rules::CheckedElements;
using op_rules::InferShape;
using op_rules::KindOf;
using op_rules::LayerError;
using op_rules::LayerWho;
using op_rules::ResolveAttributes;

// Describes one cycle among `remaining` (nodes Kahn's algorithm could not
// order): "a -> b -> a".
std::string DescribeCycle(const std::vector<std::vector<int>>& inputs, const std::vector<bool>& remaining,
                          const std::vector<std::string>& names) {
  int start = -1;
  for (size_t i = 0; i < remaining.size(); ++i) {
    if (remaining[i]) {
      start = static_cast<int>(i);
      break;
    }
  }
  // Walk backwards along remaining inputs until a node repeats.
  std::vector<int> path;
  std::vector<int> seen_at(remaining.size(), -1);
  int v = start;
  while (seen_at[v] < 0) {
    seen_at[v] = static_cast<int>(path.size());
    path.push_back(v);
    for (int u : inputs[v]) {
      if (u >= 0 && remaining[u]) {
        v = u;
        break;
      }
    }
  }
  std::vector<std::string> cycle;
  for (size_t i = seen_at[v]; i < path.size(); ++i) cycle.push_back(names[path[i]]);
  std::reverse(cycle.begin(), cycle.end());
  cycle.push_back(cycle.front());
  return absl::StrJoin(cycle, " -> ");
}

// Ties `linear` (already shaped, at position linear.id) to the embedding
// named `tied`, at position `tied_id` (-1: no such layer): it must be
// upstream of the linear (so the linear's backward, which writes the shared
// gradient, runs before the embedding's, which adds to it), with a table of
// (out_features, in_features). nodes[0, linear.id) are built.
absl::Status TieToEmbedding(const std::vector<Node>& nodes, const std::string& tied, int tied_id, Node& linear) {
  if (tied_id < 0) {
    return LayerError(linear.name, absl::StrCat("linear.tied_to: '", tied, "' is not a layer of the model"));
  }
  if (tied_id >= linear.id) {
    return LayerError(linear.name, absl::StrCat("linear.tied_to: embedding '", tied,
                                                "' must be upstream of this layer (its output feeds it)"));
  }
  const Node* e = &nodes[tied_id];
  if (e->kind != OpKind::kEmbedding) {
    return LayerError(linear.name, absl::StrCat("linear.tied_to: '", tied, "' is not an embedding"));
  }
  // Upstream: reachable backwards from the linear.
  std::vector<bool> seen(nodes.size(), false);
  std::vector<int> stack = {linear.id};
  bool upstream = false;
  while (!stack.empty() && !upstream) {
    const int v = stack.back();
    stack.pop_back();
    for (int u : nodes[v].inputs) {
      if (u == e->id) upstream = true;
      if (!seen[u]) {
        seen[u] = true;
        stack.push_back(u);
      }
    }
  }
  if (!upstream) {
    return LayerError(linear.name, absl::StrCat("linear.tied_to: embedding '", tied,
                                                "' must be upstream of this layer (its output feeds it)"));
  }
  const int64_t in = linear.input_dims[0].back();
  if (linear.input_dims[0].size() > 2 || in != e->out_features || linear.out_features != e->vocabulary) {
    return LayerError(linear.name,
                      absl::StrFormat("linear.tied_to: embedding '%s' has a table of %dx%d, so this layer must map "
                                      "(L,%d) or (%d) to %d features; it maps %s to %d",
                                      tied, e->vocabulary, e->out_features, e->out_features, e->out_features,
                                      e->vocabulary, DimsString(linear.input_dims[0]), linear.out_features));
  }
  linear.tied_to = e->id;
  linear.parameter_count = linear.bias ? linear.out_features : 0;
  return absl::OkStatus();
}

}  // namespace

const char* OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kInput: return "input";
    case OpKind::kConv2d: return "conv2d";
    case OpKind::kBatchNorm: return "batch_norm";
    case OpKind::kRelu: return "relu";
    case OpKind::kSigmoid: return "sigmoid";
    case OpKind::kTanh: return "tanh";
    case OpKind::kAdd: return "add";
    case OpKind::kConcat: return "concat";
    case OpKind::kMaxPool: return "max_pool";
    case OpKind::kAvgPool: return "avg_pool";
    case OpKind::kGlobalAvgPool: return "global_avg_pool";
    case OpKind::kLinear: return "linear";
    case OpKind::kFlatten: return "flatten";
    case OpKind::kDropout: return "dropout";
    case OpKind::kSoftmaxCrossEntropy: return "softmax_cross_entropy";
    case OpKind::kMseLoss: return "mse_loss";
    case OpKind::kRelu6: return "relu6";
    case OpKind::kClip: return "clip";
    case OpKind::kLeakyRelu: return "leaky_relu";
    case OpKind::kElu: return "elu";
    case OpKind::kGelu: return "gelu";
    case OpKind::kSilu: return "silu";
    case OpKind::kHardswish: return "hardswish";
    case OpKind::kHardsigmoid: return "hardsigmoid";
    case OpKind::kSoftplus: return "softplus";
    case OpKind::kSoftmax: return "softmax";
    case OpKind::kLogSoftmax: return "log_softmax";
    case OpKind::kMul: return "mul";
    case OpKind::kSub: return "sub";
    case OpKind::kDiv: return "div";
    case OpKind::kScale: return "scale";
    case OpKind::kReshape: return "reshape";
    case OpKind::kSqueeze: return "squeeze";
    case OpKind::kUnsqueeze: return "unsqueeze";
    case OpKind::kTranspose: return "transpose";
    case OpKind::kSlice: return "slice";
    case OpKind::kReduceMean: return "reduce_mean";
    case OpKind::kReduceSum: return "reduce_sum";
    case OpKind::kLayerNorm: return "layer_norm";
    case OpKind::kPositionalEmbedding: return "positional_embedding";
    case OpKind::kClassToken: return "class_token";
    case OpKind::kAttention: return "attention";
    case OpKind::kMatMul: return "matmul";
    case OpKind::kEmbedding: return "embedding";
    case OpKind::kGroupNorm: return "group_norm";
    case OpKind::kAdaptiveAvgPool: return "adaptive_avg_pool";
    case OpKind::kUpsample: return "upsample";
  }
  return "unknown";
}

bool IsPointwise(OpKind kind) {
  switch (kind) {
    case OpKind::kRelu6:
    case OpKind::kClip:
    case OpKind::kLeakyRelu:
    case OpKind::kElu:
    case OpKind::kGelu:
    case OpKind::kSilu:
    case OpKind::kHardswish:
    case OpKind::kHardsigmoid:
    case OpKind::kSoftplus:
      return true;
    default:
      return false;
  }
}

std::string KnownOpNames() {
  // The oneof's fields, in the proto's order: what a spec may set.
  const google::protobuf::OneofDescriptor* op = Layer::descriptor()->FindOneofByName("op");
  std::vector<std::string> names;
  for (int i = 0; i < op->field_count(); ++i) names.push_back(op->field(i)->name());
  return absl::StrJoin(names, ", ");
}

int64_t LabelsPerExample(const Graph& graph) {
  if (graph.node(graph.loss()).kind == OpKind::kMseLoss) return 0;
  const Dims& logits = graph.node(graph.loss()).input_dims[0];
  return logits.size() == 2 ? logits[0] : 1;
}

int64_t TargetsPerExample(const Graph& graph) {
  const Node& loss = graph.node(graph.loss());
  return loss.kind == OpKind::kMseLoss ? NumElements(loss.input_dims[0]) : 0;
}

bool IsLoss(OpKind kind) { return kind == OpKind::kSoftmaxCrossEntropy || kind == OpKind::kMseLoss; }

int64_t TokenVocabulary(const Graph& graph) {
  int64_t v = 0;  // the smallest, if several embeddings read the input
  for (int c : graph.node(0).consumers) {
    const Node& e = graph.node(c);
    if (e.kind == OpKind::kEmbedding) v = v == 0 ? e.vocabulary : std::min(v, e.vocabulary);
  }
  return v;
}

KernelView KernelShape(const Node& n, int64_t batch) {
  KernelView v{n, batch};
  if (n.kind == OpKind::kSoftmaxCrossEntropy && n.input_dims[0].size() == 2) {
    v.rows = batch * n.input_dims[0][0];
    v.node.input_dims = {Dims{n.input_dims[0][1]}};
  }
  if (n.kind == OpKind::kLinear && n.input_dims.size() == 1 && n.input_dims[0].size() == 2) {
    v.rows = batch * n.input_dims[0][0];
    v.node.input_dims = {Dims{n.input_dims[0][1]}};
    v.node.out = {n.out_features};
  }
  return v;
}

bool IsBroadcastBinary(const Node& n) {
  switch (n.kind) {
    case OpKind::kMul:
    case OpKind::kSub:
    case OpKind::kDiv:
      return true;
    case OpKind::kAdd:
      return n.input_dims.size() == 2 && (n.input_dims[0] != n.out || n.input_dims[1] != n.out);
    default:
      return false;
  }
}

bool IsLayoutOp(const Node& n) {
  switch (n.kind) {
    case OpKind::kReshape:
    case OpKind::kSqueeze:
    case OpKind::kUnsqueeze:
    case OpKind::kTranspose:
    case OpKind::kSlice:
    case OpKind::kClassToken:
      return true;
    case OpKind::kConcat:  // the channel kernels take images' and features' axis 0
      return !(n.axis == 0 && (n.out.size() == 3 || n.out.size() == 1));
    case OpKind::kFlatten:  // its own kernels take images and features
      return n.input_dims[0].size() == 2;
    default:
      return false;
  }
}

bool BackwardReadsOutput(const Node& n) {
  switch (n.kind) {
    case OpKind::kRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kRelu6:
    case OpKind::kClip:
    case OpKind::kHardsigmoid:
    case OpKind::kSoftmax:
    case OpKind::kLogSoftmax:
      return true;
    case OpKind::kLeakyRelu:
      return n.negative_slope >= 0;
    case OpKind::kElu:
      return n.alpha >= 0;
    default:
      return false;
  }
}

int64_t NumElements(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string DimsString(const Dims& dims) {
  if (dims.empty()) return "scalar";
  return absl::StrJoin(dims, "x");
}

absl::StatusOr<Dims> LayerOutputDims(const Layer& layer, const std::vector<Dims>& input_dims, int64_t num_classes,
                                     const SizeLimits& limits) {
  Node node;
  node.name = layer.name();
  node.kind = KindOf(layer);
  SLIM_RETURN_IF_ERROR(ResolveAttributes(layer, node));
  node.input_dims = input_dims;
  // Ids as Build gives them: the model input is 0 (an embedding reads it).
  for (const std::string& in : layer.inputs()) node.inputs.push_back(in == "input" ? 0 : node.inputs.size() + 1);
  node.inputs.resize(input_dims.size(), -1);
  std::vector<std::string> input_names(layer.inputs().begin(), layer.inputs().end());
  input_names.resize(input_dims.size());
  SLIM_RETURN_IF_ERROR(InferShape(&layer, node, input_names, num_classes, limits));
  return node.out;
}

absl::StatusOr<Graph> Graph::Build(const v1::ModelSpec& spec, const SizeLimits& limits) {
  // 1. Sizes of the spec itself, the input and the loss's class count.
  if (spec.layers_size() > limits.max_layers) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model: %d layers, over the limit of %d", spec.layers_size(), limits.max_layers));
  }
  if (static_cast<int64_t>(spec.name().size()) > limits.max_name_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat("model name: %d bytes, over the limit of %d",
                                                      spec.name().size(), limits.max_name_bytes));
  }
  if (spec.input().dims_size() == 0) {
    return absl::InvalidArgumentError("model input: dims must be given, e.g. [3, 32, 32]");
  }
  for (int i = 0; i < spec.input().dims_size(); ++i) {
    if (spec.input().dims(i) <= 0) {
      return absl::InvalidArgumentError(absl::StrFormat("model input: dims[%d] must be > 0, got %d", i,
                                                        spec.input().dims(i)));
    }
  }
  const Dims input_dims(spec.input().dims().begin(), spec.input().dims().end());
  SLIM_RETURN_IF_ERROR(CheckedElements("model input", input_dims, limits).status());
  if (spec.num_classes() <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("num_classes must be > 0, got %d", spec.num_classes()));
  }
  if (spec.layers_size() == 0) return absl::InvalidArgumentError("model has no layers");

  // Export names of parameters: a layer's part, unique printable names.
  {
    absl::flat_hash_map<std::string, std::string> taken;
    absl::flat_hash_map<std::string, bool> layer_names;
    for (const Layer& layer : spec.layers()) layer_names[layer.name()] = true;
    auto check_key = [&](const char* field, const std::string& key) {
      const size_t dot = key.rfind('.');
      const std::string part = dot == std::string::npos ? "" : key.substr(dot + 1);
      if (dot == std::string::npos || layer_names.count(key.substr(0, dot)) == 0 ||
          (part != "weight" && part != "bias" && part != "running_mean" && part != "running_var")) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: key '%s' is not '<layer>.<weight|bias|running_mean|running_var>' of a layer of the model", field,
            absl::CHexEscape(key.substr(0, 200))));
      }
      return absl::OkStatus();
    };
    for (const auto& [key, shape] : spec.parameter_shapes()) {
      SLIM_RETURN_IF_ERROR(check_key("parameter_shapes", key));
      int64_t count = 1;
      bool bad = shape.dims_size() == 0 || shape.dims_size() > 8;
      for (int64_t d : shape.dims()) bad |= d <= 0 || __builtin_mul_overflow(count, d, &count);
      if (bad) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "parameter_shapes['%s']: dims [%s] must be 1 to 8 sizes > 0", key, absl::StrJoin(shape.dims(), ",")));
      }
    }
    for (const auto& [key, value] : spec.parameter_names()) {
      SLIM_RETURN_IF_ERROR(check_key("parameter_names", key));
      if (value.empty() || static_cast<int64_t>(value.size()) > limits.max_name_bytes ||
          std::any_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "parameter_names['%s']: the name must be 1 to %d bytes without control characters", key,
            limits.max_name_bytes));
      }
      if (!taken.emplace(value, key).second) {
        // In name order: a proto map's order is not fixed.
        return absl::InvalidArgumentError(absl::StrFormat("parameter_names: '%s' names both '%s' and '%s'", value,
                                                          std::min(taken[value], key), std::max(taken[value], key)));
      }
    }
  }

  // 2. Names: unique, not "input"; every layer has an op and the right number
  // of inputs. Spec index i becomes provisional id i + 1 (0 is the input).
  const int n = spec.layers_size() + 1;
  std::vector<std::string> names(n);
  names[0] = "input";
  absl::flat_hash_map<std::string, int> by_name = {{"input", 0}};
  int losses = 0;
  for (int i = 0; i < spec.layers_size(); ++i) {
    const Layer& layer = spec.layers(i);
    if (layer.name().empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("layers[%d]: name must not be empty", i));
    }
    if (static_cast<int64_t>(layer.name().size()) > limits.max_name_bytes) {
      return absl::InvalidArgumentError(absl::StrFormat("layers[%d]: name of %d bytes, over the limit of %d", i,
                                                        layer.name().size(), limits.max_name_bytes));
    }
    for (unsigned char c : layer.name()) {
      if (c < 0x20 || c == 0x7f) {
        return absl::InvalidArgumentError(
            absl::StrFormat("layers[%d]: name contains the control character 0x%02x", i, c));
      }
    }
    if (layer.name() == "input") {
      return absl::InvalidArgumentError(
          absl::StrFormat("layers[%d]: name 'input' is reserved for the model input", i));
    }
    if (!by_name.emplace(layer.name(), i + 1).second) {
      return LayerError(layer.name(), "duplicate name");
    }
    names[i + 1] = layer.name();
    if (layer.op_case() == Layer::OP_NOT_SET) return LayerError(layer.name(), "no op set; known ops: " + KnownOpNames());
    const OpKind kind = KindOf(layer);
    const bool multi = kind == OpKind::kAdd || kind == OpKind::kConcat;
    const bool binary = kind == OpKind::kMul || kind == OpKind::kSub || kind == OpKind::kDiv || kind == OpKind::kMatMul;
    const int need = binary ? 2 : kind == OpKind::kAttention ? 3 : 1;
    if (multi ? layer.inputs_size() < 2 : layer.inputs_size() != need) {
      return LayerError(layer.name(), absl::StrFormat("%s takes %s, got %d", OpKindName(kind),
                                                      multi       ? "two or more inputs"
                                                      : need == 3 ? "exactly three inputs (q, k, v)"
                                                      : binary    ? "exactly two inputs"
                                                                  : "exactly one input",
                                                      layer.inputs_size()));
    }
    if (IsLoss(kind)) ++losses;
  }
  if (losses != 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model must have exactly one loss layer (softmax_cross_entropy or mse_loss), has %d", losses));
  }

  // 3. Edges.
  std::vector<std::vector<int>> inputs(n);
  std::vector<std::vector<int>> consumers(n);
  for (int i = 0; i < spec.layers_size(); ++i) {
    const Layer& layer = spec.layers(i);
    for (const std::string& in : layer.inputs()) {
      auto it = by_name.find(in);
      if (it == by_name.end()) {
        return LayerError(layer.name(), absl::StrCat("input '", in, "' is not a layer or 'input'"));
      }
      inputs[i + 1].push_back(it->second);
      consumers[it->second].push_back(i + 1);
    }
  }

  // 4. Topological order (Kahn), ties broken by spec order; a leftover means a
  // cycle.
  std::vector<int> indegree(n);
  for (int v = 0; v < n; ++v) indegree[v] = static_cast<int>(inputs[v].size());
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  ready.push(0);
  std::vector<int> order;
  while (!ready.empty()) {
    const int v = ready.top();
    ready.pop();
    order.push_back(v);
    for (int c : consumers[v]) {
      if (--indegree[c] == 0) ready.push(c);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    std::vector<bool> remaining(n, true);
    for (int v : order) remaining[v] = false;
    return absl::InvalidArgumentError("layers form a cycle: " + DescribeCycle(inputs, remaining, names));
  }

  // 5. Nodes in topological order; attributes, shapes, counts.
  Graph g;
  g.spec_ = spec;
  g.limits_ = limits;
  std::vector<int> id_of(n);
  for (int pos = 0; pos < n; ++pos) id_of[order[pos]] = pos;
  g.nodes_.resize(n);
  for (int pos = 0; pos < n; ++pos) {
    const int v = order[pos];
    Node& node = g.nodes_[pos];
    node.id = pos;
    node.name = names[v];
    std::vector<std::string> input_names;
    if (v == 0) {
      node.kind = OpKind::kInput;
      node.out.assign(spec.input().dims().begin(), spec.input().dims().end());
    } else {
      const Layer& layer = spec.layers(v - 1);
      node.kind = KindOf(layer);
      SLIM_RETURN_IF_ERROR(ResolveAttributes(layer, node));
      for (int u : inputs[v]) {
        node.inputs.push_back(id_of[u]);
        node.input_dims.push_back(g.nodes_[id_of[u]].out);
        input_names.push_back(names[u]);
      }
      SLIM_RETURN_IF_ERROR(InferShape(&layer, node, input_names, spec.num_classes(), limits));
      // A tied linear: the embedding upstream, shapes that agree; the table
      // is counted once, at the embedding.
      if (node.kind == OpKind::kLinear && !layer.linear().tied_to().empty()) {
        const std::string& tied = layer.linear().tied_to();
        auto it = by_name.find(tied);
        const int tied_id = it == by_name.end() || it->second == 0 ? -1 : id_of[it->second];
        SLIM_RETURN_IF_ERROR(TieToEmbedding(g.nodes_, tied, tied_id, node));
      }
    }
    for (int c : consumers[v]) node.consumers.push_back(id_of[c]);
    std::sort(node.consumers.begin(), node.consumers.end());
    g.by_name_[node.name] = pos;
  }

  // 6. Every output is read by someone, except the loss's.
  for (const Node& node : g.nodes_) {
    if (IsLoss(node.kind)) {
      if (!node.consumers.empty()) {
        return LayerError(node.name, "the loss must not be the input of another layer");
      }
    } else if (node.consumers.empty()) {
      return node.kind == OpKind::kInput
                 ? absl::InvalidArgumentError("the model input is not read by any layer")
                 : LayerError(node.name, "output is never used (only the loss may end the graph)");
    }
  }
  // The first layers to see the input need no data gradient.
  for (int c : g.nodes_[0].consumers) {
    Node& node = g.nodes_[c];
    if (node.kind == OpKind::kConv2d || node.kind == OpKind::kLinear) node.backward_flops /= 2;
  }
  // 7. Totals fit int64 (Sum below adds without checks) and the limits.
  int64_t parameters = 0, flops = 0;
  for (const Node& node : g.nodes_) {
    SLIM_ASSIGN_OR_RETURN(parameters, op_rules::Sum(node.name, "the model's parameter count",
                                                   {parameters, node.parameter_count, node.buffer_count}));
    SLIM_ASSIGN_OR_RETURN(flops, op_rules::Sum(node.name, "the model's FLOPs per example",
                                              {flops, node.forward_flops, node.backward_flops}));
  }
  if (parameters > limits.max_parameters) {
    return absl::InvalidArgumentError(absl::StrFormat("model: %d parameters and batch-norm statistics, over the "
                                                      "limit of %d", parameters, limits.max_parameters));
  }
  return g;
}

absl::Status Graph::CheckBatch(int64_t batch, int64_t element_bytes) const {
  if (batch < 1 || batch > limits_.max_batch_size) {
    return absl::InvalidArgumentError(absl::StrFormat("batch_size: %d is outside [1, %d] (examples per step)", batch,
                                                      limits_.max_batch_size));
  }
  for (const Node& n : nodes_) {
    int64_t bytes = 0;
    if (__builtin_mul_overflow(NumElements(n.out), batch, &bytes) ||
        __builtin_mul_overflow(bytes, element_bytes, &bytes) || bytes > limits_.max_tensor_bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: its %s output at batch_size %d, %d bytes an element, is over the limit of %d bytes per tensor",
          n.kind == OpKind::kInput ? "model input" : LayerWho(n.name), DimsString(n.out), batch, element_bytes,
          limits_.max_tensor_bytes));
    }
  }
  int64_t flops = 0;
  if (__builtin_mul_overflow(forward_flops_per_example() + backward_flops_per_example(), batch, &flops)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("batch_size: %d examples of %d FLOPs each overflow 64-bit integers", batch,
                        forward_flops_per_example() + backward_flops_per_example()));
  }
  return absl::OkStatus();
}

int64_t Graph::MaxCheckedBatch(int64_t element_bytes) const {
  int64_t batch = limits_.max_batch_size;
  for (const Node& n : nodes_) batch = std::min(batch, limits_.max_tensor_bytes / element_bytes / NumElements(n.out));
  const int64_t flops = forward_flops_per_example() + backward_flops_per_example();
  if (flops > 0) batch = std::min(batch, std::numeric_limits<int64_t>::max() / flops);
  return std::max<int64_t>(batch, 0);
}

int Graph::Find(absl::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

int64_t Graph::Sum(int64_t Node::*field) const {
  int64_t total = 0;
  for (const Node& n : nodes_) total += n.*field;
  return total;
}

}  // namespace slimtrain::planner
