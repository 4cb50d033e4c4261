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
#include <cmath>
#include <functional>
#include <limits>
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
using test_util::RandomAwayFromZero;
using test_util::RandomVector;
using Vec = std::vector<double>;
using planner::NumElements;

constexpr double kStep = 1e-6;
constexpr double kTolerance = 1e-6;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// An op as a differentiable function of its inputs.
struct Problem {
  std::vector<std::string> names;  // one per input: "x", "w", "b", "gamma", ...
  std::vector<Vec> inputs;
  std::function<Vec(const std::vector<Vec>&)> forward;
  // d(Σ r ⊙ forward)/d(input), one per input.
  std::function<std::vector<Vec>(const std::vector<Vec>&, const Vec& r)> backward;
};

// An input gradient of `size` elements from call(dst, accumulate): see the
// file comment for what dst starts with.
Vec InputGrad(int64_t size, bool accumulate, const std::function<void(double*, bool)>& call) {
  const Vec old = accumulate ? RandomVector(size, 99, -2, 2) : Vec(size, kNaN);
  Vec dst = old;
  call(dst.data(), accumulate);
  if (accumulate) {
    for (size_t i = 0; i < dst.size(); ++i) dst[i] -= old[i];
  }
  return dst;
}

using MakeProblem = Problem (*)(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool accumulate);

int64_t InSize(const planner::Node& n, int64_t batch, int index = 0) {
  return batch * NumElements(n.input_dims[index]);
}
int64_t OutSize(const planner::Node& n, int64_t batch) { return batch * NumElements(n.out); }

Problem Conv(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  const int64_t ws = n.out_channels * (n.input_dims[0][0] / n.groups) * n.kernel_h * n.kernel_w;
  Problem p;
  p.names = {"x", "w"};
  p.inputs = {RandomVector(InSize(n, batch), 1), RandomVector(ws, 2)};
  if (n.bias) {
    p.names.push_back("b");
    p.inputs.push_back(RandomVector(n.out_channels, 3));
  }
  p.forward = [&be, n, batch](const std::vector<Vec>& in) {
    Vec y(OutSize(n, batch));
    be.Conv2dForward(n, batch, in[0].data(), in[1].data(), n.bias ? in[2].data() : nullptr, y.data(), {});
    return y;
  };
  p.backward = [&be, n, batch, acc, ws](const std::vector<Vec>& in, const Vec& r) {
    std::vector<Vec> g;
    g.push_back(InputGrad(InSize(n, batch), acc, [&](double* dx, bool a) {
      be.Conv2dBackwardData(n, batch, r.data(), in[1].data(), dx, a, {});
    }));
    Vec dw(ws, kNaN), db(n.out_channels, kNaN);
    be.Conv2dBackwardWeights(n, batch, in[0].data(), r.data(), dw.data(), n.bias ? db.data() : nullptr, {});
    g.push_back(dw);
    if (n.bias) g.push_back(db);
    return g;
  };
  return p;
}

Problem Linear(ReferenceBackend& be, const planner::Node& node, int64_t examples, bool acc) {
  // (L,D) tokens run as N·L rows of D features (planner::KernelShape).
  const planner::KernelView k = planner::KernelShape(node, examples);
  const planner::Node& n = k.node;
  const int64_t batch = k.rows;
  const int64_t f = NumElements(n.input_dims[0]), ws = n.out_features * f;
  Problem p;
  p.names = {"x", "w"};
  p.inputs = {RandomVector(batch * f, 1), RandomVector(ws, 2)};
  if (n.bias) {
    p.names.push_back("b");
    p.inputs.push_back(RandomVector(n.out_features, 3));
  }
  p.forward = [&be, n, batch](const std::vector<Vec>& in) {
    Vec y(OutSize(n, batch));
    be.LinearForward(n, batch, in[0].data(), in[1].data(), n.bias ? in[2].data() : nullptr, y.data(), {});
    return y;
  };
  p.backward = [&be, n, batch, acc, ws](const std::vector<Vec>& in, const Vec& r) {
    std::vector<Vec> g;
    g.push_back(InputGrad(InSize(n, batch), acc, [&](double* dx, bool a) {
      be.LinearBackwardData(n, batch, r.data(), in[1].data(), dx, a, {});
    }));
    Vec dw(ws, kNaN), db(n.out_features, kNaN);
    be.LinearBackwardWeights(n, batch, in[0].data(), r.data(), dw.data(), n.bias ? db.data() : nullptr, {});
    g.push_back(dw);
    if (n.bias) g.push_back(db);
    return g;
  };
  return p;
}

