// The Executor keeps docs/DESIGN.md's invariants on real models: the plan is what
// runs, approx-K's forward is exact and its gradient error shrinks with K,
// pass-through reproduces exact gradients, checkpointing is exact (with
// dropout too), no step touches a buffer outside its lifetime, and the whole
// model's gradients match finite differences in float64.
#include "engine/executor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_replace.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/data.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "planner/planner.h"
#include "planner/schedule.h"
#include "tests/engine/executor_test_util.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine {
namespace {

using planner::Graph;
using planner::Strategy;

// The graphs below come back as StatusOr: a test takes them with
// ASSERT_OK_AND_ASSIGN, so a model that does not build fails that test alone.
using test_util::GraphFromText;
using test_util::ZooGraph;

// Every op the graph allows, small: conv (groups, dilation, stride), BN→ReLU,
// max/avg pool, concat, add, sigmoid, tanh, dropout, flatten, linear.
constexpr char kAllOps[] = R"pb(
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
constexpr char kActivationOps[] = R"pb(
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
constexpr char kShapeOps[] = R"pb(
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
constexpr char kTransformerOps[] = R"pb(
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
constexpr char kUpsampleOps[] = R"pb(
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
constexpr char kSequenceBnOps[] = R"pb(
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
constexpr char kRegressionOps[] = R"pb(
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
constexpr char kDecoderOps[] = R"pb(
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
std::string LanguageModelText() {
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
std::string TiedLanguageModelText() {
  std::string text = LanguageModelText();
  absl::StrReplaceAll({{"language_ops", "tied_language_ops"},
                       {"linear { out_features: 11 bias: false }", "linear { out_features: 11 bias: false tied_to: \"wte\" }"},
                       {"name: \"ln_f\" inputs: \"res\" layer_norm {}", "name: \"ln_f\" inputs: \"res\" layer_norm { bias: false }"}},
                      &text);
  return text;
}

absl::StatusOr<Graph> AllOps() { return GraphFromText(kAllOps); }
absl::StatusOr<Graph> ActivationOps() { return GraphFromText(kActivationOps); }
absl::StatusOr<Graph> ShapeOps() { return GraphFromText(kShapeOps); }
absl::StatusOr<Graph> TransformerOps() { return GraphFromText(kTransformerOps); }
absl::StatusOr<Graph> DecoderOps() { return GraphFromText(kDecoderOps); }
absl::StatusOr<Graph> UpsampleOps() { return GraphFromText(kUpsampleOps); }
absl::StatusOr<Graph> SequenceBnOps() { return GraphFromText(kSequenceBnOps); }
absl::StatusOr<Graph> RegressionOps() { return GraphFromText(kRegressionOps); }
absl::StatusOr<Graph> LanguageOps() { return GraphFromText(LanguageModelText()); }
absl::StatusOr<Graph> TiedLanguageOps() { return GraphFromText(TiedLanguageModelText()); }

using testing::Batch;
using testing::RandomBatch;

std::unique_ptr<Executor> MakeExecutor(const Graph& g, Strategy s, int64_t batch, Backend* backend,
                                       bool debug = false, const planner::TensorBits* tensor_bits = nullptr) {
  ExecutorOptions options;
  options.seed = 7;
  options.debug = debug;
  options.tensor_bits = tensor_bits;
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(g, s, batch, backend, options);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

struct Gradients {
  double loss = 0;
  std::vector<double> grads;  // every trainable gradient
  std::vector<double> state;  // every parameter incl. running statistics, after the step
};

Gradients RunForwardBackward(const Graph& g, Strategy s, int64_t batch, Backend* backend, const Batch& data,
                             bool debug = false, const planner::TensorBits* tensor_bits = nullptr) {
  std::unique_ptr<Executor> e = MakeExecutor(g, s, batch, backend, debug, tensor_bits);
  Gradients out;
  if (e == nullptr) return out;
  absl::StatusOr<StepResult> r = ForwardBackwardOf(*e, data);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return out;
  out.loss = r->loss;
  for (int64_t i = 0; i < e->params().trainable_count(); ++i) out.grads.push_back(e->params().GetGrad(i));
  for (int64_t i = 0; i < e->params().total_count(); ++i) out.state.push_back(e->params().Get(i));
  return out;
}

using testing::L2RelativeError;

// A batch norm on the model input gets no input gradient (dx == nullptr):
// every backend computes dγ and dβ alone, for every strategy, and the fast
// backend's gradients match the reference's.
TEST(ExecutorTest, BatchNormOnTheModelInput) {
  v1::ModelSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
    name: "input_bn"
    input { dims: 3 dims: 6 dims: 6 }
    num_classes: 4
    layers { name: "bn0" inputs: "input" batch_norm {} }
    layers { name: "relu0" inputs: "bn0" relu {} }
    layers { name: "conv1" inputs: "relu0" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
    layers { name: "gap" inputs: "conv1" global_avg_pool {} }
    layers { name: "fc" inputs: "gap" linear { out_features: 4 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
  )pb", &spec));
  ASSERT_OK_AND_ASSIGN(const Graph g, Graph::Build(spec));
  const Batch data = RandomBatch(g, 5, 11);
  ReferenceBackend reference(DType::kF32);
  FastBackend fast(1);
  for (Strategy s : {Strategy::kExact, Strategy::kApprox4, Strategy::kCheckpoint}) {
    const Gradients a = RunForwardBackward(g, s, 5, &reference, data);
    const Gradients b = RunForwardBackward(g, s, 5, &fast, data);
    ASSERT_FALSE(a.grads.empty()) << planner::StrategyName(s);
    EXPECT_LT(L2RelativeError(b.grads, a.grads), 1e-4) << planner::StrategyName(s);
    // bn0's dγ, dβ are the first trainable gradients: not all zero.
    EXPECT_NE(a.grads[0], 0.0) << planner::StrategyName(s);
  }
}

// The reference backend, recording the size of every allocation made through it.
class RecordingBackend : public ReferenceBackend {
 public:
  RecordingBackend() : ReferenceBackend(DType::kF32) {}
  absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes) override {
    allocations.push_back(bytes);
    return ReferenceBackend::Allocate(bytes);
  }
  std::vector<int64_t> allocations;
};

// The executor's one activation allocation is the arena the planner sizes
// for the same graph, strategy and batch (planned here on its own), and it
// covers every buffer at its offset; on host memory it is the only
// allocation the executor makes through the backend.
TEST(ExecutorTest, ArenaIsExactlyThePlannedSize) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  for (Strategy s : planner::AllStrategies()) {
    SCOPED_TRACE(planner::StrategyName(s));
    RecordingBackend backend;
    planner::PlanOptions options;
    options.batch_size = 4;
    options.include_buffers = true;
    options.device = backend.name();
    absl::StatusOr<v1::MemoryPlan> plan = planner::PlanMemory(g, s, options, backend);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_GT(plan->arena_bytes(), 0);
    int64_t end = 0;
    for (const v1::Buffer& b : plan->buffers()) end = std::max(end, b.offset_bytes() + b.size_bytes());
    EXPECT_LE(end, plan->arena_bytes());

    std::unique_ptr<Executor> e = MakeExecutor(g, s, 4, &backend);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(backend.allocations, std::vector<int64_t>{plan->arena_bytes()});
    EXPECT_EQ(e->arena_bytes(), plan->arena_bytes());
  }
}

TEST(ExecutorTest, ApproxForwardIsExactBitForBit) {
  ReferenceBackend reference(DType::kF32);
  FastBackend fast;
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), ZooGraph("fmnist_resnet_post"), ActivationOps(), TransformerOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 4, 1);
    for (Backend* backend : std::vector<Backend*>{&reference, &fast}) {
      const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, backend, data);
      for (Strategy s : {Strategy::kApprox8, Strategy::kApprox4, Strategy::kApprox2}) {
        const Gradients approx = RunForwardBackward(g, s, 4, backend, data);
        EXPECT_EQ(std::memcmp(&approx.loss, &exact.loss, sizeof(double)), 0)
            << g.spec().name() << " " << backend->name() << " " << planner::StrategyName(s) << ": " << approx.loss
            << " vs " << exact.loss;
      }
    }
  }
}

