// See op_cases.h.
#include "tests/testing/op_cases.h"

#include <cmath>
#include <limits>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/cpu/reference_backend.h"
#include "engine/quant.h"
#include "planner/strategy.h"

namespace slimtrain::test_util {

std::vector<float> Random(int64_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

planner::Node MakeNode(planner::OpKind kind, std::vector<planner::Dims> inputs, planner::Dims out, int id) {
  planner::Node n;
  n.id = id;
  n.name = "node";
  n.kind = kind;
  n.input_dims = std::move(inputs);
  n.out = std::move(out);
  return n;
}

std::vector<float> UnaryInput(Unary op, int64_t n) {
  std::vector<float> x = Random(n, 41, -12.0f, 12.0f);
  if (n > 2) {
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = op == Unary::kRelu ? std::numeric_limits<float>::quiet_NaN() : 1e-4f;  // relu maps NaN to 0
  }
  return x;
}

void UnaryForward(engine::Backend& backend, Unary op, int64_t n, const void* x, void* y) {
  switch (op) {
    case Unary::kRelu: return backend.ReluForward(n, x, y);
    case Unary::kSigmoid: return backend.SigmoidForward(n, x, y);
    case Unary::kTanh: return backend.TanhForward(n, x, y);
  }
}

void UnaryBackward(engine::Backend& backend, Unary op, int64_t n, const void* y, const void* dy, void* dx,
                   bool accumulate) {
  switch (op) {
    case Unary::kRelu: return backend.ReluBackward(n, y, dy, dx, accumulate);
    case Unary::kSigmoid: return backend.SigmoidBackward(n, y, dy, dx, accumulate);
    case Unary::kTanh: return backend.TanhBackward(n, y, dy, dx, accumulate);
  }
}

std::string ConvSpec(const ConvCase& t) {
  const std::string window =
      !t.window.empty() ? t.window
                        : absl::StrFormat("kernel_size: %d stride: %d padding: %d dilation: %d", t.r, t.stride,
                                          t.pad, t.dil);
  const std::string conv = absl::StrFormat("conv2d { out_channels: %d %s groups: %d bias: %s }", t.k, window,
                                           t.groups, t.bias ? "true" : "false");
  return absl::StrFormat(R"pb(
    name: "conv_test" input { dims: %d dims: %d dims: %d } num_classes: 10
    layers { name: "pre" inputs: "input" relu {} }
    layers { name: "conv_a" inputs: "pre" %s }
    layers { name: "conv_b" inputs: "pre" %s }
    layers { name: "first" inputs: "input" %s }
    layers { name: "gap_a" inputs: "conv_a" global_avg_pool {} }
    layers { name: "gap_b" inputs: "conv_b" global_avg_pool {} }
    layers { name: "gap_f" inputs: "first" global_avg_pool {} }
    layers { name: "sum" inputs: "gap_a" inputs: "gap_b" inputs: "gap_f" add {} }
    layers { name: "fc" inputs: "sum" linear { out_features: 10 } }
    layers { name: "loss" inputs: "fc" softmax_cross_entropy {} })pb",
                         t.c, t.h, t.w, conv, conv, conv);
}

std::vector<ConvCase> CommonConvCases() {
  return {
      // name, batch, c, h, w, k, r, stride, pad, dil, groups, bias[, window]
      {"resnet_64x8x8", 3, 64, 8, 8, 64, 3, 1, 1, 1, 1, false},
      {"odd_bias_stride2", 3, 3, 17, 15, 8, 3, 2, 1, 1, 1, true},
      {"projection_1x1_s2", 5, 16, 8, 8, 32, 1, 2, 0, 1, 1, false},
      {"dilated", 2, 8, 9, 9, 8, 3, 1, 2, 2, 1, true},
      {"grouped", 2, 8, 10, 10, 12, 3, 1, 1, 1, 4, true},
      {"kernel5_no_pad", 2, 5, 9, 8, 7, 5, 1, 0, 1, 1, true},
      {"nonsquare_1x3_s2x1", 3, 6, 9, 8, 5, 0, 0, 0, 0, 1, true, "kernel_hw: [1, 3] stride_hw: [2, 1] pads: [0, 1]"},
      {"conv1d_as_1xL", 4, 8, 1, 20, 8, 0, 0, 0, 0, 1, true, "kernel_hw: [1, 5] stride_hw: [1, 2] pads: [0, 2]"},
  };
}

std::string LinearSpec(const LinearCase& t) {
  std::string dims;
  for (int64_t d : t.in) dims += absl::StrFormat("dims: %d ", d);
  const std::string fc = absl::StrFormat("linear { out_features: %d bias: %s }", t.out, t.bias ? "true" : "false");
  return absl::StrFormat(R"pb(
    name: "linear_test" input { %s } num_classes: %d
    layers { name: "pre" inputs: "input" relu {} }
    layers { name: "fc_a" inputs: "pre" %s }
    layers { name: "fc_b" inputs: "pre" %s }
    layers { name: "first" inputs: "input" %s }
    layers { name: "sum" inputs: "fc_a" inputs: "fc_b" inputs: "first" add {} }
    layers { name: "loss" inputs: "sum" softmax_cross_entropy {} })pb",
                         dims, t.out, fc, fc, fc);
}

