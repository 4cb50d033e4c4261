// The Executor runs the plan it is given (docs/DESIGN.md): its one
// activation allocation is the planned arena, a plan that does not match its
// schedule is refused, no step touches a buffer outside its lifetime (NaN
// poisoning changes nothing on any model, strategy or CPU backend), and
// training lowers the loss. What a step reads is checked too: token ids,
// labels (one per position for a sequence loss), float targets for a
// regression. The strategies against exact: executor_strategy_test.cc; whole
// models' gradients: executor_gradient_test.cc; the models:
// executor_test_models.h. ExecutorOptions.profile times each step by kind
// and op, waiting for the device around each.
#include "engine/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/data.h"
#include "gtest/gtest.h"
#include "planner/planner.h"
#include "tests/engine/executor_test_models.h"
#include "tests/engine/executor_test_util.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::testing {
namespace {

using planner::Graph;
using planner::Strategy;
using test_util::ZooGraph;

// The reference backend, recording the size of every allocation made through it.
class RecordingBackend : public ReferenceBackend {
 public:
  RecordingBackend() : ReferenceBackend(DType::kF32) {}
  absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes) override {
    allocations.push_back(bytes);
    return ReferenceBackend::Allocate(bytes);
  }
  std::vector<int64_t> allocations;
};

// The executor's one activation allocation is the arena the planner sizes
// for the same graph, strategy and batch (planned here on its own), and it
// covers every buffer at its offset; on host memory it is the only
// allocation the executor makes through the backend.
TEST(ExecutorTest, ArenaIsExactlyThePlannedSize) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  for (Strategy s : planner::AllStrategies()) {
    SCOPED_TRACE(planner::StrategyName(s));
    RecordingBackend backend;
    planner::PlanOptions options;
    options.batch_size = 4;
    options.include_buffers = true;
    options.device = backend.name();
    absl::StatusOr<v1::MemoryPlan> plan = planner::PlanMemory(g, s, options, backend);
    ASSERT_TRUE(plan.ok()) << plan.status();
    ASSERT_GT(plan->arena_bytes(), 0);
    int64_t end = 0;
    for (const v1::Buffer& b : plan->buffers()) end = std::max(end, b.offset_bytes() + b.size_bytes());
    EXPECT_LE(end, plan->arena_bytes());

    std::unique_ptr<Executor> e = MakeExecutor(g, s, 4, &backend);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(backend.allocations, std::vector<int64_t>{plan->arena_bytes()});
    EXPECT_EQ(e->arena_bytes(), plan->arena_bytes());
  }
}

TEST(ExecutorTest, RejectsAPlanThatDoesNotMatchItsSchedule) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(e, nullptr);
  v1::MemoryPlan plan = e->plan();
  plan.mutable_buffers(3)->set_size_bytes(plan.buffers(3).size_bytes() / 2);
  absl::StatusOr<std::unique_ptr<Executor>> bad = Executor::CreateFromPlan(g, plan, &backend, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(bad.status().message()).find("does not match the schedule"), std::string::npos);
  plan.clear_buffers();
  EXPECT_FALSE(Executor::CreateFromPlan(g, plan, &backend, {}).ok());
}

TEST(ExecutorTest, NoStepTouchesABufferOutsideItsLifetime) {
  // Debug mode fills every block with NaNs before its first and after its
  // last step: any read outside a lifetime would change the results. The fast
  // backend's workspaces are in the plan too.
  ReferenceBackend reference(DType::kF32);
  FastBackend fast;
  for (Backend* backend : std::vector<Backend*>{&reference, &fast}) {
    for (const absl::StatusOr<Graph>& built :
         {ZooGraph("fmnist_resnet"), AllOps(), ActivationOps(), ShapeOps(), TransformerOps(), DecoderOps(),
          LanguageOps(), TiedLanguageOps(), UpsampleOps(), SequenceBnOps(), RegressionOps()}) {
      ASSERT_TRUE(built.ok()) << built.status();
      const Graph& g = *built;
      const Batch data = RandomBatch(g, 4, 5);
      for (Strategy s : planner::AllStrategies()) {
        const Gradients normal = RunForwardBackward(g, s, 4, backend, data);
        const Gradients poisoned = RunForwardBackward(g, s, 4, backend, data, /*debug=*/true);
        EXPECT_EQ(std::memcmp(&normal.loss, &poisoned.loss, sizeof(double)), 0)
            << backend->name() << " " << planner::StrategyName(s);
        EXPECT_EQ(normal.grads, poisoned.grads)
            << backend->name() << " " << g.spec().name() << " " << planner::StrategyName(s);
      }
    }
  }
}

