// The reference backend's forward ops against values computed by hand, its
// in-place behaviour, SGD against hand-computed steps, and its cost model.
// Every test runs for float32 and float64; values agree to 1e-6·max(1, |v|)
// in float32 and 1e-12·max(1, |v|) in float64 (the kernels sum in double,
// so float32 results are the correctly rounded ones up to that bound).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/reference_backend.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine {
namespace {

using test_util::OpNode;
using test_util::RandomVector;
using test_util::TypedBuffer;
using Vec = std::vector<double>;

std::string DTypeName(const ::testing::TestParamInfo<DType>& info) {
  return info.param == DType::kF64 ? "F64" : "F32";
}

class ReferenceTest : public ::testing::TestWithParam<DType> {
 protected:
  DType dtype() const { return GetParam(); }
  TypedBuffer Buf(const Vec& v) const { return TypedBuffer(dtype(), v); }
  TypedBuffer Filled(int64_t size, double fill = 0.0) const { return TypedBuffer::Filled(dtype(), size, fill); }
  double tolerance() const { return dtype() == DType::kF64 ? 1e-12 : 1e-6; }
  void ExpectValues(const TypedBuffer& got, const Vec& want) const {
    ASSERT_EQ(got.size(), static_cast<int64_t>(want.size()));
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got.at(i), want[i], tolerance() * std::max(1.0, std::fabs(want[i]))) << "element " << i;
    }
  }
  ReferenceBackend be_{GetParam()};
};

// ---------------------------------------------------------------- conv2d, linear

TEST_P(ReferenceTest, Conv3x3PaddedCrossKernel) {
  // x (1,3,3,1) = 1..9; w (1,1,3,3) a "+" of ones; y = x plus its 4 neighbours + 0.5.
  const planner::Node n = OpNode({1, 3, 3}, R"pb(layers { name: "op" inputs: "input"
      conv2d { out_channels: 1 kernel_size: 3 padding: 1 } })pb");
  TypedBuffer x = Buf({1, 2, 3, 4, 5, 6, 7, 8, 9}), w = Buf({0, 1, 0, 1, 1, 1, 0, 1, 0}), b = Buf({0.5}),
              y = Filled(9);
  be_.Conv2dForward(n, 1, x.data(), w.data(), b.data(), y.data(), {});
  ExpectValues(y, {7.5, 11.5, 11.5, 17.5, 25.5, 23.5, 19.5, 29.5, 23.5});
}

TEST_P(ReferenceTest, Conv1x1ReadsChannelsInnermost) {
  // x (1,1,2,2) NHWC = [p0c0, p0c1, p1c0, p1c1]; w (2,2,1,1) = [[1,10],[100,1000]].
  const planner::Node n = OpNode({2, 1, 2}, R"pb(layers { name: "op" inputs: "input"
      conv2d { out_channels: 2 kernel_size: 1 bias: false } })pb");
  TypedBuffer x = Buf({1, 2, 3, 4}), w = Buf({1, 10, 100, 1000}), y = Filled(4);
  be_.Conv2dForward(n, 1, x.data(), w.data(), nullptr, y.data(), {});
  ExpectValues(y, {21, 2100, 43, 4300});
}

TEST_P(ReferenceTest, ConvGroupsSeeOnlyTheirChannels) {
  // groups 2: output k reads input channel k only; w (2,1,1,1) = [2, 3].
  const planner::Node n = OpNode({2, 1, 2}, R"pb(layers { name: "op" inputs: "input"
      conv2d { out_channels: 2 kernel_size: 1 groups: 2 bias: false } })pb");
  TypedBuffer x = Buf({1, 2, 3, 4}), w = Buf({2, 3}), y = Filled(4);
  be_.Conv2dForward(n, 1, x.data(), w.data(), nullptr, y.data(), {});
  ExpectValues(y, {2, 6, 6, 12});
}

