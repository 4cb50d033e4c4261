// Every backward of the reference backend matches central finite differences
// in float64 (docs/DESIGN.md, invariant 6).
//
// For each row: inputs are random, L = Σ r ⊙ forward(inputs) for a fixed
// random r, and every analytic gradient element g (input, weight, bias, γ, β)
// must satisfy |g − (L(x+h) − L(x−h))/2h| <= 1e-6 · max(1, |g|) with
// h = 1e-6. (Round-off in L is ~1e-14, so the difference quotient is good to
// ~1e-8; the bound leaves room while catching any wrong term.) Rows with
// accumulate = true start the input gradient from random values and check
// result − old; rows without it start from NaN, so an element a kernel does
// not write fails. Weight gradients are always overwritten (start from NaN).
// Relu and max-pool inputs keep away from their kinks.
//
// The rows, each with the Problem it builds (reference_gradient_test_util.h):
// reference_gradient_layers_test.cc (conv2d, linear, the norms, embedding,
// attention) and reference_gradient_ops_test.cc (the activations, softmax,
// add, concat, flatten, pooling, upsample, dropout, the losses).
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/cpu/reference_backend.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/cpu/reference_gradient_test_util.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine::gradient_test {
namespace {

using test_util::OpNode;
using test_util::RandomVector;

constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-6;

TEST_P(GradientTest, MatchesCentralDifferences) {
  const GradCase& c = GetParam();
  const planner::Node n = OpNode(c.input_dims, c.layers, c.num_classes);
  ASSERT_FALSE(n.name.empty());
  ReferenceBackend be(DType::kF64);
  const Problem p = c.make(be, n, c.batch, c.accumulate);
  const Vec y = p.forward(p.inputs);
  const Vec r = RandomVector(static_cast<int64_t>(y.size()), 7);
  const std::vector<Vec> grads = p.backward(p.inputs, r);
  ASSERT_EQ(grads.size(), p.inputs.size());

  auto loss = [&](const std::vector<Vec>& in) {
    const Vec out = p.forward(in);
    double sum = 0;
    for (size_t i = 0; i < out.size(); ++i) sum += r[i] * out[i];
    return sum;
  };
  for (size_t t = 0; t < p.inputs.size(); ++t) {
    ASSERT_EQ(grads[t].size(), p.inputs[t].size()) << p.names[t];
    int failures = 0;
    double norm = 0;
    for (size_t j = 0; j < p.inputs[t].size() && failures < 5; ++j) {
      std::vector<Vec> in = p.inputs;
      in[t][j] += kStep;
      const double plus = loss(in);
      in[t][j] = p.inputs[t][j] - kStep;
      const double minus = loss(in);
      const double numeric = (plus - minus) / (2 * kStep);
      const double analytic = grads[t][j];
      norm += analytic * analytic;
      const bool ok = std::fabs(analytic - numeric) <= kTolerance * std::max(1.0, std::fabs(analytic));
      if (!ok) ++failures;
      EXPECT_TRUE(ok) << p.names[t] << "[" << j << "]: analytic " << analytic << ", numeric " << numeric;
    }
    // A gradient that is zero everywhere would match a constant forward.
    EXPECT_GT(norm, 0.0) << p.names[t] << ": the gradient is zero everywhere";
  }
}

}  // namespace
}  // namespace slimtrain::engine::gradient_test