TEST(ExecutorTest, TrainingStepsLowerTheLossOnAFixedBatch) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 8, 8);
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kApprox4, 8, &backend);
  ASSERT_NE(e, nullptr);
  ASSERT_OK_AND_ASSIGN(const StepResult first, e->TrainStep(data.images.data(), data.labels.data(), 0.05));
  StepResult last = first;
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(last, e->TrainStep(data.images.data(), data.labels.data(), 0.05));
  }
  EXPECT_LT(last.loss, first.loss * 0.7) << first.loss << " -> " << last.loss;
  EXPECT_EQ(e->steps_run(), 11);
}

// The reference backend, counting the waits for the device.
class SyncCountingBackend : public ReferenceBackend {
 public:
  SyncCountingBackend() : ReferenceBackend(DType::kF32) {}
  void Synchronize() override { ++synchronized; }
  int64_t synchronized = 0;
};

// ExecutorOptions.profile times every step of the schedule, waiting for the
// device before and after each; the entries add up the schedule's steps by
// kind and op, and their seconds fit in the runs' time. Without it nothing
// waits and nothing is timed.
TEST(ExecutorTest, ProfileTimesEveryStepByKindAndOp) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 4, 3);
  SyncCountingBackend plain;
  std::unique_ptr<Executor> quiet = MakeExecutor(g, Strategy::kApprox4, 4, &plain);
  ASSERT_NE(quiet, nullptr);
  ASSERT_TRUE(quiet->TrainStep(data.images.data(), data.labels.data(), 0.05).ok());
  EXPECT_EQ(plain.synchronized, 0);
  EXPECT_TRUE(quiet->profile().empty());

  SyncCountingBackend backend;
  ExecutorOptions options;
  options.seed = 7;
  options.profile = true;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> e,
                       Executor::Create(g, Strategy::kApprox4, 4, &backend, options));
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(e->TrainStep(data.images.data(), data.labels.data(), 0.05).ok());
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t steps = static_cast<int64_t>(e->schedule().steps.size());
  EXPECT_EQ(backend.synchronized, 2 * 2 * steps);
  const std::vector<ProfileEntry> profile = e->profile();
  ASSERT_FALSE(profile.empty());
  int64_t calls = 0;
  double seconds = 0;
  std::vector<std::string> seen;
  for (size_t i = 0; i < profile.size(); ++i) {
    const ProfileEntry& entry = profile[i];
    calls += entry.calls;
    seconds += entry.seconds;
    EXPECT_GE(entry.seconds, 0) << entry.what;
    EXPECT_EQ(entry.calls % 2, 0) << entry.what << ": each of the 2 steps runs the same schedule";
    if (i > 0) EXPECT_LE(entry.seconds, profile[i - 1].seconds) << "largest first";
    seen.push_back(entry.what);
  }
  EXPECT_EQ(calls, 2 * steps);
  EXPECT_GT(seconds, 0);
  EXPECT_LE(seconds, wall);
  for (const char* what : {"FORWARD conv2d", "BACKWARD conv2d", "SAVE batch_norm", "OPTIMIZER "}) {
    EXPECT_NE(std::find(seen.begin(), seen.end(), what), seen.end()) << what;
  }
  // The table: every row's label, the rest summed past `rows`, the total.
  const std::string all = FormatProfile(profile);
  for (const std::string& what : seen) EXPECT_NE(all.find(what), std::string::npos) << what;
  EXPECT_NE(all.find("total"), std::string::npos);
  EXPECT_EQ(all.find("(the rest)"), std::string::npos);
  const std::string two = FormatProfile(profile, 2);
  EXPECT_NE(two.find(profile[0].what), std::string::npos);
  EXPECT_EQ(two.find(profile[2].what + " "), std::string::npos) << two;
  EXPECT_NE(two.find("(the rest)"), std::string::npos) << two;
}

TEST(ExecutorTest, RejectsTokenIdsThatAreNotWholeNumbersInTheVocabulary) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, DecoderOps());
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 2, &backend);
  ASSERT_NE(e, nullptr);
  Batch data = RandomBatch(g, 2, 3);
  ASSERT_TRUE(ForwardBackwardOf(*e, data).ok());
  for (const float bad : {11.0f, -1.0f, 2.5f, std::nanf("")}) {
    Batch b = data;
    b.images[7] = bad;
    absl::StatusOr<StepResult> r = e->ForwardBackward(b.images.data(), b.labels.data());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(r.status().message()).find("input[1][1]"), std::string::npos) << r.status();
    EXPECT_NE(std::string(r.status().message()).find("embedding 'wte' needs token ids, whole numbers in [0, 11)"),
              std::string::npos)
        << r.status();
  }
}

TEST(ExecutorTest, RejectsLabelsOutsideTheClasses) {
  ReferenceBackend backend(DType::kF32);
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("fmnist_resnet"));
  Batch data = RandomBatch(g, 4, 9);
  data.labels[2] = 10;
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(e, nullptr);
  absl::StatusOr<StepResult> r = ForwardBackwardOf(*e, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "labels[2] is 10, outside [0, 10)");
}

