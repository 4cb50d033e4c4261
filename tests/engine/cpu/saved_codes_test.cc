// The codes of the other saved tensors (engine/quant.h's "saved-tensor
// codes", planner/coding.h) on the CPU backends, over saved_codes_test_util.h's
// table of coding × bits × size:
//   - the reference's code is quant.h element by element: every byte of
//     planner::CodeBytes equals the code packed from quant.h's Encode* of each
//     element, with the per-group values at PackedCodeBytes and zero padding
//     (float and double; also with NaN and ±inf among the values);
//   - decoded values keep the coding's promise: kGroup within step/2; kRelu
//     within step/2 with its mask (y > 0) exact; kBounded's mask lo < y < hi
//     exact and within w/2 of the clamped value; kRange within w/2;
//     kBnInput and kLnInput at K = 8, 4 |x̂' − x̂| ≤ Δ/2 inside ±3σ (of the
//     channel, of the row), at K = 2 x̂' is the Lloyd-Max level of x̂'s cell;
//   - at K = 2 the Lloyd-Max grid's mean squared error of x̂ on N(0, 1)
//     samples is the closed form's 0.1175, below the old uniform grid's
//     0.1898 (kBnInput and kLnInput);
//   - nothing is written past CodeBytes (a canary after the code) or past the
//     decoded tensor, and every byte of the code is written (two different
//     prefills give the same code);
//   - the fast backend's codes and decoded floats equal the reference's bit
//     for bit, with its AVX-512 path and without, on 2 and 3 threads;
//   - pass-through copies the values and decodes them exactly;
//   - quant::ValidCodeSpec admits exactly the specs quant.h describes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/quant_kernels.h"
#include "engine/cpu/reference_backend.h"
#include "engine/quant.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "planner/coding.h"
#include "planner/strategy.h"
#include "tests/engine/fast_backend_test_util.h"
#include "tests/engine/saved_codes_test_util.h"

