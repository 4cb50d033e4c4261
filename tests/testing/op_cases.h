// op_cases.h — the op cases every backend's tests share. The fast (CPU)
// backend's tests and the CUDA backend's check their kernels against the
// reference backend on these same rows, so a row added here reaches every
// backend; a test adds rows of its own only for what one backend alone needs
// (a code path, a library's limit).
//
//   for (const PoolCase& t : PoolCases()) {
//     const planner::Node n = PoolNode(planner::OpKind::kMaxPool, t);
//     const std::vector<float> x = MaxPoolInput(t.batch * t.c * t.h * t.w);  // (N,C,H,W)
//     ... run the backend's and the reference's kernels on x, compare ...
//   }
//
// Everything here is deterministic: inputs come from fixed seeds.
#ifndef SLIMTRAIN_TESTS_TESTING_OP_CASES_H_
#define SLIMTRAIN_TESTS_TESTING_OP_CASES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "planner/graph.h"

namespace slimtrain::test_util {

// n values uniform in [lo, hi), from a fixed seed.
std::vector<float> Random(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// A node outside any graph, for ops whose kernels read only its shapes.
planner::Node MakeNode(planner::OpKind kind, std::vector<planner::Dims> inputs, planner::Dims out, int id = 7);

// ------------------------------------------------------------ ReLU, sigmoid, tanh

// The activations with kernels of their own in the Backend interface.
enum class Unary { kRelu, kSigmoid, kTanh };

// `n` inputs uniform in [−12, 12), the first three (where n > 2) 0, −0 and,
// for ReLU, a NaN (mapped to 0), for sigmoid and tanh 1e-4.
std::vector<float> UnaryInput(Unary op, int64_t n);

// `op`'s forward and backward kernels of `backend` on `n` elements.
void UnaryForward(engine::Backend& backend, Unary op, int64_t n, const void* x, void* y);
void UnaryBackward(engine::Backend& backend, Unary op, int64_t n, const void* y, const void* dy, void* dx,
                   bool accumulate);

// ------------------------------------------------------------ conv2d, linear

struct ConvCase {
  std::string name;
  int64_t batch, c, h, w, k, r, stride, pad, dil, groups;
  bool bias;
  // A non-square window instead of r, stride, pad, dil (conv2d's fields).
  std::string window = "";
};

// The model a conv case runs in (protobuf text): pre = relu(input) is read
// by conv_a and conv_b (conv_b's backward runs first, so conv_a's
// accumulates into pre's gradient); `first` reads the model input (no input
// gradient).
std::string ConvSpec(const ConvCase& t);

// The conv2d rows both backends run: ResNet's 3x3 and 1x1 projections,
// stride, dilation, groups, a 5x5 kernel without padding, non-square
// windows and a 1-D convolution as 1xL.
std::vector<ConvCase> CommonConvCases();

struct LinearCase {
  std::string name;
  int64_t batch;
  planner::Dims in;  // (F) or an image (C,H,W), flattened by the layer
  int64_t out;
  bool bias;
};

// The model a linear case runs in: fc_a and fc_b read pre = relu(input) (fc_a
// accumulates into its gradient), `first` reads the model input.
std::string LinearSpec(const LinearCase& t);

// The linear rows both backends run: a ResNet classifier, no bias, image
// inputs, a wide layer.
std::vector<LinearCase> CommonLinearCases();

// A conv2d or linear case's tensors, each uniform from a seed of its own.
struct LayerInputs {
  std::vector<float> x;     // the layer's input
  std::vector<float> w;     // its weight, in [−0.3, 0.3)
  std::vector<float> bias;  // one per output channel or feature
  std::vector<float> dy;    // the gradient of its output
  std::vector<float> dx0;   // as x: what an accumulating input gradient starts from
};

// For ConvSpec(t)'s conv_a (`conv`), seeds 1 to 5: x (N,C,H,W), w
// (K,C/groups,kh,kw), dy (N,K,Ho,Wo).
LayerInputs ConvInputs(const ConvCase& t, const planner::Node& conv);

// For LinearSpec(t)'s fc_a, seeds 11 to 15: x (N,F), w (out,F), dy (N,out).
LayerInputs LinearInputs(const LinearCase& t);

// ------------------------------------------------------------ batch_norm

struct BnCase {
  std::string name;
  int64_t batch;
  planner::Dims dims;  // (C,H,W), (C,L) or (F)
};

// The batch_norm rows both backends run: ResNet's, odd channels, features,
// one value per channel, a sequence.
std::vector<BnCase> CommonBnCases();

// A batch_norm case's node (eps 1e-3, momentum 0.2) and tensors, each
// uniform from a seed of its own (21 to 27).
struct BnInputs {
  planner::Node node;
  std::vector<float> x;      // as the node's input, in [2, 5): a mean far from 0
  std::vector<float> gamma;  // (C) in [−2, 2)
  std::vector<float> beta;   // (C)
  std::vector<float> rm0;    // (C) the running mean before the step
  std::vector<float> rv0;    // (C) the running variance, in [0.5, 2)
  std::vector<float> dy;     // as x: the output's gradient
  std::vector<float> dx0;    // as x: what an accumulating input gradient starts from
};
BnInputs BatchNormInputs(const BnCase& t);

// ------------------------------------------------------------ pooling

struct PoolCase {
  int64_t batch, c, h, w, k, stride, pad;  // a k x k window on (N,C,H,W)
};

// ResNet's 2x2, overlapping padded windows on odd sizes, more channels than
// one accumulator chunk, torchvision's stem pool at batch 64 (several CPU
// threads), a window as large as the padded input.
std::vector<PoolCase> PoolCases();

// The max_pool or avg_pool node of a case (count_include_pad left default).
planner::Node PoolNode(planner::OpKind kind, const PoolCase& t);

// `count` max_pool inputs: values on a 0.5 grid (many ties in a window), a
// NaN at index 5 and −∞ last.
std::vector<float> MaxPoolInput(int64_t count);

// Non-square windows and asymmetric pads (ONNX's), max and average, as
// layer ops ("max_pool { ... }") for a (5,7,8) input.
std::vector<std::string> AsymmetricPoolOps();

// ------------------------------------------------------------ attention

struct AttentionCase {
  std::vector<int64_t> dims;  // the model input, (L,D)
  std::string layers;         // q, k, v from the input and the attention "op"
  int64_t batch;
};

// Fused attention: 3 heads on 65 tokens, causal with 6 heads, and a query
// shorter than the keys (cross-attention).
std::vector<AttentionCase> AttentionCases();

// ------------------------------------------------------------ activations, softmax, norms

// The layers text of an op that reads the model input and is named "op"
// (`op` is the layer's op, "softmax { axis: 2 }"), for test_util::OpNode.
std::string OpLayer(const std::string& op);

struct PointwiseCase {
  std::string name;  // the test's name: "GeluTanh"
  std::string op;    // the layer's op: "gelu { approximate: \"tanh\" }"
};

// The pointwise activations (engine/pointwise_math.h), one row per op and
// attribute set: both sides of each rule (negative slopes and alphas, a
// default slope, softplus's threshold). Each test picks its sizes.
std::vector<PointwiseCase> PointwiseCases();

struct ShapedOpCase {
  std::string name;           // the test's name: "ImageHeightChunked"
  std::vector<int64_t> dims;  // per example: (C,H,W), (L,D), (H,L,L) or (F)
  std::string op;             // the layer's op, as PointwiseCase's
  int64_t batch;
};

// softmax and log_softmax on every axis of an image (channels are innermost
// in memory) and of features; causal rows (L,L) and heads (H,L,L); lines
// 900 apart and 300 heads side by side (the fast backend's chunked paths).
std::vector<ShapedOpCase> SoftmaxCases();

// layer_norm over GPT-sized tokens (the fast backend's column blocks of
// 256), over two axes, over a whole image (γ in (C,H,W) order), without γ
// and β, and with γ only (nanoGPT's).
std::vector<ShapedOpCase> LayerNormCases();

// group_norm on an image, on (C,L) with and without γ and β, on features.
std::vector<ShapedOpCase> GroupNormCases();

// ------------------------------------------------------------ losses, embedding

// softmax_cross_entropy over `classes` with `smoothing`, on a batch of logits
// in [−8, 8) (seed 121) with labels 7i mod classes.
struct CrossEntropyCase {
  planner::Node node;
  std::vector<float> logits;    // (N,classes)
  std::vector<int32_t> labels;  // (N)
};
CrossEntropyCase CrossEntropyInputs(int64_t batch, int64_t classes, double smoothing);

// An embedding of 50 rows of 96 read by 64 token ids per example, batch 8:
// ids repeat often (only ids below 23 occur, so rows sum many positions and
// some rows none), the table (seed 131) and the output's gradient (seed 132).
struct EmbeddingCase {
  std::vector<int64_t> dims = {64};  // the model input: token ids
  std::string layers = R"pb(layers { name: "op" inputs: "input"
                                     embedding { num_embeddings: 50 embedding_dim: 96 } })pb";
  int64_t batch = 8, tokens = 8 * 64, rows = 50, d = 96;
  std::vector<float> ids;    // (N,64), whole numbers
  std::vector<float> table;  // (50,96)
  std::vector<float> dy;     // (N,64,96)
};
EmbeddingCase EmbeddingInputs();

