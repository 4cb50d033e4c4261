// Executor::Create runs the plan PlanMemory gives and the schedule it was
// packed from (planner::PlanToRun); CreateFromPlan derives the schedule of a
// stored plan from the plan's own decisions. For every strategy the two
// executors of one plan hold the same schedule, operand by operand, and train
// bit for bit alike on the reference backend.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/batches.h"
#include "engine/cpu/reference_backend.h"
#include "engine/data.h"
#include "engine/executor.h"
#include "gtest/gtest.h"
#include "planner/planner.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine {
namespace {

using planner::Graph;
using planner::Strategy;
using test_util::ZooGraph;

// The options Executor::Create plans with (executor.cc), for the plan it
// must end up with.
planner::PlanOptions CreatesPlanOptions(int64_t batch, const Backend& backend, const ExecutorOptions& options) {
  planner::PlanOptions p;
  p.batch_size = batch;
  p.include_buffers = true;
  p.checkpoint_budget_bytes = options.checkpoint_budget_bytes;
  p.device = backend.name();
  p.optimizer = options.optimizer.kind;
  return p;
}

// The same steps touching the same buffers in the same roles, and the same
// buffers.
void ExpectSameSchedule(const planner::Schedule& a, const planner::Schedule& b) {
  EXPECT_EQ(a.strategy, b.strategy);
  EXPECT_EQ(a.checkpoints, b.checkpoints);
  EXPECT_EQ(a.backward_begin, b.backward_begin);
  ASSERT_EQ(a.buffers.size(), b.buffers.size());
  for (size_t i = 0; i < a.buffers.size(); ++i) {
    const planner::ScheduleBuffer &x = a.buffers[i], &y = b.buffers[i];
    SCOPED_TRACE("buffer " + std::to_string(i) + " '" + x.name + "'");
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.size_bytes, y.size_bytes);
    EXPECT_EQ(x.first_step, y.first_step);
    EXPECT_EQ(x.last_step, y.last_step);
    EXPECT_EQ(x.in_place_of, y.in_place_of);
    EXPECT_EQ(x.coding, y.coding);
    EXPECT_EQ(x.bits, y.bits);
    EXPECT_EQ(x.code_of, y.code_of);
    EXPECT_EQ(x.aux, y.aux);
    EXPECT_EQ(x.decoded_from, y.decoded_from);
  }
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t t = 0; t < a.steps.size(); ++t) {
    const planner::ScheduleStep &x = a.steps[t], &y = b.steps[t];
    SCOPED_TRACE("step " + std::to_string(t));
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.node, y.node);
    ASSERT_EQ(x.operands.size(), y.operands.size());
    for (size_t k = 0; k < x.operands.size(); ++k) {
      const planner::Operand &o = x.operands[k], &p = y.operands[k];
      EXPECT_EQ(o.buffer, p.buffer);
      EXPECT_EQ(o.role, p.role);
      EXPECT_EQ(o.index, p.index);
      EXPECT_EQ(o.read, p.read);
      EXPECT_EQ(o.write, p.write);
    }
  }
}

struct Case {
  std::string model;
  Strategy strategy;
  int64_t checkpoint_budget_bytes = 0;  // ExecutorOptions'
};

// Every strategy on a ResNet (batch norm, ReLU, residual adds);
// checkpoint_optimal with a budget between its least peak and exact's; mixed
// on a ViT with a budget between approx2's and checkpoint_optimal's peaks,
// where it recomputes segments and codes the rest.
std::vector<Case> Cases(const Backend& backend, int64_t batch) {
  std::vector<Case> cases;
  for (Strategy s : planner::AllStrategies()) cases.push_back({"fmnist_resnet", s, 0});
  auto peak = [&](const Graph& g, Strategy s) {
    planner::PlanOptions p;
    p.batch_size = batch;
    absl::StatusOr<v1::MemoryPlan> plan = planner::PlanMemory(g, s, p, backend);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? plan->peak_bytes() : 0;
  };
  absl::StatusOr<Graph> resnet = ZooGraph("fmnist_resnet");
  absl::StatusOr<Graph> vit = ZooGraph("fmnist_vit");
  EXPECT_TRUE(resnet.ok() && vit.ok());
  if (!resnet.ok() || !vit.ok()) return cases;
  cases.push_back({"fmnist_resnet", Strategy::kCheckpointOptimal,
                   (peak(*resnet, Strategy::kCheckpointOptimal) + peak(*resnet, Strategy::kExact)) / 2});
  cases.push_back({"fmnist_vit", Strategy::kMixed,
                   (peak(*vit, Strategy::kApprox2) + peak(*vit, Strategy::kCheckpointOptimal)) / 2});
  return cases;
}

