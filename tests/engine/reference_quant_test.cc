// The reference backend's BN→ReLU quantizer (engine/quant.h, DESIGN.md):
//   - the ReLU mask from the codes is exactly the forward's y > 0, for every
//     bit width and dtype, at y = ±0, denormals, ±inf, and channels whose
//     β/γ lies far outside ±3σ (where the clamp of s matters);
//   - γ = 0 channels take the mask β > 0 and code x̂;
//   - each stored code is quant::Encode of its element, packed in NHWC order,
//     and the buffer's size is exactly ceil(count·K/8) bytes;
//   - restoring is within half a bin (Δ/2) inside the ±3σ range;
//   - BatchNormBackwardFromCode is the BN backward with x̂' from the codes;
//   - pass-through stores y (γ = 0: x̂) and restores exactly: its BN backward
//     equals BatchNormBackward (1e-12 in f64) and its ReLU backward equals
//     ReluBackward (bit for bit).
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
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
const Vec kMaskGammas = {1.0, -1.0, 0.5, 1e-3, 1e-3, -1e-3, 2.0, 0.0, 0.0, 0.0, 1.0, 1.0};
const Vec kMaskBetas = {0.0, 0.0, 0.3, 5.0, -5.0, 5.0, -1e30, 0.7, 0.0, -0.2, 1.0, 1.0};

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

// K = 8, 4, 2 only.
class KBitQuantTest : public QuantTest {};

TEST_P(KBitQuantTest, RestoreIsWithinHalfABinInsideThreeSigma) {
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

const QuantParam kKBit[] = {{DType::kF32, 8}, {DType::kF32, 4}, {DType::kF32, 2},
                            {DType::kF64, 8}, {DType::kF64, 4}, {DType::kF64, 2}};
const QuantParam kPassThrough[] = {{DType::kF32, kPassThroughBits}, {DType::kF64, kPassThroughBits}};

INSTANTIATE_TEST_SUITE_P(KBit, QuantTest, ::testing::ValuesIn(kKBit), ParamName);
INSTANTIATE_TEST_SUITE_P(PassThrough, QuantTest, ::testing::ValuesIn(kPassThrough), ParamName);
INSTANTIATE_TEST_SUITE_P(KBit, KBitQuantTest, ::testing::ValuesIn(kKBit), ParamName);
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
