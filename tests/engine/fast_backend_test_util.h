// fast_backend_test_util.h — helpers shared by the fast backend's tests (and
// the CUDA backend's): error measures, guarded workspaces, and the seeded
// random tensors and node builders of tests/testing/op_cases.h.
#ifndef SLIMTRAIN_TESTS_ENGINE_FAST_BACKEND_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_FAST_BACKEND_TEST_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "planner/graph.h"
#include "tests/testing/op_cases.h"

namespace slimtrain::engine::testing {

// Seeded random tensors and shape-only nodes, shared with every backend's
// op cases (tests/testing/op_cases.h).
using ::slimtrain::test_util::MakeNode;
using ::slimtrain::test_util::Random;

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

}  // namespace slimtrain::engine::testing

#endif  // SLIMTRAIN_TESTS_ENGINE_FAST_BACKEND_TEST_UTIL_H_