TEST(ExecutorCreateTest, CreateRunsPlanMemorysPlanAsCreateFromPlanDoes) {
  constexpr int64_t kBatch = 2;
  ReferenceBackend backend(DType::kF32);
  bool mixed_recomputes = false;
  for (const Case& c : Cases(backend, kBatch)) {
    SCOPED_TRACE(c.model + " " + planner::StrategyName(c.strategy) +
                 (c.checkpoint_budget_bytes > 0 ? " with a budget" : ""));
    ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph(c.model));
    ExecutorOptions options;
    options.seed = 3;
    options.debug = true;  // NaN-poisons every block outside its lifetime
    options.checkpoint_budget_bytes = c.checkpoint_budget_bytes;
    ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan plan,
                         planner::PlanMemory(g, c.strategy, CreatesPlanOptions(kBatch, backend, options), backend));
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> created,
                         Executor::Create(g, c.strategy, kBatch, &backend, options));
    EXPECT_EQ(created->plan().SerializeAsString(), plan.SerializeAsString());
    EXPECT_EQ(created->arena_bytes(), plan.arena_bytes());
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> stored, Executor::CreateFromPlan(g, plan, &backend, options));
    ExpectSameSchedule(created->schedule(), stored->schedule());
    if (c.strategy == Strategy::kMixed && c.checkpoint_budget_bytes > 0) {
      mixed_recomputes = plan.recompute_flops() > 0;
    }

    const Dataset data = SyntheticDatasetFor(g, kBatch, 1, Split::kTrain);
    BatchIterator batches(data, kBatch, {}, 1);
    std::vector<float> images(kBatch * data.example_elements());
    std::vector<int32_t> labels(kBatch * data.labels_per_example);
    batches.Next(images.data(), labels.data());
    for (int step = 0; step < 2; ++step) {
      ASSERT_OK_AND_ASSIGN(const StepResult a, created->TrainStep(images.data(), labels.data(), 0.1));
      ASSERT_OK_AND_ASSIGN(const StepResult b, stored->TrainStep(images.data(), labels.data(), 0.1));
      EXPECT_EQ(a.loss, b.loss) << "step " << step;
      EXPECT_EQ(a.correct, b.correct) << "step " << step;
    }
    ASSERT_EQ(created->params().total_count(), stored->params().total_count());
    int64_t differ = 0;
    for (int64_t i = 0; i < created->params().total_count(); ++i) {
      differ += created->params().Get(i) != stored->params().Get(i);
    }
    EXPECT_EQ(differ, 0) << "parameters differ after two steps";
  }
  EXPECT_TRUE(mixed_recomputes) << "the mixed case did not reach mixed's recomputing plans";
}

// The optimizer is checked where both constructors meet: an unknown one is
// INVALID_ARGUMENT naming it, from Create (while planning) and from
// CreateFromPlan (a stored plan).
TEST(ExecutorCreateTest, BothRefuseAnUnknownOptimizer) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  ExecutorOptions good;
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan plan,
                       planner::PlanMemory(g, Strategy::kApprox4, CreatesPlanOptions(2, backend, good), backend));
  ExecutorOptions bad;
  bad.optimizer.kind = "lbfgs";
  for (const absl::Status& s : {Executor::Create(g, Strategy::kApprox4, 2, &backend, bad).status(),
                                Executor::CreateFromPlan(g, plan, &backend, bad).status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_NE(std::string(s.message()).find("'lbfgs'"), std::string::npos) << s;
  }
}

// A peak limit (a server's GPU worker: the peak its job was admitted with)
// is checked when the plan is made: a plan one byte over it fails with both
// numbers and the limit's name; one that fits it exactly runs.
TEST(ExecutorCreateTest, APlanOverThePeakLimitFailsWithBothNumbers) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  ExecutorOptions options;
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan plan,
                       planner::PlanMemory(g, Strategy::kExact, CreatesPlanOptions(4, backend, options), backend));
  options.peak_limit_bytes = plan.peak_bytes() - 1;
  options.peak_limit_name = "the peak this job was admitted with";
  const absl::Status over = Executor::Create(g, Strategy::kExact, 4, &backend, options).status();
  EXPECT_EQ(over.code(), absl::StatusCode::kFailedPrecondition) << over;
  const std::string message(over.message());
  EXPECT_NE(message.find(std::to_string(plan.peak_bytes()) + " bytes"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(plan.peak_bytes() - 1) + " bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("the peak this job was admitted with"), std::string::npos) << message;

  options.peak_limit_bytes = plan.peak_bytes();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> fits, Executor::Create(g, Strategy::kExact, 4, &backend, options));
  EXPECT_EQ(fits->plan().peak_bytes(), plan.peak_bytes());
}

}  // namespace
}  // namespace slimtrain::engine
