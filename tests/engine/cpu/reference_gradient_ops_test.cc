// Rows of the reference backend's finite-difference check
// (reference_gradient_test.cc) for the ops without weights: relu, sigmoid,
// tanh and the pointwise activations, softmax and log_softmax, add, concat,
// flatten, pooling, upsample, dropout and the losses, each with the Problem it
// builds. Relu, max-pool and pointwise inputs keep away from their kinks.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/reference_backend.h"
#include "planner/graph.h"
#include "tests/engine/cpu/reference_gradient_test_util.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine::gradient_test {
namespace {

using planner::NumElements;
using test_util::RandomAwayFromZero;
using test_util::RandomVector;

// relu, sigmoid, tanh: backward from the output.
using Unary = void (Backend::*)(int64_t, const void*, void*);
using UnaryBackward = void (Backend::*)(int64_t, const void*, const void*, void*, bool);

Problem Elementwise(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc, Unary fwd,
                    UnaryBackward bwd) {
  const int64_t count = InSize(n, batch);
  Problem p;
  p.names = {"x"};
  p.inputs = {RandomAwayFromZero(count, 1)};
  for (double& v : p.inputs[0]) v *= 2;
  p.forward = [&be, count, fwd](const std::vector<Vec>& in) {
    Vec y(count);
    (be.*fwd)(count, in[0].data(), y.data());
    return y;
  };
  p.backward = [&be, count, acc, fwd, bwd](const std::vector<Vec>& in, const Vec& r) {
    Vec y(count);
    (be.*fwd)(count, in[0].data(), y.data());
    return std::vector<Vec>{
        InputGrad(count, acc, [&](double* dx, bool a) { (be.*bwd)(count, y.data(), r.data(), dx, a); })};
  };
  return p;
}

Problem Relu(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return Elementwise(be, n, batch, acc, &Backend::ReluForward, &Backend::ReluBackward);
}
Problem Sigmoid(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return Elementwise(be, n, batch, acc, &Backend::SigmoidForward, &Backend::SigmoidBackward);
}
Problem Tanh(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return Elementwise(be, n, batch, acc, &Backend::TanhForward, &Backend::TanhBackward);
}

// add's backward is a Copy of dy into each input's gradient.
Problem Add(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  const int64_t count = OutSize(n, batch);
  Problem p;
  for (size_t k = 0; k < n.input_dims.size(); ++k) {
    p.names.push_back("x" + std::to_string(k));
    p.inputs.push_back(RandomVector(count, 1 + k));
  }
  p.forward = [&be, count](const std::vector<Vec>& in) {
    std::vector<const void*> ptrs;
    for (const Vec& v : in) ptrs.push_back(v.data());
    Vec y(count);
    be.AddForward(count, ptrs, y.data());
    return y;
  };
  p.backward = [&be, count, acc](const std::vector<Vec>& in, const Vec& r) {
    std::vector<Vec> g;
    for (size_t k = 0; k < in.size(); ++k) {
      g.push_back(InputGrad(count, acc, [&](double* dx, bool a) { be.Copy(count, r.data(), dx, a); }));
    }
    return g;
  };
  return p;
}

Problem Concat(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  Problem p;
  for (size_t k = 0; k < n.input_dims.size(); ++k) {
    p.names.push_back("x" + std::to_string(k));
    p.inputs.push_back(RandomVector(InSize(n, batch, k), 1 + k));
  }
  p.forward = [&be, n, batch](const std::vector<Vec>& in) {
    std::vector<const void*> ptrs;
    for (const Vec& v : in) ptrs.push_back(v.data());
    Vec y(OutSize(n, batch));
    be.ConcatForward(n, batch, ptrs, y.data());
    return y;
  };
  p.backward = [&be, n, batch, acc](const std::vector<Vec>& in, const Vec& r) {
    std::vector<Vec> g;
    for (size_t k = 0; k < in.size(); ++k) {
      g.push_back(InputGrad(InSize(n, batch, k), acc, [&](double* dx, bool a) {
        be.ConcatBackward(n, batch, static_cast<int>(k), r.data(), dx, a);
      }));
    }
    return g;
  };
  return p;
}

// Ops with one input x and a node: forward(x) -> y, backward(dy) -> dx.
using NodeForward = std::function<void(ReferenceBackend&, const planner::Node&, int64_t, const double*, double*)>;
using NodeBackward = std::function<void(ReferenceBackend&, const planner::Node&, int64_t, const Vec& x,
                                        const double* dy, double* dx, bool)>;

Problem OneInput(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc, Vec x, NodeForward fwd,
                 NodeBackward bwd) {
  Problem p;
  p.names = {"x"};
  p.inputs = {std::move(x)};
  p.forward = [&be, n, batch, fwd](const std::vector<Vec>& in) {
    Vec y(OutSize(n, batch));
    fwd(be, n, batch, in[0].data(), y.data());
    return y;
  };
  p.backward = [&be, n, batch, acc, bwd](const std::vector<Vec>& in, const Vec& r) {
    return std::vector<Vec>{InputGrad(InSize(n, batch), acc, [&](double* dx, bool a) {
      bwd(be, n, batch, in[0], r.data(), dx, a);
    })};
  };
  return p;
}

Problem Flatten(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.FlattenForward(n, N, x, y);
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec&, const double* dy, double* dx,
         bool a) { b.FlattenBackward(n, N, dy, dx, a); });
}