// ------------------------------------------------------------ the BN→ReLU quantizer

struct QuantCase {
  int bits;            // 8, 4, 2 or planner::kPassThroughBits
  int64_t batch;
  planner::Dims dims;  // (C,H,W) or (F)
  uint32_t seed = 3;   // QuantizerEdgeInputs's
  bool avx512 = true;  // the fast backend: false runs its portable path
};

// A quantizer case's test name: "k4_n3x5x3x3" (bits, batch, dims), "pass_..."
// for pass-through bits; each test appends what else its cases vary.
std::string QuantCaseName(const QuantCase& q);

// The quantizer's inputs for one batch norm node, with its hard cases.
struct QuantizerInputs {
  std::vector<float> x;      // (N,C,H,W) or (N,F): batch norm's input
  std::vector<float> gamma;  // (C)
  std::vector<float> beta;   // (C)
  std::vector<float> y;      // as x: batch norm's output, edge values written in
  std::vector<float> stats;  // (2C): what the training-mode forward saved
};

// x uniform in [−1, 3), γ in [−2, 2), β in [−1, 1) from seeds 10·seed + 1, 2,
// 3; channels at the code's edges where there are enough of them (γ = 0,
// γ = −0, β = ±40 far outside 3σ, γ = 1e-30 for a huge b = β/|γ|, b = 10
// and −7.5 putting the 2-bit cut −b far in a tail); the reference backend's
// training-mode batch norm; then every 7th y whose channel (taken as the
// index mod C) has γ ≠ 0, in turn: ±0, a subnormal or FLT_MIN; a value on one
// of the channel's Lloyd-Max cuts (2 bits) or a bin edge (4 and 8 bits);
// left as it is.
QuantizerInputs QuantizerEdgeInputs(const planner::Node& bn, int64_t batch, int bits, uint32_t seed);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_OP_CASES_H_
