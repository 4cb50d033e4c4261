// See graph.h.
#include "planner/graph.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "planner/status_macros.h"

namespace slimtrain::planner {
namespace {

using v1::Layer;

absl::Status LayerError(const std::string& layer, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat("layer '", layer, "': ", message));
}

OpKind KindOf(const Layer& layer) {
  switch (layer.op_case()) {
    case Layer::kConv2D: return OpKind::kConv2d;
    case Layer::kBatchNorm: return OpKind::kBatchNorm;
    case Layer::kRelu: return OpKind::kRelu;
    case Layer::kSigmoid: return OpKind::kSigmoid;
    case Layer::kTanh: return OpKind::kTanh;
    case Layer::kAdd: return OpKind::kAdd;
    case Layer::kConcat: return OpKind::kConcat;
    case Layer::kMaxPool: return OpKind::kMaxPool;
    case Layer::kAvgPool: return OpKind::kAvgPool;
    case Layer::kGlobalAvgPool: return OpKind::kGlobalAvgPool;
    case Layer::kLinear: return OpKind::kLinear;
    case Layer::kFlatten: return OpKind::kFlatten;
    case Layer::kDropout: return OpKind::kDropout;
    case Layer::kSoftmaxCrossEntropy: return OpKind::kSoftmaxCrossEntropy;
    case Layer::OP_NOT_SET: break;
  }
  return OpKind::kInput;
}

// Checks `value > 0` (or >= 0 when `allow_zero`), naming op.field.
absl::Status CheckSize(const Node& n, const char* field, int64_t value, bool allow_zero = false) {
  if (value > 0 || (allow_zero && value == 0)) return absl::OkStatus();
  return LayerError(n.name, absl::StrFormat("%s.%s must be %s 0, got %d", OpKindName(n.kind),
                                            field, allow_zero ? ">=" : ">", value));
}

// Resolves the op's attributes from the spec, applying defaults, and checks
// their ranges (not yet against shapes).
absl::Status ResolveAttributes(const Layer& layer, Node& n) {
  switch (n.kind) {
    case OpKind::kConv2d: {
      const auto& c = layer.conv2d();
      n.out_channels = c.out_channels();
      n.kernel = c.kernel_size();
      n.stride = c.has_stride() ? c.stride() : 1;
      n.padding = c.padding();
      n.dilation = c.has_dilation() ? c.dilation() : 1;
      n.groups = c.has_groups() ? c.groups() : 1;
      n.bias = c.has_bias() ? c.bias() : true;
      SLIM_RETURN_IF_ERROR(CheckSize(n, "out_channels", n.out_channels));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "kernel_size", n.kernel));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "stride", n.stride));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "padding", n.padding, /*allow_zero=*/true));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "dilation", n.dilation));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "groups", n.groups));
      break;
    }
    case OpKind::kBatchNorm: {
      const auto& b = layer.batch_norm();
      n.eps = b.has_eps() ? b.eps() : 1e-5;
      n.momentum = b.has_momentum() ? b.momentum() : 0.1;
      if (!(n.eps > 0)) return LayerError(n.name, absl::StrCat("batch_norm.eps must be > 0, got ", n.eps));
      if (!(n.momentum >= 0 && n.momentum <= 1)) {
        return LayerError(n.name, absl::StrCat("batch_norm.momentum must be in [0, 1], got ", n.momentum));
      }
      break;
    }
    case OpKind::kMaxPool:
    case OpKind::kAvgPool: {
      const bool max = n.kind == OpKind::kMaxPool;
      n.kernel = max ? layer.max_pool().kernel_size() : layer.avg_pool().kernel_size();
      const bool has_stride = max ? layer.max_pool().has_stride() : layer.avg_pool().has_stride();
      n.stride = has_stride ? (max ? layer.max_pool().stride() : layer.avg_pool().stride()) : n.kernel;
      n.padding = max ? layer.max_pool().padding() : layer.avg_pool().padding();
      if (!max) {
        n.count_include_pad =
            layer.avg_pool().has_count_include_pad() ? layer.avg_pool().count_include_pad() : true;
      }
      SLIM_RETURN_IF_ERROR(CheckSize(n, "kernel_size", n.kernel));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "stride", n.stride));
      SLIM_RETURN_IF_ERROR(CheckSize(n, "padding", n.padding, /*allow_zero=*/true));
      if (n.padding > n.kernel / 2) {
        return LayerError(n.name, absl::StrFormat("%s.padding %d must be at most half the kernel %d",
                                                  OpKindName(n.kind), n.padding, n.kernel));
      }
      break;
    }
    case OpKind::kLinear:
      n.out_features = layer.linear().out_features();
      n.bias = layer.linear().has_bias() ? layer.linear().bias() : true;
      SLIM_RETURN_IF_ERROR(CheckSize(n, "out_features", n.out_features));
      break;
    case OpKind::kDropout:
      n.dropout_p = layer.dropout().p();
      if (!(n.dropout_p >= 0 && n.dropout_p < 1)) {
        return LayerError(n.name, absl::StrCat("dropout.p must be in [0, 1), got ", n.dropout_p));
      }
      break;
    case OpKind::kSoftmaxCrossEntropy:
      n.label_smoothing = layer.softmax_cross_entropy().label_smoothing();
      if (!(n.label_smoothing >= 0 && n.label_smoothing < 1)) {
        return LayerError(n.name, absl::StrCat("softmax_cross_entropy.label_smoothing must be in [0, 1), got ",
                                               n.label_smoothing));
      }
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

