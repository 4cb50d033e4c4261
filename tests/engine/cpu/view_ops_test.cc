// The view ops (engine/shape_views.h: broadcast mul/sub/div/add, reshape,
// squeeze, unsqueeze, transpose, slice, concat on any axis, reduce_mean,
// reduce_sum), table-driven, one row per op and shape:
//   1. on the float64 reference backend, every input's gradient matches
//      central differences of L = Σ r ⊙ forward (h = 1e-6, bound 1e-6 ·
//      max(1, |g|)); with accumulate the gradient starts from random values,
//      without it from NaN, so an element never written fails;
//   2. the fast CPU backend equals the float32 reference bit for bit, forward
//      and backward (the kernels form the same double expressions in the
//      same order).
// Images (C,H,W) are stored (N,H,W,C), so these rows also prove the views
// read the NHWC layout as PyTorch's (N,C,H,W).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/backend.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/shape_views.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine {
namespace {

using planner::Node;
using planner::NumElements;
using test_util::OpNode;
using test_util::RandomVector;
using Vec = std::vector<double>;

struct ViewCase {
  const char* name;
  std::vector<int64_t> input_dims;
  const char* layers;  // defines "op" and what it reads
  int64_t batch;
  bool accumulate;
};

std::ostream& operator<<(std::ostream& os, const ViewCase& c) { return os << c.name; }

const ViewCase kCases[] = {
    // broadcast binary ops; "se" is (C,1,1) from the (C,H,W) input
    {"MulSqueezeExcite", {3, 4, 5}, R"pb(
       layers { name: "se" inputs: "input" reduce_mean { axes: [2, 3] keepdim: true } }
       layers { name: "op" inputs: "input" inputs: "se" mul {} })pb", 2, false},
    {"MulSameShapeAccumulate", {6}, R"pb(
       layers { name: "t" inputs: "input" tanh {} }
       layers { name: "op" inputs: "t" inputs: "input" mul {} })pb", 3, true},
    {"MulLowerRankSecond", {4, 5}, R"pb(
       layers { name: "row" inputs: "input" reduce_sum { axes: [1] } }
       layers { name: "op" inputs: "input" inputs: "row" mul {} })pb", 2, false},
    {"SubBroadcastFirst", {2, 3, 4}, R"pb(
       layers { name: "m" inputs: "input" reduce_mean { axes: [1] keepdim: true } }
       layers { name: "op" inputs: "m" inputs: "input" sub {} })pb", 2, false},
    {"DivByPositive", {3, 2, 4}, R"pb(
       layers { name: "p" inputs: "input" softplus {} }
       layers { name: "q" inputs: "p" reduce_sum { axes: [2] keepdim: true } }
       layers { name: "op" inputs: "input" inputs: "q" div {} })pb", 2, true},
    {"AddBroadcastRow", {3, 4}, R"pb(
       layers { name: "r" inputs: "input" reduce_mean { axes: [1] keepdim: true } }
       layers { name: "op" inputs: "input" inputs: "r" add {} })pb", 2, false},
    // layout
    {"ReshapeImageToRows", {3, 2, 4}, R"pb(layers { name: "op" inputs: "input" reshape { dims: [3, -1] } })pb", 2,
     false},
    {"ReshapeRowsToImageAccumulate", {6, 4}, R"pb(layers { name: "op" inputs: "input"
       reshape { dims: [2, 3, 4] } })pb", 2, true},
    {"SqueezeImage", {5, 1, 1}, R"pb(layers { name: "op" inputs: "input" squeeze {} })pb", 3, false},
    {"UnsqueezeToImage", {5}, R"pb(layers { name: "op" inputs: "input" unsqueeze { axes: [-1, -2] } })pb", 3,
     false},
    {"TransposeImageToChannelsLast", {3, 2, 4}, R"pb(layers { name: "op" inputs: "input"
       transpose { perm: [0, 2, 3, 1] } })pb", 2, false},
    {"TransposeRowsAccumulate", {3, 5}, R"pb(layers { name: "op" inputs: "input"
       transpose { perm: [0, 2, 1] } })pb", 2, true},
    {"SliceImageHeightStep2", {2, 7, 3}, R"pb(layers { name: "op" inputs: "input"
       slice { axis: 2 start: 1 step: 2 } })pb", 2, false},
    {"SliceRowsNegativeAccumulate", {6, 4}, R"pb(layers { name: "op" inputs: "input"
       slice { axis: 1 start: -4 end: -1 } })pb", 2, true},
    {"SliceFirstToken", {5, 3}, R"pb(layers { name: "op" inputs: "input" slice { axis: 1 end: 1 } })pb", 2,
     false},
    {"ConcatImageWidth", {2, 3, 2}, R"pb(
       layers { name: "t" inputs: "input" tanh {} }
       layers { name: "op" inputs: "input" inputs: "t" concat { axis: 3 } })pb", 2, false},
    {"ConcatTokens", {4, 3}, R"pb(
       layers { name: "first" inputs: "input" slice { axis: 1 end: 1 } }
       layers { name: "op" inputs: "first" inputs: "input" concat { axis: 1 } })pb", 2, false},
    {"ConcatRowsLastAxisAccumulate", {3, 2}, R"pb(
       layers { name: "t" inputs: "input" tanh {} }
       layers { name: "op" inputs: "t" inputs: "input" inputs: "t" concat { axis: -1 } })pb", 2, true},
    // learned parameters (the last "input" of these rows is the weight)
    {"PositionalEmbeddingTokens", {5, 3}, R"pb(layers { name: "op" inputs: "input" positional_embedding {} })pb",
     2, false},
    {"PositionalEmbeddingImageAccumulate", {2, 3, 4}, R"pb(layers { name: "op" inputs: "input"
       positional_embedding {} })pb", 2, true},
    {"ClassToken", {4, 3}, R"pb(layers { name: "op" inputs: "input" class_token {} })pb", 3, false},
    {"ClassTokenAccumulate", {2, 5}, R"pb(layers { name: "op" inputs: "input" class_token {} })pb", 2, true},
    // matmul: (M,K)x(K,P) and per head (H,M,K)x(H,K,P); the rank-3 tensors
    // are stored as images are, so the views are strided
    {"MatMulRows", {4, 3}, R"pb(
       layers { name: "t" inputs: "input" transpose { perm: [0, 2, 1] } }
       layers { name: "op" inputs: "input" inputs: "t" matmul {} })pb", 2, false},
    {"MatMulHeadsAccumulate", {2, 4, 3}, R"pb(
       layers { name: "t" inputs: "input" transpose { perm: [0, 1, 3, 2] } }
       layers { name: "op" inputs: "input" inputs: "t" matmul {} })pb", 2, true},
    {"MatMulScoresTimesValues", {3, 5}, R"pb(
       layers { name: "t" inputs: "input" transpose { perm: [0, 2, 1] } }
       layers { name: "s" inputs: "input" inputs: "t" matmul {} }
       layers { name: "p" inputs: "s" softmax {} }
       layers { name: "op" inputs: "p" inputs: "input" matmul {} })pb", 2, false},
    // reductions
    {"ReduceMeanSpatialKeepdim", {3, 4, 5}, R"pb(layers { name: "op" inputs: "input"
       reduce_mean { axes: [2, 3] keepdim: true } })pb", 2, false},
    {"ReduceSumRowsAccumulate", {4, 3}, R"pb(layers { name: "op" inputs: "input"
       reduce_sum { axes: [1] } })pb", 3, true},
    {"ReduceMeanChannels", {4, 2, 3}, R"pb(layers { name: "op" inputs: "input"
       reduce_mean { axes: [-3] } })pb", 2, false},
    {"ReduceSumEverythingKeepdim", {2, 3, 2}, R"pb(layers { name: "op" inputs: "input"
       reduce_sum { keepdim: true } })pb", 2, false},
};