// Training-mode batch norm: the batch statistics depend on x too.
Problem BatchNorm(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  const int64_t c = n.out[0];
  Problem p;
  p.names = {"x", "gamma", "beta"};
  p.inputs = {RandomVector(InSize(n, batch), 1, -2, 3), RandomVector(c, 2, 0.5, 1.5), RandomVector(c, 3)};
  p.inputs[1][0] = -p.inputs[1][0];  // a negative γ too
  auto forward = [&be, n, batch](const std::vector<Vec>& in, Vec* stats) {
    Vec y(OutSize(n, batch));
    be.BatchNormForward(n, batch, BatchNormMode::kTrainNoUpdate, in[0].data(), in[1].data(), in[2].data(),
                        nullptr, nullptr, y.data(), stats->data());
    return y;
  };
  p.forward = [forward, c](const std::vector<Vec>& in) {
    Vec stats(2 * c);
    return forward(in, &stats);
  };
  p.backward = [&be, n, batch, acc, c, forward](const std::vector<Vec>& in, const Vec& r) {
    Vec stats(2 * c);
    forward(in, &stats);
    Vec dgamma(c, kNaN), dbeta(c, kNaN);
    Vec dx = InputGrad(InSize(n, batch), acc, [&](double* dst, bool a) {
      be.BatchNormBackward(n, batch, r.data(), in[0].data(), in[1].data(), stats.data(), dst, a, dgamma.data(),
                           dbeta.data());
    });
    return std::vector<Vec>{dx, dgamma, dbeta};
  };
  return p;
}

// layer_norm: the statistics depend on x too; γ when affine, β when it
// also has a bias.
Problem LayerNorm(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  const int64_t size = n.norm_row_size;
  Problem p;
  p.names = {"x"};
  p.inputs = {RandomVector(InSize(n, batch), 1, -2, 3)};
  if (n.affine) {
    p.names.push_back("gamma");
    p.inputs.push_back(RandomVector(size, 2, 0.5, 1.5));
    p.inputs[1][0] = -p.inputs[1][0];  // a negative γ too
  }
  if (n.bias) {
    p.names.push_back("beta");
    p.inputs.push_back(RandomVector(size, 3));
  }
  const int64_t stats_size = 2 * batch * n.norm_rows;
  auto forward = [&be, n, batch](const std::vector<Vec>& in, Vec* stats) {
    Vec y(OutSize(n, batch));
    be.LayerNormForward(n, batch, in[0].data(), n.affine ? in[1].data() : nullptr, n.bias ? in[2].data() : nullptr,
                        y.data(), stats->data());
    return y;
  };
  p.forward = [forward, stats_size](const std::vector<Vec>& in) {
    Vec stats(stats_size);
    return forward(in, &stats);
  };
  p.backward = [&be, n, batch, acc, size, stats_size, forward](const std::vector<Vec>& in, const Vec& r) {
    Vec stats(stats_size);
    forward(in, &stats);
    Vec dgamma(size, kNaN), dbeta(size, kNaN);
    Vec dx = InputGrad(InSize(n, batch), acc, [&](double* dst, bool a) {
      be.LayerNormBackward(n, batch, r.data(), in[0].data(), n.affine ? in[1].data() : nullptr, stats.data(), dst,
                           a, n.affine ? dgamma.data() : nullptr, n.bias ? dbeta.data() : nullptr);
    });
    if (!n.affine) return std::vector<Vec>{dx};
    if (!n.bias) return std::vector<Vec>{dx, dgamma};
    return std::vector<Vec>{dx, dgamma, dbeta};
  };
  return p;
}