TEST_P(ReferenceTest, ConvStrideAndDilation) {
  // x (1,5,5,1) = 10h + w; 2x2 kernel [[1,0],[0,1]] dilated 2 (spans 3), stride 2:
  // y[oh,ow] = x[2oh, 2ow] + x[2oh+2, 2ow+2].
  const planner::Node n = OpNode({1, 5, 5}, R"pb(layers { name: "op" inputs: "input"
      conv2d { out_channels: 1 kernel_size: 2 stride: 2 dilation: 2 bias: false } })pb");
  ASSERT_EQ(n.out, (planner::Dims{1, 2, 2}));
  Vec xv;
  for (int h = 0; h < 5; ++h) {
    for (int w = 0; w < 5; ++w) xv.push_back(10 * h + w);
  }
  TypedBuffer x = Buf(xv), w = Buf({1, 0, 0, 1}), y = Filled(4);
  be_.Conv2dForward(n, 1, x.data(), w.data(), nullptr, y.data(), {});
  ExpectValues(y, {22, 26, 62, 66});
}

TEST_P(ReferenceTest, LinearOnImageUsesTorchFlattenOrder) {
  // x (1,1,2,2) NHWC = [x(c0,w0), x(c1,w0), x(c0,w1), x(c1,w1)] = [1, 2, 3, 4];
  // w (1,4) over PyTorch's (c,h,w) order [c0w0, c0w1, c1w0, c1w1] = [1, 10, 100, 1000].
  const planner::Node n = OpNode({2, 1, 2}, R"pb(layers { name: "op" inputs: "input"
      linear { out_features: 1 } })pb");
  TypedBuffer x = Buf({1, 2, 3, 4}), w = Buf({1, 10, 100, 1000}), b = Buf({0.25}), y = Filled(1);
  be_.LinearForward(n, 1, x.data(), w.data(), b.data(), y.data(), {});
  ExpectValues(y, {1 * 1 + 10 * 3 + 100 * 2 + 1000 * 4 + 0.25});
}

TEST_P(ReferenceTest, LinearOnFeatures) {
  const planner::Node n = OpNode({3}, R"pb(layers { name: "op" inputs: "input" linear { out_features: 2 } })pb");
  TypedBuffer x = Buf({1, 2, 3, -1, 0, 1}), w = Buf({1, 0, -1, 2, 2, 2}), b = Buf({1, -1}), y = Filled(4);
  be_.LinearForward(n, 2, x.data(), w.data(), b.data(), y.data(), {});
  ExpectValues(y, {1 + 1 - 3, -1 + 12, 1 - 1 - 1, -1 + 0});
}

// ---------------------------------------------------------------- batch_norm

// Features (N=4, F=2): channel 0 = 1,2,3,4 (mean 2.5, var 1.25, unbiased 5/3),
// channel 1 = 10,20,30,40 (mean 25, var 125, unbiased 500/3).
struct BnFixture {
  Vec x = {1, 10, 2, 20, 3, 30, 4, 40};
  Vec gamma = {2, -1}, beta = {0.5, 1};
  Vec mean = {2.5, 25}, var = {1.25, 125}, unbiased = {5.0 / 3, 500.0 / 3};
};

