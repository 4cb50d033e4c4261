// FastBackend against the reference backend, table-driven over random shapes:
//   - conv2d and linear (oneDNN) run inside exactly the workspace
//     WorkspaceBytes reports (guard bytes after it stay untouched), forward,
//     backward-data overwriting and accumulating, backward-weights; relative
//     error (max |Δ| / max |reference|) below 2e-5 in fp32 against the
//     reference's double sums;
//   - WorkspaceBytes: the backward of a layer whose input gradient another
//     consumer wrote first includes room for a chunk of dx (computed and
//     added chunk by chunk); the first layer's has none;
//     a too-small workspace aborts naming the layer;
//   - batch norm, the three forward modes and the backward (accumulate and
//     in place), relative error below 1e-5;
//   - the quantizer: codes byte-identical to the reference (engine/quant.h)
//     for K = 8, 4, 2 and pass-through, on the AVX-512 and portable paths,
//     including y = ±0, denormals, bin edges (K = 2: the channel's
//     Lloyd-Max cuts), γ = 0 and γ < 0 channels, b = β/|γ| = ±40, 10, −7.5;
//     restored values and ReLU-from-code gradients bit-identical; BN backward
//     from codes within 1e-5.
// Elementwise, layout, pooling, loss and SGD kernels: fast_backend_ops_test.cc.
// The rows and inputs the CUDA backend's tests share are tests/testing/op_cases.h's.
#include "engine/cpu/fast_backend.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/cpu/quant_kernels.h"
#include "engine/cpu/reference_backend.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/strategy.h"
#include "tests/engine/fast_backend_test_util.h"
#include "tests/testing/op_cases.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine {
namespace {

using planner::Dims;
using planner::Graph;
using planner::Node;
using planner::OpKind;
using planner::Pass;
using test_util::ConvCase;
using test_util::ConvSpec;
using test_util::GraphFromText;
using test_util::LinearCase;
using test_util::LinearSpec;
using testing::FirstBitDifference;
using testing::GuardedWorkspace;
using testing::MakeNode;
using testing::Random;
using testing::RelError;

constexpr double kMatmulTolerance = 2e-5;

// ---------------------------------------------------------------- conv2d

// The rows both backends run (tests/testing/op_cases.h), after the fast
// backend's own: its accumulation in chunks of 16 examples, chunks of one
// (1 MiB per example), depthwise and asymmetric windows.
std::vector<ConvCase> ConvCases() {
  std::vector<ConvCase> cases = {
      {"resnet_16x32x32", 19, 16, 32, 32, 16, 3, 1, 1, 1, 1, false},  // accumulates in chunks of 16 and 3
      {"chunks_of_one", 2, 8, 130, 260, 8, 3, 1, 1, 1, 1, false},      // 1 MiB per example
      {"depthwise", 3, 6, 7, 7, 6, 3, 1, 1, 1, 6, false},
      {"asymmetric_pads_dilated", 2, 4, 9, 7, 6, 0, 0, 0, 0, 1, false,
       "kernel_hw: [3, 2] pads: [1, 0, 2, 1] dilation_hw: [2, 1]"},
      {"depthwise_5x3", 2, 6, 8, 9, 6, 0, 0, 0, 0, 6, false, "kernel_hw: [5, 3] pads: [2, 1]"},
  };
  for (const ConvCase& t : test_util::CommonConvCases()) cases.push_back(t);
  return cases;
}

class ConvTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvTest, MatchesReferenceInsideItsPlannedWorkspace) {
  const ConvCase& t = GetParam();
  ASSERT_OK_AND_ASSIGN(const Graph g, GraphFromText(ConvSpec(t)));
  const Node& a = g.node(g.Find("conv_a"));
  const Node& b = g.node(g.Find("conv_b"));
  const Node& first = g.node(g.Find("first"));
  ASSERT_LT(a.id, b.id);
  ASSERT_EQ(first.inputs[0], 0);
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  ASSERT_TRUE(fast.Prepare(g, t.batch).ok());
  const auto& [x, w, bias, dy, dx0] = test_util::ConvInputs(t, a);
  const int64_t n_in = x.size(), n_out = dy.size(), n_w = w.size();
  const float* bp = t.bias ? bias.data() : nullptr;
  SCOPED_TRACE(fast.DescribeOp(a, t.batch));