// Output size of a window op along one axis: floor((in + 2p - eff) / s) + 1.
int64_t WindowOut(int64_t in, int64_t eff_kernel, int64_t stride, int64_t padding) {
  return (in + 2 * padding - eff_kernel) / stride + 1;
}

absl::Status NeedImage(const Node& n, const Dims& in) {
  if (in.size() == 3) return absl::OkStatus();
  return LayerError(n.name, absl::StrFormat("%s needs a (C,H,W) input, got %s", OpKindName(n.kind),
                                            DimsString(in)));
}

absl::Status CheckWindowFits(const Node& n, const Dims& in, int64_t eff_kernel) {
  if (eff_kernel <= in[1] + 2 * n.padding && eff_kernel <= in[2] + 2 * n.padding) return absl::OkStatus();
  return LayerError(n.name, absl::StrFormat("%skernel %d is larger than padded input %dx%d",
                                            n.dilation > 1 ? "dilated " : "", eff_kernel,
                                            in[1] + 2 * n.padding, in[2] + 2 * n.padding));
}

// Infers n.out from n.input_dims; counts parameters and FLOPs.
absl::Status InferShape(Node& n, const std::vector<std::string>& input_names, int64_t num_classes) {
  const Dims& in = n.input_dims[0];
  const int64_t in_elems = NumElements(in);
  switch (n.kind) {
    case OpKind::kInput:
      break;
    case OpKind::kConv2d: {
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      if (in[0] % n.groups != 0 || n.out_channels % n.groups != 0) {
        return LayerError(n.name, absl::StrFormat("conv2d.groups %d must divide input channels %d and "
                                                  "out_channels %d", n.groups, in[0], n.out_channels));
      }
      const int64_t eff = n.dilation * (n.kernel - 1) + 1;
      SLIM_RETURN_IF_ERROR(CheckWindowFits(n, in, eff));
      n.out = {n.out_channels, WindowOut(in[1], eff, n.stride, n.padding),
               WindowOut(in[2], eff, n.stride, n.padding)};
      const int64_t out_elems = NumElements(n.out);
      const int64_t macs_per_out = (in[0] / n.groups) * n.kernel * n.kernel;
      n.parameter_count = n.out_channels * macs_per_out + (n.bias ? n.out_channels : 0);
      n.forward_flops = 2 * out_elems * macs_per_out + (n.bias ? out_elems : 0);
      n.backward_flops = 2 * n.forward_flops;
      break;
    }
    case OpKind::kBatchNorm:
      if (in.size() != 3 && in.size() != 1) {
        return LayerError(n.name, "batch_norm needs a (C,H,W) or (F) input, got " + DimsString(in));
      }
      n.out = in;
      n.parameter_count = 2 * in[0];
      n.buffer_count = 2 * in[0];
      n.forward_flops = 6 * in_elems;
      n.backward_flops = 2 * n.forward_flops;
      break;
    case OpKind::kRelu:
    case OpKind::kSigmoid:
    case OpKind::kTanh:
    case OpKind::kDropout:
      if (in.empty()) return LayerError(n.name, std::string(OpKindName(n.kind)) + " needs a tensor input, got a scalar");
      n.out = in;
      n.forward_flops = in_elems;
      n.backward_flops = 2 * in_elems;
      break;
    case OpKind::kAdd:
      for (size_t i = 1; i < n.input_dims.size(); ++i) {
        if (n.input_dims[i] != in) {
          return LayerError(n.name, absl::StrFormat("add: input '%s' has shape %s but input '%s' has %s",
                                                    input_names[i], DimsString(n.input_dims[i]),
                                                    input_names[0], DimsString(in)));
        }
      }
      n.out = in;
      n.forward_flops = in_elems * static_cast<int64_t>(n.input_dims.size() - 1);
      n.backward_flops = in_elems * static_cast<int64_t>(n.input_dims.size());
      break;
    case OpKind::kConcat: {
      int64_t channels = 0;
      for (size_t i = 0; i < n.input_dims.size(); ++i) {
        const Dims& d = n.input_dims[i];
        const bool same_rank = d.size() == in.size() && !d.empty();
        const bool same_spatial = same_rank && (d.size() == 1 || (d[1] == in[1] && d[2] == in[2]));
        if (!same_spatial) {
          return LayerError(n.name, absl::StrFormat("concat: input '%s' has shape %s, which does not match "
                                                    "input '%s' (%s) outside the channel axis",
                                                    input_names[i], DimsString(d), input_names[0],
                                                    DimsString(in)));
        }
        channels += d[0];
      }
      n.out = in;
      n.out[0] = channels;
      n.backward_flops = NumElements(n.out);
      break;
    }
    case OpKind::kMaxPool:
    case OpKind::kAvgPool: {
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      SLIM_RETURN_IF_ERROR(CheckWindowFits(n, in, n.kernel));
      n.out = {in[0], WindowOut(in[1], n.kernel, n.stride, n.padding),
               WindowOut(in[2], n.kernel, n.stride, n.padding)};
      n.forward_flops = NumElements(n.out) * n.kernel * n.kernel;
      n.backward_flops = n.forward_flops;
      break;
    }
    case OpKind::kGlobalAvgPool:
      SLIM_RETURN_IF_ERROR(NeedImage(n, in));
      n.out = {in[0]};
      n.forward_flops = in_elems;
      n.backward_flops = in_elems;
      break;
    case OpKind::kLinear:
      if (in.empty()) return LayerError(n.name, "linear needs a tensor input, got a scalar");
      n.out = {n.out_features};
      n.parameter_count = in_elems * n.out_features + (n.bias ? n.out_features : 0);
      n.forward_flops = 2 * in_elems * n.out_features + (n.bias ? n.out_features : 0);
      n.backward_flops = 2 * n.forward_flops;
      break;
    case OpKind::kFlatten:
      if (in.empty()) return LayerError(n.name, "flatten needs a tensor input, got a scalar");
      n.out = {in_elems};
      break;
    case OpKind::kSoftmaxCrossEntropy:
      if (in.size() != 1 || in[0] != num_classes) {
        return LayerError(n.name, absl::StrFormat("softmax_cross_entropy: logits have shape %s but "
                                                  "num_classes is %d", DimsString(in), num_classes));
      }
      n.out = {};
      n.forward_flops = 4 * in_elems;
      n.backward_flops = 2 * in_elems;
      break;
  }
  for (int64_t d : n.out) {
    if (d <= 0) {
      return LayerError(n.name, absl::StrFormat("output shape %s has a non-positive size", DimsString(n.out)));
    }
  }
  return absl::OkStatus();
}

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
  }
  return "unknown";
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

