// The mixed strategy (planner/mixed.h): the greedy choice of bits per tensor
// on hand-made candidates, the sensitivity table's validation, mixed plans on
// the post-activation Fashion-MNIST ResNet against a budget, and codes and
// recomputed segments in one plan (ResNet-1001, the GPT decoder, ViT-Tiny).
#include "planner/mixed.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "planner/cost_model.h"
#include "planner/graph.h"
#include "planner/planner.h"
#include "planner/schedule.h"
#include "planner/strategy.h"
#include "planner/zoo.h"

namespace slimtrain::planner {
namespace {

// Two tensors of 1000 elements: codes of 250/500/1000 bytes, 4000 exact.
std::vector<MixedCandidate> TwoCandidates() {
  std::vector<MixedCandidate> c(2);
  for (int i = 0; i < 2; ++i) {
    c[i].name = i == 0 ? "a" : "b";
    c[i].elements = 1000;
    c[i].code_bytes = {250, 500, 1000};
    c[i].exact_bytes = 4000;
  }
  return c;
}

TEST(MixedTest, UpgradesTheTensorThatRemovesMostErrorPerByteFirst) {
  const std::vector<MixedCandidate> c = TwoCandidates();
  Sensitivity s;
  s["a"].error = {0.10, 0.02, 0.001};  // 2 → 4 removes 0.08 for 250 bytes
  s["b"].error = {0.01, 0.002, 0.0001};
  double error = 0;
  EXPECT_EQ(ChooseMixedBits(c, s, 0, &error), (TensorBits{{"a", 2}, {"b", 2}}));
  EXPECT_DOUBLE_EQ(error, 0.11);
  // 250 bytes: only a's first upgrade.
  EXPECT_EQ(ChooseMixedBits(c, s, 250, &error), (TensorBits{{"a", 4}, {"b", 2}}));
  EXPECT_DOUBLE_EQ(error, 0.03);
  // 750: a's to 8 bits (0.019 for 500 bytes) beats b's to 4 (0.008 for 250).
  EXPECT_EQ(ChooseMixedBits(c, s, 750, &error), (TensorBits{{"a", 8}, {"b", 2}}));
  // Everything: both exact (a tensor not named is exact).
  EXPECT_EQ(ChooseMixedBits(c, s, 1 << 20, &error), TensorBits{});
  EXPECT_DOUBLE_EQ(error, 0.0);
}

TEST(MixedTest, SkipsAnOptionThatIsNotBetter) {
  std::vector<MixedCandidate> c = TwoCandidates();
  c.resize(1);
  Sensitivity s;
  s["a"].error = {0.10, 0.12, 0.001};  // a noisy 4-bit measurement: straight to 8 bits
  double error = 0;
  EXPECT_EQ(ChooseMixedBits(c, s, 250, &error), (TensorBits{{"a", 2}}));
  EXPECT_EQ(ChooseMixedBits(c, s, 750, &error), (TensorBits{{"a", 8}}));
}

TEST(MixedTest, SensitivityTableErrorsNameTheField) {
  v1::SensitivityTable table;
  v1::TensorSensitivity* t = table.add_tensors();
  t->set_tensor("bn1");
  t->set_error2(0.1);
  EXPECT_TRUE(SensitivityFromTable(table).ok());
  t->set_error4(-1);
  EXPECT_EQ(SensitivityFromTable(table).status().message(),
            "sensitivity.tensors[0].error4: must be finite and >= 0, got -1");
  t->set_error4(0);
  *table.add_tensors() = *t;
  EXPECT_EQ(SensitivityFromTable(table).status().message(), "sensitivity.tensors[1].tensor: 'bn1' is listed twice");
  table.mutable_tensors(1)->set_tensor("");
  EXPECT_EQ(SensitivityFromTable(table).status().message(), "sensitivity.tensors[1].tensor: empty");
}

absl::StatusOr<v1::MemoryPlan> Plan(Strategy strategy, int64_t budget, const Sensitivity* sensitivity = nullptr) {
  absl::StatusOr<v1::ModelSpec> spec = ZooModel("fmnist_resnet_post");
  if (!spec.ok()) return spec.status();
  absl::StatusOr<Graph> graph = Graph::Build(*spec);
  if (!graph.ok()) return graph.status();
  PlanOptions options;
  options.batch_size = 32;
  options.budget_bytes = options.checkpoint_budget_bytes = budget;
  options.sensitivity = sensitivity;
  options.include_buffers = true;
  return PlanMemory(*graph, strategy, options, DefaultCostModel());
}

TEST(MixedTest, FitsApproxTwosPeakAndCodesMoreInIt) {
  // The peak of this model is in the forward pass of its first stage, so
  // later codes can grow without raising it: at approx2's own peak, mixed
  // keeps more bits.
  absl::StatusOr<v1::MemoryPlan> approx2 = Plan(Strategy::kApprox2, 0);
  ASSERT_TRUE(approx2.ok()) << approx2.status();
  absl::StatusOr<v1::MemoryPlan> mixed = Plan(Strategy::kMixed, approx2->peak_bytes());
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_TRUE(mixed->fits());
  EXPECT_LE(mixed->peak_bytes(), approx2->peak_bytes());
  EXPECT_GT(mixed->saved_activation_bytes(), approx2->saved_activation_bytes());
  EXPECT_NE(mixed->choice().find("predicted gradient error"), std::string::npos) << mixed->choice();
  int wider = 0;
  for (const v1::Buffer& b : mixed->buffers()) {
    wider += b.kind() == v1::Buffer::CODE && b.representation() != v1::Buffer::CODE2;
  }
  EXPECT_GT(wider, 0);
}

TEST(MixedTest, AGreaterBudgetKeepsAtLeastAsManyBytes) {
  // The measured-like sensitivities: the earlier a tensor, the larger.
  absl::StatusOr<v1::MemoryPlan> approx4 = Plan(Strategy::kApprox4, 0);
  ASSERT_TRUE(approx4.ok()) << approx4.status();
  Sensitivity s;
  int i = 0;
  for (const v1::Buffer& b : approx4->buffers()) {
    if (b.kind() != v1::Buffer::CODE) continue;
    const double w = 1.0 / ++i;
    s[b.layer()].error = {w, w / 16, w / 256};
  }
  int64_t last_saved = 0;
  for (int64_t budget : {approx4->peak_bytes(), approx4->peak_bytes() * 3 / 2, approx4->peak_bytes() * 3}) {
    absl::StatusOr<v1::MemoryPlan> mixed = Plan(Strategy::kMixed, budget, &s);
    ASSERT_TRUE(mixed.ok()) << mixed.status();
    EXPECT_TRUE(mixed->fits()) << budget;
    EXPECT_GE(mixed->saved_activation_bytes(), last_saved) << budget;
    last_saved = mixed->saved_activation_bytes();
  }
}

TEST(MixedTest, WithoutABudgetItKeepsApproxFoursSavedBytes) {
  absl::StatusOr<v1::MemoryPlan> approx4 = Plan(Strategy::kApprox4, 0);
  absl::StatusOr<v1::MemoryPlan> mixed = Plan(Strategy::kMixed, 0);
  ASSERT_TRUE(approx4.ok() && mixed.ok());
  EXPECT_LE(mixed->saved_activation_bytes(), approx4->saved_activation_bytes());
  EXPECT_NE(mixed->choice().find("sensitivities assumed"), std::string::npos) << mixed->choice();
}

TEST(MixedTest, ABudgetBelowAllAtTwoBitsDoesNotFit) {
  absl::StatusOr<v1::MemoryPlan> approx2 = Plan(Strategy::kApprox2, 0);
  ASSERT_TRUE(approx2.ok());
  absl::StatusOr<v1::MemoryPlan> mixed = Plan(Strategy::kMixed, approx2->peak_bytes() - 4096);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_FALSE(mixed->fits());
  EXPECT_EQ(mixed->peak_bytes(), approx2->peak_bytes());
}

// The predicted error of a mixed plan's codes, with the sensitivities
// assumed (mixed.h).
double PredictedError(const Graph& graph, const v1::MemoryPlan& plan) {
  const Schedule approx2 = BuildSchedule(graph, Strategy::kApprox2, plan.batch_size(), DefaultCostModel()).value();
  const std::vector<MixedCandidate> candidates = MixedCandidates(graph, approx2);
  const Sensitivity s = CompleteSensitivity(candidates, {});
  double error = 0;
  for (const v1::Buffer& b : plan.buffers()) {
    if (b.kind() != v1::Buffer::CODE) continue;
    const int i = b.representation() == v1::Buffer::CODE2 ? 0 : b.representation() == v1::Buffer::CODE4 ? 1 : 2;
    error += s.at(b.layer()).error[i];
  }
  return error;
}

// Where recomputing is cheaper in bytes than coding (deep ResNets, the
// transformers), a budget between approx2's and checkpoint_optimal's peaks
// gets a plan that recomputes segments exactly and codes the rest: it fits,
// codes nothing it recomputes, and predicts less error than codes alone.
TEST(MixedTest, RecomputesSegmentsAndCodesTheRestInOnePlan) {
  struct Case {
    const char* model;
    int64_t batch;
  };
  for (const Case& c : {Case{"resnet1001", 128}, Case{"nanogpt", 32}, Case{"vit_tiny", 32}}) {
    const Graph graph = Graph::Build(ZooModel(c.model).value()).value();
    PlanOptions options;
    options.batch_size = c.batch;
    options.include_buffers = true;
    const v1::MemoryPlan approx2 = PlanMemory(graph, Strategy::kApprox2, options, DefaultCostModel()).value();
    const v1::MemoryPlan optimal =
        PlanMemory(graph, Strategy::kCheckpointOptimal, options, DefaultCostModel()).value();
    ASSERT_LT(approx2.peak_bytes(), optimal.peak_bytes()) << c.model;
    options.budget_bytes = options.checkpoint_budget_bytes = (approx2.peak_bytes() + optimal.peak_bytes()) / 2;
    const v1::MemoryPlan hybrid = PlanMemory(graph, Strategy::kMixed, options, DefaultCostModel()).value();
    options.mixed_recompute = false;
    const v1::MemoryPlan codes = PlanMemory(graph, Strategy::kMixed, options, DefaultCostModel()).value();
    EXPECT_TRUE(hybrid.fits()) << c.model;
    EXPECT_TRUE(codes.fits()) << c.model;
    EXPECT_EQ(codes.recompute_flops(), 0) << c.model;
    EXPECT_GT(hybrid.recompute_flops(), 0) << c.model;
    ASSERT_GT(hybrid.checkpoints_size(), 0) << c.model;
    EXPECT_NE(hybrid.choice().find("recomputes"), std::string::npos) << hybrid.choice();
    const int last_checkpoint = graph.Find(hybrid.checkpoints(hybrid.checkpoints_size() - 1));
    int coded = 0;
    for (const v1::Buffer& b : hybrid.buffers()) {
      if (b.kind() != v1::Buffer::CODE) continue;
      ++coded;
      EXPECT_GT(graph.Find(b.layer()), last_checkpoint) << c.model << ": " << b.name() << " is recomputed";
    }
    EXPECT_GT(coded, 0) << c.model << ": " << hybrid.choice();
    EXPECT_LT(PredictedError(graph, hybrid), PredictedError(graph, codes)) << c.model;
  }
}

// The transformer of the Fashion-MNIST reproduction keeps less with
// checkpoint_optimal than with approx4. A budget between the two gets
// neither: segments recomputed and the rest coded, reaching approx4's
// predicted error with fewer recomputed FLOPs than checkpoint_optimal.
TEST(MixedTest, BetweenCheckpointOptimalAndApproxFourItMixesToApproxFoursError) {
  const Graph graph = Graph::Build(ZooModel("fmnist_vit").value()).value();
  PlanOptions options;
  options.batch_size = 32;
  options.include_buffers = true;
  const v1::MemoryPlan approx4 = PlanMemory(graph, Strategy::kApprox4, options, DefaultCostModel()).value();
  const v1::MemoryPlan optimal = PlanMemory(graph, Strategy::kCheckpointOptimal, options, DefaultCostModel()).value();
  ASSERT_LT(optimal.peak_bytes(), approx4.peak_bytes());
  options.budget_bytes = options.checkpoint_budget_bytes = (approx4.peak_bytes() + optimal.peak_bytes()) / 2;
  const v1::MemoryPlan mixed = PlanMemory(graph, Strategy::kMixed, options, DefaultCostModel()).value();
  EXPECT_TRUE(mixed.fits());
  EXPECT_GT(mixed.recompute_flops(), 0);
  EXPECT_LT(mixed.recompute_flops(), optimal.recompute_flops());
  int coded = 0;
  for (const v1::Buffer& b : mixed.buffers()) coded += b.kind() == v1::Buffer::CODE;
  EXPECT_GT(coded, 0);
  EXPECT_LE(PredictedError(graph, mixed), PredictedError(graph, approx4) * (1 + 1e-9));
  EXPECT_NE(mixed.choice().find("approx4's error reached"), std::string::npos) << mixed.choice();
}

}  // namespace
}  // namespace slimtrain::planner