std::vector<LinearCase> CommonLinearCases() {
  return {
      {"resnet_fc", 16, {64}, 10, true},      {"features_no_bias", 7, {33}, 5, false},
      {"image_input", 5, {4, 3, 5}, 7, true}, {"image_1x1", 9, {16, 1, 1}, 10, true},
      {"wide", 4, {300}, 200, true},
  };
}

LayerInputs ConvInputs(const ConvCase& t, const planner::Node& conv) {
  const int64_t n_in = t.batch * planner::NumElements(conv.input_dims[0]);
  const int64_t n_out = t.batch * planner::NumElements(conv.out);
  const int64_t n_w = t.k * (t.c / t.groups) * conv.kernel_h * conv.kernel_w;
  return {Random(n_in, 1), Random(n_w, 2, -0.3f, 0.3f), Random(t.k, 3), Random(n_out, 4), Random(n_in, 5)};
}

LayerInputs LinearInputs(const LinearCase& t) {
  const int64_t f = planner::NumElements(t.in);
  return {Random(t.batch * f, 11), Random(t.out * f, 12, -0.3f, 0.3f), Random(t.out, 13),
          Random(t.batch * t.out, 14), Random(t.batch * f, 15)};
}

std::vector<BnCase> CommonBnCases() {
  return {
      {"resnet_16x8x8", 4, {16, 8, 8}}, {"c3_odd", 3, {3, 5, 7}}, {"c10", 2, {10, 3, 3}},
      {"features", 8, {33}},            {"one_value", 1, {5}},    {"sequence_6x50", 4, {6, 50}},
  };
}

BnInputs BatchNormInputs(const BnCase& t) {
  BnInputs in;
  in.node = MakeNode(planner::OpKind::kBatchNorm, {t.dims}, t.dims);
  in.node.eps = 1e-3;
  in.node.momentum = 0.2;
  const int64_t c = t.dims[0], count = t.batch * planner::NumElements(t.dims);
  in.x = Random(count, 21, 2.0f, 5.0f);
  in.gamma = Random(c, 22, -2.0f, 2.0f);
  in.beta = Random(c, 23);
  in.rm0 = Random(c, 24);
  in.rv0 = Random(c, 25, 0.5f, 2.0f);
  in.dy = Random(count, 26);
  in.dx0 = Random(count, 27);
  return in;
}

std::vector<PoolCase> PoolCases() {
  return {
      // batch, c, h, w, k, stride, pad
      {4, 16, 8, 8, 2, 2, 0},     // ResNet-style 2x2
      {3, 5, 7, 9, 3, 2, 1},      // overlapping windows, padding, odd sizes
      {2, 70, 6, 6, 3, 1, 1},     // more channels than one accumulator chunk
      {64, 16, 16, 16, 3, 2, 1},  // torchvision's stem pool; several threads
      {2, 3, 5, 5, 5, 1, 2},      // window as large as the input
  };
}

planner::Node PoolNode(planner::OpKind kind, const PoolCase& t) {
  const int64_t ho = (t.h + 2 * t.pad - t.k) / t.stride + 1, wo = (t.w + 2 * t.pad - t.k) / t.stride + 1;
  planner::Node n = MakeNode(kind, {{t.c, t.h, t.w}}, {t.c, ho, wo});
  n.kernel_h = n.kernel_w = t.k;
  n.stride_h = n.stride_w = t.stride;
  n.pad_top = n.pad_left = n.pad_bottom = n.pad_right = t.pad;
  return n;
}

std::vector<float> MaxPoolInput(int64_t count) {
  std::vector<float> x = Random(count, 91, -2.0f, 2.0f);
  for (float& v : x) v = std::round(v * 2) / 2;  // many ties
  x[5] = std::numeric_limits<float>::quiet_NaN();
  x[count - 1] = -std::numeric_limits<float>::infinity();
  return x;
}