Problem MaxPool(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        std::vector<int32_t> indices(OutSize(n, N));
        b.MaxPoolForward(n, N, x, y, indices.data(), {});
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec& x, const double* dy, double* dx,
         bool a) {
        std::vector<int32_t> indices(OutSize(n, N));
        Vec y(OutSize(n, N));
        b.MaxPoolForward(n, N, x.data(), y.data(), indices.data(), {});
        b.MaxPoolBackward(n, N, dy, indices.data(), dx, a, {});
      });
}

Problem AvgPool(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.AvgPoolForward(n, N, x, y, {});
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec&, const double* dy, double* dx,
         bool a) { b.AvgPoolBackward(n, N, dy, dx, a, {}); });
}

Problem AdaptiveAvgPool(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.AdaptiveAvgPoolForward(n, N, x, y);
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec&, const double* dy, double* dx,
         bool a) { b.AdaptiveAvgPoolBackward(n, N, dy, dx, a); });
}

Problem Upsample(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.UpsampleForward(n, N, x, y);
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec&, const double* dy, double* dx,
         bool a) { b.UpsampleBackward(n, N, dy, dx, a); });
}

Problem GlobalAvgPool(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.GlobalAvgPoolForward(n, N, x, y);
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec&, const double* dy, double* dx,
         bool a) { b.GlobalAvgPoolBackward(n, N, dy, dx, a); });
}

constexpr DropoutKey kDropoutKey{/*seed=*/1234, /*step=*/7};

Problem Dropout(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.DropoutForward(n, N, kDropoutKey, x, y);
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec&, const double* dy, double* dx,
         bool a) { b.DropoutBackward(n, N, kDropoutKey, dy, dx, a); });
}

// Inputs in [-5, 5] at least 0.05 from every kink of the pointwise ops
// (0, ±3, the clip bounds the rows use, ±1.5 and 0.5, and 2, where
// softplus with beta 2 and threshold 4 turns linear).
Vec AwayFromKinks(int64_t size, uint64_t seed) {
  Vec v = RandomVector(size, seed, -5, 5);
  for (double& x : v) {
    for (double kink : {0.0, 3.0, -3.0, 1.5, -1.5, 0.5, 2.0}) {
      if (std::fabs(x - kink) < 0.05) x = kink + (x < kink ? -0.05 : 0.05);
    }
  }
  return v;
}