  // Forward.
  GuardedWorkspace fws(fast.WorkspaceBytes(g, a, t.batch, Pass::kForward));
  std::vector<float> y(n_out), y_ref(n_out);
  fast.Conv2dForward(a, t.batch, x.data(), w.data(), bp, y.data(), fws.ws());
  ref.Conv2dForward(a, t.batch, x.data(), w.data(), bp, y_ref.data(), Workspace{});
  EXPECT_LT(RelError(y, y_ref), kMatmulTolerance);
  EXPECT_TRUE(fws.GuardIntact());
  if (t.bias) {  // a null bias adds nothing, as in the reference
    fast.Conv2dForward(a, t.batch, x.data(), w.data(), nullptr, y.data(), fws.ws());
    ref.Conv2dForward(a, t.batch, x.data(), w.data(), nullptr, y_ref.data(), Workspace{});
    EXPECT_LT(RelError(y, y_ref), kMatmulTolerance);
  }

  // Backward-data: conv_a accumulates, conv_b overwrites.
  GuardedWorkspace bws_a(fast.WorkspaceBytes(g, a, t.batch, Pass::kBackward));
  GuardedWorkspace bws_b(fast.WorkspaceBytes(g, b, t.batch, Pass::kBackward));
  // Room for a chunk of dx: 1 MiB of examples, at least one (dnnl_ops.h).
  const int64_t example_bytes = n_in / t.batch * 4;
  const int64_t chunk = std::min(t.batch, std::max<int64_t>(1, (int64_t{1} << 20) / example_bytes));
  EXPECT_GE(fast.WorkspaceBytes(g, a, t.batch, Pass::kBackward), chunk * example_bytes);
  EXPECT_LT(fast.WorkspaceBytes(g, a, t.batch, Pass::kBackward), (chunk + 1) * example_bytes + (1 << 20));
  for (const bool accumulate : {true, false}) {
    std::vector<float> dx = dx0, dx_ref = dx0;
    GuardedWorkspace& ws = accumulate ? bws_a : bws_b;
    fast.Conv2dBackwardData(accumulate ? a : b, t.batch, dy.data(), w.data(), dx.data(), accumulate, ws.ws());
    ref.Conv2dBackwardData(a, t.batch, dy.data(), w.data(), dx_ref.data(), accumulate, Workspace{});
    EXPECT_LT(RelError(dx, dx_ref), kMatmulTolerance) << "accumulate " << accumulate;
    EXPECT_TRUE(ws.GuardIntact()) << "accumulate " << accumulate;
  }

