// FastBackend's pointwise activations and softmaxes against the reference
// backend, table-driven: one row per op and attribute set, each at 37 and
// 100003 elements (both sides of the threading grain), forward, backward
// with and without accumulate, and in place (y == x, dx == dy) bit for bit
// equal to the out-of-place result. The fast kernels evaluate in float with
// polynomial exp/erf/tanh (engine/cpu/vector_math.h), so they must stay
// within 2e-6 of the tensor's scale of the reference's double evaluation.
// Softmax rows cover every axis of an image (channels are innermost in
// memory) and lines more than 256 apart (the chunked path). The pointwise,
// softmax, layer_norm and group_norm rows are tests/testing/op_cases.h's,
// which the CUDA backend's tests run too.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/backend.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/cpu/vector_math.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/fast_backend_test_util.h"
#include "tests/engine/reference_test_util.h"
#include "tests/testing/op_cases.h"

namespace slimtrain::engine {
namespace {

using planner::Node;
using planner::NumElements;
using planner::OpKind;
using testing::FirstBitDifference;
using testing::Random;
using testing::RelError;
using test_util::OpLayer;
using test_util::OpNode;

constexpr double kTolerance = 2e-6;

// vector_math.h against glibc in double over a dense sweep: the error
// bounds its comments state.
TEST(VectorMathTest, MatchesTheLibraryFunctionsInDouble) {
  double exp_rel = 0, tanh_abs = 0, erf_abs = 0, log1p_rel = 0, sigmoid_abs = 0;
  for (int i = -200000; i <= 200000; ++i) {
    const float x = static_cast<float>(i) * 1e-4f;  // [-20, 20]
    exp_rel = std::max(exp_rel, std::fabs(cpu::Exp(x) - std::exp(double{x})) / std::exp(double{x}));
    tanh_abs = std::max(tanh_abs, std::fabs(cpu::Tanh(x) - std::tanh(double{x})));
    erf_abs = std::max(erf_abs, std::fabs(cpu::Erf(x) - std::erf(double{x})));
    sigmoid_abs = std::max(sigmoid_abs, std::fabs(cpu::Sigmoid(x) - 1 / (1 + std::exp(-double{x}))));
    const float e = std::ldexp(static_cast<float>(i + 200001) / 400001.0f, -(i + 200000) % 40);  // (0, 1]
    log1p_rel = std::max(log1p_rel, std::fabs(cpu::Log1pUnit(e) - std::log1p(double{e})) / std::log1p(double{e}));
  }
  EXPECT_LT(exp_rel, 4e-7);
  EXPECT_LT(tanh_abs, 4e-7);
  EXPECT_LT(erf_abs, 5e-7);
  EXPECT_LT(sigmoid_abs, 4e-7);
  EXPECT_LT(log1p_rel, 4e-7);
}

class PointwiseTest : public ::testing::TestWithParam<test_util::PointwiseCase> {
 protected:
  FastBackend fast_;
  ReferenceBackend ref_{DType::kF32};
};

TEST_P(PointwiseTest, MatchesReferenceAccumulateAndInPlace) {
  for (const int64_t count : {int64_t{37}, int64_t{100003}}) {
    SCOPED_TRACE(::testing::Message() << "count " << count);
    const Node n = OpNode({count}, OpLayer(GetParam().op));
    ASSERT_FALSE(n.name.empty());
    std::vector<float> x = Random(count, 51, -12.0f, 12.0f);
    x[0] = 0.0f;
    x[1] = -0.0f;
    x[2] = 3.0f;  // hardswish's and hardsigmoid's kinks
    x[3] = -3.0f;
    x[4] = 1e-6f;  // elu's expm1 near 0
    std::vector<float> y(count), y_ref(count);
    fast_.PointwiseForward(n, count, x.data(), y.data());
    ref_.PointwiseForward(n, count, x.data(), y_ref.data());
    EXPECT_LE(RelError(y, y_ref), kTolerance);
    std::vector<float> inplace = x;
    fast_.PointwiseForward(n, count, inplace.data(), inplace.data());
    EXPECT_EQ(FirstBitDifference(inplace, y), -1);

    const std::vector<float>& saved = planner::BackwardReadsOutput(n) ? y_ref : x;
    const std::vector<float> dy = Random(count, 52), dx0 = Random(count, 53);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = dx0, dx_ref = dx0;
      fast_.PointwiseBackward(n, count, saved.data(), dy.data(), dx.data(), acc);
      ref_.PointwiseBackward(n, count, saved.data(), dy.data(), dx_ref.data(), acc);
      EXPECT_LE(RelError(dx, dx_ref), kTolerance) << "accumulate " << acc;
    }
    std::vector<float> dx(count), dinplace = dy;
    fast_.PointwiseBackward(n, count, saved.data(), dy.data(), dx.data(), false);
    fast_.PointwiseBackward(n, count, saved.data(), dinplace.data(), dinplace.data(), false);
    EXPECT_EQ(FirstBitDifference(dinplace, dx), -1);
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, PointwiseTest, ::testing::ValuesIn(test_util::PointwiseCases()),
                         [](const ::testing::TestParamInfo<test_util::PointwiseCase>& info) { return info.param.name; });

class SoftmaxTest : public ::testing::TestWithParam<test_util::ShapedOpCase> {
 protected:
  FastBackend fast_;
  ReferenceBackend ref_{DType::kF32};
};

TEST_P(SoftmaxTest, MatchesReferenceAccumulateAndInPlace) {
  const test_util::ShapedOpCase& row = GetParam();
  const Node n = OpNode(row.dims, OpLayer(row.op));
  ASSERT_FALSE(n.name.empty());
  const int64_t count = row.batch * NumElements(n.out);
  const std::vector<float> x = Random(count, 61, -8.0f, 8.0f);
  std::vector<float> y(count), y_ref(count);
  fast_.SoftmaxForward(n, row.batch, x.data(), y.data());
  ref_.SoftmaxForward(n, row.batch, x.data(), y_ref.data());
  EXPECT_LE(RelError(y, y_ref), kTolerance);
  std::vector<float> inplace = x;
  fast_.SoftmaxForward(n, row.batch, inplace.data(), inplace.data());
  EXPECT_EQ(FirstBitDifference(inplace, y), -1);

  const std::vector<float> dy = Random(count, 62), dx0 = Random(count, 63);
  for (const bool acc : {false, true}) {
    std::vector<float> dx = dx0, dx_ref = dx0;
    fast_.SoftmaxBackward(n, row.batch, y_ref.data(), dy.data(), dx.data(), acc);
    ref_.SoftmaxBackward(n, row.batch, y_ref.data(), dy.data(), dx_ref.data(), acc);
    EXPECT_LE(RelError(dx, dx_ref), kTolerance) << "accumulate " << acc;
  }
  std::vector<float> dx(count), dinplace = dy;
  fast_.SoftmaxBackward(n, row.batch, y_ref.data(), dy.data(), dx.data(), false);
  fast_.SoftmaxBackward(n, row.batch, y_ref.data(), dinplace.data(), dinplace.data(), false);
  EXPECT_EQ(FirstBitDifference(dinplace, dx), -1);
}

INSTANTIATE_TEST_SUITE_P(Ops, SoftmaxTest, ::testing::ValuesIn(test_util::SoftmaxCases()),
                         [](const ::testing::TestParamInfo<test_util::ShapedOpCase>& info) { return info.param.name; });

// The causal mask by value: row i of each (L, L) block is the softmax of its
// first i + 1 scores and 0 after them (PyTorch's masked_fill(-inf) then
// softmax), in the rows layout (L, L) and the heads layout (H, L, L).
TEST(CausalSoftmax, RowIIsTheSoftmaxOfItsFirstIPlusOneScores) {
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{4, 4}, std::vector<int64_t>{3, 4, 4}}) {
    const Node n = OpNode(dims, R"pb(layers { name: "op" inputs: "input" softmax { causal: true } })pb");
    ASSERT_FALSE(n.name.empty());
    const int64_t batch = 2, count = batch * NumElements(n.out), heads = dims.size() == 3 ? dims[0] : 1, L = 4;
    const std::vector<float> x = Random(count, 5, -4.0f, 4.0f);
    for (Backend* b : std::initializer_list<Backend*>{new FastBackend, new ReferenceBackend(DType::kF32)}) {
      std::unique_ptr<Backend> owned(b);
      std::vector<float> y(count);
      b->SoftmaxForward(n, batch, x.data(), y.data());
      // Logical (n, h, i, j) in either physical layout: rank 2 row-major;
      // rank 3 channels last, (n, i, j, h).
      auto at = [&](int64_t e, int64_t h, int64_t i, int64_t j) {
        return dims.size() == 2 ? (e * L + i) * L + j : ((e * L + i) * L + j) * heads + h;
      };
      for (int64_t e = 0; e < batch; ++e) {
        for (int64_t h = 0; h < heads; ++h) {
          for (int64_t i = 0; i < L; ++i) {
            double sum = 0;
            for (int64_t j = 0; j <= i; ++j) sum += std::exp(static_cast<double>(x[at(e, h, i, j)]));
            for (int64_t j = 0; j < L; ++j) {
              const double want = j > i ? 0.0 : std::exp(static_cast<double>(x[at(e, h, i, j)])) / sum;
              EXPECT_NEAR(y[at(e, h, i, j)], want, 1e-6) << "dims " << dims.size() << " row " << i << " col " << j;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace slimtrain::engine

namespace slimtrain::engine {
namespace {

// layer_norm: the fast kernels form the reference's double expressions in
// its order, so forward, statistics and every gradient are bit for bit the
// reference's; in place too.
TEST(LayerNormTest, FastEqualsReferenceBitForBit) {
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  for (const test_util::ShapedOpCase& row : test_util::LayerNormCases()) {
    SCOPED_TRACE(row.name);
    const Node n = OpNode(row.dims, OpLayer(row.op));
    ASSERT_FALSE(n.name.empty());
    const int64_t count = row.batch * NumElements(n.out), size = n.norm_row_size;
    const int64_t stats_size = 2 * row.batch * n.norm_rows;
    const std::vector<float> x = Random(count, 91, -3.0f, 4.0f), gamma = Random(size, 92, 0.5f, 1.5f),
                             beta = Random(size, 93);
    const float* g = n.affine ? gamma.data() : nullptr;
    const float* b = n.bias ? beta.data() : nullptr;
    std::vector<float> y(count), y_ref(count), s(stats_size), s_ref(stats_size);
    fast.LayerNormForward(n, row.batch, x.data(), g, b, y.data(), s.data());
    ref.LayerNormForward(n, row.batch, x.data(), g, b, y_ref.data(), s_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    EXPECT_EQ(FirstBitDifference(s, s_ref), -1);
    std::vector<float> inplace = x, s2(stats_size);
    fast.LayerNormForward(n, row.batch, inplace.data(), g, b, inplace.data(), s2.data());
    EXPECT_EQ(FirstBitDifference(inplace, y), -1) << "in place";
    const std::vector<float> dy = Random(count, 94), dx0 = Random(count, 95);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = dx0, dx_ref = dx0, dg(size), db(size), dg_ref(size), db_ref(size);
      fast.LayerNormBackward(n, row.batch, dy.data(), x.data(), g, s.data(), dx.data(), acc,
                             n.affine ? dg.data() : nullptr, n.bias ? db.data() : nullptr);
      ref.LayerNormBackward(n, row.batch, dy.data(), x.data(), g, s.data(), dx_ref.data(), acc,
                            n.affine ? dg_ref.data() : nullptr, n.bias ? db_ref.data() : nullptr);
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
      EXPECT_EQ(FirstBitDifference(dg, dg_ref), -1);
      EXPECT_EQ(FirstBitDifference(db, db_ref), -1);
    }
    std::vector<float> dx(count), dinplace = dy, dg(size), db(size);
    fast.LayerNormBackward(n, row.batch, dy.data(), x.data(), g, s.data(), dx.data(), false,
                           n.affine ? dg.data() : nullptr, n.bias ? db.data() : nullptr);
    fast.LayerNormBackward(n, row.batch, dinplace.data(), x.data(), g, s.data(), dinplace.data(), false,
                           n.affine ? dg.data() : nullptr, n.bias ? db.data() : nullptr);
    EXPECT_EQ(FirstBitDifference(dinplace, dx), -1) << "backward in place";
  }
}

}  // namespace
}  // namespace slimtrain::engine

namespace slimtrain::engine {
namespace {

// Fused attention: float dot products and accumulations against the
// reference's double, within 2e-6 of the scale; causal and cross-attention
// (Lq != Lk), accumulating gradients, a planned workspace of exactly the
// size the cost model reports (a smaller one aborts).
TEST(AttentionTest, FastMatchesReference) {
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  for (const test_util::AttentionCase& row : test_util::AttentionCases()) {
    absl::StatusOr<planner::Graph> g = test_util::OpGraph(row.dims, row.layers);
    ASSERT_TRUE(g.ok()) << g.status();
    const Node n = g->node(g->Find("op"));
    const int64_t b = row.batch;
    std::vector<std::vector<float>> in;
    for (int i = 0; i < 3; ++i) in.push_back(Random(b * NumElements(n.input_dims[i]), 101 + i, -1.5f, 1.5f));
    const int64_t count = b * NumElements(n.out), lse_size = b * n.heads * n.out[0];
    std::vector<float> y(count), y_ref(count), lse(lse_size), lse_ref(lse_size);
    std::vector<float> ws_fwd(fast.WorkspaceBytes(*g, n, b,
                                                  planner::Pass::kForward) / 4);
    fast.AttentionForward(n, b, in[0].data(), in[1].data(), in[2].data(), y.data(), lse.data(),
                          Workspace{ws_fwd.data(), static_cast<int64_t>(ws_fwd.size()) * 4});
    ref.AttentionForward(n, b, in[0].data(), in[1].data(), in[2].data(), y_ref.data(), lse_ref.data(), {});
    EXPECT_LE(RelError(y, y_ref), 2e-6);
    EXPECT_LE(RelError(lse, lse_ref), 2e-6);
    const std::vector<float> dout = Random(count, 110);
    std::vector<float> ws_bwd(fast.WorkspaceBytes(*g, n, b,
                                                  planner::Pass::kBackward) / 4);
    for (const bool acc : {false, true}) {
      const bool accumulate[3] = {acc, acc, acc};
      std::vector<float> d[3], d_ref[3];
      for (int i = 0; i < 3; ++i) d[i] = d_ref[i] = Random(in[i].size(), 120 + i);
      fast.AttentionBackward(n, b, in[0].data(), in[1].data(), in[2].data(), y_ref.data(), lse_ref.data(),
                             dout.data(), d[0].data(), d[1].data(), d[2].data(), accumulate,
                             Workspace{ws_bwd.data(), static_cast<int64_t>(ws_bwd.size()) * 4});
      ref.AttentionBackward(n, b, in[0].data(), in[1].data(), in[2].data(), y_ref.data(), lse_ref.data(),
                            dout.data(), d_ref[0].data(), d_ref[1].data(), d_ref[2].data(), accumulate, {});
      for (int i = 0; i < 3; ++i) EXPECT_LE(RelError(d[i], d_ref[i]), 2e-6) << "input " << i << " accumulate " << acc;
    }
  }
}

}  // namespace
}  // namespace slimtrain::engine

namespace slimtrain::engine {
namespace {

// embedding: rows copied bit for bit; the table's gradient summed in float
// in position order against the reference's double (ids repeat often, so
// rows sum many positions): within 1e-6 of the scale.
TEST(EmbeddingTest, FastMatchesReference) {
  const auto& [dims, layers, batch, tokens, rows, d, ids, table, dy] = test_util::EmbeddingInputs();
  const Node n = OpNode(dims, layers);
  ASSERT_FALSE(n.name.empty());
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  std::vector<float> y(tokens * d), y_ref(tokens * d), g(rows * d, 7.0f), g_ref(rows * d, 7.0f);
  fast.EmbeddingForward(n, batch, ids.data(), table.data(), y.data());
  ref.EmbeddingForward(n, batch, ids.data(), table.data(), y_ref.data());
  EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
  fast.EmbeddingBackward(n, batch, ids.data(), dy.data(), g.data(), /*accumulate=*/false);
  ref.EmbeddingBackward(n, batch, ids.data(), dy.data(), g_ref.data(), /*accumulate=*/false);
  EXPECT_LE(RelError(g, g_ref), 1e-6);
  for (int64_t c = 0; c < d; ++c) EXPECT_EQ(g[40 * d + c], 0.0f) << "an id that does not occur";
  // Accumulating (a tied linear wrote the gradient first): added to it.
  std::vector<float> acc(rows * d), acc_ref(rows * d);
  for (int64_t i = 0; i < rows * d; ++i) acc[i] = acc_ref[i] = 0.25f * static_cast<float>(i % 9);
  fast.EmbeddingBackward(n, batch, ids.data(), dy.data(), acc.data(), /*accumulate=*/true);
  ref.EmbeddingBackward(n, batch, ids.data(), dy.data(), acc_ref.data(), /*accumulate=*/true);
  EXPECT_LE(RelError(acc, acc_ref), 1e-6);
  for (int64_t c = 0; c < d; ++c) EXPECT_EQ(acc[40 * d + c], 0.25f * static_cast<float>((40 * d + c) % 9));
}

}  // namespace
}  // namespace slimtrain::engine

namespace slimtrain::engine {
namespace {

// group_norm: every backend runs engine/norm_math.h's functions in the same
// order, so the fast kernels equal the reference bit for bit (in place too).
TEST(GroupNormTest, FastEqualsReferenceBitForBit) {
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  for (const test_util::ShapedOpCase& row : test_util::GroupNormCases()) {
    SCOPED_TRACE(row.name);
    const Node n = OpNode(row.dims, OpLayer(row.op));
    ASSERT_FALSE(n.name.empty());
    const int64_t count = row.batch * NumElements(n.out), c = n.out[0], stats_size = 2 * row.batch * n.groups_norm;
    const std::vector<float> x = Random(count, 141, -3.0f, 4.0f), gamma = Random(c, 142, 0.5f, 1.5f),
                             beta = Random(c, 143), dy = Random(count, 144), dx0 = Random(count, 145);
    const float* g = n.affine ? gamma.data() : nullptr;
    const float* b = n.affine ? beta.data() : nullptr;
    std::vector<float> y(count), y_ref(count), s(stats_size), s_ref(stats_size);
    fast.GroupNormForward(n, row.batch, x.data(), g, b, y.data(), s.data());
    ref.GroupNormForward(n, row.batch, x.data(), g, b, y_ref.data(), s_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    EXPECT_EQ(FirstBitDifference(s, s_ref), -1);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = dx0, dx_ref = dx0, dg(c), db(c), dg_ref(c), db_ref(c);
      fast.GroupNormBackward(n, row.batch, dy.data(), x.data(), g, s.data(), dx.data(), acc,
                             n.affine ? dg.data() : nullptr, n.affine ? db.data() : nullptr);
      ref.GroupNormBackward(n, row.batch, dy.data(), x.data(), g, s.data(), dx_ref.data(), acc,
                            n.affine ? dg_ref.data() : nullptr, n.affine ? db_ref.data() : nullptr);
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
      EXPECT_EQ(FirstBitDifference(dg, dg_ref), -1);
      EXPECT_EQ(FirstBitDifference(db, db_ref), -1);
    }
    std::vector<float> dx(count), dinplace = dy, dg(c), db(c);
    fast.GroupNormBackward(n, row.batch, dy.data(), x.data(), g, s.data(), dx.data(), false,
                           n.affine ? dg.data() : nullptr, n.affine ? db.data() : nullptr);
    fast.GroupNormBackward(n, row.batch, dinplace.data(), x.data(), g, s.data(), dinplace.data(), false,
                           n.affine ? dg.data() : nullptr, n.affine ? db.data() : nullptr);
    EXPECT_EQ(FirstBitDifference(dinplace, dx), -1) << "backward in place";
  }
}

}  // namespace
}  // namespace slimtrain::engine

namespace slimtrain::engine {
namespace {

// adaptive_avg_pool: engine/pool_math.h everywhere, so fast == reference bit
// for bit; against a PyTorch-style hand count on a 5x7 map pooled to 2x3.
TEST(AdaptiveAvgPoolTest, FastEqualsReferenceAndWindowsArePyTorchs) {
  const Node n = OpNode({4, 5, 7}, R"pb(layers { name: "op" inputs: "input"
                                         adaptive_avg_pool { out_h: 2 out_w: 3 } })pb");
  ASSERT_FALSE(n.name.empty());
  const int64_t batch = 3, in = batch * 4 * 5 * 7, out = batch * 4 * 2 * 3;
  const std::vector<float> x = Random(in, 151), dy = Random(out, 152), dx0 = Random(in, 153);
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  std::vector<float> y(out), y_ref(out);
  fast.AdaptiveAvgPoolForward(n, batch, x.data(), y.data());
  ref.AdaptiveAvgPoolForward(n, batch, x.data(), y_ref.data());
  EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
  // Output (0, row 1, column 1, channel 2): rows [2, 5), columns [2, 5) of
  // the (N,H,W,C) input, as adaptive_avg_pool2d's floor/ceil windows.
  double sum = 0;
  for (int h = 2; h < 5; ++h) {
    for (int w = 2; w < 5; ++w) sum += x[(h * 7 + w) * 4 + 2];
  }
  EXPECT_FLOAT_EQ(y_ref[((1 * 3) + 1) * 4 + 2], static_cast<float>(sum / 9));
  for (const bool acc : {false, true}) {
    std::vector<float> dx = dx0, dx_ref = dx0;
    fast.AdaptiveAvgPoolBackward(n, batch, dy.data(), dx.data(), acc);
    ref.AdaptiveAvgPoolBackward(n, batch, dy.data(), dx_ref.data(), acc);
    EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
  }
}

// upsample: engine/pool_math.h everywhere, so fast == reference bit for
// bit; against PyTorch's values by hand: a 2-row ramp upsampled to 4 rows is
// [x0, 0.75x0 + 0.25x1, 0.25x0 + 0.75x1, x1] (bilinear), [x0, 2/3 x0 + 1/3
// x1, 1/3 x0 + 2/3 x1, x1] (align_corners); 3 rows to 7 nearest read rows
// 0,0,0,1,1,2,2.
TEST(UpsampleTest, FastEqualsReferenceAndValuesArePyTorchs) {
  struct Row {
    std::vector<int64_t> dims;
    const char* op;
  };
  const Row rows[] = {
      {{3, 5, 6}, "upsample { scale_factor: 2 }"},
      {{3, 3, 5}, "upsample { out_h: 7 out_w: 8 }"},
      {{3, 5, 6}, "upsample { out_h: 9 out_w: 13 mode: \"bilinear\" }"},
      {{3, 4, 3}, "upsample { scale_factor: 3 mode: \"bilinear\" align_corners: true }"},
  };
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  for (const Row& row : rows) {
    SCOPED_TRACE(row.op);
    const Node n = OpNode(row.dims, OpLayer(row.op));
    ASSERT_FALSE(n.name.empty());
    const int64_t batch = 2, in = batch * NumElements(n.input_dims[0]), out = batch * NumElements(n.out);
    const std::vector<float> x = Random(in, 161), dy = Random(out, 162), dx0 = Random(in, 163);
    std::vector<float> y(out), y_ref(out);
    fast.UpsampleForward(n, batch, x.data(), y.data());
    ref.UpsampleForward(n, batch, x.data(), y_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = dx0, dx_ref = dx0;
      fast.UpsampleBackward(n, batch, dy.data(), dx.data(), acc);
      ref.UpsampleBackward(n, batch, dy.data(), dx_ref.data(), acc);
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
    }
  }
  // The hand-counted values: one channel, one column.
  auto column = [&](const char* op, int64_t h, const std::vector<float>& x) {
    const Node n = OpNode({1, h, 1}, OpLayer(op));
    std::vector<float> y(NumElements(n.out));
    ref.UpsampleForward(n, 1, x.data(), y.data());
    return y;
  };
  const std::vector<float> ramp = {1.0f, 5.0f}, three = {1.0f, 2.0f, 3.0f};
  EXPECT_EQ(column("upsample { out_h: 4 out_w: 1 mode: \"bilinear\" }", 2, ramp),
            (std::vector<float>{1.0f, 2.0f, 4.0f, 5.0f}));
  const std::vector<float> aligned =
      column("upsample { out_h: 4 out_w: 1 mode: \"bilinear\" align_corners: true }", 2, ramp);
  ASSERT_EQ(aligned.size(), 4u);
  EXPECT_FLOAT_EQ(aligned[1], 1.0f + 4.0f / 3.0f);
  EXPECT_FLOAT_EQ(aligned[2], 1.0f + 8.0f / 3.0f);
  EXPECT_EQ(aligned[3], 5.0f);
  EXPECT_EQ(column("upsample { out_h: 7 out_w: 1 }", 3, three),
            (std::vector<float>{1.0f, 1.0f, 1.0f, 2.0f, 2.0f, 3.0f, 3.0f}));
}

// Non-square and asymmetric windows (ONNX's pads): the fast pools against
// the reference, and a hand count of PyTorch's/ONNX's divisor: a 2x2 image
// [[1, 2], [3, 4]] pooled 2x2, stride 1, with one pixel of padding below and
// to the right averages [2, 4] at (0, 1): 3 without the padding in the
// divisor, 6/4 with it.
TEST(PoolWindowTest, NonSquareAndAsymmetricPoolsMatchReference) {
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  for (const std::string& op : test_util::AsymmetricPoolOps()) {
    SCOPED_TRACE(op);
    const Node n = OpNode({5, 7, 8}, OpLayer(op));
    ASSERT_FALSE(n.name.empty());
    const bool max = n.kind == OpKind::kMaxPool;
    const int64_t batch = 3, in = batch * NumElements(n.input_dims[0]), out = batch * NumElements(n.out);
    const std::vector<float> x = Random(in, 171), dy = Random(out, 172), dx0 = Random(in, 173);
    std::vector<float> y(out), y_ref(out);
    std::vector<int32_t> idx(out), idx_ref(out);
    if (max) {
      fast.MaxPoolForward(n, batch, x.data(), y.data(), idx.data(), {});
      ref.MaxPoolForward(n, batch, x.data(), y_ref.data(), idx_ref.data(), {});
      EXPECT_EQ(idx, idx_ref);
    } else {
      fast.AvgPoolForward(n, batch, x.data(), y.data(), {});
      ref.AvgPoolForward(n, batch, x.data(), y_ref.data(), {});
    }
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = dx0, dx_ref = dx0;
      if (max) {
        fast.MaxPoolBackward(n, batch, dy.data(), idx_ref.data(), dx.data(), acc, {});
        ref.MaxPoolBackward(n, batch, dy.data(), idx_ref.data(), dx_ref.data(), acc, {});
      } else {
        fast.AvgPoolBackward(n, batch, dy.data(), dx.data(), acc, {});
        ref.AvgPoolBackward(n, batch, dy.data(), dx_ref.data(), acc, {});
      }
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
    }
  }
  const std::vector<float> image = {1, 2, 3, 4};
  for (const bool include : {false, true}) {
    const Node n = OpNode({1, 2, 2}, absl::StrCat(R"pb(layers { name: "op" inputs: "input"
        avg_pool { kernel_size: 2 stride: 1 pads: [0, 0, 1, 1] count_include_pad: )pb",
                                                  include ? "true" : "false", " } }"));
    ASSERT_EQ(n.out, (planner::Dims{1, 2, 2}));
    std::vector<float> y(4);
    ref.AvgPoolForward(n, 1, image.data(), y.data(), {});
    EXPECT_EQ(y, include ? (std::vector<float>{2.5f, 1.5f, 1.75f, 1.0f}) : (std::vector<float>{2.5f, 3.0f, 3.5f, 4.0f}));
  }
}

// mse_loss: the fast loss is the reference's sum bit for bit; the gradient
// 2(x − t)/count, accumulating too.
TEST(MseLossTest, FastEqualsReference) {
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  const int64_t count = 3 * 70001;  // more than one thread's share
  const std::vector<float> x = Random(count, 181), t = Random(count, 182), dx0 = Random(count, 183);
  float loss = 0, loss_ref = 0;
  fast.MseLossForward(count, x.data(), t.data(), &loss);
  ref.MseLossForward(count, x.data(), t.data(), &loss_ref);
  EXPECT_EQ(loss, loss_ref);
  EXPECT_GT(loss, 0.0f);
  for (const bool acc : {false, true}) {
    std::vector<float> dx = dx0, dx_ref = dx0;
    fast.MseLossBackward(count, x.data(), t.data(), dx.data(), acc);
    ref.MseLossBackward(count, x.data(), t.data(), dx_ref.data(), acc);
    EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
  }
}

}  // namespace
}  // namespace slimtrain::engine