// relu6, clip, leaky_relu, elu, gelu, silu, hardswish, hardsigmoid,
// softplus: backward from what the planner keeps (BackwardReadsOutput).
Problem Pointwise(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, AwayFromKinks(InSize(n, batch), 1),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.PointwiseForward(n, N * NumElements(n.out), x, y);
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec& x, const double* dy, double* dx,
         bool a) {
        const int64_t count = N * NumElements(n.out);
        Vec y(count);
        b.PointwiseForward(n, count, x.data(), y.data());
        b.PointwiseBackward(n, count, planner::BackwardReadsOutput(n) ? y.data() : x.data(), dy, dx, a);
      });
}

// softmax, log_softmax: backward from the output.
Problem Softmax(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  return OneInput(
      be, n, batch, acc, RandomVector(InSize(n, batch), 1, -3, 3),
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const double* x, double* y) {
        b.SoftmaxForward(n, N, x, y);
      },
      [](ReferenceBackend& b, const planner::Node& n, int64_t N, const Vec& x, const double* dy, double* dx,
         bool a) {
        Vec y(OutSize(n, N));
        b.SoftmaxForward(n, N, x.data(), y.data());
        b.SoftmaxBackward(n, N, y.data(), dy, dx, a);
      });
}

// The loss is the output (one scalar); its backward has no upstream
// gradient, so the analytic gradient is scaled by r[0] here.
Problem SoftmaxCrossEntropy(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  const int64_t classes = n.input_dims[0][0];
  std::vector<int32_t> labels(batch);
  for (int64_t i = 0; i < batch; ++i) labels[i] = static_cast<int32_t>((3 * i + 1) % classes);
  Problem p;
  p.names = {"logits"};
  p.inputs = {RandomVector(batch * classes, 1, -3, 3)};
  p.forward = [&be, n, batch, labels, classes](const std::vector<Vec>& in) {
    Vec probs(batch * classes), loss(1);
    be.SoftmaxCrossEntropyForward(n, batch, in[0].data(), labels.data(), probs.data(), loss.data());
    return loss;
  };
  p.backward = [&be, n, batch, acc, labels, classes](const std::vector<Vec>& in, const Vec& r) {
    Vec probs(batch * classes), loss(1);
    be.SoftmaxCrossEntropyForward(n, batch, in[0].data(), labels.data(), probs.data(), loss.data());
    Vec g = InputGrad(batch * classes, acc, [&](double* dx, bool a) {
      be.SoftmaxCrossEntropyBackward(n, batch, probs.data(), labels.data(), dx, a);
    });
    for (double& v : g) v *= r[0];
    return std::vector<Vec>{g};
  };
  return p;
}

// mse_loss: fixed targets; the loss is a scalar (its gradient r[0]).
Problem MseLoss(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  const int64_t count = batch * planner::NumElements(n.input_dims[0]);
  const Vec targets = RandomVector(count, 7, -1, 1);
  Problem p;
  p.names = {"x"};
  p.inputs = {RandomVector(count, 1, -2, 2)};
  p.forward = [&be, count, targets](const std::vector<Vec>& in) {
    Vec loss(1);
    be.MseLossForward(count, in[0].data(), targets.data(), loss.data());
    return loss;
  };
  p.backward = [&be, count, acc, targets](const std::vector<Vec>& in, const Vec& r) {
    Vec g = InputGrad(count, acc, [&](double* dx, bool a) { be.MseLossBackward(count, in[0].data(), targets.data(), dx, a); });
    for (double& v : g) v *= r[0];
    return std::vector<Vec>{g};
  };
  return p;
}

