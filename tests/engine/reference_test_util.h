// reference_test_util.h — planner Nodes and random tensors for the backend
// op tests (cpu/reference_*_test.cc, cpu/fast_*_test.cc, cpu/view_ops_test.cc,
// cuda/cuda_activation_test.cc, cuda/cuda_view_ops_test.cc).
//
//   planner::Node conv = OpNode({3, 5, 6},
//       R"pb(layers { name: "op" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 } })pb");
//   std::vector<double> x = RandomVector(2 * 3 * 5 * 6, /*seed=*/1);
//   TypedBuffer xb(DType::kF32, x);   // xb.data() for the backend, xb.values()
#ifndef SLIMTRAIN_TESTS_ENGINE_REFERENCE_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_REFERENCE_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/backend.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "proto/model.pb.h"

namespace slimtrain::test_util {

// The node named "op" of the model
//   input (input_dims) → `layers` (which define "op" and what it reads)
//     → flatten → head (linear, 2 outputs) → loss (softmax_cross_entropy,
//     2 classes).
// With num_classes > 0, `layers` must define the loss itself (named "op") and
// no head is added. A model Graph::Build rejects fails the calling test and
// returns a default Node.
// The whole graph OpNode takes "op" from (for cost models, which take the
// graph too).
inline absl::StatusOr<planner::Graph> OpGraph(const std::vector<int64_t>& input_dims, const std::string& layers,
                                              int64_t num_classes = 0);

inline planner::Node OpNode(const std::vector<int64_t>& input_dims, const std::string& layers,
                            int64_t num_classes = 0) {
  absl::StatusOr<planner::Graph> graph = OpGraph(input_dims, layers, num_classes);
  if (!graph.ok()) {
    ADD_FAILURE() << graph.status();
    return planner::Node{};
  }
  return graph->node(graph->Find("op"));
}

inline absl::StatusOr<planner::Graph> OpGraph(const std::vector<int64_t>& input_dims, const std::string& layers,
                                              int64_t num_classes) {
  std::string text = "input {";
  for (int64_t d : input_dims) absl::StrAppend(&text, " dims: ", d);
  absl::StrAppend(&text, " }\n", layers, "\n");
  if (num_classes > 0) {
    absl::StrAppend(&text, "num_classes: ", num_classes, "\n");
  } else {
    absl::StrAppend(&text, "num_classes: 2\n",
                    R"pb(layers { name: "head_flat" inputs: "op" flatten {} }
                         layers { name: "head" inputs: "head_flat" linear { out_features: 2 } }
                         layers { name: "loss" inputs: "head" softmax_cross_entropy {} })pb");
  }
  v1::ModelSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) {
    return absl::InvalidArgumentError("cannot parse:\n" + text);
  }
  absl::StatusOr<planner::Graph> graph = planner::Graph::Build(spec);
  if (!graph.ok()) return absl::InvalidArgumentError(absl::StrCat(graph.status().message(), "\n", text));
  return graph;
}

// `size` values uniform in [lo, hi), the same for the same seed.
inline std::vector<double> RandomVector(int64_t size, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(size));
  for (double& x : v) x = dist(rng);
  return v;
}

// As RandomVector, with every |value| >= margin (away from kinks at 0).
inline std::vector<double> RandomAwayFromZero(int64_t size, uint64_t seed, double margin = 0.05) {
  std::vector<double> v = RandomVector(size, seed);
  for (double& x : v) {
    if (std::fabs(x) < margin) x += x < 0 ? -margin : margin;
  }
  return v;
}

// A tensor in a backend's dtype (float or double), set from and read back as
// doubles, so one test body runs for both dtypes.
class TypedBuffer {
 public:
  TypedBuffer(engine::DType dtype, const std::vector<double>& values)
      : dtype_(dtype), storage_(values.size()) {
    for (size_t i = 0; i < values.size(); ++i) set(static_cast<int64_t>(i), values[i]);
  }
  // `size` elements equal to `fill` (a named factory: TypedBuffer(t, {0.5})
  // must never mean a size).
  static TypedBuffer Filled(engine::DType dtype, int64_t size, double fill = 0.0) {
    return TypedBuffer(dtype, std::vector<double>(static_cast<size_t>(size), fill));
  }

  void* data() { return storage_.data(); }
  const void* data() const { return storage_.data(); }
  int64_t size() const { return static_cast<int64_t>(storage_.size()); }
  double at(int64_t i) const {
    return f64() ? storage_[i] : static_cast<double>(reinterpret_cast<const float*>(storage_.data())[i]);
  }
  void set(int64_t i, double v) {
    if (f64()) {
      storage_[i] = v;
    } else {
      reinterpret_cast<float*>(storage_.data())[i] = static_cast<float>(v);
    }
  }
  std::vector<double> values() const {
    std::vector<double> v(storage_.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = at(static_cast<int64_t>(i));
    return v;
  }

 private:
  bool f64() const { return dtype_ == engine::DType::kF64; }
  engine::DType dtype_;
  std::vector<double> storage_;  // room for doubles; floats use its first half
};

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_ENGINE_REFERENCE_TEST_UTIL_H_