Node CaseNode(const ViewCase& c) { return OpNode(c.input_dims, c.layers); }

std::vector<Vec> RandomInputs(const Node& n, int64_t batch) {
  std::vector<Vec> in;
  for (size_t i = 0; i < n.input_dims.size(); ++i) {
    Vec v = RandomVector(batch * NumElements(n.input_dims[i]), 11 + i, -2, 2);
    // div's divisor away from 0.
    if (n.kind == planner::OpKind::kDiv && i == 1) {
      for (double& x : v) x = 0.5 + std::fabs(x);
    }
    in.push_back(std::move(v));
  }
  if (n.parameter_count > 0) in.push_back(RandomVector(n.parameter_count, 21, -1, 1));  // the weight
  return in;
}

// Input activations are the first n.inputs.size() entries; a weight follows.
bool HasWeight(const Node& n) { return n.parameter_count > 0; }

template <typename T>
std::vector<const void*> Pointers(const std::vector<std::vector<T>>& in) {
  std::vector<const void*> p;
  for (const auto& v : in) p.push_back(v.data());
  return p;
}

class ViewOpsTest : public ::testing::TestWithParam<ViewCase> {};

TEST_P(ViewOpsTest, GradientsMatchCentralDifferences) {
  const ViewCase& c = GetParam();
  const Node n = CaseNode(c);
  ASSERT_FALSE(n.name.empty());
  ASSERT_TRUE(IsViewOp(n)) << "op is not run as a view op";
  ReferenceBackend be(DType::kF64);
  const std::vector<Vec> x = RandomInputs(n, c.batch);
  const int64_t out = c.batch * NumElements(n.out);
  const int k_in = static_cast<int>(n.inputs.size());
  auto forward = [&](const std::vector<Vec>& in) {
    Vec y(out, std::numeric_limits<double>::quiet_NaN());
    ViewOpForward(be, n, c.batch, Pointers(in).data(), y.data(), HasWeight(n) ? in[k_in].data() : nullptr);
    return y;
  };
  const Vec r = RandomVector(out, 7);
  auto loss = [&](const std::vector<Vec>& in) {
    const Vec y = forward(in);
    double sum = 0;
    for (int64_t i = 0; i < out; ++i) sum += r[i] * y[i];
    return sum;
  };
  const int k = static_cast<int>(x.size());
  std::vector<Vec> old(k), grads(k);
  std::vector<void*> dx(k);
  std::unique_ptr<bool[]> acc(new bool[k]);
  for (int i = 0; i < k; ++i) {
    old[i] = c.accumulate ? RandomVector(x[i].size(), 99 + i) : Vec(x[i].size(), std::nan(""));
    grads[i] = old[i];
    dx[i] = grads[i].data();
    acc[i] = c.accumulate;
  }
  // The weight's gradient is always overwritten: from NaN.
  if (HasWeight(n)) {
    old[k_in] = Vec(x[k_in].size(), std::nan(""));
    grads[k_in] = old[k_in];
    dx[k_in] = grads[k_in].data();
  }
  ViewOpBackward(be, n, c.batch, Pointers(x).data(), r.data(), dx.data(), acc.get(),
                 HasWeight(n) ? dx[k_in] : nullptr);
  for (int t = 0; t < k; ++t) {
    double norm = 0;
    int failures = 0;
    for (size_t j = 0; j < x[t].size() && failures < 5; ++j) {
      std::vector<Vec> in = x;
      in[t][j] += 1e-6;
      const double plus = loss(in);
      in[t][j] = x[t][j] - 1e-6;
      const double minus = loss(in);
      const double numeric = (plus - minus) / 2e-6;
      const bool added = c.accumulate && t < k_in;
      const double analytic = added ? grads[t][j] - old[t][j] : grads[t][j];
      norm += analytic * analytic;
      const bool ok = std::fabs(analytic - numeric) <= 1e-6 * std::max(1.0, std::fabs(analytic));
      if (!ok) ++failures;
      EXPECT_TRUE(ok) << "input " << t << " [" << j << "]: analytic " << analytic << ", numeric " << numeric;
    }
    EXPECT_GT(norm, 0.0) << "input " << t << ": the gradient is zero everywhere";
  }
}