// Batch norm `bn`'s β gradient under approx-8, -4 and -2 equals exact's bit
// for bit: it is Σ g·mask with an exact upstream gradient, so equal only if
// the mask the approximate backward applies is the forward's own. Call it
// through ASSERT_NO_FATAL_FAILURE.
void ExpectBetaGradientExactUnderApprox(const Graph& g, const std::string& bn) {
  ReferenceBackend backend(DType::kF32);
  const Batch data = RandomBatch(g, 4, 2);
  std::unique_ptr<Executor> probe = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(probe, nullptr);
  const int64_t beta = probe->params().node(g.Find(bn)).beta;
  const int64_t channels = g.node(g.Find(bn)).out[0];
  const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
  ASSERT_EQ(exact.grads.size(), static_cast<size_t>(probe->params().trainable_count()));
  for (Strategy s : {Strategy::kApprox8, Strategy::kApprox4, Strategy::kApprox2}) {
    const Gradients approx = RunForwardBackward(g, s, 4, &backend, data);
    ASSERT_EQ(approx.grads.size(), exact.grads.size()) << planner::StrategyName(s);
    for (int64_t c = 0; c < channels; ++c) {
      EXPECT_EQ(approx.grads[beta + c], exact.grads[beta + c]) << planner::StrategyName(s) << " channel " << c;
    }
  }
}