std::vector<std::string> AsymmetricPoolOps() {
  return {"max_pool { kernel_hw: [2, 3] stride_hw: [2, 1] pads: [1, 1] }",
          "max_pool { kernel_size: 3 stride: 2 pads: [0, 0, 1, 1] }",
          "avg_pool { kernel_hw: [3, 2] pads: [1, 0, 0, 1] }",
          "avg_pool { kernel_hw: [3, 2] stride_hw: [1, 2] pads: [1, 0, 0, 1] count_include_pad: false }"};
}

std::vector<AttentionCase> AttentionCases() {
  return {
      {{65, 192}, R"pb(layers { name: "q" inputs: "input" tanh {} }
                       layers { name: "k" inputs: "input" sigmoid {} }
                       layers { name: "v" inputs: "input" relu {} }
                       layers { name: "op" inputs: "q" inputs: "k" inputs: "v" attention { heads: 3 } })pb", 3},
      {{32, 48}, R"pb(layers { name: "q" inputs: "input" tanh {} }
                      layers { name: "k" inputs: "input" sigmoid {} }
                      layers { name: "v" inputs: "input" relu {} }
                      layers { name: "op" inputs: "q" inputs: "k" inputs: "v"
                               attention { heads: 6 causal: true } })pb", 2},
      {{20, 16}, R"pb(layers { name: "q" inputs: "input" slice { axis: 1 end: 7 } }
                      layers { name: "k" inputs: "input" sigmoid {} }
                      layers { name: "v" inputs: "input" relu {} }
                      layers { name: "op" inputs: "q" inputs: "k" inputs: "v" attention { heads: 2 } })pb", 2},
  };
}

std::string OpLayer(const std::string& op) {
  return absl::StrCat(R"pb(layers { name: "op" inputs: "input" )pb", op, " }");
}

std::vector<PointwiseCase> PointwiseCases() {
  return {
      {"Relu6", "relu6 {}"},
      {"Clip", "clip { min: -1.5 max: 2.5 }"},
      {"ClipMinOnly", "clip { min: -0.5 }"},
      {"LeakyRelu", "leaky_relu { negative_slope: 0.1 }"},
      {"LeakyReluDefaultSlope", "leaky_relu {}"},
      {"LeakyReluNegativeSlope", "leaky_relu { negative_slope: -0.2 }"},
      {"Elu", "elu {}"},
      {"EluNegativeAlpha", "elu { alpha: -0.7 }"},
      {"GeluErf", "gelu {}"},
      {"GeluTanh", "gelu { approximate: \"tanh\" }"},
      {"Silu", "silu {}"},
      {"Hardswish", "hardswish {}"},
      {"Hardsigmoid", "hardsigmoid {}"},
      {"Softplus", "softplus {}"},
      {"SoftplusBeta3Threshold5", "softplus { beta: 3 threshold: 5 }"},
  };
}

std::vector<ShapedOpCase> SoftmaxCases() {
  return {
      {"ImageChannels", {7, 5, 6}, "softmax { axis: 1 }", 3},
      {"ImageHeight", {4, 9, 5}, "softmax { axis: 2 }", 2},
      {"ImageWidth", {3, 5, 11}, "softmax { axis: -1 }", 2},
      {"ImageHeightChunked", {3, 20, 300}, "softmax { axis: 2 }", 2},  // lines 900 apart
      {"Features", {1000}, "softmax {}", 40},
      {"CausalRows", {9, 9}, "softmax { causal: true }", 3},
      {"CausalHeads", {4, 7, 7}, "softmax { causal: true }", 2},
      {"CausalHeadsChunked", {300, 5, 5}, "softmax { causal: true }", 2},  // 300 heads side by side
      {"LogImageChannels", {10, 4, 4}, "log_softmax { axis: 1 }", 5},
      {"LogImageHeightChunked", {300, 6, 2}, "log_softmax { axis: 2 }", 2},
      {"LogFeatures", {37}, "log_softmax {}", 9},
  };
}

std::vector<ShapedOpCase> LayerNormCases() {
  return {
      {"Tokens", {50, 384}, "layer_norm {}", 4},
      {"TwoAxes", {7, 9}, "layer_norm { axes: 2 }", 3},
      {"Image", {8, 5, 6}, "layer_norm { axes: 3 }", 2},
      {"FeaturesNoAffine", {33}, "layer_norm { elementwise_affine: false }", 5},
      {"TokensNoBias", {20, 48}, "layer_norm { bias: false }", 3},
  };
}