// A loss over (N,L,classes): a label per position, the loss their mean,
// `correct` counting positions; labels out of range are named by position.
// The trainer, eval and fidelity, whose datasets are images, refuse such a
// model (engine::CheckImageClassifier) rather than misread its labels.
TEST(ExecutorTest, SequenceLossTakesALabelPerPosition) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, LanguageOps());
  EXPECT_EQ(planner::LabelsPerExample(g), 6);
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 3, &backend);
  ASSERT_NE(e, nullptr);
  Batch data = RandomBatch(g, 3, 4);
  ASSERT_EQ(data.labels.size(), 18u);
  absl::StatusOr<StepResult> r = ForwardBackwardOf(*e, data);
  ASSERT_TRUE(r.ok()) << r.status();
  // A random model guesses about one class in 11: the loss near log(11).
  EXPECT_NEAR(r->loss, std::log(11.0), 0.5);
  EXPECT_LE(r->correct, 18);
  data.labels[13] = 11;
  r = ForwardBackwardOf(*e, data);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "labels[2][1] is 11, outside [0, 11)");
  // A dataset of images with a label each does not fit; the synthetic
  // token sequences do.
  const absl::Status refused = CheckDatasetFits(g, SyntheticDataset(8, {6}, 11, 1, Split::kTrain));
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(refused.message()).find("model 'language_ops' reads token ids"), std::string::npos)
      << refused;
  EXPECT_TRUE(CheckDatasetFits(g, SyntheticDatasetFor(g, 8, 1, Split::kTrain)).ok());
  ASSERT_OK_AND_ASSIGN(const Graph all_ops, AllOps());
  EXPECT_TRUE(CheckDatasetFits(all_ops, SyntheticDatasetFor(all_ops, 8, 1, Split::kTrain)).ok());
}

// mse_loss: float targets, not labels; the loss is PyTorch's mean over
// every element; evaluation counts the valid examples only; Predict writes
// the predictions.
TEST(ExecutorTest, RegressionTakesFloatTargets) {
  ReferenceBackend backend(DType::kF64);
  ASSERT_OK_AND_ASSIGN(const Graph g, RegressionOps());
  EXPECT_EQ(planner::TargetsPerExample(g), 3 * 2);
  EXPECT_EQ(planner::LabelsPerExample(g), 0);
  std::unique_ptr<Executor> e = MakeExecutor(g, Strategy::kExact, 4, &backend);
  ASSERT_NE(e, nullptr);
  Batch data = RandomBatch(g, 4, 3);
  ASSERT_EQ(data.targets.size(), 24u);
  std::vector<float> predictions(24);
  ASSERT_TRUE(e->Predict(data.images.data(), predictions.data()).ok());
  double sum = 0;
  for (int i = 0; i < 24; ++i) sum += std::pow(static_cast<double>(predictions[i]) - data.targets[i], 2);
  absl::StatusOr<StepResult> r = e->ForwardBackward(data.images.data(), data.targets.data());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->loss, sum / 24, 1e-6 * sum);
  EXPECT_EQ(r->correct, 0);
  // The first example alone.
  double first = 0;
  for (int i = 0; i < 6; ++i) first += std::pow(static_cast<double>(predictions[i]) - data.targets[i], 2);
  absl::StatusOr<StepResult> one = e->Evaluate(data.images.data(), data.targets.data(), 1);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_NEAR(one->loss, first / 6, 1e-6 * first);
  // Labels for a regression, targets for a classifier, non-finite targets.
  const std::vector<int32_t> labels(4, 0);
  absl::StatusOr<StepResult> wrong = e->ForwardBackward(data.images.data(), labels.data());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(wrong.status().message()).find("ends in mse_loss, which takes float targets"),
            std::string::npos)
      << wrong.status();
  data.targets[7] = std::nanf("");
  absl::StatusOr<StepResult> nan = e->ForwardBackward(data.images.data(), data.targets.data());
  EXPECT_EQ(nan.status().message(), "targets[1][1] is nan: targets must be finite");
  ASSERT_OK_AND_ASSIGN(const Graph classifier, AllOps());
  std::unique_ptr<Executor> c = MakeExecutor(classifier, Strategy::kExact, 2, &backend);
  ASSERT_NE(c, nullptr);
  const Batch cb = RandomBatch(classifier, 2, 4);
  const std::vector<float> targets(64, 0.0f);
  absl::StatusOr<StepResult> misused = c->ForwardBackward(cb.images.data(), targets.data());
  EXPECT_NE(std::string(misused.status().message()).find("takes integer labels, not float targets"),
            std::string::npos)
      << misused.status();
}

}  // namespace
}  // namespace slimtrain::engine::testing