  // Backward-weights, for conv_a and for the first layer (whose backward
  // workspace holds no backward-data part).
  GuardedWorkspace bws_f(fast.WorkspaceBytes(g, first, t.batch, Pass::kBackward));
  EXPECT_LE(fast.WorkspaceBytes(g, first, t.batch, Pass::kBackward),
            fast.WorkspaceBytes(g, b, t.batch, Pass::kBackward));
  for (GuardedWorkspace* ws : {&bws_a, &bws_f}) {
    std::vector<float> dw(n_w, 7.0f), dw_ref(n_w), db(t.k, 7.0f), db_ref(t.k);
    fast.Conv2dBackwardWeights(a, t.batch, x.data(), dy.data(), dw.data(), t.bias ? db.data() : nullptr, ws->ws());
    ref.Conv2dBackwardWeights(a, t.batch, x.data(), dy.data(), dw_ref.data(), t.bias ? db_ref.data() : nullptr,
                              Workspace{});
    EXPECT_LT(RelError(dw, dw_ref), kMatmulTolerance);
    if (t.bias) {
      EXPECT_LT(RelError(db, db_ref), kMatmulTolerance);
    }
    EXPECT_TRUE(ws->GuardIntact());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvTest, ::testing::ValuesIn(ConvCases()),
                         [](const ::testing::TestParamInfo<ConvCase>& info) { return info.param.name; });

TEST(FastBackendWorkspaceTest, TooSmallWorkspaceAbortsNamingTheLayer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ASSERT_OK_AND_ASSIGN(const Graph g, GraphFromText(ConvSpec(ConvCases()[0])));
  const Node& a = g.node(g.Find("conv_a"));
  FastBackend fast;
  const int64_t bytes = fast.WorkspaceBytes(g, a, 2, Pass::kForward);
  ASSERT_GT(bytes, 0);  // the reordered weights at least
  std::vector<float> x(2 * 16 * 32 * 32), w(16 * 16 * 9), y(x.size());
  GuardedWorkspace ws(bytes - 64);
  EXPECT_DEATH(fast.Conv2dForward(a, 2, x.data(), w.data(), nullptr, y.data(), ws.ws()),
               "layer 'conv_a' forward needs a workspace of");
}

TEST(FastBackendWorkspaceTest, OnlyConvAndLinearHaveWorkspaces) {
  ASSERT_OK_AND_ASSIGN(const Graph g, GraphFromText(ConvSpec(ConvCases()[0])));
  FastBackend fast;
  for (const Node& n : g.nodes()) {
    const bool weighted = n.kind == OpKind::kConv2d || n.kind == OpKind::kLinear;
    for (Pass pass : {Pass::kForward, Pass::kBackward}) {
      const int64_t bytes = fast.WorkspaceBytes(g, n, 8, pass);
      if (!weighted) {
        EXPECT_EQ(bytes, 0) << n.name;
      }
      EXPECT_EQ(bytes % 64, 0) << n.name;
    }
  }
}

// ---------------------------------------------------------------- linear

// The rows both backends run, and the fast backend's own.
std::vector<LinearCase> LinearCases() {
  std::vector<LinearCase> cases = test_util::CommonLinearCases();
  cases.push_back({"huge_features", 3, {300000}, 2, true});  // accumulates one example at a time
  return cases;
}

class LinearTest : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearTest, MatchesReferenceInsideItsPlannedWorkspace) {
  const LinearCase& t = GetParam();
  ASSERT_OK_AND_ASSIGN(const Graph g, GraphFromText(LinearSpec(t)));
  const Node& a = g.node(g.Find("fc_a"));
  const Node& b = g.node(g.Find("fc_b"));
  ASSERT_LT(a.id, b.id);
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  ASSERT_TRUE(fast.Prepare(g, t.batch).ok());
  const int64_t f = planner::NumElements(t.in);
  const auto& [x, w, bias, dy, dx0] = test_util::LinearInputs(t);
  const float* bp = t.bias ? bias.data() : nullptr;
  SCOPED_TRACE(fast.DescribeOp(a, t.batch));

  GuardedWorkspace fws(fast.WorkspaceBytes(g, a, t.batch, Pass::kForward));
  std::vector<float> y(t.batch * t.out), y_ref(y.size());
  fast.LinearForward(a, t.batch, x.data(), w.data(), bp, y.data(), fws.ws());
  ref.LinearForward(a, t.batch, x.data(), w.data(), bp, y_ref.data(), Workspace{});
  EXPECT_LT(RelError(y, y_ref), kMatmulTolerance);
  EXPECT_TRUE(fws.GuardIntact());