TEST_P(ReferenceTest, BatchNormTrainingStatsAndRunningUpdate) {
  const planner::Node n = OpNode({2}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb");
  const BnFixture f;
  TypedBuffer x = Buf(f.x), gamma = Buf(f.gamma), beta = Buf(f.beta), y = Filled(8), stats = Filled(4);
  TypedBuffer rmean = Buf({0, 1}), rvar = Buf({1, 2});
  be_.BatchNormForward(n, 4, BatchNormMode::kTrain, x.data(), gamma.data(), beta.data(), rmean.data(),
                       rvar.data(), y.data(), stats.data());
  const double inv0 = 1 / std::sqrt(1.25 + 1e-5), inv1 = 1 / std::sqrt(125 + 1e-5);
  ExpectValues(stats, {2.5, 25, inv0, inv1});
  Vec want;
  for (int j = 0; j < 4; ++j) {
    want.push_back(2 * (f.x[2 * j] - 2.5) * inv0 + 0.5);
    want.push_back(-1 * (f.x[2 * j + 1] - 25) * inv1 + 1);
  }
  ExpectValues(y, want);
  // running = 0.9·running + 0.1·batch, with the unbiased variance.
  ExpectValues(rmean, {0.1 * 2.5, 0.9 * 1 + 0.1 * 25});
  ExpectValues(rvar, {0.9 + 0.1 * 5.0 / 3, 1.8 + 0.1 * 500.0 / 3});
}

TEST_P(ReferenceTest, BatchNormMomentumAndNoUpdateMode) {
  const planner::Node n = OpNode({2}, R"pb(layers { name: "op" inputs: "input" batch_norm { momentum: 0.5 } })pb");
  const BnFixture f;
  TypedBuffer x = Buf(f.x), gamma = Buf(f.gamma), beta = Buf(f.beta), y = Filled(8), stats = Filled(4);
  TypedBuffer rmean = Buf({0, 1}), rvar = Buf({1, 2});
  be_.BatchNormForward(n, 4, BatchNormMode::kTrainNoUpdate, x.data(), gamma.data(), beta.data(), rmean.data(),
                       rvar.data(), y.data(), stats.data());
  ExpectValues(rmean, {0, 1});
  ExpectValues(rvar, {1, 2});
  ExpectValues(stats, {2.5, 25, 1 / std::sqrt(1.25 + 1e-5), 1 / std::sqrt(125 + 1e-5)});
  be_.BatchNormForward(n, 4, BatchNormMode::kTrain, x.data(), gamma.data(), beta.data(), rmean.data(),
                       rvar.data(), y.data(), stats.data());
  ExpectValues(rmean, {0.5 * 2.5, 0.5 + 0.5 * 25});
  ExpectValues(rvar, {0.5 + 0.5 * 5.0 / 3, 1 + 0.5 * 500.0 / 3});
}

TEST_P(ReferenceTest, BatchNormInferenceUsesRunningStats) {
  const planner::Node n = OpNode({1, 1, 2}, R"pb(layers { name: "op" inputs: "input" batch_norm { eps: 0.5 } })pb");
  TypedBuffer x = Buf({1, 3, 5, 7}), gamma = Buf({3}), beta = Buf({-1}), y = Filled(4), stats = Filled(2, 42);
  TypedBuffer rmean = Buf({2}), rvar = Buf({3.5});
  be_.BatchNormForward(n, 2, BatchNormMode::kInference, x.data(), gamma.data(), beta.data(), rmean.data(),
                       rvar.data(), y.data(), stats.data());
  // (x − 2)/sqrt(3.5 + 0.5)·3 − 1 = 1.5·(x − 2) − 1.
  ExpectValues(y, {-2.5, 0.5, 3.5, 6.5});
  ExpectValues(stats, {42, 42});  // untouched
  ExpectValues(rmean, {2});
  ExpectValues(rvar, {3.5});
}

// ---------------------------------------------------------------- pooling

TEST_P(ReferenceTest, MaxPoolPaddedWindowsAndIndices) {
  // x (1,3,3,1) = [[1,5,2],[7,3,9],[4,8,6]], kernel 3, stride 2, padding 1.
  const planner::Node n = OpNode({1, 3, 3}, R"pb(layers { name: "op" inputs: "input"
      max_pool { kernel_size: 3 stride: 2 padding: 1 } })pb");
  TypedBuffer x = Buf({1, 5, 2, 7, 3, 9, 4, 8, 6}), y = Filled(4);
  std::vector<int32_t> indices(4, -1);
  be_.MaxPoolForward(n, 1, x.data(), y.data(), indices.data(), {});
  ExpectValues(y, {7, 9, 8, 9});
  EXPECT_EQ(indices, (std::vector<int32_t>{3, 5, 7, 5}));  // h·W + w
}