absl::StatusOr<Graph> Graph::Build(const v1::ModelSpec& spec) {
  // 1. The input and the loss's class count.
  if (spec.input().dims_size() == 0) {
    return absl::InvalidArgumentError("model input: dims must be given, e.g. [3, 32, 32]");
  }
  for (int i = 0; i < spec.input().dims_size(); ++i) {
    if (spec.input().dims(i) <= 0) {
      return absl::InvalidArgumentError(absl::StrFormat("model input: dims[%d] must be > 0, got %d", i,
                                                        spec.input().dims(i)));
    }
  }
  if (spec.num_classes() <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat("num_classes must be > 0, got %d", spec.num_classes()));
  }
  if (spec.layers_size() == 0) return absl::InvalidArgumentError("model has no layers");

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
    if (layer.name() == "input") {
      return absl::InvalidArgumentError(
          absl::StrFormat("layers[%d]: name 'input' is reserved for the model input", i));
    }
    if (!by_name.emplace(layer.name(), i + 1).second) {
      return LayerError(layer.name(), "duplicate name");
    }
    names[i + 1] = layer.name();
    if (layer.op_case() == Layer::OP_NOT_SET) return LayerError(layer.name(), "no op set (e.g. conv2d {...})");
    const OpKind kind = KindOf(layer);
    const bool multi = kind == OpKind::kAdd || kind == OpKind::kConcat;
    if (multi ? layer.inputs_size() < 2 : layer.inputs_size() != 1) {
      return LayerError(layer.name(), absl::StrFormat("%s takes %s, got %d", OpKindName(kind),
                                                      multi ? "two or more inputs" : "exactly one input",
                                                      layer.inputs_size()));
    }
    if (kind == OpKind::kSoftmaxCrossEntropy) ++losses;
  }
  if (losses != 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model must have exactly one softmax_cross_entropy layer (the loss), has %d", losses));
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
      SLIM_RETURN_IF_ERROR(InferShape(node, input_names, spec.num_classes()));
    }
    for (int c : consumers[v]) node.consumers.push_back(id_of[c]);
    std::sort(node.consumers.begin(), node.consumers.end());
    g.by_name_[node.name] = pos;
  }

  // 6. Every output is read by someone, except the loss's.
  for (const Node& node : g.nodes_) {
    if (node.kind == OpKind::kSoftmaxCrossEntropy) {
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
  return g;
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