// group_norm: like layer_norm, γ and β per channel.
Problem GroupNorm(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  const int64_t c = n.out[0];
  Problem p;
  p.names = {"x"};
  p.inputs = {RandomVector(InSize(n, batch), 1, -2, 3)};
  if (n.affine) {
    p.names.insert(p.names.end(), {"gamma", "beta"});
    p.inputs.push_back(RandomVector(c, 2, 0.5, 1.5));
    p.inputs.push_back(RandomVector(c, 3));
    p.inputs[1][0] = -p.inputs[1][0];
  }
  const int64_t stats_size = 2 * batch * n.groups_norm;
  auto forward = [&be, n, batch](const std::vector<Vec>& in, Vec* stats) {
    Vec y(OutSize(n, batch));
    be.GroupNormForward(n, batch, in[0].data(), n.affine ? in[1].data() : nullptr,
                        n.affine ? in[2].data() : nullptr, y.data(), stats->data());
    return y;
  };
  p.forward = [forward, stats_size](const std::vector<Vec>& in) {
    Vec stats(stats_size);
    return forward(in, &stats);
  };
  p.backward = [&be, n, batch, acc, c, stats_size, forward](const std::vector<Vec>& in, const Vec& r) {
    Vec stats(stats_size);
    forward(in, &stats);
    Vec dgamma(c, kNaN), dbeta(c, kNaN);
    Vec dx = InputGrad(InSize(n, batch), acc, [&](double* dst, bool a) {
      be.GroupNormBackward(n, batch, r.data(), in[0].data(), n.affine ? in[1].data() : nullptr, stats.data(), dst,
                           a, n.affine ? dgamma.data() : nullptr, n.affine ? dbeta.data() : nullptr);
    });
    if (!n.affine) return std::vector<Vec>{dx};
    return std::vector<Vec>{dx, dgamma, dbeta};
  };
  return p;
}

// embedding: the table's gradient (the ids are fixed, with repeats); with
// accumulate, added to what the table's gradient holds (a tied linear's).
Problem Embedding(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  std::vector<double> ids(batch * n.out[0]);
  for (size_t t = 0; t < ids.size(); ++t) ids[t] = static_cast<double>((7 * t + 3) % n.vocabulary % 4);
  Problem p;
  p.names = {"table"};
  p.inputs = {RandomVector(n.vocabulary * n.out_features, 1)};
  p.forward = [&be, n, batch, ids](const std::vector<Vec>& in) {
    Vec y(OutSize(n, batch));
    be.EmbeddingForward(n, batch, ids.data(), in[0].data(), y.data());
    return y;
  };
  p.backward = [&be, n, batch, ids, acc](const std::vector<Vec>& in, const Vec& r) {
    return std::vector<Vec>{InputGrad(in[0].size(), acc, [&](double* d, bool a) {
      be.EmbeddingBackward(n, batch, ids.data(), r.data(), d, a);
    })};
  };
  return p;
}

// attention: q, k, v; the log-sum-exp is the forward's.
Problem Attention(ReferenceBackend& be, const planner::Node& n, int64_t batch, bool acc) {
  Problem p;
  p.names = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) p.inputs.push_back(RandomVector(InSize(n, batch, i), 1 + i, -1.5, 1.5));
  const int64_t lse_size = batch * n.heads * n.out[0];
  auto forward = [&be, n, batch](const std::vector<Vec>& in, Vec* lse) {
    Vec y(OutSize(n, batch));
    be.AttentionForward(n, batch, in[0].data(), in[1].data(), in[2].data(), y.data(), lse->data(), {});
    return y;
  };
  p.forward = [forward, lse_size](const std::vector<Vec>& in) {
    Vec lse(lse_size);
    return forward(in, &lse);
  };
  p.backward = [&be, n, batch, acc, lse_size, forward](const std::vector<Vec>& in, const Vec& r) {
    Vec lse(lse_size);
    const Vec y = forward(in, &lse);
    std::vector<Vec> g;
    // One call writes all three: give each its own start (NaN or random).
    Vec d[3];
    const bool accumulate[3] = {acc, acc, acc};
    for (int i = 0; i < 3; ++i) d[i] = acc ? RandomVector(in[i].size(), 50 + i, -2, 2) : Vec(in[i].size(), kNaN);
    const Vec old[3] = {d[0], d[1], d[2]};
    be.AttentionBackward(n, batch, in[0].data(), in[1].data(), in[2].data(), y.data(), lse.data(), r.data(),
                         d[0].data(), d[1].data(), d[2].data(), accumulate, {});
    for (int i = 0; i < 3; ++i) {
      if (acc) {
        for (size_t j = 0; j < d[i].size(); ++j) d[i][j] -= old[i][j];
      }
      g.push_back(d[i]);
    }
    return g;
  };
  return p;
}

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

