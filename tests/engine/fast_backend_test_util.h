// fast_backend_test_util.h — helpers shared by the fast backend's tests:
// seeded random tensors, error measures, guarded workspaces, node builders.
#ifndef SLIMTRAIN_TESTS_ENGINE_FAST_BACKEND_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_FAST_BACKEND_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "planner/graph.h"

namespace slimtrain::engine::testing {

// n values uniform in [lo, hi), from a fixed seed.
inline std::vector<float> Random(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

// max |got − want| / max |want|: the error relative to the tensor's scale
// (0 when both are all zero; infinity on a size mismatch or a NaN).
inline double RelError(const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    if (std::isnan(d)) return INFINITY;
    diff = std::max(diff, d);
    scale = std::max(scale, std::fabs(static_cast<double>(want[i])));
  }
  return diff == 0 ? 0 : diff / std::max(scale, 1e-30);
}

// Index of the first element whose bits differ, or -1 (NaN payloads and the
// sign of zero count).
template <typename T>
int64_t FirstBitDifference(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
  }
  return -1;
}

// Exactly `bytes` of 64-byte-aligned workspace followed by guard bytes that
// must stay untouched: the op ran inside what it reported.
class GuardedWorkspace {
 public:
  explicit GuardedWorkspace(int64_t bytes) : bytes_(bytes), storage_(static_cast<size_t>(bytes) + kGuard + 64) {
    const uintptr_t p = reinterpret_cast<uintptr_t>(storage_.data());
    data_ = storage_.data() + ((64 - p % 64) % 64);
    std::memset(data_ + bytes_, kPattern, kGuard);
  }
  Workspace ws() { return Workspace{bytes_ > 0 ? data_ : nullptr, bytes_}; }
  bool GuardIntact() const {
    for (int i = 0; i < kGuard; ++i) {
      if (static_cast<unsigned char>(data_[bytes_ + i]) != kPattern) return false;
    }
    return true;
  }

 private:
  static constexpr int kGuard = 4096;
  static constexpr unsigned char kPattern = 0xA5;
  int64_t bytes_;
  std::vector<char> storage_;
  char* data_;
};

// A node outside any graph, for ops whose kernels read only its shapes.
inline planner::Node MakeNode(planner::OpKind kind, std::vector<planner::Dims> inputs, planner::Dims out,
                              int id = 7) {
  planner::Node n;
  n.id = id;
  n.name = "node";
  n.kind = kind;
  n.input_dims = std::move(inputs);
  n.out = std::move(out);
  return n;
}

}  // namespace slimtrain::engine::testing

#endif  // SLIMTRAIN_TESTS_ENGINE_FAST_BACKEND_TEST_UTIL_H_