const GradCase kOpCases[] = {
    // elementwise
    {"Relu", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" relu {} })pb", 0, 2, false, Relu},
    {"ReluAccumulate", {5}, R"pb(layers { name: "op" inputs: "input" relu {} })pb", 0, 3, true, Relu},
    {"Sigmoid", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" sigmoid {} })pb", 0, 2, false, Sigmoid},
    {"SigmoidAccumulate", {5}, R"pb(layers { name: "op" inputs: "input" sigmoid {} })pb", 0, 3, true, Sigmoid},
    {"Tanh", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" tanh {} })pb", 0, 2, false, Tanh},
    {"TanhAccumulate", {5}, R"pb(layers { name: "op" inputs: "input" tanh {} })pb", 0, 3, true, Tanh},
    {"AddThreeInputs", {2, 3, 3}, R"pb(
       layers { name: "a" inputs: "input" relu {} }
       layers { name: "b" inputs: "input" tanh {} }
       layers { name: "op" inputs: "a" inputs: "b" inputs: "input" add {} })pb", 0, 2, false, Add},
    {"AddAccumulate", {6}, R"pb(
       layers { name: "a" inputs: "input" relu {} }
       layers { name: "op" inputs: "a" inputs: "input" add {} })pb", 0, 2, true, Add},
    {"DropoutImage", {3, 4, 4}, R"pb(layers { name: "op" inputs: "input" dropout { p: 0.3 } })pb", 0, 2, false,
     Dropout},
    {"DropoutAccumulate", {10}, R"pb(layers { name: "op" inputs: "input" dropout { p: 0.5 } })pb", 0, 3, true,
     Dropout},
    // pointwise activations; both sides of leaky_relu's and elu's rule
    {"Relu6", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" relu6 {} })pb", 0, 2, false, Pointwise},
    {"ClipBothAccumulate", {7}, R"pb(layers { name: "op" inputs: "input"
       clip { min: -1.5 max: 0.5 } })pb", 0, 3, true, Pointwise},
    {"ClipMaxOnly", {2, 2, 3}, R"pb(layers { name: "op" inputs: "input" clip { max: 1.5 } })pb", 0, 2, false,
     Pointwise},
    {"LeakyRelu", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" leaky_relu {} })pb", 0, 2, false,
     Pointwise},
    {"LeakyReluNegativeSlopeAccumulate", {6}, R"pb(layers { name: "op" inputs: "input"
       leaky_relu { negative_slope: -0.3 } })pb", 0, 3, true, Pointwise},
    {"Elu", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" elu { alpha: 1.3 } })pb", 0, 2, false, Pointwise},
    {"EluNegativeAlphaAccumulate", {6}, R"pb(layers { name: "op" inputs: "input" elu { alpha: -0.5 } })pb", 0, 3,
     true, Pointwise},
    {"GeluErf", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" gelu {} })pb", 0, 2, false, Pointwise},
    {"GeluTanhAccumulate", {7}, R"pb(layers { name: "op" inputs: "input" gelu { approximate: "tanh" } })pb", 0, 3,
     true, Pointwise},
    {"Silu", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" silu {} })pb", 0, 2, false, Pointwise},
    {"Hardswish", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" hardswish {} })pb", 0, 2, false, Pointwise},
    {"HardsigmoidAccumulate", {9}, R"pb(layers { name: "op" inputs: "input" hardsigmoid {} })pb", 0, 3, true,
     Pointwise},
    {"Softplus", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" softplus {} })pb", 0, 2, false, Pointwise},
    // beta·x crosses the threshold 4 inside [-5, 5], at x = 2.
    {"SoftplusBeta2Threshold4", {8}, R"pb(layers { name: "op" inputs: "input"
       softplus { beta: 2 threshold: 4 } })pb", 0, 3, false, Pointwise},
    // softmax over each axis of an image (channels innermost in memory) and of features
    {"SoftmaxChannels", {4, 2, 3}, R"pb(layers { name: "op" inputs: "input" softmax { axis: 1 } })pb", 0, 2,
     false, Softmax},
    {"SoftmaxHeight", {3, 4, 2}, R"pb(layers { name: "op" inputs: "input" softmax { axis: 2 } })pb", 0, 2, false,
     Softmax},
    {"SoftmaxWidthAccumulate", {2, 3, 4}, R"pb(layers { name: "op" inputs: "input" softmax {} })pb", 0, 2, true,
     Softmax},
    {"SoftmaxFeatures", {6}, R"pb(layers { name: "op" inputs: "input" softmax {} })pb", 0, 3, false, Softmax},
    // Causal: heads' scores (H,L,L) in the image layout, and (L,L) rows.
    {"SoftmaxCausalHeads", {2, 4, 4}, R"pb(layers { name: "op" inputs: "input" softmax { causal: true } })pb", 0, 2,
     false, Softmax},
    {"SoftmaxCausalRowsAccumulate", {5, 5}, R"pb(layers { name: "op" inputs: "input" softmax { causal: true } })pb",
     0, 2, true, Softmax},
    {"LogSoftmaxChannelsAccumulate", {5, 2, 2}, R"pb(layers { name: "op" inputs: "input"
       log_softmax { axis: -3 } })pb", 0, 2, true, Softmax},
    {"LogSoftmaxFeatures", {7}, R"pb(layers { name: "op" inputs: "input" log_softmax { axis: 1 } })pb", 0, 3,
     false, Softmax},
    // layout
    // concat: branches of 2 and 3 channels (and the 4-channel input).
    {"Concat", {4, 3, 2}, R"pb(
       layers { name: "a" inputs: "input" conv2d { out_channels: 2 kernel_size: 1 bias: false } }
       layers { name: "b" inputs: "input" conv2d { out_channels: 3 kernel_size: 1 bias: false } }
       layers { name: "op" inputs: "a" inputs: "b" inputs: "input" concat {} })pb", 0, 2, false, Concat},
    {"ConcatAccumulate", {4, 2, 3}, R"pb(
       layers { name: "a" inputs: "input" conv2d { out_channels: 2 kernel_size: 1 bias: false } }
       layers { name: "b" inputs: "input" conv2d { out_channels: 3 kernel_size: 1 bias: false } }
       layers { name: "op" inputs: "b" inputs: "a" concat {} })pb", 0, 2, true, Concat},
    {"ConcatFeatures", {3}, R"pb(
       layers { name: "a" inputs: "input" linear { out_features: 2 } }
       layers { name: "op" inputs: "input" inputs: "a" concat {} })pb", 0, 2, false, Concat},
    {"Flatten", {3, 2, 4}, R"pb(layers { name: "op" inputs: "input" flatten {} })pb", 0, 2, false, Flatten},
    {"FlattenAccumulate", {2, 3, 3}, R"pb(layers { name: "op" inputs: "input" flatten {} })pb", 0, 2, true,
     Flatten},
    // pooling
    {"MaxPool2", {3, 4, 6}, R"pb(layers { name: "op" inputs: "input" max_pool { kernel_size: 2 } })pb", 0, 2,
     false, MaxPool},
    {"MaxPool3Stride2Pad1Accumulate", {2, 7, 5}, R"pb(layers { name: "op" inputs: "input"
       max_pool { kernel_size: 3 stride: 2 padding: 1 } })pb", 0, 2, true, MaxPool},
    {"MaxPoolOverlapping", {2, 5, 5}, R"pb(layers { name: "op" inputs: "input"
       max_pool { kernel_size: 3 stride: 1 } })pb", 0, 2, false, MaxPool},
    {"AvgPoolIncludePad", {2, 7, 6}, R"pb(layers { name: "op" inputs: "input"
       avg_pool { kernel_size: 3 stride: 2 padding: 1 } })pb", 0, 2, false, AvgPool},
    {"AvgPoolExcludePad", {2, 7, 6}, R"pb(layers { name: "op" inputs: "input"
       avg_pool { kernel_size: 3 stride: 2 padding: 1 count_include_pad: false } })pb", 0, 2, false, AvgPool},
    {"MaxPoolNonSquareAsymmetric", {2, 7, 6}, R"pb(layers { name: "op" inputs: "input"
       max_pool { kernel_hw: [2, 3] stride_hw: [2, 1] pads: [0, 1, 1, 0] } })pb", 0, 2, false, MaxPool},
    {"AvgPoolNonSquareExcludePadAccumulate", {2, 6, 7}, R"pb(layers { name: "op" inputs: "input"
       avg_pool { kernel_hw: [3, 2] stride_hw: [1, 2] pads: [1, 0, 0, 1] count_include_pad: false } })pb", 0, 2,
     true, AvgPool},
    {"AvgPoolNonSquareIncludePad", {2, 6, 7}, R"pb(layers { name: "op" inputs: "input"
       avg_pool { kernel_hw: [3, 2] pads: [1, 1] } })pb", 0, 2, false, AvgPool},
    {"AvgPoolOverlappingAccumulate", {3, 5, 4}, R"pb(layers { name: "op" inputs: "input"
       avg_pool { kernel_size: 2 stride: 1 } })pb", 0, 2, true, AvgPool},
    {"AdaptiveAvgPoolOverlapping", {2, 7, 5}, R"pb(layers { name: "op" inputs: "input"
       adaptive_avg_pool { out_h: 3 out_w: 2 } })pb", 0, 2, false, AdaptiveAvgPool},
    {"AdaptiveAvgPoolToOneAccumulate", {3, 4, 4}, R"pb(layers { name: "op" inputs: "input"
       adaptive_avg_pool { out_h: 1 out_w: 1 } })pb", 0, 2, true, AdaptiveAvgPool},
    {"GlobalAvgPool", {3, 3, 4}, R"pb(layers { name: "op" inputs: "input" global_avg_pool {} })pb", 0, 2, false,
     GlobalAvgPool},
    // upsample: whole and fractional factors, nearest and bilinear
    {"UpsampleNearestTwice", {2, 3, 2}, R"pb(layers { name: "op" inputs: "input"
       upsample { scale_factor: 2 } })pb", 0, 2, false, Upsample},
    {"UpsampleNearestFractionalAccumulate", {2, 3, 4}, R"pb(layers { name: "op" inputs: "input"
       upsample { out_h: 7 out_w: 5 } })pb", 0, 2, true, Upsample},
    {"UpsampleBilinear", {2, 3, 4}, R"pb(layers { name: "op" inputs: "input"
       upsample { out_h: 7 out_w: 6 mode: "bilinear" } })pb", 0, 2, false, Upsample},
    {"UpsampleBilinearAlignCornersAccumulate", {2, 3, 2}, R"pb(layers { name: "op" inputs: "input"
       upsample { scale_factor: 3 mode: "bilinear" align_corners: true } })pb", 0, 2, true, Upsample},
    {"GlobalAvgPoolAccumulate", {2, 2, 3}, R"pb(layers { name: "op" inputs: "input" global_avg_pool {} })pb", 0,
     3, true, GlobalAvgPool},
    // loss
    {"SoftmaxCrossEntropy", {5}, R"pb(layers { name: "op" inputs: "input" softmax_cross_entropy {} })pb", 5, 4,
     false, SoftmaxCrossEntropy},
    {"MseLossFeatures", {5}, R"pb(layers { name: "op" inputs: "input" mse_loss {} })pb", 5, 3, false, MseLoss},
    {"MseLossSequenceAccumulate", {3, 4}, R"pb(layers { name: "op" inputs: "input" mse_loss {} })pb", 4, 2, true,
     MseLoss},
    {"SoftmaxCrossEntropySmoothedAccumulate", {4}, R"pb(layers { name: "op" inputs: "input"
       softmax_cross_entropy { label_smoothing: 0.2 } })pb", 4, 3, true, SoftmaxCrossEntropy},
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Ops, GradientTest, ::testing::ValuesIn(kOpCases), CaseName);

}  // namespace slimtrain::engine::gradient_test
