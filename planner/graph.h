// graph.h — a validated model graph: the planner's view of a ModelSpec.
//
// Graph::Build checks a ModelSpec (proto/model.proto), orders its layers
// topologically, infers every output shape, and counts parameters and FLOPs.
// Everything downstream (schedules, plans, the engine) reads the Graph, never
// the raw spec.
//
//   absl::StatusOr<Graph> graph = Graph::Build(spec);
//   if (!graph.ok()) return graph.status();   // "layer 'conv3': kernel 5 is
//                                             //  larger than padded input 4x4"
//   for (const Node& n : graph->nodes()) ...   // topological order; nodes()[0]
//                                             // is the model input
//
// Shapes are per example, without the batch dimension: (C,H,W) for images,
// (F) for features, (L,D) for sequences, at most 3 axes; () for the loss (one
// scalar per batch). Batched tensors are (N,C,H,W), (N,F), (N,L,D). Axes in
// the spec (softmax, concat, slice, reduce_*, squeeze, unsqueeze, transpose)
// count in the batched tensor, as PyTorch's dim does; a Node stores them as
// per-example indices (the batched axis - 1).
//
// FLOPs (a multiply-add counts as 2), forward, per example:
//   conv2d   2·Cout·Ho·Wo·(Cin/groups)·k² (+ Cout·Ho·Wo with bias)
//   linear   2·in·out (+ out with bias), times L for (L,D) tokens
//   batch_norm, layer_norm: 4 per element (normalise and scale-shift) + 2
//            per element for the statistics
//   relu, sigmoid, tanh, dropout, add (per extra input): 1 per element
//   relu6, clip, leaky_relu, hardsigmoid: 1 per element; hardswish 4;
//   elu, silu, softplus, gelu: 4 (a transcendental, exp, erf or tanh,
//   counts as one); softmax, log_softmax: 5 per element
//   attention (Lq queries, Lk keys, D features, H heads): 4·Lq·Lk·D for the
//   two products + 5·H·Lq·Lk for the softmax (half of it without the
//   masked keys when causal is ignored: the count is the dense one);
//   backward 2.5× forward (the scores are recomputed)
//   matmul (H,M,K)x(H,K,P): 2·H·M·K·P; backward 2× forward
//   max_pool, avg_pool: k² per output element; global_avg_pool,
//   adaptive_avg_pool: 1 per input element (about); softmax_cross_entropy: 4 per logit; concat, flatten: 0.
// Backward FLOPs: 2× forward for conv2d and linear (data and weight
// gradients; the first layer skips its data gradient); 2 per element for
// relu6, clip, leaky_relu, hardsigmoid; 4 per element for the other new
// activations and the softmaxes; 2× forward otherwise.
//
// What each backward reads (planner/schedule.h keeps it): relu, sigmoid,
// tanh, relu6, clip, hardsigmoid, softmax, log_softmax their output;
// leaky_relu and elu their output when negative_slope / alpha >= 0 (then
// the output's sign is the input's), else their input; gelu, silu,
// hardswish, softplus their input (BackwardReadsOutput).
#ifndef SLIMTRAIN_PLANNER_GRAPH_H_
#define SLIMTRAIN_PLANNER_GRAPH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "planner/limits.h"
#include "proto/model.pb.h"