TEST_P(ReferenceTest, MaxPoolPaddingIsMinusInfinityAndTiesTakeTheFirst) {
  const planner::Node n = OpNode({1, 3, 3}, R"pb(layers { name: "op" inputs: "input"
      max_pool { kernel_size: 3 stride: 2 padding: 1 } })pb");
  TypedBuffer x = Filled(9, -1.0), y = Filled(4);
  std::vector<int32_t> indices(4, -1);
  be_.MaxPoolForward(n, 1, x.data(), y.data(), indices.data(), {});
  ExpectValues(y, {-1, -1, -1, -1});                        // not the padding's 0
  EXPECT_EQ(indices, (std::vector<int32_t>{0, 1, 3, 4}));  // first valid element of each window
  // Ties inside a 2x2 window: [[2,5],[5,1]] picks (0,1), the first in row order.
  const planner::Node n2 = OpNode({1, 2, 2}, R"pb(layers { name: "op" inputs: "input"
      max_pool { kernel_size: 2 } })pb");
  TypedBuffer x2 = Buf({2, 5, 5, 1}), y2 = Filled(1);
  be_.MaxPoolForward(n2, 1, x2.data(), y2.data(), indices.data(), {});
  EXPECT_EQ(indices[0], 1);
}

TEST_P(ReferenceTest, MaxPoolBackwardRoutesToIndices) {
  const planner::Node n = OpNode({1, 3, 3}, R"pb(layers { name: "op" inputs: "input"
      max_pool { kernel_size: 3 stride: 2 padding: 1 } })pb");
  const std::vector<int32_t> indices = {3, 5, 7, 5};
  TypedBuffer dy = Buf({1, 2, 3, 4}), dx = Filled(9, 100);
  be_.MaxPoolBackward(n, 1, dy.data(), indices.data(), dx.data(), /*accumulate=*/false, {});
  ExpectValues(dx, {0, 0, 0, 1, 0, 6, 0, 3, 0});
}

TEST_P(ReferenceTest, AvgPoolCountIncludePad) {
  // x (1,3,3,1) = 1..9, kernel 3, stride 1, padding 1: the corner window holds
  // 1, 2, 4, 5 (sum 12) and 5 zeros of padding.
  const char* kLayers = R"pb(layers { name: "op" inputs: "input"
      avg_pool { kernel_size: 3 stride: 1 padding: 1 count_include_pad: %s } })pb";
  for (const bool include : {true, false}) {
    char layers[256];
    std::snprintf(layers, sizeof(layers), kLayers, include ? "true" : "false");
    const planner::Node n = OpNode({1, 3, 3}, layers);
    TypedBuffer x = Buf({1, 2, 3, 4, 5, 6, 7, 8, 9}), y = Filled(9);
    be_.AvgPoolForward(n, 1, x.data(), y.data(), {});
    EXPECT_NEAR(y.at(0), include ? 12.0 / 9 : 12.0 / 4, tolerance()) << include;
    EXPECT_NEAR(y.at(1), include ? 21.0 / 9 : 21.0 / 6, tolerance()) << include;  // 1+2+3+4+5+6
    EXPECT_NEAR(y.at(4), 5.0, tolerance()) << include;
  }
}

TEST_P(ReferenceTest, GlobalAvgPoolPerChannel) {
  const planner::Node n = OpNode({2, 1, 2}, R"pb(layers { name: "op" inputs: "input" global_avg_pool {} })pb");
  TypedBuffer x = Buf({1, 10, 3, 30}), y = Filled(2);
  be_.GlobalAvgPoolForward(n, 1, x.data(), y.data());
  ExpectValues(y, {2, 20});
}

// ---------------------------------------------------------------- layout

TEST_P(ReferenceTest, FlattenToTorchOrderAndBack) {
  // (1,1,2,2) NHWC [a(c0w0), b(c1w0), c(c0w1), d(c1w1)] -> (c,h,w) order [a, c, b, d].
  const planner::Node n = OpNode({2, 1, 2}, R"pb(layers { name: "op" inputs: "input" flatten {} })pb");
  TypedBuffer x = Buf({1, 2, 3, 4}), y = Filled(4), dx = Filled(4, 1);
  be_.FlattenForward(n, 1, x.data(), y.data());
  ExpectValues(y, {1, 3, 2, 4});
  be_.FlattenBackward(n, 1, y.data(), dx.data(), /*accumulate=*/true);
  ExpectValues(dx, {2, 3, 4, 5});
}

