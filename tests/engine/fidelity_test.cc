// The fidelity report: per conv/linear layer, approx-K's gradient error
// shrinks with K, vanishes with pass-through and for layers whose input is
// kept exact; SGD's noise is measured; every coded tensor is measured alone
// (approx-K); bad requests are refused.
#include "engine/fidelity.h"

#include <optional>
#include <utility>

#include "engine/cpu/reference_backend.h"
#include "gtest/gtest.h"
#include "planner/zoo.h"
#include "tests/testing/status_assertions.h"

namespace slimtrain::engine {
namespace {

class FidelityTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<v1::ModelSpec> spec = planner::ZooModel("fmnist_resnet");
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<planner::Graph> graph = planner::Graph::Build(*spec);
    ASSERT_TRUE(graph.ok()) << graph.status();
    graph_.emplace(*std::move(graph));
  }

  // The report on 8 examples against 4 other batches; tests take it with
  // ASSERT_OK_AND_ASSIGN, so a refused measurement fails that test alone.
  absl::StatusOr<FidelityReport> Measure(planner::Strategy s, bool per_tensor = false) {
    FidelityOptions options;
    options.batch = 8;
    options.other_batches = 4;
    options.per_tensor = per_tensor;
    return MeasureFidelity(*graph_, s, data_, options, &backend_);
  }

  std::optional<planner::Graph> graph_;  // set by SetUp
  Dataset data_ = SyntheticDataset(8 * 5, {1, 28, 28}, 10, 3, Split::kTrain);
  ReferenceBackend backend_{DType::kF64};
};

TEST_F(FidelityTest, ErrorShrinksWithBitsAndVanishesWithPassThrough) {
  ASSERT_OK_AND_ASSIGN(const FidelityReport r2, Measure(planner::Strategy::kApprox2));
  ASSERT_OK_AND_ASSIGN(const FidelityReport r8, Measure(planner::Strategy::kApprox8));
  ASSERT_OK_AND_ASSIGN(const FidelityReport pass, Measure(planner::Strategy::kApproxPassThrough));
  ASSERT_EQ(r2.layers.size(), 22u);  // 21 convolutions and the classifier
  ASSERT_EQ(r8.layers.size(), r2.layers.size());
  ASSERT_EQ(pass.layers.size(), r2.layers.size());
  double sum2 = 0, sum8 = 0;
  for (size_t i = 0; i < r2.layers.size(); ++i) {
    EXPECT_EQ(r2.layers[i].layer, r8.layers[i].layer);
    EXPECT_GT(r2.layers[i].sgd_noise, 0) << r2.layers[i].layer;
    EXPECT_LT(pass.layers[i].approx_error, 1e-10) << pass.layers[i].layer;
    sum2 += r2.layers[i].approx_error;
    sum8 += r8.layers[i].approx_error;
  }
  EXPECT_LT(sum8, sum2);
  // Each layer says how its input was kept: the first conv reads the model
  // input (exact), the others a BN→ReLU's restored output, the classifier
  // the pooled features' group code.
  EXPECT_EQ(r8.layers.front().input, "exact");
  EXPECT_EQ(r8.layers[1].input, "bn_relu 8-bit");
  EXPECT_EQ(r8.layers.back().layer, "fc");
  EXPECT_EQ(r8.layers.back().input, "group 8-bit");
  EXPECT_EQ(r2.layers.back().input, "group 2-bit");
  EXPECT_GT(r8.layers.back().approx_error, 0.0);
  EXPECT_LT(r8.layers.back().approx_error, r2.layers.back().approx_error);
  EXPECT_GT(r8.median_ratio, 0);
  EXPECT_FALSE(FidelitySvg(r8).empty());
}

// Per tensor: one entry per code the plan keeps, each with an error of its
// own that shrinks with K, is none with pass-through, and is at most the
// error of everything coded; naive-K (whose codes change the forward) has
// none.
TEST_F(FidelityTest, EveryCodedTensorAlone) {
  ASSERT_OK_AND_ASSIGN(const FidelityReport r2, Measure(planner::Strategy::kApprox2, true));
  ASSERT_OK_AND_ASSIGN(const FidelityReport r8, Measure(planner::Strategy::kApprox8, true));
  ASSERT_OK_AND_ASSIGN(const FidelityReport pass, Measure(planner::Strategy::kApproxPassThrough, true));
  ASSERT_GT(r2.tensors.size(), 10u);
  ASSERT_EQ(r8.tensors.size(), r2.tensors.size());
  ASSERT_EQ(pass.tensors.size(), r2.tensors.size());
  EXPECT_GT(r2.model_sgd_noise, 0);
  EXPECT_GT(r2.model_error, r8.model_error);
  double sum2 = 0, sum8 = 0;
  for (size_t i = 0; i < r2.tensors.size(); ++i) {
    EXPECT_EQ(r2.tensors[i].tensor, r8.tensors[i].tensor);
    EXPECT_EQ(r2.tensors[i].coding.substr(r2.tensors[i].coding.size() - 5), "2-bit") << r2.tensors[i].coding;
    EXPECT_GT(r2.tensors[i].approx_error, 0) << r2.tensors[i].tensor;
    EXPECT_LE(r2.tensors[i].approx_error, r2.model_error) << r2.tensors[i].tensor;
    EXPECT_LT(pass.tensors[i].approx_error, 1e-10) << pass.tensors[i].tensor;
    sum2 += r2.tensors[i].approx_error;
    sum8 += r8.tensors[i].approx_error;
  }
  EXPECT_LT(sum8, sum2 / 4);
  ASSERT_OK_AND_ASSIGN(const FidelityReport naive, Measure(planner::Strategy::kNaive4, true));
  EXPECT_TRUE(naive.tensors.empty());
}

TEST_F(FidelityTest, RefusesExactStrategyAndTooLittleData) {
  FidelityOptions options;
  options.batch = 8;
  options.other_batches = 4;
  EXPECT_EQ(MeasureFidelity(*graph_, planner::Strategy::kExact, data_, options, &backend_).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.other_batches = 16;
  EXPECT_EQ(MeasureFidelity(*graph_, planner::Strategy::kApprox4, data_, options, &backend_).status().message(),
            "the dataset's 40 examples are fewer than 17 batches of 8");
}

}  // namespace
}  // namespace slimtrain::engine