// The last BN→ReLU's mask comes from its codes.
TEST(ExecutorTest, ReluMaskFromCodesIsExact) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  ASSERT_NO_FATAL_FAILURE(ExpectBetaGradientExactUnderApprox(g, "bn"));
}

// The relu after a post-activation block's add has no batch_norm before it:
// its kRelu code keeps the mask exact, so the last block's bn2 β gradient
// (Σ of the masked, otherwise exact upstream gradient) equals exact's.
TEST(ExecutorTest, ReluMaskFromAReluCodeIsExact) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet_post"));
  ASSERT_NO_FATAL_FAILURE(ExpectBetaGradientExactUnderApprox(g, "layer3.2.bn2"));
}

TEST(ExecutorTest, ApproxGradientErrorShrinksWithMoreBitsAndVanishesWithPassThrough) {
  ReferenceBackend backend(DType::kF64);
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), ZooGraph("fmnist_resnet_post"), ActivationOps(), TransformerOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 8, 3);
    const Gradients exact = RunForwardBackward(g, Strategy::kExact, 8, &backend, data);
    const double e2 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox2, 8, &backend, data).grads, exact.grads);
    const double e4 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox4, 8, &backend, data).grads, exact.grads);
    const double e8 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox8, 8, &backend, data).grads, exact.grads);
    EXPECT_GT(e2, e4) << g.spec().name();
    EXPECT_GT(e4, e8) << g.spec().name();
    EXPECT_GT(e8, 0.0) << g.spec().name();
    std::printf("%s relative gradient error: approx2 %.3g, approx4 %.3g, approx8 %.3g\n", g.spec().name().c_str(), e2,
                e4, e8);
  }
  // Pass-through codes keep every value: every coding's data path (encode
  // after the forward, decode in the first backward reading it) must give
  // exact's gradients on every op.
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), ZooGraph("fmnist_resnet_post"), AllOps(), ActivationOps(), ShapeOps(),
        TransformerOps(), DecoderOps(), LanguageOps(), TiedLanguageOps(), UpsampleOps(), SequenceBnOps(),
        RegressionOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 4, 3);
    const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
    const double pass =
        L2RelativeError(RunForwardBackward(g, Strategy::kApproxPassThrough, 4, &backend, data).grads, exact.grads);
    EXPECT_LT(pass, 1e-10) << g.spec().name() << ": pass-through must reproduce exact gradients";
  }
}

