// Rows of the reference backend's finite-difference check
// (reference_gradient_test.cc) for the ops with weights, statistics or
// several inputs: conv2d, linear, batch_norm, layer_norm, group_norm,
// embedding and attention, each with the Problem it builds.
#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/reference_backend.h"
#include "planner/graph.h"
#include "tests/engine/cpu/reference_gradient_test_util.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine::gradient_test {
namespace {

using planner::NumElements;
using test_util::RandomVector;

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

const GradCase kLayerCases[] = {
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
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Layers, GradientTest, ::testing::ValuesIn(kLayerCases), CaseName);

}  // namespace slimtrain::engine::gradient_test
