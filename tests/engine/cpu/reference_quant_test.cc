// The reference backend's BN→ReLU quantizer (engine/quant.h, docs/DESIGN.md):
//   - the ReLU mask from the codes is exactly the forward's y > 0, for every
//     bit width and dtype, at y = ±0, denormals, ±inf, and channels whose
//     β/γ lies far outside ±3σ (where the clamp of s matters);
//   - γ = 0 channels take the mask β > 0 and code x̂;
//   - each stored code is quant::Encode of its element, packed in NHWC order,
//     and the buffer's size is exactly ceil(count·K/8) bytes;
//   - K = 8, 4: restoring is within half a bin (Δ/2) inside the ±3σ range;
//   - K = 2 (one cell below the ReLU's edge, three Lloyd-Max cells above),
//     over many random channels (γ < 0, γ = ±0, b = β/|γ| out to ±10) and
//     y = ±0, denormals and y on the cuts: the mask q >= s is y > 0, z' > 0
//     exactly there, the cuts are −b and the truncated normal's Lloyd-Max
//     cuts (within 1.2% of its optimum's error, for b in [−6, 6]), each
//     code's w = y/g − b lies in its cell and each restored x̂' (sign·ŵ)
//     strictly inside the same cell; the levels are the normal's cell means
//     (long double; an underflowing tail); the ReLU output's mean squared
//     error on N(0, 1) samples is below both grids this replaced (uniform;
//     the whole normal's Lloyd-Max with the nearest cut moved to the edge)
//     for b = 0, ±0.5, ±1, ±2, 3, and matches its cells' closed form;
//   - BatchNormBackwardFromCode is the BN backward with x̂' from the codes;
//   - pass-through stores y (γ = 0: x̂) and restores exactly: its BN backward
//     equals BatchNormBackward (1e-12 in f64) and its ReLU backward equals
//     ReluBackward (bit for bit).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/quant.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/strategy.h"
#include "tests/engine/reference_test_util.h"

namespace slimtrain::engine {
namespace {

using planner::kPassThroughBits;
using test_util::OpNode;
using test_util::RandomVector;
using test_util::TypedBuffer;
using Vec = std::vector<double>;

// quant.h in the backend's dtype: the channel of (γ, β) and what code q means.
template <typename T>
int EncodeAs(int bits, double gamma, double beta, double y, double xhat) {
  return quant::Encode(quant::MakeChannel<T>(bits, static_cast<T>(gamma), static_cast<T>(beta)),
                       static_cast<T>(y), static_cast<T>(xhat));
}
template <typename T>
double RestoreXhatAs(int bits, double gamma, double beta, int q) {
  return quant::RestoreXhat(quant::MakeChannel<T>(bits, static_cast<T>(gamma), static_cast<T>(beta)), q);
}

int Encode(DType t, int bits, double gamma, double beta, double y, double xhat) {
  return t == DType::kF64 ? EncodeAs<double>(bits, gamma, beta, y, xhat)
                          : EncodeAs<float>(bits, gamma, beta, y, xhat);
}
double RestoreXhat(DType t, int bits, double gamma, double beta, int q) {
  return t == DType::kF64 ? RestoreXhatAs<double>(bits, gamma, beta, q) : RestoreXhatAs<float>(bits, gamma, beta, q);
}
template <typename T>
double RestoreReluAs(int bits, double gamma, double beta, int q) {
  return quant::RestoreRelu(quant::MakeChannel<T>(bits, static_cast<T>(gamma), static_cast<T>(beta)), q);
}
double RestoreRelu(DType t, int bits, double gamma, double beta, int q) {
  return t == DType::kF64 ? RestoreReluAs<double>(bits, gamma, beta, q) : RestoreReluAs<float>(bits, gamma, beta, q);
}

// Bytes of a code buffer: packed codes, or dtype values for pass-through.
int64_t CodeBytes(DType t, int bits, int64_t count) {
  return bits == kPassThroughBits ? count * SizeOf(t) : (count * bits + 7) / 8;
}

// A BN→ReLU over (N, C) features or (N,H,W,C) images with its forward done:
// x random, γ and β per channel as given, y = BN(x) in training mode, and the
// code of y. Element i belongs to channel i % C.
struct BnRelu {
  BnRelu(DType t, int bits, const planner::Node& node, int64_t batch, const Vec& gamma_values,
         const Vec& beta_values)
      : dtype(t),
        bits(bits),
        n(node),
        batch(batch),
        c(node.out[0]),
        count(batch * planner::NumElements(node.out)),
        x(t, RandomVector(count, 21, -1, 2)),
        y(TypedBuffer::Filled(t, count)),
        gamma(t, gamma_values),
        beta(t, beta_values),
        stats(TypedBuffer::Filled(t, 2 * c)),
        code(static_cast<size_t>(CodeBytes(t, bits, count)) + kCanary, 0xAB) {}