// Bits for every tensor approx4 codes: pass-through for all (`pass`), and
// 2, 4, 8 and exact in turn (`mixed`); `count` tensors.
struct TestBits {
  planner::TensorBits pass, mixed;
  int count = 0;
};
TestBits PassAndMixedBits(const Graph& g, Backend* backend) {
  TestBits t;
  std::unique_ptr<Executor> approx = MakeExecutor(g, Strategy::kApprox4, 4, backend);
  if (approx == nullptr) return t;
  for (const v1::Buffer& b : approx->plan().buffers()) {
    if (b.kind() != v1::Buffer::CODE) continue;
    t.pass[b.layer()] = planner::kPassThroughBits;
    const int bits[] = {2, 4, 8, 0};
    if (bits[t.count % 4] != 0) t.mixed[b.layer()] = bits[t.count % 4];
    ++t.count;
  }
  return t;
}

// mixed: each tensor's own bits. With every tensor at pass-through bits the
// gradients are exact's; with them at 2, 4, 8 and exact in turn the forward
// stays exact bit for bit and the gradient error lies between approx2's and
// exact's; a plan's bits come back from the plan alone (CreateFromPlan).
TEST(ExecutorTest, MixedRunsEachTensorWithItsOwnBits) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet_post"));
  const Batch data = RandomBatch(g, 4, 6);
  const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
  const TestBits bits = PassAndMixedBits(g, &backend);
  const planner::TensorBits& pass = bits.pass;
  const planner::TensorBits& mixed = bits.mixed;
  ASSERT_GT(bits.count, 8);
  EXPECT_LT(L2RelativeError(RunForwardBackward(g, Strategy::kMixed, 4, &backend, data, false, &pass).grads,
                            exact.grads),
            1e-10);
  const Gradients m = RunForwardBackward(g, Strategy::kMixed, 4, &backend, data, false, &mixed);
  EXPECT_EQ(m.loss, exact.loss);
  const double e2 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox2, 4, &backend, data).grads, exact.grads);
  const double em = L2RelativeError(m.grads, exact.grads);
  EXPECT_GT(em, 0);
  EXPECT_LT(em, e2);
  std::unique_ptr<Executor> planned = MakeExecutor(g, Strategy::kMixed, 4, &backend, false, &mixed);
  ASSERT_NE(planned, nullptr);
  absl::StatusOr<std::unique_ptr<Executor>> again =
      Executor::CreateFromPlan(g, planned->plan(), &backend, ExecutorOptions());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->arena_bytes(), planned->arena_bytes());
}

// mixed with recomputed segments: the segments up to the last checkpoint are
// recomputed exactly and only the rest is coded. With every code at
// pass-through bits the gradients are exact's; with 2, 4, 8 and exact in turn
// the loss is exact's and the gradient error below approx2's; the plan runs
// again from itself alone.
TEST(ExecutorTest, MixedRecomputesSegmentsAndCodesTheRest) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet_post"));
  const Batch data = RandomBatch(g, 4, 8);
  const std::vector<int> cuts = planner::CutPoints(g);
  ASSERT_GT(cuts.size(), 6u);
  const std::vector<int> checkpoints = {cuts[cuts.size() / 3], cuts[cuts.size() / 2]};
  const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
  const TestBits bits = PassAndMixedBits(g, &backend);
  const planner::TensorBits& pass = bits.pass;
  const planner::TensorBits& mixed = bits.mixed;
  auto run = [&](const planner::TensorBits& tensor_bits, v1::MemoryPlan* plan_out) {
    planner::PlanOptions options;
    options.batch_size = 4;
    options.include_buffers = true;
    options.tensor_bits = &tensor_bits;
    options.mixed_checkpoints = &checkpoints;
    absl::StatusOr<v1::MemoryPlan> plan = planner::PlanMemory(g, Strategy::kMixed, options, backend);
    EXPECT_TRUE(plan.ok()) << plan.status();
    Gradients out;
    if (!plan.ok()) return out;
    if (plan_out != nullptr) *plan_out = *plan;
    ExecutorOptions eo;
    eo.seed = 7;
    eo.debug = true;  // NaN-poisons every block outside its lifetime
    absl::StatusOr<std::unique_ptr<Executor>> e = Executor::CreateFromPlan(g, *plan, &backend, eo);
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) return out;
    absl::StatusOr<StepResult> r = ForwardBackwardOf(**e, data);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    out.loss = r->loss;
    for (int64_t i = 0; i < (*e)->params().trainable_count(); ++i) out.grads.push_back((*e)->params().GetGrad(i));
    return out;
  };
  v1::MemoryPlan plan;
  EXPECT_LT(L2RelativeError(run(pass, nullptr).grads, exact.grads), 1e-10);
  const Gradients m = run(mixed, &plan);
  EXPECT_EQ(m.loss, exact.loss);
  const double e2 = L2RelativeError(RunForwardBackward(g, Strategy::kApprox2, 4, &backend, data).grads, exact.grads);
  const double em = L2RelativeError(m.grads, exact.grads);
  EXPECT_GT(em, 0);
  EXPECT_LT(em, e2);
  ASSERT_EQ(plan.checkpoints_size(), 2);
  EXPECT_GT(plan.recompute_flops(), 0);
  int coded = 0;
  for (const v1::Buffer& b : plan.buffers()) {
    if (b.kind() != v1::Buffer::CODE) continue;
    ++coded;
    EXPECT_GT(g.Find(b.layer()), checkpoints.back()) << b.name();
  }
  EXPECT_GT(coded, 0);
}

