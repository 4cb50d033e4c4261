// executor_test_util.h — for the executor's tests on every backend: a batch
// of normal random images and uniform labels for a graph (deterministic for a
// seed), an executor made or the test failed, one forward and backward's
// loss, gradients and parameters, and the relative error of two gradient
// vectors.
//
//   const Batch data = RandomBatch(g, 4, /*seed=*/1);
//   const Gradients exact = RunForwardBackward(g, Strategy::kExact, 4, &backend, data);
//   const Gradients approx = RunForwardBackward(g, Strategy::kApprox4, 4, &backend, data);
//   EXPECT_LT(L2RelativeError(approx.grads, exact.grads), 0.1);
#ifndef SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_UTIL_H_
#define SLIMTRAIN_TESTS_ENGINE_EXECUTOR_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/executor.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/schedule.h"
#include "planner/strategy.h"

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

// An executor of `g` under `s` for batches of `batch` on `backend`, seed 7;
// `debug` NaN-poisons every block outside its lifetime, `tensor_bits` are
// mixed's bits per tensor (not owned; nullptr: none). nullptr when Create
// fails, after failing the calling test with the error.
inline std::unique_ptr<Executor> MakeExecutor(const planner::Graph& g, planner::Strategy s, int64_t batch,
                                              Backend* backend, bool debug = false,
                                              const planner::TensorBits* tensor_bits = nullptr) {
  ExecutorOptions options;
  options.seed = 7;
  options.debug = debug;
  options.tensor_bits = tensor_bits;
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(g, s, batch, backend, options);
  EXPECT_TRUE(e.ok()) << planner::StrategyName(s) << " on " << backend->name() << ": " << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

// What one forward and backward pass leaves, read on the host.
struct Gradients {
  double loss = 0;
  std::vector<double> grads;  // every trainable gradient
  std::vector<double> state;  // every parameter incl. running statistics, after the step
};

// One ForwardBackward of a new MakeExecutor(g, s, batch, backend, debug,
// tensor_bits) on `data`; empty after failing the calling test when the
// executor cannot be made or the step fails.
inline Gradients RunForwardBackward(const planner::Graph& g, planner::Strategy s, int64_t batch, Backend* backend,
                                    const Batch& data, bool debug = false,
                                    const planner::TensorBits* tensor_bits = nullptr) {
  std::unique_ptr<Executor> e = MakeExecutor(g, s, batch, backend, debug, tensor_bits);
  Gradients out;
  if (e == nullptr) return out;
  absl::StatusOr<StepResult> r = ForwardBackwardOf(*e, data);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return out;
  out.loss = r->loss;
  for (int64_t i = 0; i < e->params().trainable_count(); ++i) out.grads.push_back(e->params().GetGrad(i));
  for (int64_t i = 0; i < e->params().total_count(); ++i) out.state.push_back(e->params().Get(i));
  return out;
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
