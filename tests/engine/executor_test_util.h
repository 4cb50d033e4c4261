// executor_test_util.h — for the executor's tests on every backend: a batch
// of normal random images and uniform labels for a graph (deterministic for a
// seed), and the relative error of two gradient vectors.
#ifndef SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "planner/graph.h"

namespace slimtrain::engine::testing {

struct Batch {
  std::vector<float> images;  // (N,C,H,W); token ids (N,L) for a model with an embedding
  std::vector<int32_t> labels;
  std::vector<float> targets;  // a model ending in mse_loss: its targets instead of labels
};

inline Batch RandomBatch(const planner::Graph& g, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  Batch b;
  b.images.resize(n * planner::NumElements(g.node(0).out));
  for (float& v : b.images) v = normal(rng);
  // An input read by an embedding holds token ids.
  for (int c : g.node(0).consumers) {
    if (g.node(c).kind != planner::OpKind::kEmbedding) continue;
    for (float& v : b.images) v = static_cast<float>(rng() % g.node(c).vocabulary);
  }
  for (int64_t i = 0; i < n * planner::LabelsPerExample(g); ++i) {
    b.labels.push_back(static_cast<int32_t>(rng() % g.spec().num_classes()));
  }
  for (int64_t i = 0; i < n * planner::TargetsPerExample(g); ++i) b.targets.push_back(normal(rng));
  return b;
}

// Executor::ForwardBackward with the batch's labels, or its targets for a
// regression model.
template <typename E>
auto ForwardBackwardOf(E& e, const Batch& b) {
  return b.targets.empty() ? e.ForwardBackward(b.images.data(), b.labels.data())
                           : e.ForwardBackward(b.images.data(), b.targets.data());
}

// ||a − b|| / ||b||; infinity when the sizes differ or b is empty.
inline double L2RelativeError(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || b.empty()) return INFINITY;
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff += (a[i] - b[i]) * (a[i] - b[i]);
    norm += b[i] * b[i];
  }
  return std::sqrt(diff / norm);
}

}  // namespace slimtrain::engine::testing

#endif  // SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_UTIL_H_