namespace slimtrain::planner {

enum class OpKind {
  kInput,  // the model input; not a layer of the spec
  kConv2d,
  kBatchNorm,
  kRelu,
  kSigmoid,
  kTanh,
  kAdd,
  kConcat,
  kMaxPool,
  kAvgPool,
  kGlobalAvgPool,
  kLinear,
  kFlatten,
  kDropout,
  kSoftmaxCrossEntropy,
  kMseLoss,
  kRelu6,
  kClip,
  kLeakyRelu,
  kElu,
  kGelu,
  kSilu,
  kHardswish,
  kHardsigmoid,
  kSoftplus,
  kSoftmax,
  kLogSoftmax,
  kMul,
  kSub,
  kDiv,
  kScale,
  kReshape,
  kSqueeze,
  kUnsqueeze,
  kTranspose,
  kSlice,
  kReduceMean,
  kReduceSum,
  kLayerNorm,
  kPositionalEmbedding,
  kClassToken,
  kAttention,
  kMatMul,
  kEmbedding,
  kGroupNorm,
  kAdaptiveAvgPool,
  kUpsample,
};

// The spec's name of the op: "conv2d", "batch_norm", ..., "input".
const char* OpKindName(OpKind kind);

// The elementwise activations the engine runs through Backend::Pointwise*:
// relu6, clip, leaky_relu, elu, gelu, silu, hardswish, hardsigmoid,
// softplus (not relu, sigmoid, tanh, which keep their own kernels).
bool IsPointwise(OpKind kind);

// Every op name the spec knows ("conv2d, batch_norm, ..."), for messages.
std::string KnownOpNames();

struct Node;
// Whether the backward of an activation (relu, sigmoid, tanh, a pointwise
// op, softmax, log_softmax) reads the op's output rather than its input.
bool BackwardReadsOutput(const Node& n);

// mul, sub, div, and add with two inputs of different shapes: elementwise
// with broadcasting (Backend::Binary*).
bool IsBroadcastBinary(const Node& n);

// reshape, squeeze, unsqueeze, transpose, slice, class_token, flatten of
// (L,D), and concat other than along an image's channels or a feature
// vector: ops that only move elements (Backend::StridedCopy).
bool IsLayoutOp(const Node& n);

// A linear layer on (L,D) tokens multiplies N·L rows of D features (as
// PyTorch's nn.Linear on its last axis): `node` is the layer as its kernels
// and cost models see it, input (D) and output (out_features), and `rows`
// the examples they run at `batch`. Likewise a loss over (L, classes) is
// N·L rows of classes. Any other node: itself and `batch`.
// Everything that runs or sizes a node's kernels (schedule workspaces, the
// executor, backends' Prepare) goes through this.
struct KernelView;
KernelView KernelShape(const Node& n, int64_t batch);

// Per-example dimensions: (C,H,W), (F) or () for the loss.
using Dims = std::vector<int64_t>;

// Product of dims (1 for ()).
int64_t NumElements(const Dims& dims);

// "3x32x32", "10", "scalar".
std::string DimsString(const Dims& dims);

// One layer with its attributes resolved (defaults applied) and its shapes
// inferred. Attributes not used by the op keep their defaults.
struct Node {
  int id = 0;                  // index in Graph::nodes(), a topological order
  std::string name;            // unique; "input" for the model input
  OpKind kind = OpKind::kInput;
  std::vector<int> inputs;     // ids of the nodes read, in the spec's order
  std::vector<int> consumers;  // ids of the nodes reading this one's output
  std::vector<Dims> input_dims;  // one per input
  Dims out;                    // output, per example

  // conv2d, pools: the window per axis (height, width): kernel, stride,
  // dilation, and zero padding before (top, left) and after (bottom,
  // right); conv2d: groups, out channels.
  int64_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t groups = 1;
  int64_t out_channels = 0;  // conv2d
  int64_t out_features = 0;  // linear; embedding: its dimension D
  int64_t vocabulary = 0;    // embedding: ids are in [0, vocabulary)
  bool bias = false;         // conv2d, linear; layer_norm: whether β exists
  // linear: the embedding whose table is this layer's weight (tied_to), or
  // -1; such a linear's parameter_count is its bias alone.
  int tied_to = -1;
  double eps = 1e-5, momentum = 0.1;  // batch_norm (eps: layer_norm too)
  // layer_norm: trailing axes normalised, whether γ and β exist, and the
  // normalised rows (per example) of row_size elements each.
  int64_t norm_axes = 1, norm_rows = 0, norm_row_size = 0;
  bool affine = true;  // layer_norm, group_norm
  int64_t groups_norm = 1;  // group_norm: groups of channels
  // attention: heads, the causal mask, the factor on the scores.
  int64_t heads = 1;
  bool causal = false;
  double attention_scale = 1.0;
  bool count_include_pad = true;      // avg_pool
  bool bilinear = false, align_corners = false;  // upsample (else nearest)
  double dropout_p = 0.0;             // dropout
  double label_smoothing = 0.0;       // softmax_cross_entropy
  // clip (relu6: 0, 6); an unset bound is -inf / +inf.
  double clip_min = 0.0, clip_max = 0.0;
  double negative_slope = 0.01;  // leaky_relu
  double alpha = 1.0;            // elu
  bool gelu_tanh = false;        // gelu: the tanh approximation
  double beta = 1.0, threshold = 20.0;  // softplus
  // softmax, log_softmax, concat, slice: the axis as an index into the
  // per-example dims (the batched axis - 1), resolved from negative values.
  int64_t axis = 0;
  double scale = 1.0;  // scale
  // reduce_mean, reduce_sum, squeeze: the reduced or removed axes;
  // unsqueeze: the new axes of the output; transpose: output axis i is
  // input axis axes[i]. All as per-example indices, ascending except for
  // transpose's.
  std::vector<int64_t> axes;
  bool keepdim = false;                    // reduce_mean, reduce_sum
  int64_t slice_start = 0, slice_step = 1; // slice, resolved and clamped