TEST(ExecutorTest, CheckpointGradientsEqualExactIncludingDropout) {
  ReferenceBackend backend(DType::kF64);
  for (const absl::StatusOr<Graph>& built :
       {ZooGraph("fmnist_resnet"), AllOps(), ActivationOps(), ShapeOps(), TransformerOps(), DecoderOps(), LanguageOps(),
        TiedLanguageOps(), UpsampleOps(), SequenceBnOps(), RegressionOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    const Batch data = RandomBatch(g, 4, 4);
    const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
    for (Strategy s : {Strategy::kCheckpoint, Strategy::kCheckpointOptimal}) {
      const Gradients ckpt = RunForwardBackward(g, s, 4, &backend, data);
      EXPECT_EQ(ckpt.loss, exact.loss) << g.spec().name();
      EXPECT_LT(L2RelativeError(ckpt.grads, exact.grads), 1e-12) << g.spec().name() << " " << planner::StrategyName(s);
      // Recomputation leaves the running statistics as one forward pass did.
      EXPECT_EQ(ckpt.state, exact.state) << g.spec().name() << " " << planner::StrategyName(s);
    }
  }
}

TEST(ExecutorTest, NoStepTouchesABufferOutsideItsLifetime) {
  // Debug mode fills every block with NaNs before its first and after its
  // last step: any read outside a lifetime would change the results. The fast
  // backend's workspaces are in the plan too.
  ReferenceBackend reference(DType::kF32);
  FastBackend fast;
  for (Backend* backend : std::vector<Backend*>{&reference, &fast}) {
    for (const absl::StatusOr<Graph>& built :
         {ZooGraph("fmnist_resnet"), AllOps(), ActivationOps(), ShapeOps(), TransformerOps(), DecoderOps(),
          LanguageOps(), TiedLanguageOps(), UpsampleOps(), SequenceBnOps(), RegressionOps()}) {
      ASSERT_TRUE(built.ok()) << built.status();
      const Graph& g = *built;
      const Batch data = RandomBatch(g, 4, 5);
      for (Strategy s : planner::AllStrategies()) {
        const Gradients normal = RunForwardBackward(g, s, 4, backend, data);
        const Gradients poisoned = RunForwardBackward(g, s, 4, backend, data, /*debug=*/true);
        EXPECT_EQ(std::memcmp(&normal.loss, &poisoned.loss, sizeof(double)), 0)
            << backend->name() << " " << planner::StrategyName(s);
        EXPECT_EQ(normal.grads, poisoned.grads)
            << backend->name() << " " << g.spec().name() << " " << planner::StrategyName(s);
      }
    }
  }
}

TEST(ExecutorTest, WholeModelGradientsMatchFiniteDifferencesInFloat64) {
  ReferenceBackend backend(DType::kF64);
  for (const absl::StatusOr<Graph>& built : {AllOps(), ActivationOps(), ShapeOps(), TransformerOps(), DecoderOps(),
                                             LanguageOps(), TiedLanguageOps(), UpsampleOps(), SequenceBnOps(),
                                             RegressionOps()}) {
    ASSERT_TRUE(built.ok()) << built.status();
    const Graph& g = *built;
    SCOPED_TRACE(g.spec().name());
    const Batch data = RandomBatch(g, 3, 6);
    for (Strategy s : {Strategy::kExact, Strategy::kCheckpoint}) {
      std::unique_ptr<Executor> e = MakeExecutor(g, s, 3, &backend);
      ASSERT_NE(e, nullptr);
      ASSERT_TRUE(ForwardBackwardOf(*e, data).ok());
      std::vector<double> analytic;
      for (int64_t i = 0; i < e->params().trainable_count(); ++i) analytic.push_back(e->params().GetGrad(i));
      std::mt19937_64 rng(9);
      // Every parameter tensor, a few elements each.
      for (const NamedTensor& t : e->params().tensors()) {
        if (!t.trainable) continue;
        int64_t count = 1;
        for (int64_t d : t.shape) count *= d;
        for (int k = 0; k < 3; ++k) {
          const int64_t i = t.offset + static_cast<int64_t>(rng() % count);
          const double h = 1e-6, original = e->params().Get(i);
          e->params().Set(i, original + h);
          ASSERT_OK_AND_ASSIGN(const StepResult up, ForwardBackwardOf(*e, data));
          e->params().Set(i, original - h);
          ASSERT_OK_AND_ASSIGN(const StepResult down, ForwardBackwardOf(*e, data));
          e->params().Set(i, original);
          const double numeric = (up.loss - down.loss) / (2 * h);
          EXPECT_NEAR(analytic[i], numeric, 1e-6 + 1e-5 * std::fabs(numeric))
              << t.name << " element " << i - t.offset << " " << planner::StrategyName(s);
        }
      }
    }
  }
}

TEST(ExecutorTest, TrainingStepsLowerTheLossOnAFixedBatch) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 8, 8);
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kApprox4, 8, &backend);
  ASSERT_NE(e, nullptr);
  ASSERT_OK_AND_ASSIGN(const StepResult first, e->TrainStep(data.images.data(), data.labels.data(), 0.05));
  StepResult last = first;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(last, e->TrainStep(data.images.data(), data.labels.data(), 0.05));
  }
  EXPECT_LT(last.loss, first.loss * 0.7) << first.loss << " -> " << last.loss;
  EXPECT_EQ(e->steps_run(), 11);
}