namespace slimtrain::engine::code_test {
namespace {

using testing::FirstBitDifference;

constexpr uint8_t kPrefill = 0xA5;

// Encodes x with backend b into a buffer prefilled with `prefill`, then
// decodes the code into a prefilled tensor; both canaries are checked.
template <typename T>
CodeRun<T> RunCode(Backend& b, const quant::CodeSpec& s, const std::vector<T>& x, const std::vector<T>& stats,
                   uint8_t prefill = kPrefill) {
  const int64_t bytes = CodeBytesOf<T>(s);
  std::vector<uint8_t> buffer(static_cast<size_t>(bytes + kCanaryBytes), prefill);
  b.EncodeSaved(s, x.data(), stats.data(), buffer.data());
  CodeRun<T> run;
  run.canary_intact = std::all_of(buffer.begin() + bytes, buffer.end(), [&](uint8_t v) { return v == prefill; });
  run.code.assign(buffer.begin(), buffer.begin() + bytes);
  const T sentinel = static_cast<T>(-1234.5);
  std::vector<T> out(static_cast<size_t>(s.count + 16), sentinel);
  b.DecodeSaved(s, run.code.data(), stats.data(), out.data());
  run.canary_intact =
      run.canary_intact && std::all_of(out.begin() + s.count, out.end(), [&](T v) { return v == sentinel; });
  out.resize(static_cast<size_t>(s.count));
  run.decoded = std::move(out);
  return run;
}

// The whole code of x straight from quant.h: each element's Encode*, the
// group's min/max found here by plain comparisons, packed with PutCode into
// zeroed bytes, the per-group values at PackedCodeBytes.
template <typename T>
std::vector<uint8_t> DirectCode(const quant::CodeSpec& s, const std::vector<T>& x, const std::vector<T>& stats) {
  const int bits = s.bits;
  const int64_t n = s.count, G = planner::kCodeGroupSize, C = s.channels;
  std::vector<uint8_t> code(static_cast<size_t>(CodeBytesOf<T>(s)), 0);
  T* values = reinterpret_cast<T*>(code.data() + planner::PackedCodeBytes(s.coding, bits, n, sizeof(T)));
  const T lo = static_cast<T>(s.lo), hi = static_cast<T>(s.hi);
  for (int64_t g0 = 0, g = 0; g0 < n; g0 += G, ++g) {
    const int64_t g1 = std::min(n, g0 + G);
    T mn = std::numeric_limits<T>::infinity(), mx = -mn, m = 0;
    for (int64_t i = g0; i < g1; ++i) {  // NaN never compares true
      if (x[i] < mn) mn = x[i];
      if (x[i] > mx) mx = x[i];
      if (x[i] > m) m = x[i];
    }
    mn = mn + static_cast<T>(0);  // a zero is +0
    mx = mx + static_cast<T>(0);
    for (int64_t i = g0; i < g1; ++i) {
      int q = 0;
      switch (s.coding) {
        case Coding::kGroup:
          q = quant::EncodeGroup(x[i], mn, quant::GroupStep(mn, mx, bits), bits);
          break;
        case Coding::kRelu:
          q = quant::EncodeRelu(x[i], m, quant::ReluStep(m, bits), bits);
          break;
        case Coding::kBounded:
          q = quant::EncodeBounded(x[i], lo, hi, quant::BoundedWidth(lo, hi, bits), bits);
          break;
        case Coding::kRange:
          q = quant::EncodeRange(x[i], lo, quant::RangeWidth(lo, hi, bits), bits);
          break;
        case Coding::kBnInput:
          q = quant::EncodeBnInput(x[i], stats[i % C], stats[C + i % C], quant::BnInputDelta<T>(bits), bits);
          break;
        case Coding::kLnInput:  // row i / D, D = C
          q = quant::EncodeBnInput(x[i], stats[2 * (i / C)], stats[2 * (i / C) + 1], quant::BnInputDelta<T>(bits),
                                   bits);
          break;
        default:
          ADD_FAILURE() << "no such coding";
      }
      EXPECT_TRUE(q >= 0 && q < (1 << bits)) << "element " << i << " code " << q;
      quant::PutCode(code.data(), bits, i, q);
    }
    if (s.coding == Coding::kGroup) {
      values[2 * g] = mn;
      values[2 * g + 1] = mx;
    }
    if (s.coding == Coding::kRelu) values[g] = m;
  }
  return code;
}

// Index of the first differing byte, or -1.
int64_t FirstByteDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

// Checks the decoded values of finite x against the coding's bound; the
// per-group values are read from the code. Returns how many elements were
// checked against an error bound (so a test can see it checked some).
template <typename T>
int64_t ExpectWithinBound(const quant::CodeSpec& s, const std::vector<T>& x, const std::vector<T>& stats,
                          const std::vector<uint8_t>& code, const std::vector<T>& y) {
  const int bits = s.bits;
  const int64_t n = s.count, G = planner::kCodeGroupSize, C = s.channels;
  const double eps = std::numeric_limits<T>::epsilon();
  const T* values = reinterpret_cast<const T*>(code.data() + planner::PackedCodeBytes(s.coding, bits, n, sizeof(T)));
  const T lo = static_cast<T>(s.lo), hi = static_cast<T>(s.hi);
  int64_t checked = 0, failures = 0;
  auto expect = [&](bool ok, int64_t i, const char* what) {
    if (!ok && ++failures <= 5) {
      ADD_FAILURE() << what << " at element " << i << ": x " << x[i] << " decoded " << y[i];
    }
  };
  for (int64_t i = 0; i < n; ++i) {
    const double xi = x[i], yi = y[i];
    const int64_t g = i / G;
    switch (s.coding) {
      case Coding::kGroup: {
        const double glo = values[2 * g], ghi = values[2 * g + 1];
        const double step = (ghi - glo) / ((1 << bits) - 1);
        expect(std::fabs(yi - xi) <= step / 2 * (1 + 1e-6) + 4 * eps * std::max(std::fabs(glo), std::fabs(ghi)), i,
               "kGroup error above step/2");
        ++checked;
        break;
      }
      case Coding::kRelu: {
        expect((yi > 0) == (xi > 0), i, "kRelu mask");
        const double m = values[g], step = m / ((1 << bits) - 1);
        if (bits == 2) {
          // x' is the level of x's cell (x off the cuts m·κ by more than rounding).
          const double c1 = m * quant::kReluCut1, c2 = m * quant::kReluCut2, rounding = 4 * eps * m;
          const double levels[] = {quant::kReluLevel1, quant::kReluLevel2, quant::kReluLevel3};
          if (xi > 0 && m >= std::numeric_limits<T>::min() && std::fabs(xi - c1) > rounding &&
              std::fabs(xi - c2) > rounding) {
            const int cell = (xi > c1 ? 1 : 0) + (xi > c2 ? 1 : 0);
            expect(std::fabs(yi - m * levels[cell]) <= rounding, i, "kRelu x' is not the level of x's cell");
            ++checked;
          }
          break;
        }
        if (step >= std::numeric_limits<T>::min()) {  // a normal step: the bound holds
          expect(std::fabs(yi - xi) <= step / 2 * (1 + 1e-6) + 4 * eps * m, i, "kRelu error above step/2");
          ++checked;
        }
        break;
      }
      case Coding::kBounded: {
        expect((lo < yi && yi < hi) == (lo < xi && xi < hi), i, "kBounded mask lo < y < hi");
        const double w = (static_cast<double>(hi) - lo) / ((1 << bits) - 2);
        expect(std::fabs(yi - std::clamp<double>(xi, lo, hi)) <=
                   w / 2 * (1 + 1e-6) + 4 * eps * std::max(std::fabs(lo), std::fabs(hi)),
               i, "kBounded error above w/2");
        ++checked;
        break;
      }
      case Coding::kRange: {
        const double w = (static_cast<double>(hi) - lo) / (1 << bits);
        expect(std::fabs(yi - xi) <= w / 2 * (1 + 1e-6) + 4 * eps * std::max(std::fabs(lo), std::fabs(hi)), i,
               "kRange error above w/2");
        ++checked;
        break;
      }
      case Coding::kBnInput:
      case Coding::kLnInput: {
        const bool bn = s.coding == Coding::kBnInput;
        const double mean = bn ? stats[i % C] : stats[2 * (i / C)];
        const double invstd = bn ? stats[C + i % C] : stats[2 * (i / C) + 1];
        const double xhat = (xi - mean) * invstd, yhat = (yi - mean) * invstd;
        const double rounding = 8 * eps * (1 + (std::fabs(xi) + std::fabs(mean)) * invstd);
        if (bits == 2) {
          // x̂' is the level of x̂'s cell (x̂ off the cuts by more than rounding).
          const double tau = static_cast<T>(quant::kNormal2Cut);
          const double cuts[] = {-tau, 0.0, tau};
          bool near_cut = false;
          int cell = 0;
          for (const double t : cuts) {
            near_cut = near_cut || std::fabs(xhat - t) <= rounding;
            cell += t < xhat ? 1 : 0;
          }
          if (!near_cut) {
            expect(std::fabs(yhat - quant::DecodeNormal2<T>(cell)) <= rounding, i,
                   bn ? "kBnInput x̂' is not the level of x̂'s cell" : "kLnInput x̂' is not the level of x̂'s cell");
            ++checked;
          }
        } else if (xhat >= -3 && xhat < 3) {
          const double delta = 6.0 / (1 << bits);
          expect(std::fabs(yhat - xhat) <= delta / 2 + rounding, i,
                 bn ? "kBnInput |x̂' − x̂| above Δ/2" : "kLnInput |x̂' − x̂| above Δ/2");
          ++checked;
        }
        break;
      }
      default:
        ADD_FAILURE() << "no such coding";
    }
  }
  return checked;
}

// ---------------------------------------------------------------- the reference

class ReferenceCodeTest : public ::testing::TestWithParam<CodeCase> {
 protected:
  template <typename T>
  void Check(DType dtype) {
    const CodeCase& c = GetParam();
    ReferenceBackend ref(dtype);
    const std::vector<T> x = CodeData<T>(c), stats = CodeStats<T>(c);
    const CodeRun<T> run = RunCode(ref, c.spec, x, stats);
    EXPECT_TRUE(run.canary_intact) << "wrote past CodeBytes or past the decoded tensor";
    EXPECT_EQ(FirstByteDifference(run.code, DirectCode(c.spec, x, stats)), -1) << "not quant.h's code";
    EXPECT_EQ(FirstByteDifference(RunCode(ref, c.spec, x, stats, 0x00).code, run.code), -1)
        << "a byte of the code depends on the buffer's old contents";
    if (!c.non_finite) {
      const int64_t checked = ExpectWithinBound(c.spec, x, stats, run.code, run.decoded);
      EXPECT_GT(checked, c.spec.count / 4) << "too few elements inside the bound's range";
    }
  }
};

TEST_P(ReferenceCodeTest, FloatCodeIsQuantHAndDecodesWithinBound) { Check<float>(DType::kF32); }
TEST_P(ReferenceCodeTest, DoubleCodeIsQuantHAndDecodesWithinBound) { Check<double>(DType::kF64); }

INSTANTIATE_TEST_SUITE_P(Cases, ReferenceCodeTest, ::testing::ValuesIn(CodeCases()),
                         [](const ::testing::TestParamInfo<CodeCase>& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(NonFinite, ReferenceCodeTest, ::testing::ValuesIn(NonFiniteCases()),
                         [](const ::testing::TestParamInfo<CodeCase>& info) { return info.param.name; });

// The bound check can fail: one code two bins off is one failure.
TEST(ReferenceCodeBoundTest, ACodeTwoBinsOffIsCaught) {
  const CodeCase c{"group", Spec(Coding::kGroup, 4, 1000)};
  ReferenceBackend ref(DType::kF32);
  const std::vector<float> x = CodeData<float>(c), stats;
  CodeRun<float> run = RunCode(ref, c.spec, x, stats);
  const int64_t i = 5;  // group 0: random values, step about 1
  const int q = quant::GetCode(run.code.data(), 4, i);
  quant::PutCode(run.code.data(), 4, i, q >= 8 ? q - 2 : q + 2);
  std::vector<float> decoded(static_cast<size_t>(c.spec.count));
  ref.DecodeSaved(c.spec, run.code.data(), nullptr, decoded.data());
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    ExpectWithinBound(c.spec, x, stats, run.code, decoded);
  }
  EXPECT_EQ(failures.size(), 1);
}

// ---------------------------------------------------------------- the Lloyd-Max grid (K = 2)

// The mean squared error of x̂' − x̂ on N(0, 1) samples at K = 2: the
// Lloyd-Max grid's, measured through the reference backend's code, against
// the uniform grid it replaced (Δ = 1.5: q = clamp(floor(x̂/Δ) + 2, 0, 3),
// x̂' = (q − 2 + 0.5)·Δ), measured here from that formula. Closed forms
// (engine/quant.h): 0.11748 and 0.18983.
TEST(LloydMaxCodeTest, MeanSquaredErrorOnANormalIsBelowTheUniformGrids) {
  const int64_t n = 200000, C = 4;
  for (const Coding coding : {Coding::kBnInput, Coding::kLnInput}) {
    SCOPED_TRACE(planner::CodingName(coding));
    const quant::CodeSpec s = Spec(coding, 2, n, C);
    // kBnInput: channel c's mean 0.5c − 1, invstd 0.5 + c; kLnInput: row r's
    // mean 0.25·(r mod 5), rstd 1 + 0.5·(r mod 3).
    std::vector<float> stats(coding == Coding::kBnInput ? 2 * C : 2 * (n / C));
    if (coding == Coding::kBnInput) {
      for (int64_t c = 0; c < C; ++c) {
        stats[c] = 0.5f * static_cast<float>(c) - 1.0f;
        stats[C + c] = 0.5f + static_cast<float>(c);
      }
    } else {
      for (int64_t r = 0; r < n / C; ++r) {
        stats[2 * r] = 0.25f * static_cast<float>(r % 5);
        stats[2 * r + 1] = 1.0f + 0.5f * static_cast<float>(r % 3);
      }
    }
    auto mean_of = [&](int64_t i) { return coding == Coding::kBnInput ? stats[i % C] : stats[2 * (i / C)]; };
    auto invstd_of = [&](int64_t i) { return coding == Coding::kBnInput ? stats[C + i % C] : stats[2 * (i / C) + 1]; };
    std::mt19937 gen(11);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::vector<float> x(static_cast<size_t>(n));
    std::vector<double> xhat(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      x[i] = static_cast<float>(mean_of(i) + normal(gen) / invstd_of(i));
      xhat[i] = (static_cast<double>(x[i]) - mean_of(i)) * invstd_of(i);
    }
    ReferenceBackend ref(DType::kF32);
    const CodeRun<float> run = RunCode(ref, s, x, stats);
    double lloyd = 0, uniform = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double restored = (static_cast<double>(run.decoded[i]) - mean_of(i)) * invstd_of(i);
      lloyd += (restored - xhat[i]) * (restored - xhat[i]);
      const double q = std::clamp(std::floor(xhat[i] / 1.5) + 2, 0.0, 3.0);
      const double old = (q - 2 + 0.5) * 1.5;
      uniform += (old - xhat[i]) * (old - xhat[i]);
    }
    lloyd /= static_cast<double>(n);
    uniform /= static_cast<double>(n);
    RecordProperty(std::string(planner::CodingName(coding)) + "_mse_lloyd_max", std::to_string(lloyd));
    RecordProperty(std::string(planner::CodingName(coding)) + "_mse_uniform", std::to_string(uniform));
    EXPECT_NEAR(lloyd, 0.11748, 0.003);  // the standard error of 200000 samples is about 0.0004
    EXPECT_NEAR(uniform, 0.18983, 0.004);
    EXPECT_LT(lloyd, 0.65 * uniform);
  }
}

// kRelu at K = 2 on relu(N(0, 1)) values (about half zero, as after a
// ReLU): the mean squared error of the half-normal's Lloyd-Max levels
// (scale m/3) against the uniform levels on (0, m] this replaced
// (q = ceil(x/step), x' = (q − 0.5)·step, step = m/3), both measured
// through each group's m. On the half-normal with m = 3σ exactly the two
// are 0.058σ² and 0.085σ² (quant.h); a group's m of 128 positive values
// lies near 2.5σ to 3σ.
TEST(LloydMaxCodeTest, ReluCodeMeanSquaredErrorIsBelowTheUniformGrids) {
  const int64_t n = 256 * 800;
  const quant::CodeSpec s = Spec(Coding::kRelu, 2, n, 1);
  std::mt19937 gen(12);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = static_cast<float>(std::max(normal(gen), 0.0));
  ReferenceBackend ref(DType::kF32);
  const CodeRun<float> run = RunCode(ref, s, x, {});
  double ours = 0, uniform = 0;
  for (int64_t g = 0; g < n / 256; ++g) {
    float m = 0;
    for (int64_t i = 256 * g; i < 256 * (g + 1); ++i) m = std::max(m, x[i]);
    const double step = m / 3.0;
    for (int64_t i = 256 * g; i < 256 * (g + 1); ++i) {
      const double xi = x[i];
      ours += (run.decoded[i] - xi) * (run.decoded[i] - xi);
      const double old = xi > 0 ? (std::clamp(std::ceil(xi / step), 1.0, 3.0) - 0.5) * step : 0.0;
      uniform += (old - xi) * (old - xi);
    }
  }
  ours /= static_cast<double>(n);
  uniform /= static_cast<double>(n);
  RecordProperty("relu_mse_lloyd_max", std::to_string(ours));
  RecordProperty("relu_mse_uniform", std::to_string(uniform));
  EXPECT_LT(ours, 0.8 * uniform);
}

// ---------------------------------------------------------------- pass-through

TEST(PassThroughCodeTest, CopiesTheValuesAndDecodesExactly) {
  for (const Coding coding :
       {Coding::kBnInput, Coding::kLnInput, Coding::kRelu, Coding::kBounded, Coding::kRange, Coding::kGroup}) {
    const CodeCase c{"pass", Spec(coding, planner::kPassThroughBits, 1000, 3, 0.0, 6.0)};
    SCOPED_TRACE(planner::CodingName(coding));
    auto check = [&](Backend& b, auto zero) {
      using T = decltype(zero);
      std::vector<T> x = CodeData<T>(c);
      x[0] = -static_cast<T>(0);
      x[1] = std::numeric_limits<T>::denorm_min();
      const std::vector<T> stats = CodeStats<T>(c);
      const CodeRun<T> run = RunCode(b, c.spec, x, stats);
      EXPECT_TRUE(run.canary_intact);
      ASSERT_EQ(run.code.size(), x.size() * sizeof(T));
      EXPECT_EQ(std::memcmp(run.code.data(), x.data(), run.code.size()), 0);
      EXPECT_EQ(FirstBitDifference(run.decoded, x), -1);
    };
    ReferenceBackend ref32(DType::kF32), ref64(DType::kF64);
    FastBackend fast;
    check(ref32, 0.0f);
    check(ref64, 0.0);
    check(fast, 0.0f);
  }
}

// ---------------------------------------------------------------- valid specs

TEST(ValidCodeSpecTest, AdmitsExactlyTheSpecsQuantHDescribes) {
  const double inf = std::numeric_limits<double>::infinity();
  const struct {
    const char* what;
    quant::CodeSpec spec;
    bool valid;
  } rows[] = {
      {"group", Spec(Coding::kGroup, 4, 1000), true},
      {"bits 3", Spec(Coding::kGroup, 3, 1000), false},
      {"negative count", Spec(Coding::kGroup, 4, -1), false},
      {"exact is not coded here", Spec(Coding::kExact, 4, 1000), false},
      {"bn_relu is not coded here", Spec(Coding::kBnRelu, 4, 1000), false},
      {"bn_input", Spec(Coding::kBnInput, 4, 1000, 3), true},
      {"bn_input without channels", Spec(Coding::kBnInput, 4, 1000, 0), false},
      {"ln_input whole rows", Spec(Coding::kLnInput, 4, 999, 3), true},
      {"ln_input no elements", Spec(Coding::kLnInput, 2, 0, 192), true},
      {"ln_input a partial row", Spec(Coding::kLnInput, 4, 1000, 3), false},
      {"ln_input without a row length", Spec(Coding::kLnInput, 8, 1000, 0), false},
      {"ln_input pass-through, partial row", Spec(Coding::kLnInput, planner::kPassThroughBits, 1000, 3), true},
      {"bounded", Spec(Coding::kBounded, 4, 1000, 1, 0.0, 6.0), true},
      {"bounded lo == hi", Spec(Coding::kBounded, 4, 1000, 1, 1.0, 1.0), false},
      {"range infinite", Spec(Coding::kRange, 4, 1000, 1, 0.0, inf), false},
  };
  for (const auto& row : rows) EXPECT_EQ(quant::ValidCodeSpec(row.spec), row.valid) << row.what;
}

// ---------------------------------------------------------------- the fast backend

struct FastCase {
  CodeCase code;
  bool avx512;
  int threads;
};

std::vector<FastCase> FastCases() {
  std::vector<FastCase> cases;
  std::vector<CodeCase> codes = CodeCases();
  for (const CodeCase& c : NonFiniteCases()) codes.push_back(c);
  for (const CodeCase& c : codes) {
    for (const bool avx : {true, false}) cases.push_back({c, avx, 2});
    if (c.spec.count > 65536) cases.push_back({c, true, 3});
  }
  return cases;
}

class FastCodeTest : public ::testing::TestWithParam<FastCase> {
 protected:
  void SetUp() override { cpu::AllowQuantAvx512ForTesting(GetParam().avx512); }
  void TearDown() override { cpu::AllowQuantAvx512ForTesting(true); }
};

TEST_P(FastCodeTest, CodesAndDecodedValuesAreTheReferences) {
  const FastCase& t = GetParam();
  const quant::CodeSpec& s = t.code.spec;
  FastBackend fast(t.threads);
  ReferenceBackend ref(DType::kF32);
  const std::vector<float> x = CodeData<float>(t.code), stats = CodeStats<float>(t.code);
  const CodeRun<float> got = RunCode(fast, s, x, stats), want = RunCode(ref, s, x, stats);
  EXPECT_TRUE(got.canary_intact) << "wrote past CodeBytes or past the decoded tensor";
  ASSERT_EQ(FirstByteDifference(got.code, want.code), -1);
  EXPECT_EQ(FirstBitDifference(got.decoded, want.decoded), -1);
  EXPECT_EQ(FirstByteDifference(RunCode(fast, s, x, stats, 0x00).code, got.code), -1)
      << "a byte of the code depends on the buffer's old contents";
}

INSTANTIATE_TEST_SUITE_P(Cases, FastCodeTest, ::testing::ValuesIn(FastCases()),
                         [](const ::testing::TestParamInfo<FastCase>& info) {
                           return info.param.code.name + (info.param.avx512 ? "_avx512" : "_portable") + "_t" +
                                  std::to_string(info.param.threads);
                         });

}  // namespace
}  // namespace slimtrain::engine::code_test
