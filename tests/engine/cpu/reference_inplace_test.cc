// Every op backend.h lets the plan run in place (relu, sigmoid, tanh, dropout,
// batch_norm, add, copy; forward and backward; the BN→ReLU code paths) gives
// bit for bit the same result with dst == src as with separate buffers, in
// float32 and float64, with and without accumulate. The separate destination
// starts with the source's values, so accumulate means the same in both runs.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/reference_backend.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine {
namespace {

using test_util::OpNode;
using test_util::RandomVector;
using test_util::TypedBuffer;
using Vec = std::vector<double>;

// Runs the op reading `src` and writing `dst` (the same pointer in the
// in-place run); other inputs come from fixed seeds. Returns the op's other
// outputs (stats, dγ, dβ, ...) to compare too.
struct Op {
  ReferenceBackend& be;
  DType dtype;
  const planner::Node& n;
  int64_t batch;
  int64_t count;  // elements of src and dst
  TypedBuffer Random(int64_t size, uint64_t seed, double lo = -1, double hi = 1) const {
    return TypedBuffer(dtype, RandomVector(size, seed, lo, hi));
  }
  TypedBuffer Filled(int64_t size) const { return TypedBuffer::Filled(dtype, size); }
};
using RunFn = Vec (*)(const Op& op, void* src, void* dst, bool accumulate);

// Which values of `accumulate` a row runs with.
enum class Accumulate { kNone, kBoth, kOnly };

struct InPlaceCase {
  const char* name;
  std::vector<int64_t> input_dims;
  const char* layers;  // defines "op"
  int64_t batch;
  Accumulate accumulate;
  RunFn run;
};

// A 4-bit code of a BN→ReLU on random data, with γ = 0 in channel 0.
struct CodeFixture {
  TypedBuffer x, y, gamma, beta, stats;
  std::vector<uint8_t> code;
  explicit CodeFixture(const Op& op)
      : x(op.Random(op.count, 11)),
        y(op.Random(op.count, 12)),
        gamma(op.Random(op.n.out[0], 13, 0.5, 1.5)),
        beta(op.Random(op.n.out[0], 14)),
        stats(op.Filled(2 * op.n.out[0])),
        code(static_cast<size_t>((op.count * 4 + 7) / 8)) {
    gamma.set(0, 0.0);
    op.be.BatchNormForward(op.n, op.batch, BatchNormMode::kTrainNoUpdate, x.data(), gamma.data(), beta.data(),
                           nullptr, nullptr, y.data(), stats.data());
    op.be.QuantizeBnRelu(op.n, op.batch, 4, x.data(), y.data(), gamma.data(), beta.data(), stats.data(),
                         code.data());
  }
};

const InPlaceCase kCases[] = {
    {"ReluForward", {3, 2, 2}, R"pb(layers { name: "op" inputs: "input" relu {} })pb", 2, Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       op.be.ReluForward(op.count, src, dst);
       return Vec{};
     }},
    {"ReluBackward", {3, 2, 2}, R"pb(layers { name: "op" inputs: "input" relu {} })pb", 2, Accumulate::kBoth,
     [](const Op& op, void* src, void* dst, bool acc) {
       TypedBuffer y = op.Random(op.count, 1);
       op.be.ReluForward(op.count, y.data(), y.data());
       op.be.ReluBackward(op.count, y.data(), src, dst, acc);
       return Vec{};
     }},
    {"SigmoidForward", {7}, R"pb(layers { name: "op" inputs: "input" sigmoid {} })pb", 3, Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       op.be.SigmoidForward(op.count, src, dst);
       return Vec{};
     }},
    {"SigmoidBackward", {7}, R"pb(layers { name: "op" inputs: "input" sigmoid {} })pb", 3, Accumulate::kBoth,
     [](const Op& op, void* src, void* dst, bool acc) {
       TypedBuffer y = op.Random(op.count, 1, 0, 1);
       op.be.SigmoidBackward(op.count, y.data(), src, dst, acc);
       return Vec{};
     }},
    {"TanhForward", {7}, R"pb(layers { name: "op" inputs: "input" tanh {} })pb", 3, Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       op.be.TanhForward(op.count, src, dst);
       return Vec{};
     }},
    {"TanhBackward", {7}, R"pb(layers { name: "op" inputs: "input" tanh {} })pb", 3, Accumulate::kBoth,
     [](const Op& op, void* src, void* dst, bool acc) {
       TypedBuffer y = op.Random(op.count, 1);
       op.be.TanhBackward(op.count, y.data(), src, dst, acc);
       return Vec{};
     }},
    {"DropoutForward", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" dropout { p: 0.4 } })pb", 2,
     Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       op.be.DropoutForward(op.n, op.batch, DropoutKey{5, 6}, src, dst);
       return Vec{};
     }},
    {"DropoutBackward", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" dropout { p: 0.4 } })pb", 2,
     Accumulate::kBoth,
     [](const Op& op, void* src, void* dst, bool acc) {
       op.be.DropoutBackward(op.n, op.batch, DropoutKey{5, 6}, src, dst, acc);
       return Vec{};
     }},
    {"AddForwardIntoFirst", {2, 2, 3}, R"pb(
       layers { name: "a" inputs: "input" relu {} }
       layers { name: "op" inputs: "input" inputs: "a" add {} })pb", 2, Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       TypedBuffer other = op.Random(op.count, 1);
       const void* inputs[] = {src, other.data()};
       op.be.AddForward(op.count, inputs, dst);
       return Vec{};
     }},
    {"AddForwardIntoLast", {2, 2, 3}, R"pb(
       layers { name: "a" inputs: "input" relu {} }
       layers { name: "op" inputs: "input" inputs: "a" add {} })pb", 2, Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       TypedBuffer other = op.Random(op.count, 1);
       const void* inputs[] = {other.data(), other.data(), src};
       op.be.AddForward(op.count, inputs, dst);
       return Vec{};
     }},
    {"Copy", {5}, R"pb(layers { name: "op" inputs: "input" relu {} })pb", 2, Accumulate::kOnly,
     [](const Op& op, void* src, void* dst, bool acc) {
       op.be.Copy(op.count, src, dst, acc);
       return Vec{};
     }},
    {"BatchNormForwardTrain", {3, 2, 2}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb", 2,
     Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       const int64_t c = op.n.out[0];
       TypedBuffer gamma = op.Random(c, 1), beta = op.Random(c, 2);
       TypedBuffer rm = op.Random(c, 3), rv = op.Random(c, 4, 1, 2);
       TypedBuffer stats = op.Filled(2 * c);
       op.be.BatchNormForward(op.n, op.batch, BatchNormMode::kTrain, src, gamma.data(), beta.data(), rm.data(),
                              rv.data(), dst, stats.data());
       Vec side = stats.values();
       for (double v : rm.values()) side.push_back(v);
       for (double v : rv.values()) side.push_back(v);
       return side;
     }},
    {"BatchNormForwardInference", {4}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb", 3,
     Accumulate::kNone,
     [](const Op& op, void* src, void* dst, bool) {
       const int64_t c = op.n.out[0];
       TypedBuffer gamma = op.Random(c, 1), beta = op.Random(c, 2);
       TypedBuffer rm = op.Random(c, 3), rv = op.Random(c, 4, 1, 2);
       op.be.BatchNormForward(op.n, op.batch, BatchNormMode::kInference, src, gamma.data(), beta.data(), rm.data(),
                              rv.data(), dst, nullptr);
       return Vec{};
     }},
    {"BatchNormBackward", {3, 2, 2}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb", 2, Accumulate::kBoth,
     [](const Op& op, void* src, void* dst, bool acc) {
       const int64_t c = op.n.out[0];
       TypedBuffer x = op.Random(op.count, 1), gamma = op.Random(c, 2), beta = op.Random(c, 3);
       TypedBuffer y = op.Filled(op.count);
       TypedBuffer stats = op.Filled(2 * c), dgamma = op.Filled(c), dbeta = op.Filled(c);
       op.be.BatchNormForward(op.n, op.batch, BatchNormMode::kTrainNoUpdate, x.data(), gamma.data(), beta.data(),
                              nullptr, nullptr, y.data(), stats.data());
       op.be.BatchNormBackward(op.n, op.batch, src, x.data(), gamma.data(), stats.data(), dst, acc, dgamma.data(),
                               dbeta.data());
       Vec side = dgamma.values();
       for (double v : dbeta.values()) side.push_back(v);
       return side;
     }},
    {"ReluBackwardFromCode", {3, 2, 2}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb", 2,
     Accumulate::kBoth,
     [](const Op& op, void* src, void* dst, bool acc) {
       CodeFixture f(op);
       op.be.ReluBackwardFromCode(op.n, op.batch, 4, src, f.code.data(), f.gamma.data(), f.beta.data(), dst, acc);
       return Vec{};
     }},
    {"BatchNormBackwardFromCode", {3, 2, 2}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb", 2,
     Accumulate::kBoth,
     [](const Op& op, void* src, void* dst, bool acc) {
       CodeFixture f(op);
       const int64_t c = op.n.out[0];
       TypedBuffer dgamma = op.Filled(c), dbeta = op.Filled(c);
       op.be.BatchNormBackwardFromCode(op.n, op.batch, 4, src, f.code.data(), f.gamma.data(), f.beta.data(),
                                       f.stats.data(), dst, acc, dgamma.data(), dbeta.data());
       Vec side = dgamma.values();
       for (double v : dbeta.values()) side.push_back(v);
       return side;
     }},
};

