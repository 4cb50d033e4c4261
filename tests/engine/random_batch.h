// random_batch.h — a batch of normal random images and uniform labels for a
// graph, deterministic for a seed (the engine's tests).
#ifndef SLIMTRAIN_TESTS_ENGINE_RANDOM_BATCH_H_
#define SLIMTRAIN_TESTS_ENGINE_RANDOM_BATCH_H_

#include <cstdint>
#include <random>
#include <vector>

#include "planner/graph.h"

namespace slimtrain::engine::testing {

struct Batch {
  std::vector<float> images;  // (N,C,H,W)
  std::vector<int32_t> labels;
};

inline Batch RandomBatch(const planner::Graph& g, int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  Batch b;
  b.images.resize(n * planner::NumElements(g.node(0).out));
  for (float& v : b.images) v = normal(rng);
  for (int64_t i = 0; i < n; ++i) b.labels.push_back(static_cast<int32_t>(rng() % g.spec().num_classes()));
  return b;
}

}  // namespace slimtrain::engine::testing

#endif  // SLIMTRAIN_TESTS_ENGINE_RANDOM_BATCH_H_