  for (const bool accumulate : {true, false}) {
    const Node& n = accumulate ? a : b;
    GuardedWorkspace ws(fast.WorkspaceBytes(g, n, t.batch, Pass::kBackward));
    std::vector<float> dx = dx0, dx_ref = dx0;
    fast.LinearBackwardData(n, t.batch, dy.data(), w.data(), dx.data(), accumulate, ws.ws());
    ref.LinearBackwardData(n, t.batch, dy.data(), w.data(), dx_ref.data(), accumulate, Workspace{});
    EXPECT_LT(RelError(dx, dx_ref), kMatmulTolerance) << "accumulate " << accumulate;
    std::vector<float> dw(t.out * f), dw_ref(dw.size()), db(t.out), db_ref(t.out);
    fast.LinearBackwardWeights(n, t.batch, x.data(), dy.data(), dw.data(), t.bias ? db.data() : nullptr, ws.ws());
    ref.LinearBackwardWeights(n, t.batch, x.data(), dy.data(), dw_ref.data(), t.bias ? db_ref.data() : nullptr,
                              Workspace{});
    EXPECT_LT(RelError(dw, dw_ref), kMatmulTolerance);
    if (t.bias) {
      EXPECT_LT(RelError(db, db_ref), kMatmulTolerance);
    }
    EXPECT_TRUE(ws.GuardIntact());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearTest, ::testing::ValuesIn(LinearCases()),
                         [](const ::testing::TestParamInfo<LinearCase>& info) { return info.param.name; });

// ---------------------------------------------------------------- batch_norm

using test_util::BnCase;

// The rows both backends run, and the fast backend's own.
std::vector<BnCase> BnCases() {
  std::vector<BnCase> cases = test_util::CommonBnCases();
  const std::vector<BnCase> own = {
      {"c24", 5, {24, 4, 4}},
      {"large_64x32x32", 8, {64, 32, 32}},
      {"sequence_one_step", 3, {9, 1}},
  };
  cases.insert(cases.end(), own.begin(), own.end());
  return cases;
}

class BatchNormTest : public ::testing::TestWithParam<BnCase> {};

TEST_P(BatchNormTest, ForwardModesAndBackwardMatchReference) {
  const BnCase& t = GetParam();
  const int64_t c = t.dims[0], count = t.batch * planner::NumElements(t.dims);
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  const auto& [n, x, gamma, beta, rm0, rv0, dy, dx0] = test_util::BatchNormInputs(t);
  for (BatchNormMode mode : {BatchNormMode::kTrain, BatchNormMode::kTrainNoUpdate, BatchNormMode::kInference}) {
    SCOPED_TRACE(static_cast<int>(mode));
    std::vector<float> y(count), y_ref(count), stats(2 * c, -1.0f), stats_ref(2 * c, -1.0f);
    std::vector<float> rm = rm0, rv = rv0, rm_ref = rm0, rv_ref = rv0;
    fast.BatchNormForward(n, t.batch, mode, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(), y.data(),
                          stats.data());
    ref.BatchNormForward(n, t.batch, mode, x.data(), gamma.data(), beta.data(), rm_ref.data(), rv_ref.data(),
                         y_ref.data(), stats_ref.data());
    EXPECT_LT(RelError(y, y_ref), 1e-5);
    EXPECT_LT(RelError(stats, stats_ref), 1e-5);
    EXPECT_LT(RelError(rm, rm_ref), 1e-6);
    EXPECT_LT(RelError(rv, rv_ref), 1e-6);
    // In place: y == x gives the same values.
    std::vector<float> inplace = x;
    fast.BatchNormForward(n, t.batch, mode, inplace.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                          inplace.data(), stats.data());
    EXPECT_EQ(FirstBitDifference(inplace, y), -1);
  }
  // Backward, from the reference's stats.
  std::vector<float> stats(2 * c), y(count), rm = rm0, rv = rv0;
  ref.BatchNormForward(n, t.batch, BatchNormMode::kTrainNoUpdate, x.data(), gamma.data(), beta.data(), rm.data(),
                       rv.data(), y.data(), stats.data());
  for (const bool accumulate : {false, true}) {
    std::vector<float> dx = dx0, dx_ref = dx0, dg(c), db(c), dg_ref(c), db_ref(c);
    fast.BatchNormBackward(n, t.batch, dy.data(), x.data(), gamma.data(), stats.data(), dx.data(), accumulate,
                           dg.data(), db.data());
    ref.BatchNormBackward(n, t.batch, dy.data(), x.data(), gamma.data(), stats.data(), dx_ref.data(), accumulate,
                          dg_ref.data(), db_ref.data());
    EXPECT_LT(RelError(dx, dx_ref), 1e-5) << "accumulate " << accumulate;
    EXPECT_LT(RelError(dg, dg_ref), 1e-5);
    EXPECT_LT(RelError(db, db_ref), 1e-5);
    if (!accumulate) {
      std::vector<float> inplace = dy;  // dx == dy
      fast.BatchNormBackward(n, t.batch, inplace.data(), x.data(), gamma.data(), stats.data(), inplace.data(), false,
                             dg.data(), db.data());
      EXPECT_EQ(FirstBitDifference(inplace, dx), -1);
    }
  }
  // The model input's batch norm: dx == nullptr, dγ and dβ alone.
  std::vector<float> dg(c), db(c), dg_ref(c), db_ref(c);
  fast.BatchNormBackward(n, t.batch, dy.data(), x.data(), gamma.data(), stats.data(), nullptr, false, dg.data(),
                         db.data());
  ref.BatchNormBackward(n, t.batch, dy.data(), x.data(), gamma.data(), stats.data(), nullptr, false, dg_ref.data(),
                        db_ref.data());
  EXPECT_LT(RelError(dg, dg_ref), 1e-5);
  EXPECT_LT(RelError(db, db_ref), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchNormTest, ::testing::ValuesIn(BnCases()),
                         [](const ::testing::TestParamInfo<BnCase>& info) { return info.param.name; });

// ---------------------------------------------------------------- quantizer

using test_util::QuantCase;

std::string QuantName(const ::testing::TestParamInfo<QuantCase>& info) {
  return test_util::QuantCaseName(info.param) + (info.param.avx512 ? "_avx512" : "_portable");
}

std::vector<QuantCase> QuantCases() {
  std::vector<QuantCase> cases;
  for (bool avx : {true, false}) {
    for (int bits : {8, 4, 2, planner::kPassThroughBits}) {
      // Inputs from seed 3 (QuantizerEdgeInputs: seeds 31, 32, 33).
      cases.push_back({bits, 4, {16, 8, 8}, 3, avx});    // C a multiple of 16
      cases.push_back({bits, 3, {5, 3, 3}, 3, avx});     // 135 elements: P = 80, a short tail
      cases.push_back({bits, 2, {24, 5, 3}, 3, avx});    // P = 48
      cases.push_back({bits, 9, {7}, 3, avx});           // (N,F)
      cases.push_back({bits, 16, {64, 16, 16}, 3, avx});  // several threads
    }
  }
  return cases;
}

class QuantTest : public ::testing::TestWithParam<QuantCase> {
 protected:
  void SetUp() override { cpu::AllowQuantAvx512ForTesting(GetParam().avx512); }
  void TearDown() override { cpu::AllowQuantAvx512ForTesting(true); }
};

TEST_P(QuantTest, CodesAndRestoresAreIdenticalToReference) {
  const QuantCase& t = GetParam();
  const Node bn = MakeNode(OpKind::kBatchNorm, {t.dims}, t.dims);
  const int64_t c = t.dims[0], count = t.batch * planner::NumElements(t.dims);
  FastBackend fast;
  ReferenceBackend ref(DType::kF32);
  // γ, β and y at the code's edges.
  const auto& [x, gamma, beta, y, stats] = test_util::QuantizerEdgeInputs(bn, t.batch, t.bits, t.seed);
  const bool pass = t.bits == planner::kPassThroughBits;
  const size_t code_bytes = pass ? count * 4 : (count * t.bits + 7) / 8;
  std::vector<uint8_t> code(code_bytes, 0xcd), code_ref(code_bytes, 0x5a);
  fast.QuantizeBnRelu(bn, t.batch, t.bits, x.data(), y.data(), gamma.data(), beta.data(), stats.data(), code.data());
  ref.QuantizeBnRelu(bn, t.batch, t.bits, x.data(), y.data(), gamma.data(), beta.data(), stats.data(),
                     code_ref.data());
  ASSERT_EQ(FirstBitDifference(code, code_ref), -1);

  std::vector<float> z(count), z_ref(count);
  fast.RestoreRelu(bn, t.batch, t.bits, code.data(), gamma.data(), beta.data(), z.data());
  ref.RestoreRelu(bn, t.batch, t.bits, code.data(), gamma.data(), beta.data(), z_ref.data());
  EXPECT_EQ(FirstBitDifference(z, z_ref), -1);

  const std::vector<float> dz = Random(count, 34), d0 = Random(count, 35);
  for (const bool accumulate : {false, true}) {
    std::vector<float> d = d0, d_ref = d0;
    fast.ReluBackwardFromCode(bn, t.batch, t.bits, dz.data(), code.data(), gamma.data(), beta.data(), d.data(),
                              accumulate);
    ref.ReluBackwardFromCode(bn, t.batch, t.bits, dz.data(), code.data(), gamma.data(), beta.data(), d_ref.data(),
                             accumulate);
    EXPECT_EQ(FirstBitDifference(d, d_ref), -1) << "accumulate " << accumulate;
    if (!accumulate) {
      std::vector<float> inplace = dz;  // dy == dz
      fast.ReluBackwardFromCode(bn, t.batch, t.bits, inplace.data(), code.data(), gamma.data(), beta.data(),
                                inplace.data(), false);
      EXPECT_EQ(FirstBitDifference(inplace, d), -1);
    }

    std::vector<float> dx = d0, dx_ref = d0, dg(c), db(c), dg_ref(c), db_ref(c);
    fast.BatchNormBackwardFromCode(bn, t.batch, t.bits, dz.data(), code.data(), gamma.data(), beta.data(),
                                   stats.data(), dx.data(), accumulate, dg.data(), db.data());
    ref.BatchNormBackwardFromCode(bn, t.batch, t.bits, dz.data(), code.data(), gamma.data(), beta.data(),
                                  stats.data(), dx_ref.data(), accumulate, dg_ref.data(), db_ref.data());
    EXPECT_LT(RelError(dx, dx_ref), 1e-5) << "accumulate " << accumulate;
    EXPECT_LT(RelError(dg, dg_ref), 1e-5);
    EXPECT_LT(RelError(db, db_ref), 1e-5);
    if (!accumulate) {
      std::vector<float> inplace = dz;  // dx == dy
      fast.BatchNormBackwardFromCode(bn, t.batch, t.bits, inplace.data(), code.data(), gamma.data(), beta.data(),
                                     stats.data(), inplace.data(), false, dg.data(), db.data());
      EXPECT_EQ(FirstBitDifference(inplace, dx), -1);
    }
    // dx == nullptr (the model input's batch norm): dγ and dβ alone.
    std::vector<float> dg_only(c), db_only(c);
    fast.BatchNormBackwardFromCode(bn, t.batch, t.bits, dz.data(), code.data(), gamma.data(), beta.data(),
                                   stats.data(), nullptr, false, dg_only.data(), db_only.data());
    EXPECT_LT(RelError(dg_only, dg_ref), 1e-5);
    EXPECT_LT(RelError(db_only, db_ref), 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Bits, QuantTest, ::testing::ValuesIn(QuantCases()), QuantName);

}  // namespace
}  // namespace slimtrain::engine
