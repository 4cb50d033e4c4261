// FastBackend's own memory-bound kernels against the reference backend,
// table-driven. Where the fast kernel evaluates the reference's expression in
// the same precision and order (relu, add of two inputs, copy, dropout,
// layout, pools, softmax probabilities, SGD) the results must be
// bit-identical; sigmoid and tanh (a polynomial exp) stay within 1e-6 of the
// scale. Sizes straddle the threading grain (37 and 100003 elements), and
// accumulate and in-place variants run where backend.h allows them.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/fast_backend_test_util.h"
#include "tests/testing/op_cases.h"

namespace slimtrain::engine {
namespace {

using planner::Dims;
using planner::Node;
using planner::OpKind;
using testing::FirstBitDifference;
using testing::MakeNode;
using testing::Random;
using testing::RelError;

const int64_t kCounts[] = {37, 100003};

class OpsTest : public ::testing::Test {
 protected:
  FastBackend fast_;
  ReferenceBackend ref_{DType::kF32};
};

// ---------------------------------------------------------------- elementwise

// The activations' inputs and kernels of tests/testing/op_cases.h, as the
// CUDA backend's test.
using test_util::Unary;
using test_util::UnaryBackward;
using test_util::UnaryForward;
using test_util::UnaryInput;

TEST_F(OpsTest, ActivationsForwardBackwardAccumulateAndInPlace) {
  for (Unary op : {Unary::kRelu, Unary::kSigmoid, Unary::kTanh}) {
    for (int64_t n : kCounts) {
      SCOPED_TRACE(::testing::Message() << "op " << static_cast<int>(op) << " count " << n);
      const std::vector<float> x = UnaryInput(op, n);
      std::vector<float> y(n), y_ref(n);
      auto forward = [&](Backend& b, const float* in, float* out) { UnaryForward(b, op, n, in, out); };
      auto backward = [&](Backend& b, const float* out, const float* dy, float* dx, bool acc) {
        UnaryBackward(b, op, n, out, dy, dx, acc);
      };
      forward(fast_, x.data(), y.data());
      forward(ref_, x.data(), y_ref.data());
      const double tol = op == Unary::kRelu ? 0.0 : 1e-6;
      EXPECT_LE(RelError(y, y_ref), tol);
      std::vector<float> inplace = x;
      forward(fast_, inplace.data(), inplace.data());
      EXPECT_EQ(FirstBitDifference(inplace, y), -1);
      const std::vector<float> dy = Random(n, 42), dx0 = Random(n, 43);
      for (const bool acc : {false, true}) {
        std::vector<float> dx = dx0, dx_ref = dx0;
        backward(fast_, y_ref.data(), dy.data(), dx.data(), acc);
        backward(ref_, y_ref.data(), dy.data(), dx_ref.data(), acc);
        EXPECT_LE(RelError(dx, dx_ref), op == Unary::kRelu ? 0.0 : 1e-6) << "accumulate " << acc;
      }
      std::vector<float> dinplace = dy;  // dx == dy
      std::vector<float> dx(n);
      backward(fast_, y_ref.data(), dy.data(), dx.data(), false);
      backward(fast_, y_ref.data(), dinplace.data(), dinplace.data(), false);
      EXPECT_EQ(FirstBitDifference(dinplace, dx), -1);
    }
  }
}

TEST_F(OpsTest, AddAndCopy) {
  for (int64_t n : kCounts) {
    const std::vector<float> a = Random(n, 51), b = Random(n, 52), c = Random(n, 53);
    std::vector<float> y(n), y_ref(n);
    const void* two[] = {a.data(), b.data()};
    fast_.AddForward(n, two, y.data());
    ref_.AddForward(n, two, y_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    const void* three[] = {a.data(), b.data(), c.data()};
    fast_.AddForward(n, three, y.data());
    ref_.AddForward(n, three, y_ref.data());
    EXPECT_LT(RelError(y, y_ref), 1e-6);  // float adds vs one double sum
    std::vector<float> inplace = a;        // y == inputs[0]
    const void* alias[] = {inplace.data(), b.data()};
    fast_.AddForward(n, alias, inplace.data());
    ref_.AddForward(n, two, y_ref.data());
    EXPECT_EQ(FirstBitDifference(inplace, y_ref), -1);
    for (const bool acc : {false, true}) {
      std::vector<float> d = b, d_ref = b;
      fast_.Copy(n, a.data(), d.data(), acc);
      ref_.Copy(n, a.data(), d_ref.data(), acc);
      EXPECT_EQ(FirstBitDifference(d, d_ref), -1) << "accumulate " << acc;
    }
  }
}

TEST_F(OpsTest, DropoutKeepsExactlyDropoutKeepsElements) {
  for (double p : {0.0, 0.1, 0.5, 0.9}) {
    Node n = MakeNode(OpKind::kDropout, {{6, 7, 5}}, {6, 7, 5}, /*id=*/11);
    n.dropout_p = p;
    const int64_t batch = 97, count = batch * 6 * 7 * 5;  // > the threading grain
    const DropoutKey key{12345, 17};
    const std::vector<float> x = Random(count, 61, 0.5f, 1.5f);  // never 0
    std::vector<float> y(count), y_ref(count);
    fast_.DropoutForward(n, batch, key, x.data(), y.data());
    ref_.DropoutForward(n, batch, key, x.data(), y_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1) << "p " << p;
    int64_t mismatched = 0;
    for (int64_t i = 0; i < count; ++i) mismatched += (y[i] != 0) != DropoutKeep(key, n.id, i, p);
    EXPECT_EQ(mismatched, 0) << "p " << p;
    std::vector<float> inplace = x;
    fast_.DropoutForward(n, batch, key, inplace.data(), inplace.data());
    EXPECT_EQ(FirstBitDifference(inplace, y), -1);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = x, dx_ref = x;
      fast_.DropoutBackward(n, batch, key, y.data(), dx.data(), acc);
      ref_.DropoutBackward(n, batch, key, y.data(), dx_ref.data(), acc);
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "p " << p << " accumulate " << acc;
    }
  }
}

// ---------------------------------------------------------------- layout

TEST_F(OpsTest, ConcatForwardAndBackwardSlices) {
  const std::vector<Dims> inputs = {{3, 4, 5}, {5, 4, 5}, {16, 4, 5}};
  const Node n = MakeNode(OpKind::kConcat, inputs, {24, 4, 5});
  for (int64_t batch : {1, 200}) {
    std::vector<std::vector<float>> xs;
    std::vector<const void*> ptrs;
    for (size_t k = 0; k < inputs.size(); ++k) {
      xs.push_back(Random(batch * planner::NumElements(inputs[k]), 71 + static_cast<uint32_t>(k)));
    }
    for (const auto& v : xs) ptrs.push_back(v.data());
    std::vector<float> y(batch * 24 * 20), y_ref(y.size());
    fast_.ConcatForward(n, batch, ptrs, y.data());
    ref_.ConcatForward(n, batch, ptrs, y_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    for (int index = 0; index < 3; ++index) {
      for (const bool acc : {false, true}) {
        std::vector<float> dx = xs[index], dx_ref = xs[index];
        fast_.ConcatBackward(n, batch, index, y.data(), dx.data(), acc);
        ref_.ConcatBackward(n, batch, index, y.data(), dx_ref.data(), acc);
        EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "index " << index << " accumulate " << acc;
      }
    }
  }
}

TEST_F(OpsTest, FlattenInTorchOrderAndBack) {
  for (const Dims& in : {Dims{5, 3, 4}, Dims{64, 7, 7}, Dims{33}}) {
    const Node n = MakeNode(OpKind::kFlatten, {in}, {planner::NumElements(in)});
    const int64_t batch = 9, count = batch * planner::NumElements(in);
    const std::vector<float> x = Random(count, 81);
    std::vector<float> y(count), y_ref(count);
    fast_.FlattenForward(n, batch, x.data(), y.data());
    ref_.FlattenForward(n, batch, x.data(), y_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = x, dx_ref = x;
      fast_.FlattenBackward(n, batch, y.data(), dx.data(), acc);
      ref_.FlattenBackward(n, batch, y.data(), dx_ref.data(), acc);
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
    }
  }
}

// ---------------------------------------------------------------- pooling

// The rows, nodes and inputs of tests/testing/op_cases.h, as the CUDA
// backend's pooling tests.
using test_util::MaxPoolInput;
using test_util::PoolCase;
using test_util::PoolCases;
using test_util::PoolNode;

TEST_F(OpsTest, MaxPoolTiesNanAndIndicesMatchReference) {
  for (const PoolCase& t : PoolCases()) {
    const Node n = PoolNode(OpKind::kMaxPool, t);
    const int64_t in = t.batch * t.c * t.h * t.w, out = t.batch * planner::NumElements(n.out);
    const std::vector<float> x = MaxPoolInput(in);
    std::vector<float> y(out), y_ref(out);
    std::vector<int32_t> idx(out, -1), idx_ref(out, -2);
    fast_.MaxPoolForward(n, t.batch, x.data(), y.data(), idx.data(), Workspace{});
    ref_.MaxPoolForward(n, t.batch, x.data(), y_ref.data(), idx_ref.data(), Workspace{});
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    EXPECT_EQ(FirstBitDifference(idx, idx_ref), -1);
    const std::vector<float> dy = Random(out, 92), dx0 = Random(in, 93);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = dx0, dx_ref = dx0;
      fast_.MaxPoolBackward(n, t.batch, dy.data(), idx_ref.data(), dx.data(), acc, Workspace{});
      ref_.MaxPoolBackward(n, t.batch, dy.data(), idx_ref.data(), dx_ref.data(), acc, Workspace{});
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
    }
  }
}

TEST_F(OpsTest, AvgPoolBothDivisorsMatchReference) {
  for (const PoolCase& t : PoolCases()) {
    for (const bool include_pad : {true, false}) {
      Node n = PoolNode(OpKind::kAvgPool, t);
      n.count_include_pad = include_pad;
      const int64_t in = t.batch * t.c * t.h * t.w, out = t.batch * planner::NumElements(n.out);
      const std::vector<float> x = Random(in, 101);
      std::vector<float> y(out), y_ref(out);
      fast_.AvgPoolForward(n, t.batch, x.data(), y.data(), Workspace{});
      ref_.AvgPoolForward(n, t.batch, x.data(), y_ref.data(), Workspace{});
      EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
      const std::vector<float> dy = Random(out, 102), dx0 = Random(in, 103);
      for (const bool acc : {false, true}) {
        std::vector<float> dx = dx0, dx_ref = dx0;
        fast_.AvgPoolBackward(n, t.batch, dy.data(), dx.data(), acc, Workspace{});
        ref_.AvgPoolBackward(n, t.batch, dy.data(), dx_ref.data(), acc, Workspace{});
        EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
      }
    }
  }
}

TEST_F(OpsTest, GlobalAvgPoolMatchesReference) {
  for (const Dims& in : {Dims{64, 8, 8}, Dims{70, 3, 5}, Dims{3, 1, 1}}) {
    const Node n = MakeNode(OpKind::kGlobalAvgPool, {in}, {in[0]});
    const int64_t batch = 33, count = batch * planner::NumElements(in);
    const std::vector<float> x = Random(count, 111);
    std::vector<float> y(batch * in[0]), y_ref(y.size());
    fast_.GlobalAvgPoolForward(n, batch, x.data(), y.data());
    ref_.GlobalAvgPoolForward(n, batch, x.data(), y_ref.data());
    EXPECT_EQ(FirstBitDifference(y, y_ref), -1);
    for (const bool acc : {false, true}) {
      std::vector<float> dx = x, dx_ref = x;
      fast_.GlobalAvgPoolBackward(n, batch, y.data(), dx.data(), acc);
      ref_.GlobalAvgPoolBackward(n, batch, y.data(), dx_ref.data(), acc);
      EXPECT_EQ(FirstBitDifference(dx, dx_ref), -1) << "accumulate " << acc;
    }
  }
}

// ---------------------------------------------------------------- loss, SGD

TEST_F(OpsTest, SoftmaxCrossEntropyWithLabelSmoothing) {
  for (const double smoothing : {0.0, 0.1}) {
    for (const int64_t classes : {10, 1000}) {
      const int64_t batch = 37;
      const auto& [n, logits, labels] = test_util::CrossEntropyInputs(batch, classes, smoothing);
      std::vector<float> probs(batch * classes), probs_ref(probs.size()), loss(1), loss_ref(1);
      fast_.SoftmaxCrossEntropyForward(n, batch, logits.data(), labels.data(), probs.data(), loss.data());
      ref_.SoftmaxCrossEntropyForward(n, batch, logits.data(), labels.data(), probs_ref.data(), loss_ref.data());
      EXPECT_EQ(FirstBitDifference(probs, probs_ref), -1);
      EXPECT_LT(RelError(loss, loss_ref), 1e-6);
      for (const bool acc : {false, true}) {
        std::vector<float> d = logits, d_ref = logits;
        fast_.SoftmaxCrossEntropyBackward(n, batch, probs.data(), labels.data(), d.data(), acc);
        ref_.SoftmaxCrossEntropyBackward(n, batch, probs.data(), labels.data(), d_ref.data(), acc);
        EXPECT_EQ(FirstBitDifference(d, d_ref), -1) << "accumulate " << acc;
      }
    }
  }
}

TEST_F(OpsTest, SgdMatchesReferenceForEveryVariant) {
  struct Config {
    double lr, momentum, weight_decay;
    bool nesterov;
  };
  for (const Config& c : {Config{0.1, 0.0, 0.0, false}, Config{0.05, 0.9, 5e-4, false},
                          Config{0.05, 0.9, 1e-4, true}, Config{0.2, 0.0, 1e-3, true}}) {
    for (int64_t n : kCounts) {
      std::vector<float> p = Random(n, 131), buf(n, 0.0f), p_ref = p, buf_ref = buf;
      for (int step = 0; step < 3; ++step) {
        const std::vector<float> g = Random(n, 132 + static_cast<uint32_t>(step));
        fast_.SgdUpdate(n, c.lr, c.momentum, c.weight_decay, c.nesterov, p.data(), g.data(),
                        c.momentum == 0 ? nullptr : buf.data());
        ref_.SgdUpdate(n, c.lr, c.momentum, c.weight_decay, c.nesterov, p_ref.data(), g.data(),
                       c.momentum == 0 ? nullptr : buf_ref.data());
      }
      EXPECT_EQ(FirstBitDifference(p, p_ref), -1) << "momentum " << c.momentum << " nesterov " << c.nesterov;
      EXPECT_EQ(FirstBitDifference(buf, buf_ref), -1);
    }
  }
}

}  // namespace
}  // namespace slimtrain::engine
