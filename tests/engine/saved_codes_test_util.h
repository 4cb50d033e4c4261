// saved_codes_test_util.h — the cases and data of the saved-tensor code tests
// (cpu/saved_codes_test.cc on the CPU backends, cuda/cuda_saved_codes_test.cc
// on the GPU): one row per coding × bits × size, each with data that reaches
// the coding's edges, and what a run of a backend gives back.
//
//   for (const CodeCase& c : CodeCases()) {
//     const std::vector<float> x = CodeData<float>(c), stats = CodeStats<float>(c);
//     ... backend.EncodeSaved(c.spec, x, stats, code), with CodeBytesOf<float>(c.spec)
//     bytes and kCanaryBytes more that must stay as they were ...
//   }
#ifndef SLIMTRAIN_TESTS_ENGINE_SAVED_CODES_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_SAVED_CODES_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/backend.h"
#include "engine/quant.h"
#include "planner/coding.h"
#include "planner/strategy.h"

namespace slimtrain::engine::code_test {

using planner::Coding;

struct CodeCase {
  std::string name;
  quant::CodeSpec spec;
  bool non_finite = false;  // NaN and ±inf among the values (codes only)
};

inline quant::CodeSpec Spec(Coding coding, int bits, int64_t count, int64_t channels = 1, double lo = 0,
                            double hi = 0) {
  quant::CodeSpec s;
  s.coding = coding;
  s.bits = bits;
  s.count = count;
  s.channels = channels;
  s.lo = lo;
  s.hi = hi;
  return s;
}

// Every coding × bits {8, 4, 2} × sizes: 16 (no whole group), 257 (a group
// and one element), 1000 (a partial last group), 70001 (several threads'
// worth); kBounded over relu6's, hardsigmoid's and a clip's range, kRange
// over sigmoid's and tanh's, kBnInput with C = 3, 16 and 40 (periods 48, 16,
// 80); kLnInput with rows of D = 3 (15, 258, 999 and 70002 elements:
// several rows per 16-lane vector, rows across units), 16 and 64 (rows
// aligned with vectors and units; a partial last unit), 40 (a row starting
// inside a vector) and 192 (rows across units; 1344 and 70080 elements).
inline std::vector<CodeCase> CodeCases() {
  std::vector<CodeCase> cases;
  auto add = [&](const std::string& what, const quant::CodeSpec& s) {
    cases.push_back({absl::StrCat(what, "_k", s.bits, "_n", s.count), s});
  };
  for (int bits : {8, 4, 2}) {
    for (int64_t n : {int64_t{16}, int64_t{257}, int64_t{1000}, int64_t{70001}}) {
      add("group", Spec(Coding::kGroup, bits, n));
      add("relu", Spec(Coding::kRelu, bits, n));
      add("range_sigmoid", Spec(Coding::kRange, bits, n, 1, 0.0, 1.0));
      add("bn_input_c3", Spec(Coding::kBnInput, bits, n, 3));
    }
    for (int64_t n : {int64_t{15}, int64_t{258}, int64_t{999}, int64_t{70002}}) {
      add("ln_input_d3", Spec(Coding::kLnInput, bits, n, 3));
    }
    add("range_tanh", Spec(Coding::kRange, bits, 1000, 1, -1.0, 1.0));
    add("bounded_relu6", Spec(Coding::kBounded, bits, 1000, 1, 0.0, 6.0));
    add("bounded_relu6", Spec(Coding::kBounded, bits, 70001, 1, 0.0, 6.0));
    add("bounded_hardsigmoid", Spec(Coding::kBounded, bits, 257, 1, 0.0, 1.0));
    add("bounded_clip", Spec(Coding::kBounded, bits, 1000, 1, -2.0, 3.5));
    add("bn_input_c16", Spec(Coding::kBnInput, bits, 4096, 16));
    add("bn_input_c40", Spec(Coding::kBnInput, bits, 70000, 40));
    add("ln_input_d16", Spec(Coding::kLnInput, bits, 16 * 70, 16));
    add("ln_input_d40", Spec(Coding::kLnInput, bits, 40 * 30, 40));
    add("ln_input_d64", Spec(Coding::kLnInput, bits, 64 * 37, 64));
    add("ln_input_d192", Spec(Coding::kLnInput, bits, 192 * 7, 192));
    add("ln_input_d192", Spec(Coding::kLnInput, bits, 192 * 365, 192));
  }
  return cases;
}

// One row per coding and bits whose values include NaN and ±inf: the codes
// must still agree between backends (quant.h defines them).
inline std::vector<CodeCase> NonFiniteCases() {
  std::vector<CodeCase> cases;
  for (int bits : {8, 4, 2}) {
    for (const auto& [what, s] : std::vector<std::pair<std::string, quant::CodeSpec>>{
             {"group", Spec(Coding::kGroup, bits, 1000)},
             {"relu", Spec(Coding::kRelu, bits, 1000)},
             {"bounded", Spec(Coding::kBounded, bits, 1000, 1, 0.0, 6.0)},
             {"range", Spec(Coding::kRange, bits, 1000, 1, -1.0, 1.0)},
             {"bn_input", Spec(Coding::kBnInput, bits, 1000, 3)},
             {"ln_input", Spec(Coding::kLnInput, bits, 1000, 8)}}) {
      cases.push_back({absl::StrCat("nonfinite_", what, "_k", bits), s, true});
    }
  }
  return cases;
}

// kBnInput's channel c: mean 0.3c − 0.5, 1/std 0.5 + 0.25c.
inline double BnMean(int64_t c) { return 0.3 * static_cast<double>(c) - 0.5; }
inline double BnInvstd(int64_t c) { return 0.5 + 0.25 * static_cast<double>(c); }
// kLnInput's row r: mean 0.7·((r mod 11) − 5), 1/std 0.25 + 0.15·(r mod 7).
inline double LnMean(int64_t r) { return 0.7 * static_cast<double>(r % 11 - 5); }
inline double LnRstd(int64_t r) { return 0.25 + 0.15 * static_cast<double>(r % 7); }

// The stats a coding reads: kBnInput's (2, C) mean, then invstd; kLnInput's
// (rows, 2) mean and rstd of each row, rows = ceil(count / D) (a pass-through
// spec need not hold whole rows); empty for the other codings.
template <typename T>
std::vector<T> CodeStats(const CodeCase& c) {
  const int64_t C = c.spec.channels;
  std::vector<T> stats;
  if (c.spec.coding == Coding::kBnInput) {
    stats.resize(static_cast<size_t>(2 * C));
    for (int64_t k = 0; k < C; ++k) {
      stats[k] = static_cast<T>(BnMean(k));
      stats[C + k] = static_cast<T>(BnInvstd(k));
    }
  } else if (c.spec.coding == Coding::kLnInput) {
    const int64_t rows = (c.spec.count + C - 1) / C;
    stats.resize(static_cast<size_t>(2 * rows));
    for (int64_t r = 0; r < rows; ++r) {
      stats[2 * r] = static_cast<T>(LnMean(r));
      stats[2 * r + 1] = static_cast<T>(LnRstd(r));
    }
  }
  return stats;
}

// The values of case c, reaching the coding's edges: negatives, ±0, a
// constant group and an all-negative one (kGroup); zeros, an all-zero
// group, tiny normals and denormals whose step underflows (kRelu); values at
// and beyond lo and hi (kBounded, kRange); values beyond ±3σ of the channel
// (kBnInput) or the row (kLnInput).
template <typename T>
std::vector<T> CodeData(const CodeCase& c) {
  const quant::CodeSpec& s = c.spec;
  const int64_t n = s.count, G = planner::kCodeGroupSize;
  std::mt19937 gen(static_cast<uint32_t>(n * 131 + s.bits * 7 + static_cast<int>(s.coding)));
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<T> x(static_cast<size_t>(n));
  const T dmin = std::numeric_limits<T>::denorm_min();
  const T lo = static_cast<T>(s.lo), hi = static_cast<T>(s.hi);
  for (int64_t i = 0; i < n; ++i) {
    const double z = normal(gen);
    const int64_t group = i / G;
    T v = static_cast<T>(2.0 * z + 0.5);
    switch (s.coding) {
      case Coding::kGroup:
        if (group == 1) v = static_cast<T>(0.7);                // a constant group
        if (group == 2) v = -std::fabs(v) - static_cast<T>(1);  // all negative
        if (i % 17 == 0) v = static_cast<T>(0);
        if (i % 17 == 1) v = -static_cast<T>(0);
        break;
      case Coding::kRelu:
        v = std::max(v, static_cast<T>(0));
        if (group == 1) v = static_cast<T>(0);                                    // all zero
        if (group == 2) v = v * static_cast<T>(1e-30);                            // tiny normals
        // Denormals whose step underflows: in group 3 (whole when n > 1024)
        // and in the last group (short but for n = 70001's).
        if ((group == 3 || group == (n - 1) / G) && group > 1) v = dmin * static_cast<T>(i % 7);
        if (i % 13 == 0) v = -static_cast<T>(0);
        break;
      case Coding::kBounded:
        v = std::clamp(static_cast<T>(s.lo + (s.hi - s.lo) * (0.5 + 0.4 * z)), lo, hi);
        if (i % 11 == 0) v = lo;
        if (i % 11 == 1) v = hi;
        if (i % 11 == 2) v = std::nextafter(lo, hi);
        break;
      case Coding::kRange:
        v = static_cast<T>(s.lo + (s.hi - s.lo) / (1.0 + std::exp(-2.0 * z)));
        if (i % 11 == 0) v = lo;
        if (i % 11 == 1) v = hi;
        break;
      case Coding::kBnInput: {
        const int64_t ch = i % s.channels;
        v = static_cast<T>(BnMean(ch) + 1.5 * z / BnInvstd(ch));  // some beyond ±3σ
        break;
      }
      case Coding::kLnInput: {
        const int64_t r = i / s.channels;
        v = static_cast<T>(LnMean(r) + 1.5 * z / LnRstd(r));
        break;
      }
      default:
        break;
    }
    if (c.non_finite) {
      if (i % 29 == 3) v = std::numeric_limits<T>::quiet_NaN();
      if (i % 29 == 5) v = std::numeric_limits<T>::infinity();
      if (i % 29 == 7) v = -std::numeric_limits<T>::infinity();
    }
    x[i] = v;
  }
  return x;
}

// Bytes of the code of s in element type T.
template <typename T>
int64_t CodeBytesOf(const quant::CodeSpec& s) {
  return planner::CodeBytes(s.coding, s.bits, s.count, sizeof(T));
}

// A code and what it decodes to.
template <typename T>
struct CodeRun {
  std::vector<uint8_t> code;  // CodeBytesOf<T> bytes
  std::vector<T> decoded;
  bool canary_intact = true;  // the bytes after the code were not written
};

inline constexpr int64_t kCanaryBytes = 64;

}  // namespace slimtrain::engine::code_test

#endif  // SLIMTRAIN_TESTS_ENGINE_SAVED_CODES_TEST_UTIL_H_