struct InPlaceParam {
  InPlaceCase op;
  DType dtype;
  bool accumulate;
};

// Every row in both dtypes, with each value of accumulate it takes.
std::vector<InPlaceParam> AllParams() {
  std::vector<InPlaceParam> params;
  for (const InPlaceCase& c : kCases) {
    for (const DType dtype : {DType::kF32, DType::kF64}) {
      if (c.accumulate != Accumulate::kOnly) params.push_back({c, dtype, false});
      if (c.accumulate != Accumulate::kNone) params.push_back({c, dtype, true});
    }
  }
  return params;
}

class InPlaceTest : public ::testing::TestWithParam<InPlaceParam> {};

TEST_P(InPlaceTest, SameResultAsSeparateBuffers) {
  const InPlaceCase& c = GetParam().op;
  const DType dtype = GetParam().dtype;
  const bool accumulate = GetParam().accumulate;
  const planner::Node n = OpNode(c.input_dims, c.layers);
  ASSERT_FALSE(n.name.empty());
  ReferenceBackend be(dtype);
  const Op op{be, dtype, n, c.batch, c.batch * planner::NumElements(c.input_dims)};
  const Vec source = RandomVector(op.count, 42, -2, 2);

  TypedBuffer src(dtype, source), dst(dtype, source);
  const Vec side = c.run(op, src.data(), dst.data(), accumulate);
  TypedBuffer same(dtype, source);
  const Vec side_in_place = c.run(op, same.data(), same.data(), accumulate);

  EXPECT_EQ(same.values(), dst.values());
  EXPECT_EQ(side_in_place, side);
  EXPECT_EQ(src.values(), TypedBuffer(dtype, source).values()) << "the separate source was written";
  EXPECT_NE(dst.values(), source) << "the op did nothing";
}

INSTANTIATE_TEST_SUITE_P(AllInPlaceOps, InPlaceTest, ::testing::ValuesIn(AllParams()),
                         [](const ::testing::TestParamInfo<InPlaceParam>& info) {
                           return std::string(info.param.op.name) +
                                  (info.param.dtype == DType::kF64 ? "F64" : "F32") +
                                  (info.param.accumulate ? "Accumulate" : "");
                         });

}  // namespace
}  // namespace slimtrain::engine