TEST_P(ViewOpsTest, FastBackendEqualsReferenceBitForBit) {
  const ViewCase& c = GetParam();
  const Node n = CaseNode(c);
  ASSERT_FALSE(n.name.empty());
  ReferenceBackend ref(DType::kF32);
  FastBackend fast;
  std::vector<std::vector<float>> x;
  for (const Vec& v : RandomInputs(n, c.batch)) x.emplace_back(v.begin(), v.end());
  const int64_t out = c.batch * NumElements(n.out);
  std::vector<float> y_ref(out), y_fast(out);
  const int k_in = static_cast<int>(n.inputs.size());
  const void* w = HasWeight(n) ? x[k_in].data() : nullptr;
  ViewOpForward(ref, n, c.batch, Pointers(x).data(), y_ref.data(), w);
  ViewOpForward(fast, n, c.batch, Pointers(x).data(), y_fast.data(), w);
  EXPECT_EQ(0, std::memcmp(y_ref.data(), y_fast.data(), out * sizeof(float))) << "forward";
  const Vec r = RandomVector(out, 7);
  const std::vector<float> dy(r.begin(), r.end());
  const int k = static_cast<int>(x.size());
  std::vector<std::vector<float>> g_ref(k), g_fast(k);
  std::vector<void*> d_ref(k), d_fast(k);
  std::unique_ptr<bool[]> acc(new bool[k]);
  for (int i = 0; i < k; ++i) {
    const Vec start = RandomVector(x[i].size(), 99 + i);
    g_ref[i].assign(start.begin(), start.end());
    g_fast[i] = g_ref[i];
    d_ref[i] = g_ref[i].data();
    d_fast[i] = g_fast[i].data();
    acc[i] = c.accumulate;
  }
  ViewOpBackward(ref, n, c.batch, Pointers(x).data(), dy.data(), d_ref.data(), acc.get(),
                 HasWeight(n) ? d_ref[k_in] : nullptr);
  ViewOpBackward(fast, n, c.batch, Pointers(x).data(), dy.data(), d_fast.data(), acc.get(),
                 HasWeight(n) ? d_fast[k_in] : nullptr);
  for (int i = 0; i < k; ++i) {
    EXPECT_EQ(0, std::memcmp(g_ref[i].data(), g_fast[i].data(), g_ref[i].size() * sizeof(float)))
        << "gradient of input " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(AllViewOps, ViewOpsTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ViewCase>& info) { return std::string(info.param.name); });

// The layouts the views read: an image's element (n, c, h, w) is where
// PyTorch's (N,C,H,W) has it once the NHWC storage is accounted for, so a
// transpose to (N,H,W,C) of an image is the identity on memory.
TEST(ViewOpsTest, TransposeOfAnImageToChannelsLastIsItsStorage) {
  const Node n = OpNode({3, 2, 4}, R"pb(layers { name: "op" inputs: "input" transpose { perm: [0, 2, 3, 1] } })pb");
  ASSERT_FALSE(n.name.empty());
  ReferenceBackend be(DType::kF64);
  const Vec x = RandomVector(2 * 24, 3);
  Vec y(2 * 24);
  const void* in[] = {x.data()};
  ViewOpForward(be, n, 2, in, y.data());
  // y is (N,H,W,C) = (2,2,4,3), a rank-3 tensor per example, stored as an
  // "image" (H,W,C) -> memory (N, W, C, H): check element by element.
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t w = 0; w < 4; ++w) {
        for (int64_t ch = 0; ch < 3; ++ch) {
          const double want = x[((b * 2 + h) * 4 + w) * 3 + ch];  // x stored (N,H,W,C)
          // y's logical (b, h, w, ch) with per-example dims (2,4,3) stored (4,3,2): (w, ch, h).
          const double got = y[b * 24 + (w * 3 + ch) * 2 + h];
          EXPECT_EQ(got, want) << b << "," << h << "," << w << "," << ch;
        }
      }
    }
  }
}

}  // namespace
}  // namespace slimtrain::engine
