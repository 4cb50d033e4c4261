// reference_gradient_test_util.h — the finite-difference check of the
// reference backend's backward kernels (reference_gradient_test.cc), shared
// by the files of case rows (reference_gradient_layers_test.cc,
// reference_gradient_ops_test.cc): each row builds a Problem, an op as a
// differentiable function of its inputs, and instantiates GradientTest:
//
//   Problem Relu(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {...}
//   const GradCase kRows[] = {{"Relu", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" relu {} })pb",
//                              0, 2, false, Relu}};
//   INSTANTIATE_TEST_SUITE_P(Ops, GradientTest, ::testing::ValuesIn(kRows), CaseName);
#ifndef SLIMTRAIN_TESTS_ENGINE_CPU_REFERENCE_GRADIENT_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_CPU_REFERENCE_GRADIENT_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "engine/cpu/reference_backend.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine::gradient_test {

using Vec = std::vector<double>;

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// An op as a differentiable function of its inputs.
struct Problem {
  std::vector<std::string> names;  // one per input: "x", "w", "b", "gamma", ...
  std::vector<Vec> inputs;
  std::function<Vec(const std::vector<Vec>&)> forward;
  // d(Σ r ⊙ forward)/d(input), one per input.
  std::function<std::vector<Vec>(const std::vector<Vec>&, const Vec& r)> backward;
};

// An input gradient of `size` elements from call(dst, accumulate): see
// reference_gradient_test.cc's comment for what dst starts with.
inline Vec InputGrad(int64_t size, bool accumulate, const std::function<void(double*, bool)>& call) {
  const Vec old = accumulate ? test_util::RandomVector(size, 99, -2, 2) : Vec(size, kNaN);
  Vec dst = old;
  call(dst.data(), accumulate);
  if (accumulate) {
    for (size_t i = 0; i < dst.size(); ++i) dst[i] -= old[i];
  }
  return dst;
}

using MakeProblem = Problem (*)(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool accumulate);

inline int64_t InSize(const planner::Node& n, int64_t batch, int index = 0) {
  return batch * planner::NumElements(n.input_dims[index]);
}
inline int64_t OutSize(const planner::Node& n, int64_t batch) { return batch * planner::NumElements(n.out); }

struct GradCase {
  const char* name;
  std::vector<int64_t> input_dims;
  const char* layers;       // defines "op" (and what it reads); see OpNode
  int64_t num_classes;      // > 0 when "op" is the loss
  int64_t batch;
  bool accumulate;
  MakeProblem make;
};

inline std::ostream& operator<<(std::ostream& os, const GradCase& c) { return os << c.name; }

// Every analytic gradient of the row's Problem against central differences
// (reference_gradient_test.cc).
class GradientTest : public ::testing::TestWithParam<GradCase> {};

// The row's name as its test's name.
inline std::string CaseName(const ::testing::TestParamInfo<GradCase>& info) { return info.param.name; }

}  // namespace slimtrain::engine::gradient_test

#endif  // SLIMTRAIN_TESTS_ENGINE_CPU_REFERENCE_GRADIENT_TEST_UTIL_H_