TEST(ExecutorTest, RejectsAPlanThatDoesNotMatchItsSchedule) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(e, nullptr);
  v1::MemoryPlan plan = e->plan();
  plan.mutable_buffers(3)->set_size_bytes(plan.buffers(3).size_bytes() / 2);
  absl::StatusOr<std::unique_ptr<Executor>> bad = Executor::CreateFromPlan(g, plan, &backend, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(bad.status().message()).find("does not match the schedule"), std::string::npos);
  plan.clear_buffers();
  EXPECT_FALSE(Executor::CreateFromPlan(g, plan, &backend, {}).ok());
}

TEST(ExecutorTest, RejectsTokenIdsThatAreNotWholeNumbersInTheVocabulary) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, DecoderOps());
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 2, &backend);
  ASSERT_NE(e, nullptr);
  Batch data = RandomBatch(g, 2, 3);
  ASSERT_TRUE(ForwardBackwardOf(*e, data).ok());
  for (const float bad : {11.0f, -1.0f, 2.5f, std::nanf("")}) {
    Batch b = data;
    b.images[7] = bad;
    absl::StatusOr<StepResult> r = e->ForwardBackward(b.images.data(), b.labels.data());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(r.status().message()).find("input[1][1]"), std::string::npos) << r.status();
    EXPECT_NE(std::string(r.status().message()).find("embedding 'wte' needs token ids, whole numbers in [0, 11)"),
              std::string::npos)
        << r.status();
  }
}