TEST_P(ReferenceTest, ConcatAlongChannelsAndBack) {
  const planner::Node n = OpNode({1, 1, 2}, R"pb(
      layers { name: "a" inputs: "input" conv2d { out_channels: 2 kernel_size: 1 } }
      layers { name: "op" inputs: "input" inputs: "a" concat {} })pb");
  TypedBuffer x0 = Buf({1, 2}), x1 = Buf({10, 11, 20, 21}), y = Filled(6);
  const void* inputs[] = {x0.data(), x1.data()};
  be_.ConcatForward(n, 1, inputs, y.data());
  ExpectValues(y, {1, 10, 11, 2, 20, 21});
  TypedBuffer d1 = Filled(4, -1);
  be_.ConcatBackward(n, 1, 1, y.data(), d1.data(), /*accumulate=*/false);
  ExpectValues(d1, {10, 11, 20, 21});
}

// ---------------------------------------------------------------- elementwise

TEST_P(ReferenceTest, ElementwiseValuesAndExtremes) {
  TypedBuffer x = Buf({-1000, -1, -0.0, 0, 0.5, 1000}), y = Filled(6);
  be_.ReluForward(6, x.data(), y.data());
  ExpectValues(y, {0, 0, 0, 0, 0.5, 1000});
  EXPECT_FALSE(std::signbit(y.at(2)));  // −0 becomes +0
  be_.SigmoidForward(6, x.data(), y.data());
  ExpectValues(y, {0, 1 / (1 + std::exp(1.0)), 0.5, 0.5, 1 / (1 + std::exp(-0.5)), 1});
  be_.TanhForward(6, x.data(), y.data());
  ExpectValues(y, {-1, std::tanh(-1.0), 0, 0, std::tanh(0.5), 1});
  // Backward from the outputs.
  TypedBuffer out = Buf({0.25, 0.5}), dy = Buf({2, 4}), dx = Filled(2, 1);
  be_.SigmoidBackward(2, out.data(), dy.data(), dx.data(), /*accumulate=*/true);
  ExpectValues(dx, {1 + 2 * 0.25 * 0.75, 1 + 4 * 0.25});
  be_.TanhBackward(2, out.data(), dy.data(), dx.data(), /*accumulate=*/false);
  ExpectValues(dx, {2 * (1 - 0.0625), 4 * 0.75});
  TypedBuffer relu_out = Buf({0, 3}), rdx = Filled(2, 7);
  be_.ReluBackward(2, relu_out.data(), dy.data(), rdx.data(), /*accumulate=*/false);
  ExpectValues(rdx, {0, 4});
}

TEST_P(ReferenceTest, AddAndCopy) {
  TypedBuffer a = Buf({1, 2}), b = Buf({10, 20}), c = Buf({100, 200}), y = Filled(2);
  const void* inputs[] = {a.data(), b.data(), c.data()};
  be_.AddForward(2, inputs, y.data());
  ExpectValues(y, {111, 222});
  be_.Copy(2, a.data(), y.data(), /*accumulate=*/true);
  ExpectValues(y, {112, 224});
  be_.Copy(2, a.data(), y.data(), /*accumulate=*/false);
  ExpectValues(y, {1, 2});
}