  void Forward(ReferenceBackend& be) {
    be.BatchNormForward(n, batch, BatchNormMode::kTrainNoUpdate, x.data(), gamma.data(), beta.data(), nullptr,
                        nullptr, y.data(), stats.data());
  }
  void Quantize(ReferenceBackend& be) {
    be.QuantizeBnRelu(n, batch, bits, x.data(), y.data(), gamma.data(), beta.data(), stats.data(), code.data());
  }
  int64_t channel(int64_t i) const { return i % c; }
  double xhat(int64_t i) const { return (x.at(i) - stats.at(channel(i))) * stats.at(c + channel(i)); }
  int q(int64_t i) const { return quant::GetCode(code.data(), bits, i); }
  double restored_xhat(int64_t i) const {
    return RestoreXhat(dtype, bits, gamma.at(channel(i)), beta.at(channel(i)), q(i));
  }
  bool canary_intact() const {
    for (size_t k = code.size() - kCanary; k < code.size(); ++k) {
      if (code[k] != 0xAB) return false;
    }
    return true;
  }

  static constexpr size_t kCanary = 8;  // bytes after the code that must stay untouched
  DType dtype;
  int bits;
  planner::Node n;
  int64_t batch, c, count;
  TypedBuffer x, y, gamma, beta, stats;
  std::vector<uint8_t> code;
};

struct QuantParam {
  DType dtype;
  int bits;
};

std::string ParamName(const ::testing::TestParamInfo<QuantParam>& info) {
  const std::string bits =
      info.param.bits == kPassThroughBits ? "PassThrough" : std::to_string(info.param.bits) + "Bit";
  return bits + (info.param.dtype == DType::kF64 ? "F64" : "F32");
}

class QuantTest : public ::testing::TestWithParam<QuantParam> {
 protected:
  DType dtype() const { return GetParam().dtype; }
  int bits() const { return GetParam().bits; }
  bool pass() const { return bits() == kPassThroughBits; }
  double delta() const { return 6.0 / (1 << bits()); }
  // Rounding slack of the dtype for values of order one.
  double slack() const { return dtype() == DType::kF64 ? 1e-12 : 1e-5; }
  TypedBuffer Filled(int64_t size, double fill = 0.0) const { return TypedBuffer::Filled(dtype(), size, fill); }
  ReferenceBackend be_{GetParam().dtype};
};

// Channels (γ, β): ordinary, negative γ, β/γ far outside ±3σ both ways,
// γ = 0 with β > 0, β = 0, β < 0, and (the last two, set per dtype) a
// denormal ±γ for which β/γ overflows to ±inf.
// (b = ±10 and b between the Lloyd-Max cuts' midpoints for K = 2.)
const Vec kMaskGammas = {1.0, -1.0, 0.5, 1e-3, 1e-3, -1e-3, 2.0, 0.0, 0.0, 0.0, 1.0, -0.5, 2.0, 1.0, 1.0};
const Vec kMaskBetas = {0.0, 0.0, 0.3, 5.0, -5.0, 5.0, -1e30, 0.7, 0.0, -0.2, 10.0, 5.0, -0.98, 1.0, 1.0};

TEST_P(QuantTest, MaskEqualsForwardReluExactly) {
  // y values given directly (the quantizer must honour any forward value).
  const double tiny = dtype() == DType::kF64 ? std::numeric_limits<double>::denorm_min()
                                             : static_cast<double>(std::numeric_limits<float>::denorm_min());
  const double small = dtype() == DType::kF64 ? std::numeric_limits<double>::min()
                                              : static_cast<double>(std::numeric_limits<float>::min());
  const double inf = std::numeric_limits<double>::infinity();
  const Vec ys = {0.0, -0.0, tiny, -tiny, small, -small, 1e-30, -1e-30, 1e-7, -1e-7,
                  1.0, -1.0, 2.9, -2.9, 3.5, -3.5, 1e30, -1e30, inf, -inf};
  const int64_t c = static_cast<int64_t>(kMaskGammas.size()), batch = static_cast<int64_t>(ys.size());
  const planner::Node n = OpNode({c}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb");
  BnRelu t(dtype(), bits(), n, batch, kMaskGammas, kMaskBetas);
  t.gamma.set(c - 2, tiny);
  t.gamma.set(c - 1, -tiny);
  ASSERT_NE(t.gamma.at(c - 1), 0.0);
  t.Forward(be_);  // stats (and x̂ for γ = 0); then y is replaced by the special values
  for (int64_t j = 0; j < batch; ++j) {
    for (int64_t ch = 0; ch < c; ++ch) t.y.set(j * c + ch, ys[j]);
  }
  t.Quantize(be_);
  EXPECT_TRUE(t.canary_intact());

  TypedBuffer ones = Filled(t.count, 1.0), mask = Filled(t.count, -1.0), z = Filled(t.count, -1.0);
  be_.ReluBackwardFromCode(n, batch, bits(), ones.data(), t.code.data(), t.gamma.data(), t.beta.data(), mask.data(),
                           /*accumulate=*/false);
  be_.RestoreRelu(n, batch, bits(), t.code.data(), t.gamma.data(), t.beta.data(), z.data());
  for (int64_t i = 0; i < t.count; ++i) {
    const int64_t ch = i % c;
    const bool zero_gamma = t.gamma.at(ch) == 0.0;
    const bool want = zero_gamma ? t.beta.at(ch) > 0 : t.y.at(i) > 0;
    EXPECT_EQ(mask.at(i), want ? 1.0 : 0.0) << "y " << t.y.at(i) << " γ " << t.gamma.at(ch) << " β " << t.beta.at(ch);
    if (zero_gamma) {
      EXPECT_EQ(z.at(i), std::max(t.beta.at(ch), 0.0)) << "channel " << ch;
    } else {
      EXPECT_EQ(z.at(i) > 0, want) << "z' " << z.at(i) << " y " << t.y.at(i) << " channel " << ch;
    }
  }
}

TEST_P(QuantTest, CodesAreQuantEncodeInNhwcOrder) {
  // (N,H,W,C) = (2,3,2,5) with γ = 0 in channel 1 (x̂ coded) and a negative γ.
  const planner::Node n = OpNode({5, 3, 2}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb");
  BnRelu t(dtype(), bits(), n, 2, {1.2, 0.0, -0.7, 0.4, 2.0}, {0.1, 0.5, -0.3, 0.9, -1.5});
  t.Forward(be_);
  t.Quantize(be_);
  EXPECT_TRUE(t.canary_intact()) << "the code overran ceil(count·K/8) bytes";
  if (pass()) {
    TypedBuffer stored = Filled(t.count);
    std::memcpy(stored.data(), t.code.data(), static_cast<size_t>(t.count * SizeOf(dtype())));
    for (int64_t i = 0; i < t.count; ++i) {
      const bool zero_gamma = t.gamma.at(t.channel(i)) == 0.0;
      const double want = zero_gamma ? (dtype() == DType::kF64 ? t.xhat(i) : static_cast<float>(t.xhat(i)))
                                     : t.y.at(i);
      EXPECT_EQ(stored.at(i), want) << "element " << i;
    }
    return;
  }
  for (int64_t i = 0; i < t.count; ++i) {
    const int64_t ch = t.channel(i);
    EXPECT_EQ(t.q(i), Encode(dtype(), bits(), t.gamma.at(ch), t.beta.at(ch), t.y.at(i), t.xhat(i)))
        << "element " << i;
  }
}

// K = 8, 4 only (the uniform grid).
class UniformQuantTest : public QuantTest {};

TEST_P(UniformQuantTest, RestoreIsWithinHalfABinInsideThreeSigma) {
  // x̂ in [−3 + Δ, 3 − Δ], |β/γ| <= 1: no code is clamped, so |x̂' − x̂| <= Δ/2
  // and |z' − relu(y)| <= |γ|·Δ/2.
  const int64_t c = 4, batch = 200;
  const Vec gammas = {0.5, -1.5, 2.0, -0.8}, betas = {0.5, 1.0, -2.0, 0.0};
  const planner::Node n = OpNode({c}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb");
  BnRelu t(dtype(), bits(), n, batch, gammas, betas);
  const Vec xhat = RandomVector(t.count, 5, -3 + delta(), 3 - delta());
  for (int64_t i = 0; i < t.count; ++i) t.y.set(i, gammas[i % c] * xhat[i] + betas[i % c]);
  t.Quantize(be_);
  TypedBuffer z = Filled(t.count);
  be_.RestoreRelu(n, batch, bits(), t.code.data(), t.gamma.data(), t.beta.data(), z.data());
  double worst = 0;
  for (int64_t i = 0; i < t.count; ++i) {
    const double err = std::fabs(t.restored_xhat(i) - xhat[i]);
    worst = std::max(worst, err);
    EXPECT_LE(err, delta() / 2 + slack()) << "element " << i;
    const double g = std::fabs(gammas[i % c]);
    EXPECT_LE(std::fabs(z.at(i) - std::max(t.y.at(i), 0.0)), g * (delta() / 2 + slack())) << "element " << i;
  }
  EXPECT_GT(worst, delta() / 4) << "suspiciously exact for " << bits() << " bits";
}

TEST_P(QuantTest, BatchNormBackwardFromCodeUsesRestoredXhat) {
  // dx = γ·invstd·(dy − mean(dy) − x̂'·mean(dy·x̂')), dγ = Σ dy·x̂', dβ = Σ dy, computed here
  // from the decoded codes; γ = 0 in channel 2.
  const planner::Node n = OpNode({3, 2, 2}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb");
  const int64_t batch = 3;
  BnRelu t(dtype(), bits(), n, batch, {1.3, -0.6, 0.0}, {0.2, -0.1, 0.4});
  t.Forward(be_);
  t.Quantize(be_);
  const TypedBuffer dy(dtype(), RandomVector(t.count, 9));
  const Vec old = RandomVector(t.count, 10);
  TypedBuffer dx(dtype(), old), dgamma = Filled(t.c, -1.0), dbeta = Filled(t.c, -1.0);
  be_.BatchNormBackwardFromCode(n, batch, bits(), dy.data(), t.code.data(), t.gamma.data(), t.beta.data(),
                                t.stats.data(), dx.data(), /*accumulate=*/true, dgamma.data(), dbeta.data());
  const int64_t m = t.count / t.c;
  for (int64_t ch = 0; ch < t.c; ++ch) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t i = ch; i < t.count; i += t.c) {
      const double xh = pass() ? (t.gamma.at(ch) == 0 ? t.xhat(i) : (t.y.at(i) - t.beta.at(ch)) / t.gamma.at(ch))
                               : t.restored_xhat(i);
      sum_dy += dy.at(i);
      sum_dy_xhat += dy.at(i) * xh;
    }
    EXPECT_NEAR(dgamma.at(ch), sum_dy_xhat, slack() * 10) << "channel " << ch;
    EXPECT_NEAR(dbeta.at(ch), sum_dy, slack() * 10) << "channel " << ch;
    const double scale = t.gamma.at(ch) * t.stats.at(t.c + ch);
    for (int64_t i = ch; i < t.count; i += t.c) {
      const double xh = pass() ? (t.gamma.at(ch) == 0 ? t.xhat(i) : (t.y.at(i) - t.beta.at(ch)) / t.gamma.at(ch))
                               : t.restored_xhat(i);
      const double want = old[i] + scale * (dy.at(i) - sum_dy / m - xh * sum_dy_xhat / m);
      EXPECT_NEAR(dx.at(i), want, slack() * 10) << "element " << i;
    }
  }
}

// K = kPassThroughBits only.
class PassThroughQuantTest : public QuantTest {};

TEST_P(PassThroughQuantTest, RestoresExactly) {
  const planner::Node n = OpNode({4, 2, 3}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb");
  const int64_t batch = 2;
  BnRelu t(dtype(), bits(), n, batch, {0.9, 0.0, -1.4, 0.0}, {0.3, 0.6, -0.2, -0.5});
  t.Forward(be_);
  t.Quantize(be_);
  // z' equals relu(y) bit for bit.
  TypedBuffer z = Filled(t.count), relu = Filled(t.count);
  be_.RestoreRelu(n, batch, bits(), t.code.data(), t.gamma.data(), t.beta.data(), z.data());
  be_.ReluForward(t.count, t.y.data(), relu.data());
  EXPECT_EQ(z.values(), relu.values());

  // ReLU backward from the code equals ReluBackward from relu(y), bit for bit.
  const TypedBuffer dz(dtype(), RandomVector(t.count, 3));
  const Vec old = RandomVector(t.count, 4);
  for (const bool accumulate : {false, true}) {
    TypedBuffer from_code(dtype(), old), exact(dtype(), old);
    be_.ReluBackwardFromCode(n, batch, bits(), dz.data(), t.code.data(), t.gamma.data(), t.beta.data(),
                             from_code.data(), accumulate);
    be_.ReluBackward(t.count, relu.data(), dz.data(), exact.data(), accumulate);
    EXPECT_EQ(from_code.values(), exact.values()) << "accumulate " << accumulate;
  }

  // BN backward from the code equals BatchNormBackward.
  const double tol = dtype() == DType::kF64 ? 1e-12 : 1e-5;
  for (const bool accumulate : {false, true}) {
    TypedBuffer dx_code(dtype(), old), dx_exact(dtype(), old);
    TypedBuffer dg_code = Filled(t.c), dg_exact = Filled(t.c);
    TypedBuffer db_code = Filled(t.c), db_exact = Filled(t.c);
    be_.BatchNormBackwardFromCode(n, batch, bits(), dz.data(), t.code.data(), t.gamma.data(), t.beta.data(),
                                  t.stats.data(), dx_code.data(), accumulate, dg_code.data(), db_code.data());
    be_.BatchNormBackward(n, batch, dz.data(), t.x.data(), t.gamma.data(), t.stats.data(), dx_exact.data(),
                          accumulate, dg_exact.data(), db_exact.data());
    for (int64_t i = 0; i < t.count; ++i) {
      EXPECT_NEAR(dx_code.at(i), dx_exact.at(i), tol * std::max(1.0, std::fabs(dx_exact.at(i)))) << i;
    }
    for (int64_t ch = 0; ch < t.c; ++ch) {
      EXPECT_NEAR(dg_code.at(ch), dg_exact.at(ch), tol * std::max(1.0, std::fabs(dg_exact.at(ch)))) << ch;
      EXPECT_EQ(db_code.at(ch), db_exact.at(ch)) << ch;
    }
  }
}

// ---------------------------------------------------------------- K = 2: the Lloyd-Max grid

// K = 2 only.
class LloydMaxQuantTest : public QuantTest {
 protected:
  // What the checks below need of channel (γ, β) in the backend's dtype.
  struct Cells {
    int s;
    double cut[3], level[4], b, g, sign;
    double lo(int q) const { return q == 0 ? -std::numeric_limits<double>::infinity() : cut[q - 1]; }
    double hi(int q) const { return q == 3 ? std::numeric_limits<double>::infinity() : cut[q]; }
  };
  template <typename T>
  static Cells CellsAs(double gamma, double beta) {
    const quant::Channel<T> c = quant::MakeChannel<T>(2, static_cast<T>(gamma), static_cast<T>(beta));
    Cells k{c.s, {}, {}, c.b, c.g, c.sign};
    for (int t = 0; t < 3; ++t) k.cut[t] = c.cut[t];
    for (int q = 0; q < 4; ++q) k.level[q] = c.level[q];
    return k;
  }
  Cells CellsOf(double gamma, double beta) const {
    return dtype() == DType::kF64 ? CellsAs<double>(gamma, beta) : CellsAs<float>(gamma, beta);
  }
  // w = y/g − b as the encoder forms it (γ = 0: x̂ − 0), in the dtype.
  template <typename T>
  static double WAs(const Cells& k, bool zero_gamma, double y, double xhat) {
    const T v = zero_gamma ? static_cast<T>(xhat) : static_cast<T>(y) / static_cast<T>(k.g);
    return v - static_cast<T>(k.b);
  }
  double W(const Cells& k, bool zero_gamma, double y, double xhat) const {
    return dtype() == DType::kF64 ? WAs<double>(k, zero_gamma, y, xhat) : WAs<float>(k, zero_gamma, y, xhat);
  }
  double eps() const {
    return dtype() == DType::kF64 ? std::numeric_limits<double>::epsilon()
                                  : static_cast<double>(std::numeric_limits<float>::epsilon());
  }
};

// The normal's cells in long double, independent of quant.h: the mass, the
// mean and E[w²] of N(0, 1) on (lo, hi), and the 3-level Lloyd-Max cuts of
// N(0, 1) truncated to (e, ∞).
namespace normal_cells {
using LD = long double;
const LD kInf = std::numeric_limits<LD>::infinity();
LD Pdf(LD x) { return std::isinf(x) ? 0.0L : std::exp(-x * x / 2) / std::sqrt(2 * 3.14159265358979323846264L); }
LD Upper(LD x) { return std::erfc(x / std::sqrt(2.0L)) / 2; }  // P(X > x)
LD Mass(LD lo, LD hi) { return lo >= 0 ? Upper(lo) - Upper(hi) : Upper(-hi) - Upper(-lo); }
LD Mean(LD lo, LD hi) { return (Pdf(lo) - Pdf(hi)) / Mass(lo, hi); }
LD Moment2(LD lo, LD hi) {
  return Mass(lo, hi) + (std::isinf(lo) ? 0.0L : lo * Pdf(lo)) - (std::isinf(hi) ? 0.0L : hi * Pdf(hi));
}
// E[(w − level)²] over w > e, the levels each cell's mean, per unit mass above e.
LD ActiveMse(LD e, LD t1, LD t2) {
  const LD cuts[4] = {e, t1, t2, kInf};
  LD sum = 0;
  for (int k = 0; k < 3; ++k) {
    const LD m = Mass(cuts[k], cuts[k + 1]), mu = Mean(cuts[k], cuts[k + 1]);
    sum += Moment2(cuts[k], cuts[k + 1]) - m * mu * mu;
  }
  return sum / Mass(e, kInf);
}
void LloydMaxAbove(LD e, LD* t1, LD* t2) {
  LD a = e + 0.5L, b = e + 1.2L;
  for (int it = 0; it < 20000; ++it) {
    const LD l0 = Mean(e, a), l1 = Mean(a, b), l2 = Mean(b, kInf);
    const LD na = (l0 + l1) / 2, nb = (l1 + l2) / 2;
    const bool done = std::fabs(na - a) < 1e-15L && std::fabs(nb - b) < 1e-15L;
    a = na;
    b = nb;
    if (done) break;
  }
  *t1 = a;
  *t2 = b;
}
}  // namespace normal_cells

TEST_P(LloydMaxQuantTest, CutsAreTheEdgeAndTheLloydMaxCutsAboveIt) {
  // Every channel: s = 1, t_0 = −b, and t_1, t_2 within 0.02 of the
  // truncated normal's Lloyd-Max cuts, which costs at most 1.2% of its
  // mean squared error above the edge (quant.h).
  namespace nc = normal_cells;
  for (double b = -6.0; b <= 6.0; b += 0.13) {
    for (const double gamma : {1.0, -2.5}) {
      const Cells k = CellsOf(gamma, b * std::fabs(gamma));
      EXPECT_EQ(k.s, 1) << "b " << b;
      EXPECT_EQ(k.cut[0], -k.b) << "b " << b;  // k.b: b in the dtype
      EXPECT_LT(k.cut[0], k.cut[1]) << "b " << b;
      EXPECT_LT(k.cut[1], k.cut[2]) << "b " << b;
      long double t1, t2;
      const long double e = -k.b;
      nc::LloydMaxAbove(e, &t1, &t2);
      // Within a tenth of the optimum's offset from the edge (and 0.01).
      EXPECT_NEAR(k.cut[1], static_cast<double>(t1), 0.01 + 0.1 * static_cast<double>(t1 - e)) << "b " << b;
      EXPECT_NEAR(k.cut[2], static_cast<double>(t2), 0.01 + 0.1 * static_cast<double>(t2 - e)) << "b " << b;
      const double loss = static_cast<double>(nc::ActiveMse(e, k.cut[1], k.cut[2]) / nc::ActiveMse(e, t1, t2) - 1);
      EXPECT_LE(loss, 0.012) << "b " << b;
      EXPECT_GE(loss, -1e-6) << "b " << b;  // nothing beats the optimum
    }
  }
  // Far out: e <= −4 takes the whole normal's cuts; e >= 4 the tail's.
  const Cells low = CellsOf(1.0, 50.0);
  EXPECT_NEAR(low.cut[1], -0.611387, 1e-6);
  EXPECT_NEAR(low.cut[2], 0.612338, 1e-6);
  const Cells high = CellsOf(1.0, -8.0);  // e = 8: d(4)·4/8
  EXPECT_NEAR(high.cut[1] - 8.0, 0.219992 / 2, 1e-5);
  EXPECT_NEAR(high.cut[2] - 8.0, 0.548761 / 2, 1e-5);
  // γ = 0: b = 0, the half-normal's cuts above 0.
  const Cells zero = CellsOf(0.0, 0.7);
  EXPECT_EQ(zero.s, 1);
  EXPECT_EQ(zero.cut[0], 0.0);
  EXPECT_NEAR(zero.cut[1], 0.658911, 1e-6);
  EXPECT_NEAR(zero.cut[2], 1.446850, 1e-6);
}

TEST_P(LloydMaxQuantTest, LevelsAreTheNormalsCellMeans) {
  // Each level is the long-double mean of N(0, 1) on its cell, for b from
  // −10 to 10 (γ = −1.5 too: the cells are on w, the sign only in x̂').
  // erfc(x/√2) carries the rounding of x/√2 amplified by x² (about 1e−14
  // relative at x = 10 in double).
  namespace nc = normal_cells;
  const double rel = std::max(8 * eps(), 1e-13);
  for (const double b : {0.0, 0.5, -0.5, 1.0, -2.0, 3.7, -3.9, 10.0, -10.0}) {
    for (const double gamma : {1.0, -1.5}) {
      const Cells k = CellsOf(gamma, b * std::fabs(gamma));
      for (int q = 0; q < 4; ++q) {
        const double want = static_cast<double>(nc::Mean(k.lo(q), k.hi(q)));
        EXPECT_NEAR(k.level[q], want, rel * std::max(1.0, std::fabs(want)) + 2 * eps() * std::fabs(want))
            << "b " << b << " γ " << gamma << " code " << q;
      }
    }
  }
  // b = 0: below the edge the half-normal's mean; above, its three
  // Lloyd-Max levels.
  const Cells k = CellsOf(1.0, 0.0);
  EXPECT_NEAR(k.level[0], -0.79788456080286536, 1e-6);
  EXPECT_NEAR(k.level[1], 0.317716, 1e-5);
  EXPECT_NEAR(k.level[2], 1.000106, 1e-5);
  EXPECT_NEAR(k.level[3], 1.893595, 1e-5);
  // (40.05, ∞): P ≈ 1e−350 underflows even in double; the edge moved inward
  // by 1/edge.
  const Cells far = CellsOf(1.0, -40.0);
  EXPECT_GT(far.level[3], far.cut[2]);
  EXPECT_NEAR(far.level[3], far.cut[2] + 1 / far.cut[2], 1e-4);
  // b = −1e30 and −5000 (float spacing 0.0005 there, the offsets 2e−4
  // and 4e−4): e + d rounds to e, so each cut is two ulps above the one
  // before, and every level lies strictly inside its cell, above the edge.
  for (const double b : {-1e30, -5000.0}) {
    const Cells huge = CellsOf(1.0, b);
    EXPECT_LT(huge.cut[0], huge.cut[1]) << "b " << b;
    EXPECT_LT(huge.cut[1], huge.cut[2]) << "b " << b;
    for (int q = 1; q < 4; ++q) {
      EXPECT_GT(huge.level[q], huge.lo(q)) << "b " << b << " code " << q;
      EXPECT_LT(huge.level[q], huge.hi(q)) << "b " << b << " code " << q;
      EXPECT_GT(huge.level[q] + huge.b, 0.0) << "b " << b << " code " << q;
    }
  }
}

TEST_P(LloydMaxQuantTest, MaskIsExactAndEveryCodeRestoresInsideItsCell) {
  // Random channels: γ = ±0 (one in 8), else ±|γ| with |γ| in [0.01, 10];
  // b uniform in [−10, 10], one in 8 at a tie −b = ±τ/2 or b = 0. Per
  // channel, y = γ·x̂ + β for x̂ of the forward (x uniform), and one element
  // in four replaced by ±0, ±denorm, or y on one of the channel's cuts.
  const int64_t c = 400, batch = 48;
  const planner::Node n = OpNode({c}, R"pb(layers { name: "op" inputs: "input" batch_norm {} })pb");
  const Vec u = RandomVector(4 * c, 77, 0.0, 1.0);
  const double tau = quant::kNormal2Cut;
  Vec gammas(c), betas(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double kind = u[4 * ch], sign = u[4 * ch + 1] < 0.5 ? -1.0 : 1.0;
    const double g = std::pow(10.0, -2.0 + 3.0 * u[4 * ch + 2]);
    double b = -10.0 + 20.0 * u[4 * ch + 3];
    if (kind < 0.04) b = tau / 2;
    else if (kind < 0.08) b = -tau / 2;
    else if (kind < 0.12) b = 0.0;
    gammas[ch] = kind > 0.875 ? (kind > 0.94 ? 0.0 : -0.0) : sign * g;
    betas[ch] = kind > 0.875 ? b : b * g;
  }
  BnRelu t(dtype(), bits(), n, batch, gammas, betas);
  t.Forward(be_);
  const double denorm = dtype() == DType::kF64 ? std::numeric_limits<double>::denorm_min()
                                               : static_cast<double>(std::numeric_limits<float>::denorm_min());
  const double specials[] = {0.0, -0.0, denorm, -denorm};
  for (int64_t i = 0; i < t.count; ++i) {
    const int64_t ch = t.channel(i);
    if (gammas[ch] == 0.0 || i % 4 != 1) continue;
    const int64_t k = (i / c) % 7;
    if (k < 4) {
      t.y.set(i, specials[k]);
    } else {
      const Cells cells = CellsOf(gammas[ch], betas[ch]);
      t.y.set(i, cells.g * (cells.cut[k - 4] + cells.b));  // w on (or by rounding next to) a cut
    }
  }
  t.Quantize(be_);
  TypedBuffer ones = Filled(t.count, 1.0), mask = Filled(t.count, -1.0), z = Filled(t.count, -1.0);
  be_.ReluBackwardFromCode(n, batch, bits(), ones.data(), t.code.data(), t.gamma.data(), t.beta.data(), mask.data(),
                           /*accumulate=*/false);
  be_.RestoreRelu(n, batch, bits(), t.code.data(), t.gamma.data(), t.beta.data(), z.data());
  int64_t active = 0, inactive = 0, failures = 0;
  auto expect = [&](bool ok, int64_t i, const char* what) {
    if (!ok && ++failures <= 10) {
      ADD_FAILURE() << what << " at element " << i << ": γ " << t.gamma.at(t.channel(i)) << " β "
                    << t.beta.at(t.channel(i)) << " y " << t.y.at(i) << " code " << t.q(i);
    }
  };
  for (int64_t i = 0; i < t.count; ++i) {
    const int64_t ch = t.channel(i);
    const bool zero_gamma = t.gamma.at(ch) == 0.0;
    const Cells k = CellsOf(t.gamma.at(ch), t.beta.at(ch));
    const int q = t.q(i);
    expect(q >= 0 && q < 4, i, "code out of range");
    const bool positive = zero_gamma ? t.xhat(i) > 0 : t.y.at(i) > 0;
    if (zero_gamma) {
      expect(mask.at(i) == (t.beta.at(ch) > 0 ? 1.0 : 0.0), i, "γ = 0 mask is not β > 0");
      expect(z.at(i) == std::max(t.beta.at(ch), 0.0), i, "γ = 0 z' is not max(β, 0)");
    } else {
      expect((q >= k.s) == positive, i, "q >= s is not y > 0");
      expect(mask.at(i) == (positive ? 1.0 : 0.0), i, "mask is not y > 0");
      expect((z.at(i) > 0) == positive, i, "z' > 0 is not y > 0");
      expect(positive || z.at(i) == 0.0, i, "inactive z' is not 0");
      (positive ? active : inactive) += 1;
    }
    // The encoder's w in its cell (lo, hi]; on the active side w may round
    // onto the ReLU's edge −b (then q = s).
    const double w = W(k, zero_gamma, t.y.at(i), zero_gamma ? t.xhat(i) : 0.0);
    const bool in_cell = (k.lo(q) < w && w <= k.hi(q)) || (positive && q == k.s && w == k.lo(q));
    expect(in_cell, i, "w is not in its code's cell");
    // The restored x̂' = sign·ŵ, ŵ strictly inside the same cell.
    const double what = k.sign * t.restored_xhat(i);
    expect(k.lo(q) < what && what < k.hi(q), i, "ŵ is not strictly inside its cell");
    expect(what == k.level[q], i, "x̂' is not sign·ŵ_q");
    if (!zero_gamma && positive) {
      // z' = g·(ŵ + b), in the dtype.
      const double want = dtype() == DType::kF64 ? k.g * (k.level[q] + k.b)
                                                 : static_cast<float>(k.g) * (static_cast<float>(k.level[q]) +
                                                                              static_cast<float>(k.b));
      expect(z.at(i) == want, i, "z' is not g·(ŵ + b)");
    }
  }
  EXPECT_GT(active, t.count / 8);
  EXPECT_GT(inactive, t.count / 8);
}

// Two grids this replaced, in double: the ReLU output's w' (z'/g − b, 0
// below the edge) of channel (γ = 1, β = b) for x̂. The uniform 2-bit grid
// (Δ = 1.5 over ±3σ, the edge on a bin edge), and the whole normal's
// Lloyd-Max grid with the cut nearest the edge moved onto it (two cells
// each side at b = 0).
double UniformTwoBitW(double b, double xhat) {
  const double delta = 1.5;
  const int s = std::clamp(2 - static_cast<int>(std::clamp(std::floor(b / delta), -4.0, 4.0)), 1, 3);
  const double v = xhat + b;
  if (!(v > 0)) return -b;
  const int q = std::clamp(static_cast<int>(std::clamp(std::floor(v / delta), -4.0, 4.0)) + s, s, 3);
  return (q - s + 0.5) * delta - b;
}
double NearestCutW(double b, double xhat) {
  namespace nc = normal_cells;
  const double tau = quant::kNormal2Cut, e = -b;
  double cut[3] = {-tau, 0.0, tau};
  cut[e <= -tau / 2 ? 0 : (e <= tau / 2 ? 1 : 2)] = e;
  if (!(xhat > e)) return e;
  int q = 0;
  while (q < 3 && cut[q] < xhat) ++q;
  return static_cast<double>(nc::Mean(cut[q - 1], q == 3 ? nc::kInf : cut[q]));
}

TEST_P(LloydMaxQuantTest, ReluOutputsMeanSquaredErrorIsBelowTheOlderGrids) {
  // x̂ ~ N(0, 1), y = γ·x̂ + β with b = β/|γ|: the mean squared error of the
  // ReLU output (in units of g: (z' − z)/g) from quant.h's codes, against
  // the two grids this replaced, and against the closed form of this grid's
  // own cells. x̂' below the edge is one level now: its error is recorded.
  namespace nc = normal_cells;
  const int64_t n = 100000;
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  Vec xhat(n);
  for (double& x : xhat) x = normal(gen);
  for (const double b : {0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0}) {
    const double gamma = b == 2.0 ? -0.7 : 1.3, beta = b * std::fabs(gamma), g = std::fabs(gamma);
    double ours = 0, uniform = 0, nearest = 0, xhat_mse = 0;
    for (const double x : xhat) {
      const double y = dtype() == DType::kF64 ? gamma * x + beta
                                              : static_cast<float>(gamma) * static_cast<float>(x) +
                                                    static_cast<float>(beta);
      const int q = Encode(dtype(), bits(), gamma, beta, y, x);
      const double z = std::max(y, 0.0) / g, restored = RestoreRelu(dtype(), bits(), gamma, beta, q) / g;
      ours += (restored - z) * (restored - z);
      const double w = gamma > 0 ? x : -x;  // the cells are on w = sign(γ)·x̂
      const double zu = UniformTwoBitW(b, w) + b, zn = NearestCutW(b, w) + b;
      uniform += (zu - z) * (zu - z);
      nearest += (zn - z) * (zn - z);
      const double xr = RestoreXhat(dtype(), bits(), gamma, beta, q);
      xhat_mse += (xr - x) * (xr - x);
    }
    ours /= static_cast<double>(n);
    uniform /= static_cast<double>(n);
    nearest /= static_cast<double>(n);
    xhat_mse /= static_cast<double>(n);
    RecordProperty("relu_mse_b" + std::to_string(b), std::to_string(ours) + " (uniform " + std::to_string(uniform) +
                                                         ", nearest cut " + std::to_string(nearest) + "; x̂ " +
                                                         std::to_string(xhat_mse) + ")");
    EXPECT_LT(ours, uniform) << "b " << b;
    // Near b = 1 the two grids nearly coincide (cuts −1, 0, 0.98 against
    // −1, −0.01, 0.97); at b = 0 this one halves the error.
    EXPECT_LT(ours, 1.001 * nearest) << "b " << b;
    if (b == 0.0) EXPECT_LT(ours, 0.6 * nearest);
    // The closed form of the channel's own cells (levels their means),
    // times the mass above the edge. The standard error of 100000 samples
    // is a few percent of so small a number.
    const Cells k = CellsOf(gamma, beta);
    const long double e = -k.b;
    const double closed = static_cast<double>(nc::ActiveMse(e, k.cut[1], k.cut[2]) * nc::Mass(e, nc::kInf));
    EXPECT_NEAR(ours, closed, 0.06 * closed + 1e-5) << "b " << b;
  }
}

const QuantParam kKBit[] = {{DType::kF32, 8}, {DType::kF32, 4}, {DType::kF32, 2},
                            {DType::kF64, 8}, {DType::kF64, 4}, {DType::kF64, 2}};
const QuantParam kUniform[] = {{DType::kF32, 8}, {DType::kF32, 4}, {DType::kF64, 8}, {DType::kF64, 4}};
const QuantParam kLloydMax[] = {{DType::kF32, 2}, {DType::kF64, 2}};
const QuantParam kPassThrough[] = {{DType::kF32, kPassThroughBits}, {DType::kF64, kPassThroughBits}};

INSTANTIATE_TEST_SUITE_P(KBit, QuantTest, ::testing::ValuesIn(kKBit), ParamName);
INSTANTIATE_TEST_SUITE_P(PassThrough, QuantTest, ::testing::ValuesIn(kPassThrough), ParamName);
INSTANTIATE_TEST_SUITE_P(Uniform, UniformQuantTest, ::testing::ValuesIn(kUniform), ParamName);
INSTANTIATE_TEST_SUITE_P(LloydMax, LloydMaxQuantTest, ::testing::ValuesIn(kLloydMax), ParamName);
INSTANTIATE_TEST_SUITE_P(PassThrough, PassThroughQuantTest, ::testing::ValuesIn(kPassThrough), ParamName);

// ---------------------------------------------------------------- packing

TEST(QuantPackingTest, RoundTripEveryWidth) {
  for (const int bits : {8, 4, 2}) {
    const int64_t count = 37;  // not a multiple of any codes-per-byte
    std::vector<int> codes(count);
    for (int64_t i = 0; i < count; ++i) codes[i] = static_cast<int>((i * 7 + 3) % (1 << bits));
    std::vector<uint8_t> packed(static_cast<size_t>((count * bits + 7) / 8), 0xFF);  // garbage first
    for (int64_t i = 0; i < count; ++i) quant::PutCode(packed.data(), bits, i, codes[i]);
    for (int64_t i = 0; i < count; ++i) EXPECT_EQ(quant::GetCode(packed.data(), bits, i), codes[i]) << bits << " " << i;
  }
}

TEST(QuantPackingTest, LowBitsFirst) {
  std::vector<uint8_t> four(2, 0);
  for (int i = 0; i < 3; ++i) quant::PutCode(four.data(), 4, i, i + 1);  // codes 1, 2, 3
  EXPECT_EQ(four, (std::vector<uint8_t>{0x21, 0x03}));
  std::vector<uint8_t> two(2, 0);
  const int codes[] = {1, 2, 3, 0, 1};
  for (int i = 0; i < 5; ++i) quant::PutCode(two.data(), 2, i, codes[i]);
  EXPECT_EQ(two, (std::vector<uint8_t>{0x39, 0x01}));  // 1 | 2<<2 | 3<<4 | 0<<6
}

}  // namespace
}  // namespace slimtrain::engine