struct GradCase {
  const char* name;
  std::vector<int64_t> input_dims;
  const char* layers;       // defines "op" (and what it reads); see OpNode
  int64_t num_classes;      // > 0 when "op" is the loss
  int64_t batch;
  bool accumulate;
  MakeProblem make;
};

std::ostream& operator<<(std::ostream& os, const GradCase& c) { return os << c.name; }

const GradCase kGradCases[] = {
    // conv2d: rectangular inputs catch H/W mix-ups.
    {"ConvPad1Bias", {3, 5, 6}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 4 kernel_size: 3 padding: 1 } })pb", 0, 2, false, Conv},
    {"ConvStride2NoBias", {3, 7, 6}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 2 kernel_size: 3 stride: 2 padding: 1 bias: false } })pb", 0, 2, false, Conv},
    {"ConvDilation2", {2, 7, 8}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 3 kernel_size: 3 dilation: 2 padding: 2 } })pb", 0, 2, false, Conv},
    {"ConvGroups2", {4, 5, 5}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 6 kernel_size: 3 groups: 2 padding: 1 } })pb", 0, 2, false, Conv},
    {"ConvDepthwiseStride2", {4, 6, 7}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 4 kernel_size: 3 groups: 4 stride: 2 padding: 1 } })pb", 0, 2, false, Conv},
    {"ConvAllAttributesAccumulate", {4, 8, 7}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 6 kernel_size: 2 stride: 2 dilation: 2 padding: 1 groups: 2 } })pb", 0, 2, true,
     Conv},
    // non-square windows, asymmetric padding (ONNX's pads), conv1d as 1xL
    {"ConvNonSquareStrides", {3, 7, 6}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 2 kernel_hw: [1, 3] stride_hw: [2, 1] pads: [0, 1] } })pb", 0, 2, false, Conv},
    {"ConvAsymmetricPadsDilatedAccumulate", {2, 6, 5}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 3 kernel_hw: [3, 2] pads: [1, 0, 2, 1] dilation_hw: [2, 1] } })pb", 0, 2, true,
     Conv},
    {"Conv1dAs1xL", {3, 1, 9}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 4 kernel_hw: [1, 3] stride_hw: [1, 2] pads: [0, 1] } })pb", 0, 2, false, Conv},
    {"Conv1x1", {3, 3, 4}, R"pb(layers { name: "op" inputs: "input"
       conv2d { out_channels: 5 kernel_size: 1 } })pb", 0, 3, false, Conv},
    // linear
    {"LinearFeatures", {7}, R"pb(layers { name: "op" inputs: "input" linear { out_features: 4 } })pb", 0, 3,
     false, Linear},
    {"LinearImageNoBias", {3, 2, 4}, R"pb(layers { name: "op" inputs: "input"
       linear { out_features: 5 bias: false } })pb", 0, 2, false, Linear},
    {"LinearImageAccumulate", {2, 3, 2}, R"pb(layers { name: "op" inputs: "input"
       linear { out_features: 3 } })pb", 0, 2, true, Linear},
    {"LinearTokens", {4, 3}, R"pb(layers { name: "op" inputs: "input" linear { out_features: 5 } })pb", 0, 2,
     false, Linear},
    {"LinearTokensNoBiasAccumulate", {3, 4}, R"pb(layers { name: "op" inputs: "input"
       linear { out_features: 2 bias: false } })pb", 0, 2, true, Linear},
    // batch_norm (training)
    {"BatchNormImage", {3, 2, 3}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb", 0, 2, false,
     BatchNorm},
    {"BatchNormSequence", {3, 5}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb", 0, 2, false,
     BatchNorm},
    {"BatchNormFeaturesAccumulate", {4}, R"pb(layers { name: "op" inputs: "input"
       batch_norm { eps: 0.1 } })pb", 0, 5, true, BatchNorm},
    // layer_norm: tokens (last axis, both axes), features, a whole image
    // (stored (H,W,C), γ in (C,H,W) order), without γ and β
    {"LayerNormTokens", {3, 5}, R"pb(layers { name: "op" inputs: "input" layer_norm {} })pb", 0, 2, false,
     LayerNorm},
    {"LayerNormTwoAxesAccumulate", {3, 4}, R"pb(layers { name: "op" inputs: "input"
       layer_norm { axes: 2 eps: 0.01 } })pb", 0, 2, true, LayerNorm},
    {"LayerNormImage", {3, 2, 4}, R"pb(layers { name: "op" inputs: "input" layer_norm { axes: 3 } })pb", 0, 2,
     false, LayerNorm},
    {"LayerNormFeaturesNoAffine", {6}, R"pb(layers { name: "op" inputs: "input"
       layer_norm { elementwise_affine: false } })pb", 0, 3, false, LayerNorm},
    {"LayerNormTokensNoBias", {3, 5}, R"pb(layers { name: "op" inputs: "input" layer_norm { bias: false } })pb", 0, 2,
     false, LayerNorm},
    // group_norm: an image (channels innermost in memory), (C,L), (C)
    {"GroupNormImage", {6, 2, 3}, R"pb(layers { name: "op" inputs: "input" group_norm { groups: 3 } })pb", 0, 2,
     false, GroupNorm},
    {"GroupNormSequenceAccumulate", {4, 5}, R"pb(layers { name: "op" inputs: "input"
       group_norm { groups: 2 eps: 0.01 } })pb", 0, 2, true, GroupNorm},
    {"GroupNormFeaturesNoAffine", {6}, R"pb(layers { name: "op" inputs: "input"
       group_norm { groups: 2 affine: false } })pb", 0, 3, false, GroupNorm},
    // embedding: ids 0..3 only, so rows 4.. of the table get zero
    {"Embedding", {5}, R"pb(layers { name: "op" inputs: "input" embedding { num_embeddings: 6 embedding_dim: 3 } })pb",
     0, 2, false, Embedding},
    {"EmbeddingAccumulate", {5}, R"pb(layers { name: "op" inputs: "input"
       embedding { num_embeddings: 6 embedding_dim: 3 } })pb", 0, 2, true, Embedding},
    // attention: q, k, v projected from the (L,D) input; 2 heads
    {"Attention", {5, 4}, R"pb(
       layers { name: "q" inputs: "input" linear { out_features: 4 } }
       layers { name: "k" inputs: "input" linear { out_features: 4 } }
       layers { name: "v" inputs: "input" linear { out_features: 4 } }
       layers { name: "op" inputs: "q" inputs: "k" inputs: "v" attention { heads: 2 } })pb", 0, 2, false,
     Attention},
    {"AttentionCausalAccumulate", {4, 6}, R"pb(
       layers { name: "q" inputs: "input" linear { out_features: 6 } }
       layers { name: "k" inputs: "input" linear { out_features: 6 } }
       layers { name: "v" inputs: "input" linear { out_features: 6 } }
       layers { name: "op" inputs: "q" inputs: "k" inputs: "v" attention { heads: 3 causal: true } })pb", 0, 2, true,
     Attention},
    {"AttentionCrossScaled", {6, 3}, R"pb(
       layers { name: "q" inputs: "input" slice { axis: 1 end: 2 } }
       layers { name: "k" inputs: "input" linear { out_features: 3 } }
       layers { name: "v" inputs: "input" tanh {} }
       layers { name: "op" inputs: "q" inputs: "k" inputs: "v" attention { heads: 1 scale: 0.7 } })pb", 0, 2, false,
     Attention},
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

class GradientTest : public ::testing::TestWithParam<GradCase> {};

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

INSTANTIATE_TEST_SUITE_P(AllOps, GradientTest, ::testing::ValuesIn(kGradCases),
                         [](const ::testing::TestParamInfo<GradCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace slimtrain::engine
