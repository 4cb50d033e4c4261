// PlanToRun: for every strategy (the searches of checkpoint_optimal and mixed
// with a budget included), its plan is PlanMemory's byte for byte, and its
// schedule is the one that plan was packed from: buffer i is plan buffer i,
// step t plan step t, with the same sizes, lifetimes, in-place reuse, codes,
// operands' reads and writes, checkpoints and FLOPs.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "planner/coding.h"
#include "planner/mixed.h"
#include "planner/planner.h"
#include "planner/schedule.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::planner {
namespace {

using test_util::ZooGraph;

// Checks that `s` is the schedule `plan` (with buffers) was packed from,
// index by index.
void ExpectScheduleIsPlans(const Graph& g, const v1::MemoryPlan& plan, const Schedule& s) {
  EXPECT_EQ(StrategyName(s.strategy), plan.strategy());
  EXPECT_EQ(s.batch, plan.batch_size());
  EXPECT_EQ(s.element_bytes, plan.element_bytes());
  EXPECT_EQ(s.forward_flops, plan.forward_flops());
  EXPECT_EQ(s.backward_flops, plan.backward_flops());
  EXPECT_EQ(s.recompute_flops, plan.recompute_flops());
  std::vector<std::string> checkpoints;
  for (int c : s.checkpoints) checkpoints.push_back(g.node(c).name);
  EXPECT_EQ(checkpoints, std::vector<std::string>(plan.checkpoints().begin(), plan.checkpoints().end()));

  ASSERT_EQ(static_cast<int>(s.buffers.size()), plan.buffers_size());
  int64_t saved = 0;
  for (int i = 0; i < plan.buffers_size(); ++i) {
    const v1::Buffer& b = plan.buffers(i);
    const ScheduleBuffer& want = s.buffers[i];
    SCOPED_TRACE("buffer " + std::to_string(i) + " '" + b.name() + "'");
    EXPECT_EQ(b.id(), i);
    EXPECT_EQ(b.name(), want.name);
    EXPECT_EQ(b.kind(), want.kind);
    EXPECT_EQ(b.size_bytes(), want.size_bytes);
    EXPECT_EQ(b.first_step(), want.first_step);
    EXPECT_EQ(b.last_step(), want.last_step);
    EXPECT_EQ(b.in_place_of(), want.in_place_of);
    EXPECT_EQ(b.saved(), want.saved);
    EXPECT_EQ(b.layer(), g.node(want.node).name);
    EXPECT_EQ(std::vector<int64_t>(b.shape().begin(), b.shape().end()), want.shape);
    EXPECT_EQ(b.representation(), want.representation);
    EXPECT_EQ(b.code_of(), want.code_of);
    EXPECT_EQ(b.decoded_from(), want.decoded_from);
    if (want.kind == v1::Buffer::CODE) {
      EXPECT_EQ(b.coding(), CodingName(want.coding));
    }
    saved += want.saved ? want.size_bytes : 0;
  }
  EXPECT_EQ(saved, plan.saved_activation_bytes());
  // Data-parallel: the buckets are the plan's ALLREDUCE buffers, in order.
  EXPECT_EQ(s.ranks, std::max(1, plan.ranks()));
  size_t allreduce = 0;
  for (int i = 0; i < plan.buffers_size(); ++i) {
    if (plan.buffers(i).kind() != v1::Buffer::ALLREDUCE) continue;
    ASSERT_LT(allreduce, s.buckets.size());
    EXPECT_EQ(s.buckets[allreduce].buffer, i);
    ++allreduce;
  }
  EXPECT_EQ(allreduce, s.buckets.size());
  EXPECT_EQ(plan.allreduce_buckets(), static_cast<int>(s.buckets.size()));

  ASSERT_EQ(static_cast<int>(s.steps.size()), plan.steps_size());
  for (int t = 0; t < plan.steps_size(); ++t) {
    const v1::Step& step = plan.steps(t);
    const ScheduleStep& want = s.steps[t];
    SCOPED_TRACE("step " + std::to_string(t));
    EXPECT_EQ(step.kind(), want.kind);
    EXPECT_EQ(step.layer(), want.node >= 0 ? g.node(want.node).name : "");
    EXPECT_EQ(std::vector<int>(step.reads().begin(), step.reads().end()), want.reads());
    EXPECT_EQ(std::vector<int>(step.writes().begin(), step.writes().end()), want.writes());
    EXPECT_EQ(step.flops(), want.flops);
  }
}

// One way of planning: a strategy and the options that steer its search.
struct Case {
  std::string name;
  Strategy strategy;
  PlanOptions options;
};

// Every strategy with no budget; checkpoint_optimal with a budget between
// its least peak and exact's (its search loosens the segmentation while the
// packed plan fits); mixed, recomputing and codes only, with a budget
// between approx2's and checkpoint_optimal's peaks; mixed with given bits
// and checkpoints; data-parallel plans (2 ranks, small buckets) of exact,
// and of the searches with a budget.
std::vector<Case> CasesFor(const Graph& g, int64_t batch, const TensorBits* bits, const std::vector<int>* cuts) {
  PlanOptions base;
  base.batch_size = batch;
  std::vector<Case> cases;
  for (Strategy s : AllStrategies()) cases.push_back({StrategyName(s), s, base});
  cases.push_back({"approx_passthrough", Strategy::kApproxPassThrough, base});
  auto peak = [&](Strategy s) {
    absl::StatusOr<v1::MemoryPlan> plan = PlanMemory(g, s, base, DefaultCostModel());
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? plan->peak_bytes() : 0;
  };
  const int64_t exact = peak(Strategy::kExact), approx2 = peak(Strategy::kApprox2),
                optimal = peak(Strategy::kCheckpointOptimal);
  PlanOptions budget = base;
  budget.budget_bytes = budget.checkpoint_budget_bytes = (optimal + exact) / 2;
  cases.push_back({"checkpoint_optimal with a budget", Strategy::kCheckpointOptimal, budget});
  budget.budget_bytes = budget.checkpoint_budget_bytes = (approx2 + optimal) / 2;
  cases.push_back({"mixed with a budget", Strategy::kMixed, budget});
  budget.mixed_recompute = false;
  cases.push_back({"mixed with a budget, codes only", Strategy::kMixed, budget});
  PlanOptions given = base;
  given.tensor_bits = bits;
  given.mixed_checkpoints = cuts;
  cases.push_back({"mixed with given bits and checkpoints", Strategy::kMixed, given});
  PlanOptions ranked = base;
  ranked.data_parallel.ranks = 2;
  ranked.data_parallel.bucket_bytes = 16 << 10;
  cases.push_back({"exact on 2 ranks", Strategy::kExact, ranked});
  ranked.data_parallel.overlap_communication = false;
  ranked.budget_bytes = ranked.checkpoint_budget_bytes = (optimal + exact) / 2;
  cases.push_back({"checkpoint_optimal with a budget on 2 ranks, summed after backward",
                   Strategy::kCheckpointOptimal, ranked});
  ranked.data_parallel.overlap_communication = true;
  ranked.budget_bytes = ranked.checkpoint_budget_bytes = (approx2 + optimal) / 2;
  cases.push_back({"mixed with a budget on 2 ranks", Strategy::kMixed, ranked});
  return cases;
}

// The ResNets (batch norm, ReLU, residual adds; pre- and post-activation)
// and a small ViT (layer norm, attention), on which mixed with a budget
// recomputes segments.
TEST(PlanToRunTest, PlanIsPlanMemorysAndScheduleIsTheOneItWasPackedFrom) {
  struct Model {
    const char* name;
    bool mixed_recomputes;  // under "mixed with a budget"
  };
  for (const Model& m : {Model{"fmnist_resnet", false}, Model{"fmnist_resnet_post", false},
                         Model{"fmnist_vit", true}}) {
    const char* model = m.name;
    ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph(model));
    constexpr int64_t kBatch = 4;
    // Given bits: 2, 4, 8 and exact in turn over the tensors approx-K codes.
    ASSERT_OK_AND_ASSIGN(const Schedule approx, BuildSchedule(g, Strategy::kApprox4, kBatch, DefaultCostModel()));
    TensorBits bits;
    const std::vector<MixedCandidate> candidates = MixedCandidates(g, approx);
    for (size_t i = 0; i < candidates.size(); ++i) {
      const int b = static_cast<int>(i % 4) < 3 ? kMixedBits[i % 4] : 0;
      if (b > 0) bits[candidates[i].name] = b;
    }
    const std::vector<int> all_cuts = CutPoints(g);
    ASSERT_GT(all_cuts.size(), 3u);
    const std::vector<int> cuts = {all_cuts[all_cuts.size() / 3]};
    bool mixed_recomputes = false;
    for (const Case& c : CasesFor(g, kBatch, &bits, &cuts)) {
      SCOPED_TRACE(std::string(model) + ", " + c.name);
      PlanOptions with_buffers = c.options;
      with_buffers.include_buffers = true;
      ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan plan, PlanMemory(g, c.strategy, with_buffers, DefaultCostModel()));
      // PlanToRun includes buffers whatever the options say.
      ASSERT_OK_AND_ASSIGN(const RunnablePlan run, PlanToRun(g, c.strategy, c.options, DefaultCostModel()));
      EXPECT_EQ(run.plan.SerializeAsString(), plan.SerializeAsString());
      ASSERT_GT(run.plan.buffers_size(), 0);
      ExpectScheduleIsPlans(g, run.plan, run.schedule);
      // Without buffers PlanMemory is the same plan less its buffers and steps.
      ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan summary, PlanMemory(g, c.strategy, c.options, DefaultCostModel()));
      v1::MemoryPlan stripped = run.plan;
      stripped.clear_buffers();
      stripped.clear_steps();
      EXPECT_EQ(summary.SerializeAsString(), stripped.SerializeAsString());
      if (c.name == "mixed with a budget") mixed_recomputes = run.plan.recompute_flops() > 0;
      if (c.name == "checkpoint_optimal with a budget") {
        EXPECT_TRUE(run.plan.fits());
      }
      if (c.name == "mixed with given bits and checkpoints") {
        EXPECT_EQ(run.schedule.checkpoints, cuts);
        EXPECT_GT(run.plan.recompute_flops(), 0);
      }
    }
    // On the ViT mixed's search over recomputed prefixes ends in one: the
    // schedule checked above is the pick's, packed, not the first try's.
    EXPECT_EQ(mixed_recomputes, m.mixed_recomputes) << model;
  }
}

// A bad request fails PlanToRun as it fails PlanMemory.
TEST(PlanToRunTest, FailsAsPlanMemory) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  PlanOptions options;
  options.batch_size = 0;
  const absl::Status plan = PlanMemory(g, Strategy::kExact, options, DefaultCostModel()).status();
  const absl::Status run = PlanToRun(g, Strategy::kExact, options, DefaultCostModel()).status();
  EXPECT_EQ(plan.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(run, plan);
  options.batch_size = 4;
  options.optimizer = "lbfgs";
  EXPECT_EQ(PlanToRun(g, Strategy::kExact, options, DefaultCostModel()).status(),
            PlanMemory(g, Strategy::kExact, options, DefaultCostModel()).status());
  EXPECT_FALSE(PlanToRun(g, Strategy::kExact, options, DefaultCostModel()).ok());
}

}  // namespace
}  // namespace slimtrain::planner