// A loss over (N,L,classes): a label per position, the loss their mean,
// `correct` counting positions; labels out of range are named by position.
// The trainer, eval and fidelity, whose datasets are images, refuse such a
// model (engine::CheckImageClassifier) rather than misread its labels.
TEST(ExecutorTest, SequenceLossTakesALabelPerPosition) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, LanguageOps());
  EXPECT_EQ(planner::LabelsPerExample(g), 6);
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 3, &backend);
  ASSERT_NE(e, nullptr);
  Batch data = RandomBatch(g, 3, 4);
  ASSERT_EQ(data.labels.size(), 18u);
  absl::StatusOr<StepResult> r = ForwardBackwardOf(*e, data);
  ASSERT_TRUE(r.ok()) << r.status();
  // A random model guesses about one class in 11: the loss near log(11).
  EXPECT_NEAR(r->loss, std::log(11.0), 0.5);
  EXPECT_LE(r->correct, 18);
  data.labels[13] = 11;
  r = ForwardBackwardOf(*e, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "labels[2][1] is 11, outside [0, 11)");
  // A dataset of images with a label each does not fit; the synthetic
  // token sequences do.
  const absl::Status refused = CheckDatasetFits(g, SyntheticDataset(8, {6}, 11, 1, Split::kTrain));
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(refused.message()).find("model 'language_ops' reads token ids"), std::string::npos)
      << refused;
  EXPECT_TRUE(CheckDatasetFits(g, SyntheticDatasetFor(g, 8, 1, Split::kTrain)).ok());
  ASSERT_OK_AND_ASSIGN(const Graph all_ops, AllOps());
  EXPECT_TRUE(CheckDatasetFits(all_ops, SyntheticDatasetFor(all_ops, 8, 1, Split::kTrain)).ok());
}

// Weight tying: lm_head owns no weight (the parameter count drops by the
// table's 11x8), reads wte's table, and the table's gradient is the sum of
// the two layers' (the finite-difference test above checks the sum; here,
// the sum of the untied model's two gradients, with the same weights).
TEST(ExecutorTest, TiedLinearSharesTheEmbeddingTableAndSumsItsGradients) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph tied, TiedLanguageOps());
  ASSERT_OK_AND_ASSIGN(const Graph untied, LanguageOps());
  // ln_f has no β in the tied model: 8 fewer, and the table once.
  EXPECT_EQ(untied.parameter_count() - tied.parameter_count(), 11 * 8 + 8);
  std::unique_ptr<Executor> t = MakeExecutor(tied, Strategy::kExact, 3, &backend);
  std::unique_ptr<Executor> u = MakeExecutor(untied, Strategy::kExact, 3, &backend);
  ASSERT_NE(t, nullptr);
  ASSERT_NE(u, nullptr);
  auto find = [](const ParameterRegion& p, const std::string& name) -> const NamedTensor* {
    for (const NamedTensor& x : p.tensors()) {
      if (x.name == name) return &x;
    }
    return nullptr;
  };
  EXPECT_EQ(find(t->params(), "lm_head.weight"), nullptr);
  EXPECT_EQ(find(t->params(), "ln_f.bias"), nullptr);
  // The untied model with the tied one's weights: its lm_head gets wte's
  // table, its ln_f.bias zero (what the tied model has none of).
  for (const NamedTensor& x : u->params().tensors()) {
    const NamedTensor* src = find(t->params(), x.name == "lm_head.weight" ? "wte.weight" : x.name);
    int64_t count = 1;
    for (int64_t d : x.shape) count *= d;
    for (int64_t i = 0; i < count; ++i) u->params().Set(x.offset + i, src != nullptr ? t->params().Get(src->offset + i) : 0.0);
  }
  const Batch data = RandomBatch(tied, 3, 8);
  ASSERT_OK_AND_ASSIGN(const StepResult rt, t->ForwardBackward(data.images.data(), data.labels.data()));
  ASSERT_OK_AND_ASSIGN(const StepResult ru, u->ForwardBackward(data.images.data(), data.labels.data()));
  EXPECT_NEAR(rt.loss, ru.loss, 1e-12);
  const NamedTensor* table_t = find(t->params(), "wte.weight");
  const NamedTensor* table_u = find(u->params(), "wte.weight");
  const NamedTensor* head_u = find(u->params(), "lm_head.weight");
  ASSERT_NE(table_t, nullptr);
  ASSERT_NE(table_u, nullptr);
  ASSERT_NE(head_u, nullptr);
  for (int64_t i = 0; i < 11 * 8; ++i) {
    const double sum = u->params().GetGrad(table_u->offset + i) + u->params().GetGrad(head_u->offset + i);
    EXPECT_NEAR(t->params().GetGrad(table_t->offset + i), sum, 1e-12 + 1e-10 * std::fabs(sum)) << i;
  }
}

