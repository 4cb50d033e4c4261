// executor_test_models.h — small models that, together, run every op the
// graph allows where the planner's rules matter (in place, what a backward
// reads, codes, recomputation), for the executor's whole-model tests
// (executor_test.cc, executor_strategy_test.cc, executor_gradient_test.cc).
// Each comes back as a StatusOr: a test takes it with ASSERT_OK_AND_ASSIGN,
// so a model that does not build fails that test alone.
//
//   ASSERT_OK_AND_ASSIGN(const planner::Graph g, TransformerOps());
//
// tests/fuzz/corpus/model/ seeds the model fuzzer with copies of them.
#ifndef SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_MODELS_H_
#define SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_MODELS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_replace.h"
#include "planner/graph.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::testing {

// Every op the graph allows, small: conv (groups, dilation, stride), BN→ReLU,
// max/avg pool, concat, add, sigmoid, tanh, dropout, flatten, linear.
inline constexpr char kAllOps[] = R"pb(
  name: "all_ops"
  input { dims: 2 dims: 8 dims: 8 }
  num_classes: 5
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn1" inputs: "conv1" batch_norm {} }
  layers { name: "relu1" inputs: "bn1" relu {} }
  layers { name: "conv2" inputs: "relu1" conv2d { out_channels: 4 kernel_size: 3 padding: 2 dilation: 2 groups: 2 } }
  layers { name: "bn2" inputs: "conv2" batch_norm {} }
  layers { name: "relu2" inputs: "bn2" relu {} }
  layers { name: "add" inputs: "relu2" inputs: "relu1" add {} }
  layers { name: "pool" inputs: "add" max_pool { kernel_size: 2 } }
  layers { name: "conv3" inputs: "pool" conv2d { out_channels: 3 kernel_size: 3 stride: 2 padding: 1 } }
  layers { name: "sig" inputs: "conv3" sigmoid {} }
  layers { name: "avg" inputs: "pool" avg_pool { kernel_size: 2 } }
  layers { name: "tanh" inputs: "avg" tanh {} }
  layers { name: "cat" inputs: "sig" inputs: "tanh" concat {} }
  layers { name: "drop" inputs: "cat" dropout { p: 0.25 } }
  layers { name: "flat" inputs: "drop" flatten {} }
  layers { name: "fc" inputs: "flat" linear { out_features: 5 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

// The activations of issue 13, each where the planner's in-place rule and
// what its backward reads (output or input) matter: after convolutions, on
// both sides of an add, one after another, and softmaxes over the channels
// and over the height of an image.
inline constexpr char kActivationOps[] = R"pb(
  name: "activation_ops"
  input { dims: 2 dims: 8 dims: 8 }
  num_classes: 5
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
  layers { name: "relu6" inputs: "conv1" relu6 {} }
  layers { name: "conv2" inputs: "relu6" conv2d { out_channels: 4 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn" inputs: "conv2" batch_norm {} }
  layers { name: "gn" inputs: "bn" group_norm { groups: 2 } }
  layers { name: "hswish" inputs: "gn" hardswish {} }
  layers { name: "dw" inputs: "hswish" conv2d { out_channels: 4 kernel_size: 3 padding: 1 groups: 4 } }
  layers { name: "silu" inputs: "dw" silu {} }
  layers { name: "add" inputs: "silu" inputs: "relu6" add {} }
  layers { name: "gelu" inputs: "add" gelu {} }
  layers { name: "leaky" inputs: "gelu" leaky_relu { negative_slope: -0.1 } }
  layers { name: "elu" inputs: "leaky" elu { alpha: 0.7 } }
  layers { name: "elu_neg" inputs: "elu" elu { alpha: -0.3 } }
  layers { name: "ln" inputs: "elu_neg" layer_norm { axes: 3 } }
  layers { name: "softmax" inputs: "ln" softmax { axis: 1 } }
  layers { name: "conv3" inputs: "softmax" conv2d { out_channels: 3 kernel_size: 3 stride: 2 padding: 1 } }
  layers { name: "softplus" inputs: "conv3" softplus { beta: 2 } }
  layers { name: "hsig" inputs: "softplus" hardsigmoid {} }
  layers { name: "clip" inputs: "hsig" clip { min: 0.55 max: 0.9 } }
  layers { name: "gelu_tanh" inputs: "conv3" gelu { approximate: "tanh" } }
  layers { name: "log_softmax" inputs: "gelu_tanh" log_softmax { axis: 2 } }
  layers { name: "cat" inputs: "clip" inputs: "log_softmax" concat {} }
  layers { name: "flat" inputs: "cat" flatten {} }
  layers { name: "fc" inputs: "flat" linear { out_features: 5 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

// The view ops of issue 13 in a squeeze-and-excite block and a token
// pipeline: adaptive_avg_pool to 1x1 → 1x1 convs → sigmoid gate → mul with
// broadcasting; a transpose of the image to channels-last, reshape to
// tokens, layer_norm and a linear layer on the tokens, slice of the first token and concat in front, a centring sub with
// broadcasting, mul of a tensor by itself, reduce_sum, scale, unsqueeze,
// squeeze, div.
inline constexpr char kShapeOps[] = R"pb(
  name: "shape_ops"
  input { dims: 3 dims: 8 dims: 8 }
  num_classes: 5
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
  layers { name: "bn" inputs: "conv1" batch_norm {} }
  layers { name: "act" inputs: "bn" silu {} }
  layers { name: "squeeze" inputs: "act" adaptive_avg_pool { out_h: 1 out_w: 1 } }
  layers { name: "se1" inputs: "squeeze" conv2d { out_channels: 2 kernel_size: 1 } }
  layers { name: "se_act" inputs: "se1" silu {} }
  layers { name: "se2" inputs: "se_act" conv2d { out_channels: 4 kernel_size: 1 } }
  layers { name: "gate" inputs: "se2" sigmoid {} }
  layers { name: "excite" inputs: "act" inputs: "gate" mul {} }
  layers { name: "nhwc" inputs: "excite" transpose { perm: [0, 2, 3, 1] } }
  layers { name: "tokens" inputs: "nhwc" reshape { dims: [64, 4] } }
  layers { name: "norm" inputs: "tokens" layer_norm {} }
  layers { name: "proj" inputs: "norm" linear { out_features: 4 } }
  layers { name: "first" inputs: "proj" slice { axis: 1 end: 1 } }
  layers { name: "cat" inputs: "first" inputs: "proj" concat { axis: 1 } }
  layers { name: "centre" inputs: "cat" reduce_mean { axes: [1] keepdim: true } }
  layers { name: "diff" inputs: "cat" inputs: "centre" sub {} }
  layers { name: "sq" inputs: "diff" inputs: "diff" mul {} }
  layers { name: "energy" inputs: "sq" reduce_sum { axes: [1] } }
  layers { name: "half" inputs: "energy" scale { value: 0.5 } }
  layers { name: "col" inputs: "half" unsqueeze { axes: [2] } }
  layers { name: "flat" inputs: "col" squeeze {} }
  layers { name: "plus" inputs: "flat" softplus {} }
  layers { name: "ratio" inputs: "flat" inputs: "plus" div {} }
  layers { name: "fc" inputs: "ratio" linear { out_features: 5 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

// A two-token-row vision transformer in miniature: patch conv, tokens,
// class token, position embedding, pre-norm attention block (fused
// attention, causal to exercise the mask) and MLP block with residuals,
// the class token's row into the classifier.
inline constexpr char kTransformerOps[] = R"pb(
  name: "transformer_ops"
  input { dims: 3 dims: 8 dims: 8 }
  num_classes: 5
  layers { name: "patch" inputs: "input" conv2d { out_channels: 8 kernel_size: 4 stride: 4 } }
  layers { name: "rows" inputs: "patch" reshape { dims: [8, 4] } }
  layers { name: "tokens" inputs: "rows" transpose { perm: [0, 2, 1] } }
  layers { name: "cls" inputs: "tokens" class_token {} }
  layers { name: "pos" inputs: "cls" positional_embedding {} }
  layers { name: "ln1" inputs: "pos" layer_norm {} }
  layers { name: "q" inputs: "ln1" linear { out_features: 8 } }
  layers { name: "k" inputs: "ln1" linear { out_features: 8 } }
  layers { name: "v" inputs: "ln1" linear { out_features: 8 } }
  layers { name: "attn" inputs: "q" inputs: "k" inputs: "v" attention { heads: 2 causal: true } }
  layers { name: "proj" inputs: "attn" linear { out_features: 8 } }
  layers { name: "res1" inputs: "pos" inputs: "proj" add {} }
  layers { name: "ln2" inputs: "res1" layer_norm {} }
  layers { name: "fc1" inputs: "ln2" linear { out_features: 16 } }
  layers { name: "act" inputs: "fc1" gelu { approximate: "tanh" } }
  layers { name: "fc2" inputs: "act" linear { out_features: 8 } }
  layers { name: "res2" inputs: "res1" inputs: "fc2" add {} }
  layers { name: "first" inputs: "res2" slice { axis: 1 end: 1 } }
  layers { name: "flat" inputs: "first" flatten {} }
  layers { name: "head" inputs: "flat" linear { out_features: 5 } }
  layers { name: "loss" inputs: "head" softmax_cross_entropy {} }
)pb";

// A U-Net step in miniature: down by a strided non-square conv, back up
// (nearest), a skip connection, a pool with asymmetric padding, and a
// bilinear resize to an odd size.
inline constexpr char kUpsampleOps[] = R"pb(
  name: "upsample_ops"
  input { dims: 2 dims: 8 dims: 8 }
  num_classes: 3
  layers { name: "enc" inputs: "input" conv2d { out_channels: 3 kernel_size: 3 padding: 1 } }
  layers { name: "down" inputs: "enc" conv2d { out_channels: 4 kernel_hw: [3, 1] stride: 2 pads: [1, 0] } }
  layers { name: "act" inputs: "down" silu {} }
  layers { name: "up" inputs: "act" upsample { scale_factor: 2 } }
  layers { name: "skip" inputs: "enc" inputs: "up" concat {} }
  layers { name: "dec" inputs: "skip" conv2d { out_channels: 3 kernel_size: 3 padding: 1 } }
  layers { name: "pool" inputs: "dec" avg_pool { kernel_size: 2 pads: [0, 0, 1, 1] } }
  layers { name: "resize" inputs: "pool" upsample { out_h: 11 out_w: 5 mode: "bilinear" } }
  layers { name: "gap" inputs: "resize" global_avg_pool {} }
  layers { name: "head" inputs: "gap" linear { out_features: 3 } }
  layers { name: "loss" inputs: "head" softmax_cross_entropy {} }
)pb";

// BatchNorm1d on sequences: (C,L) stored row-major, a BN→ReLU the approx-K
// strategies keep exact, a linear on the last axis between.
inline constexpr char kSequenceBnOps[] = R"pb(
  name: "sequence_bn_ops"
  input { dims: 4 dims: 10 }
  num_classes: 3
  layers { name: "bn" inputs: "input" batch_norm {} }
  layers { name: "relu" inputs: "bn" relu {} }
  layers { name: "mix" inputs: "relu" linear { out_features: 6 } }
  layers { name: "bn2" inputs: "mix" batch_norm { momentum: 0.3 } }
  layers { name: "flat" inputs: "bn2" flatten {} }
  layers { name: "head" inputs: "flat" linear { out_features: 3 } }
  layers { name: "loss" inputs: "head" softmax_cross_entropy {} }
)pb";

// A regression head: an MLP on (L,D) rows and on features, mean squared error
// against float targets of its output's shape.
inline constexpr char kRegressionOps[] = R"pb(
  name: "regression_ops"
  input { dims: 3 dims: 4 }
  num_classes: 1
  layers { name: "fc1" inputs: "input" linear { out_features: 5 } }
  layers { name: "act" inputs: "fc1" tanh {} }
  layers { name: "fc2" inputs: "act" linear { out_features: 2 } }
  layers { name: "loss" inputs: "fc2" mse_loss {} }
)pb";

// A decoder in miniature: token ids → embedding → position embedding →
// pre-norm causal attention block → tokens' logits pooled into a class.
inline constexpr char kDecoderOps[] = R"pb(
  name: "decoder_ops"
  input { dims: 6 }
  num_classes: 5
  layers { name: "wte" inputs: "input" embedding { num_embeddings: 11 embedding_dim: 8 } }
  layers { name: "wpe" inputs: "wte" positional_embedding {} }
  layers { name: "ln1" inputs: "wpe" layer_norm {} }
  layers { name: "q" inputs: "ln1" linear { out_features: 8 } }
  layers { name: "k" inputs: "ln1" linear { out_features: 8 } }
  layers { name: "v" inputs: "ln1" linear { out_features: 8 } }
  layers { name: "attn" inputs: "q" inputs: "k" inputs: "v" attention { heads: 2 causal: true } }
  layers { name: "res" inputs: "wpe" inputs: "attn" add {} }
  layers { name: "ln_f" inputs: "res" layer_norm {} }
  layers { name: "pool" inputs: "ln_f" reduce_mean { axes: [1] } }
  layers { name: "head" inputs: "pool" linear { out_features: 5 } }
  layers { name: "loss" inputs: "head" softmax_cross_entropy {} }
)pb";

// A language model in miniature: the decoder's layers up to ln_f, then each
// token predicts a class (a next token): a loss over (N,L,classes) with a
// label per position.
inline std::string LanguageModelText() {
  std::string text = kDecoderOps;
  text = text.substr(0, text.find("  layers { name: \"pool\""));
  absl::StrReplaceAll({{"decoder_ops", "language_ops"}, {"num_classes: 5", "num_classes: 11"}}, &text);
  return text + R"pb(
    layers { name: "lm_head" inputs: "ln_f" linear { out_features: 11 bias: false } }
    layers { name: "loss" inputs: "lm_head" softmax_cross_entropy {} })pb";
}

// The language model with GPT-2's weight tying (lm_head's weight is wte's
// table, its gradient the sum of both layers') and nanoGPT's bias-free
// final layer norm.
inline std::string TiedLanguageModelText() {
  std::string text = LanguageModelText();
  absl::StrReplaceAll({{"language_ops", "tied_language_ops"},
                       {"linear { out_features: 11 bias: false }", "linear { out_features: 11 bias: false tied_to: \"wte\" }"},
                       {"name: \"ln_f\" inputs: \"res\" layer_norm {}", "name: \"ln_f\" inputs: \"res\" layer_norm { bias: false }"}},
                      &text);
  return text;
}

inline absl::StatusOr<planner::Graph> AllOps() { return test_util::GraphFromText(kAllOps); }
inline absl::StatusOr<planner::Graph> ActivationOps() { return test_util::GraphFromText(kActivationOps); }
inline absl::StatusOr<planner::Graph> ShapeOps() { return test_util::GraphFromText(kShapeOps); }
inline absl::StatusOr<planner::Graph> TransformerOps() { return test_util::GraphFromText(kTransformerOps); }
inline absl::StatusOr<planner::Graph> DecoderOps() { return test_util::GraphFromText(kDecoderOps); }
inline absl::StatusOr<planner::Graph> UpsampleOps() { return test_util::GraphFromText(kUpsampleOps); }
inline absl::StatusOr<planner::Graph> SequenceBnOps() { return test_util::GraphFromText(kSequenceBnOps); }
inline absl::StatusOr<planner::Graph> RegressionOps() { return test_util::GraphFromText(kRegressionOps); }
inline absl::StatusOr<planner::Graph> LanguageOps() { return test_util::GraphFromText(LanguageModelText()); }
inline absl::StatusOr<planner::Graph> TiedLanguageOps() { return test_util::GraphFromText(TiedLanguageModelText()); }

}  // namespace slimtrain::engine::testing

#endif  // SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_MODELS_H_