TEST_P(ReferenceTest, DropoutFollowsDropoutKeepAndScales) {
  const planner::Node n = OpNode({1000}, R"pb(layers { name: "op" inputs: "input" dropout { p: 0.25 } })pb");
  const DropoutKey key{/*seed=*/9, /*step=*/2};
  const int64_t count = 4 * 1000;
  TypedBuffer x = Buf(RandomVector(count, 3)), y = Filled(count), dx = Filled(count);
  be_.DropoutForward(n, 4, key, x.data(), y.data());
  TypedBuffer ones = Filled(count, 1.0);
  be_.DropoutBackward(n, 4, key, ones.data(), dx.data(), /*accumulate=*/false);
  int64_t dropped = 0;
  for (int64_t i = 0; i < count; ++i) {
    const bool keep = DropoutKeep(key, n.id, i, 0.25);
    dropped += keep ? 0 : 1;
    EXPECT_NEAR(y.at(i), keep ? x.at(i) / 0.75 : 0.0, tolerance()) << i;
    EXPECT_NEAR(dx.at(i), keep ? 1 / 0.75 : 0.0, tolerance()) << i;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / count, 0.25, 0.03);
  // Another step drops other elements.
  TypedBuffer y2 = Filled(count);
  be_.DropoutForward(n, 4, DropoutKey{9, 3}, x.data(), y2.data());
  EXPECT_NE(y.values(), y2.values());
}

// ---------------------------------------------------------------- loss

TEST_P(ReferenceTest, SoftmaxCrossEntropyValue) {
  // Logits [0, 0, ln 2]: probs [1/4, 1/4, 1/2]. Labels 2 and 0: −ln(1/2), −ln(1/4).
  const planner::Node n = OpNode({3}, R"pb(layers { name: "op" inputs: "input" softmax_cross_entropy {} })pb", 3);
  const double ln2 = std::log(2.0);
  TypedBuffer logits = Buf({0, 0, ln2, 0, 0, ln2}), probs = Filled(6), loss = Filled(1);
  const std::vector<int32_t> labels = {2, 0};
  be_.SoftmaxCrossEntropyForward(n, 2, logits.data(), labels.data(), probs.data(), loss.data());
  ExpectValues(probs, {0.25, 0.25, 0.5, 0.25, 0.25, 0.5});
  ExpectValues(loss, {1.5 * ln2});
  TypedBuffer d = Filled(6);
  be_.SoftmaxCrossEntropyBackward(n, 2, probs.data(), labels.data(), d.data(), /*accumulate=*/false);
  ExpectValues(d, {0.125, 0.125, -0.25, -0.375, 0.125, 0.25});
}

TEST_P(ReferenceTest, SoftmaxCrossEntropyLabelSmoothing) {
  // ε = 0.3 over 3 classes: targets 0.1 everywhere plus 0.7 on the label.
  // Label 2: 0.1·ln4 + 0.1·ln4 + 0.8·ln2 = 1.2 ln2; label 0: 0.8·ln4 + 0.1·ln4 + 0.1·ln2 = 1.9 ln2.
  const planner::Node n = OpNode(
      {3}, R"pb(layers { name: "op" inputs: "input" softmax_cross_entropy { label_smoothing: 0.3 } })pb", 3);
  const double ln2 = std::log(2.0);
  TypedBuffer logits = Buf({0, 0, ln2, 0, 0, ln2}), probs = Filled(6), loss = Filled(1);
  const std::vector<int32_t> labels = {2, 0};
  be_.SoftmaxCrossEntropyForward(n, 2, logits.data(), labels.data(), probs.data(), loss.data());
  ExpectValues(loss, {1.55 * ln2});
  TypedBuffer d = Filled(6);
  be_.SoftmaxCrossEntropyBackward(n, 2, probs.data(), labels.data(), d.data(), /*accumulate=*/false);
  ExpectValues(d, {0.075, 0.075, -0.15, -0.275, 0.075, 0.2});
}

TEST_P(ReferenceTest, SoftmaxCrossEntropyIsStableForHugeLogits) {
  const planner::Node n = OpNode({2}, R"pb(layers { name: "op" inputs: "input" softmax_cross_entropy {} })pb", 2);
  TypedBuffer logits = Buf({1000, 0}), probs = Filled(2), loss = Filled(1);
  const std::vector<int32_t> labels = {1};
  be_.SoftmaxCrossEntropyForward(n, 1, logits.data(), labels.data(), probs.data(), loss.data());
  ExpectValues(loss, {1000});
  ExpectValues(probs, {1, 0});
}