// mse_loss: float targets, not labels; the loss is PyTorch's mean over
// every element; evaluation counts the valid examples only; Predict writes
// the predictions.
TEST(ExecutorTest, RegressionTakesFloatTargets) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, RegressionOps());
  EXPECT_EQ(planner::TargetsPerExample(g), 3 * 2);
  EXPECT_EQ(planner::LabelsPerExample(g), 0);
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(e, nullptr);
  Batch data = RandomBatch(g, 4, 3);
  ASSERT_EQ(data.targets.size(), 24u);
  std::vector<float> predictions(24);
  ASSERT_TRUE(e->Predict(data.images.data(), predictions.data()).ok());
  double sum = 0;
  for (int i = 0; i < 24; ++i) sum += std::pow(static_cast<double>(predictions[i]) - data.targets[i], 2);
  absl::StatusOr<StepResult> r = e->ForwardBackward(data.images.data(), data.targets.data());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->loss, sum / 24, 1e-6 * sum);
  EXPECT_EQ(r->correct, 0);
  // The first example alone.
  double first = 0;
  for (int i = 0; i < 6; ++i) first += std::pow(static_cast<double>(predictions[i]) - data.targets[i], 2);
  absl::StatusOr<StepResult> one = e->Evaluate(data.images.data(), data.targets.data(), 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_NEAR(one->loss, first / 6, 1e-6 * first);
  // Labels for a regression, targets for a classifier, non-finite targets.
  const std::vector<int32_t> labels(4, 0);
  absl::StatusOr<StepResult> wrong = e->ForwardBackward(data.images.data(), labels.data());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(wrong.status().message()).find("ends in mse_loss, which takes float targets"),
            std::string::npos)
      << wrong.status();
  data.targets[7] = std::nanf("");
  absl::StatusOr<StepResult> nan = e->ForwardBackward(data.images.data(), data.targets.data());
  EXPECT_EQ(nan.status().message(), "targets[1][1] is nan: targets must be finite");
  ASSERT_OK_AND_ASSIGN(const Graph classifier, AllOps());
  std::unique_ptr<Executor> c = MakeExecutor(classifier, Strategy::kExact, 2, &backend);
  ASSERT_NE(c, nullptr);
  const Batch cb = RandomBatch(classifier, 2, 4);
  const std::vector<float> targets(64, 0.0f);
  absl::StatusOr<StepResult> misused = c->ForwardBackward(cb.images.data(), targets.data());
  EXPECT_NE(std::string(misused.status().message()).find("takes integer labels, not float targets"),
            std::string::npos)
      << misused.status();
}

TEST(ExecutorTest, RejectsLabelsOutsideTheClasses) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  Batch data = RandomBatch(g, 4, 9);
  data.labels[2] = 10;
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(e, nullptr);
  absl::StatusOr<StepResult> r = ForwardBackwardOf(*e, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "labels[2] is 10, outside [0, 10)");
}

}  // namespace
}  // namespace slimtrain::engine