std::vector<ShapedOpCase> GroupNormCases() {
  return {
      {"Image", {32, 8, 8}, "group_norm { groups: 8 }", 4},
      {"Sequence", {12, 50}, "group_norm { groups: 3 }", 3},
      {"SequenceNoAffine", {12, 50}, "group_norm { groups: 3 affine: false }", 3},
      {"FeaturesNoAffine", {16}, "group_norm { groups: 4 affine: false }", 5},
  };
}

CrossEntropyCase CrossEntropyInputs(int64_t batch, int64_t classes, double smoothing) {
  CrossEntropyCase c;
  c.node = MakeNode(planner::OpKind::kSoftmaxCrossEntropy, {{classes}}, {});
  c.node.label_smoothing = smoothing;
  c.logits = Random(batch * classes, 121, -8.0f, 8.0f);
  for (int64_t i = 0; i < batch; ++i) c.labels.push_back(static_cast<int32_t>((i * 7) % classes));
  return c;
}

EmbeddingCase EmbeddingInputs() {
  EmbeddingCase c;
  for (int64_t t = 0; t < c.tokens; ++t) c.ids.push_back(static_cast<float>((t * 37 + 11) % 50 % 23));
  c.table = Random(c.rows * c.d, 131);
  c.dy = Random(c.tokens * c.d, 132);
  return c;
}

std::string QuantCaseName(const QuantCase& q) {
  std::string name = q.bits == planner::kPassThroughBits ? "pass" : absl::StrCat("k", q.bits);
  absl::StrAppend(&name, "_n", q.batch);
  for (int64_t d : q.dims) absl::StrAppend(&name, "x", d);
  return name;
}

QuantizerInputs QuantizerEdgeInputs(const planner::Node& bn, int64_t batch, int bits, uint32_t seed) {
  const int64_t c = bn.out[0], count = batch * planner::NumElements(bn.out);
  QuantizerInputs in;
  in.x = Random(count, seed * 10 + 1, -1.0f, 3.0f);
  in.gamma = Random(c, seed * 10 + 2, -2.0f, 2.0f);
  in.beta = Random(c, seed * 10 + 3, -1.0f, 1.0f);
  std::vector<float>& gamma = in.gamma;
  std::vector<float>& beta = in.beta;
  if (c > 1) gamma[0] = 0.0f;   // γ = 0: x̂ coded, mask β > 0
  if (c > 1) gamma[1] = -0.0f;  // γ = −0 is zero too
  if (c > 2) beta[2] = 40.0f;   // b far above 3σ: the clamp of s
  if (c > 3) beta[3] = -40.0f;
  if (c > 4) gamma[4] = 1e-30f;                      // huge b, tiny g
  if (c > 6) beta[5] = 10.0f * std::fabs(gamma[5]);  // b = ±10: K = 2's cut −b far in a tail
  if (c > 6) beta[6] = -7.5f * std::fabs(gamma[6]);
  in.y.resize(count);
  in.stats.resize(2 * c);
  std::vector<float> running_mean(c), running_var(c, 1.0f);
  engine::ReferenceBackend reference(engine::DType::kF32);
  reference.BatchNormForward(bn, batch, engine::BatchNormMode::kTrainNoUpdate, in.x.data(), gamma.data(),
                             beta.data(), running_mean.data(), running_var.data(), in.y.data(), in.stats.data());
  // Values at the edges of the encoding, in channels with γ ≠ 0.
  const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f, std::numeric_limits<float>::min()};
  for (int64_t i = 0; i < count; i += 7) {
    if (gamma[i % c] == 0.0f) continue;
    const int64_t k = i / 7;
    if (k % 3 == 0) {
      in.y[i] = specials[k % 5];
    } else if (k % 3 == 1 && bits == 2) {
      // On (or by rounding next to) one of the channel's Lloyd-Max cuts: w = t.
      const engine::quant::Channel<float> ch = engine::quant::MakeChannel<float>(2, gamma[i % c], beta[i % c]);
      in.y[i] = ch.g * (ch.cut[(k / 3) % 3] + ch.b);
    } else if (k % 3 == 1 && bits != planner::kPassThroughBits) {
      const float delta = 6.0f / static_cast<float>(1 << bits);
      in.y[i] = std::fabs(gamma[i % c]) * delta * static_cast<float>(k % 9 - 4);  // a bin edge
    }
  }
  return in;
}

}  // namespace slimtrain::test_util