// ---------------------------------------------------------------- SGD

TEST_P(ReferenceTest, SgdMomentumWeightDecay) {
  // lr 0.1, momentum 0.9, weight decay 0.01, grad 0.5, param 1, buffer 0:
  //   step 1: g = 0.51, buf = 0.51, param = 1 − 0.051 = 0.949
  //   step 2: g = 0.5 + 0.00949 = 0.50949, buf = 0.459 + 0.50949 = 0.96849,
  //           param = 0.949 − 0.096849 = 0.852151
  TypedBuffer param = Buf({1}), grad = Buf({0.5}), buf = Buf({0});
  be_.SgdUpdate(1, 0.1, 0.9, 0.01, false, param.data(), grad.data(), buf.data());
  ExpectValues(param, {0.949});
  ExpectValues(buf, {0.51});
  be_.SgdUpdate(1, 0.1, 0.9, 0.01, false, param.data(), grad.data(), buf.data());
  ExpectValues(param, {0.852151});
  ExpectValues(buf, {0.96849});
}

TEST_P(ReferenceTest, SgdNesterov) {
  //   step 1: g = 0.51, buf = 0.51, step = 0.51 + 0.9·0.51 = 0.969, param = 0.9031
  //   step 2: g = 0.509031, buf = 0.459 + 0.509031 = 0.968031,
  //           step = 0.509031 + 0.8712279 = 1.3802589, param = 0.76507411
  TypedBuffer param = Buf({1}), grad = Buf({0.5}), buf = Buf({0});
  be_.SgdUpdate(1, 0.1, 0.9, 0.01, true, param.data(), grad.data(), buf.data());
  ExpectValues(param, {0.9031});
  be_.SgdUpdate(1, 0.1, 0.9, 0.01, true, param.data(), grad.data(), buf.data());
  ExpectValues(param, {0.76507411});
  ExpectValues(buf, {0.968031});
}

TEST_P(ReferenceTest, SgdWithoutMomentumNeedsNoBuffer) {
  TypedBuffer param = Buf({1, -2}), grad = Buf({0.5, 0.25});
  be_.SgdUpdate(2, 0.5, 0.0, 0.1, false, param.data(), grad.data(), nullptr);
  ExpectValues(param, {1 - 0.5 * 0.6, -2 - 0.5 * 0.05});
}

// ---------------------------------------------------------------- cost model

TEST_P(ReferenceTest, CostModel) {
  EXPECT_EQ(be_.name(), "reference");
  EXPECT_EQ(be_.dtype(), dtype());
  EXPECT_EQ(be_.element_bytes(), dtype() == DType::kF64 ? 8 : 4);
  EXPECT_EQ(be_.alignment_bytes(), 256);
  EXPECT_EQ(ReferenceBackend(dtype(), 64).alignment_bytes(), 64);
  v1::ModelSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(R"pb(
      input { dims: 3 dims: 8 dims: 8 } num_classes: 2
      layers { name: "op" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 } }
      layers { name: "pool" inputs: "op" max_pool { kernel_size: 2 } }
      layers { name: "head" inputs: "pool" linear { out_features: 2 } }
      layers { name: "loss" inputs: "head" softmax_cross_entropy {} })pb", &spec));
  absl::StatusOr<planner::Graph> graph = planner::Graph::Build(spec);
  ASSERT_TRUE(graph.ok()) << graph.status();
  for (const planner::Node& node : graph->nodes()) {
    for (const planner::Pass pass : {planner::Pass::kForward, planner::Pass::kBackward}) {
      EXPECT_EQ(be_.WorkspaceBytes(*graph, node, 64, pass), 0) << node.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothDTypes, ReferenceTest, ::testing::Values(DType::kF32, DType::kF64), DTypeName);

}  // namespace
}  // namespace slimtrain::engine