  int64_t parameter_count = 0;  // trainable elements (weights, biases, γ, β)
  int64_t buffer_count = 0;     // non-trainable state (BN running mean, var)
  int64_t forward_flops = 0;    // per example
  int64_t backward_flops = 0;   // per example
};

struct KernelView {
  Node node;
  int64_t rows = 0;
};

class Graph;
// Labels per example: L for a loss over (L, classes) (a label per
// position, (N,L) in all), else 1.
int64_t LabelsPerExample(const Graph& graph);
// Float targets per example: the loss input's elements for mse_loss, else 0
// (and then LabelsPerExample is 0).
int64_t TargetsPerExample(const Graph& graph);
// softmax_cross_entropy or mse_loss.
bool IsLoss(OpKind kind);
// The vocabulary of the embedding that reads the model input (whose values
// are then token ids, (N,L)); the smallest if several do; 0 when the input
// is images or features.
int64_t TokenVocabulary(const Graph& graph);

// The per-example output dims of `layer` reading tensors of per-example
// dims `input_dims` (its inputs' names are only for messages), as
// Graph::Build infers them: what an importer needs to shape the layers it
// makes one at a time. INVALID_ARGUMENT as Build's for that layer.
absl::StatusOr<Dims> LayerOutputDims(const v1::Layer& layer, const std::vector<Dims>& input_dims,
                                     int64_t num_classes = 0, const SizeLimits& limits = SizeLimits());

class Graph {
 public:
  // Validates `spec` and builds the graph. INVALID_ARGUMENT names the layer and
  // the field for: a missing or duplicate name, no op set, an unknown input,
  // a wrong number of inputs, a cycle, zero or negative sizes, a kernel larger
  // than the padded input, a shape mismatch at add or concat, channels not
  // divisible by groups, an input that is not an image where one is needed, a
  // missing loss or more than one, a loss whose logits do not match
  // num_classes, and layers whose output nothing reads; and for sizes over
  // `limits` (limits.h): more layers than max_layers, a name longer than
  // max_name_bytes, a tensor of more than max_tensor_bytes / 4 elements per
  // example, more than max_parameters parameters, or an element, parameter or
  // FLOP count that overflows int64 (each computed with overflow checks).
  static absl::StatusOr<Graph> Build(const v1::ModelSpec& spec, const SizeLimits& limits = SizeLimits());

  // The graph at a batch: INVALID_ARGUMENT for a batch outside
  // [1, max_batch_size] ("batch_size: ..."), or a tensor over
  // max_tensor_bytes at `element_bytes` per element ("layer 'conv1': ..."),
  // or FLOPs per step that overflow int64. Everything that plans or runs the
  // graph at a batch checks this first.
  absl::Status CheckBatch(int64_t batch, int64_t element_bytes) const;
  // The largest batch CheckBatch accepts at `element_bytes` (>= 1 unless
  // even batch 1 is over the limits: then 0).
  int64_t MaxCheckedBatch(int64_t element_bytes) const;
  const SizeLimits& limits() const { return limits_; }

  const v1::ModelSpec& spec() const { return spec_; }
  // All nodes in topological order (ties broken by the spec's layer order);
  // nodes()[0] is the model input, the last node is the loss.
  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(int id) const { return nodes_[id]; }
  int size() const { return static_cast<int>(nodes_.size()); }
  // Id of the node named `name`, or -1.
  int Find(absl::string_view name) const;
  int loss() const { return static_cast<int>(nodes_.size()) - 1; }

  int64_t parameter_count() const { return Sum(&Node::parameter_count); }  // trainable elements
  int64_t buffer_count() const { return Sum(&Node::buffer_count); }        // non-trainable elements
  int64_t forward_flops_per_example() const { return Sum(&Node::forward_flops); }
  int64_t backward_flops_per_example() const { return Sum(&Node::backward_flops); }

 private:
  Graph() = default;
  int64_t Sum(int64_t Node::*field) const;
  v1::ModelSpec spec_;
  SizeLimits limits_;
  std::vector<Node> nodes_;
  absl::flat_hash_map<std::string, int> by_name_;
};

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_GRAPH_H_
