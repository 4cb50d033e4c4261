// docs/DESIGN.md's invariants with the executor on the CUDA backend: exact
// training matches the reference backend, approx-K's forward is exact bit
// for bit, checkpointing trains as exact does, approx4 trains, debug
// poisoning changes nothing, and the device memory taken is the plan's.
// Skipped without a GPU (see cuda_test_util.h).
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/executor_test_util.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::gpu_test {
namespace {

// ------------------------------------------------------------ the executor

using testing::Batch;
using testing::Gradients;
using testing::L2RelativeError;
using testing::MakeExecutor;
using testing::RandomBatch;
using testing::RunForwardBackward;

// The losses of `steps` training steps on one batch at learning rate `lr`.
std::vector<double> TrainLosses(const Graph& g, Strategy s, int64_t batch, Backend* backend, const Batch& data,
                                int steps, double lr) {
  std::vector<double> losses;
  std::unique_ptr<Executor> e = MakeExecutor(g, s, batch, backend);
  if (e == nullptr) return losses;
  for (int i = 0; i < steps; ++i) {
    absl::StatusOr<StepResult> r = e->TrainStep(data.images.data(), data.labels.data(), lr);
    EXPECT_TRUE(r.ok()) << planner::StrategyName(s) << " step " << i << ": " << r.status();
    if (!r.ok()) break;
    losses.push_back(r->loss);
  }
  return losses;
}

TEST_F(GpuTest, ExactTrainingMatchesTheReferenceBackend) {
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 8, 1);
  const Gradients gpu = RunForwardBackward(g, Strategy::kExact, 8, gpu_, data);
  const Gradients ref = RunForwardBackward(g, Strategy::kExact, 8, &ref_, data);
  EXPECT_NEAR(gpu.loss, ref.loss, 1e-4 * std::fabs(ref.loss));
  EXPECT_LT(L2RelativeError(gpu.grads, ref.grads), 1e-4);
  const std::vector<double> gpu_losses = TrainLosses(g, Strategy::kExact, 8, gpu_, data, 3, 0.05);
  const std::vector<double> ref_losses = TrainLosses(g, Strategy::kExact, 8, &ref_, data, 3, 0.05);
  ASSERT_EQ(gpu_losses.size(), 3u);
  ASSERT_EQ(ref_losses.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(gpu_losses[i], ref_losses[i], 1e-3 * std::fabs(ref_losses[i])) << "step " << i;
  }
}

// Invariant 3 on the GPU: the same forward kernels, so the same loss.
TEST_F(GpuTest, ApproxForwardIsExactBitForBit) {
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 16, 2);
  const Gradients exact = RunForwardBackward(g, Strategy::kExact, 16, gpu_, data);
  double previous_error = INFINITY;
  for (Strategy s : {Strategy::kApprox2, Strategy::kApprox4, Strategy::kApprox8}) {
    const Gradients approx = RunForwardBackward(g, s, 16, gpu_, data);
    EXPECT_EQ(std::memcmp(&approx.loss, &exact.loss, sizeof(double)), 0)
        << planner::StrategyName(s) << ": " << approx.loss << " vs " << exact.loss;
    const double error = L2RelativeError(approx.grads, exact.grads);
    EXPECT_LT(error, previous_error) << planner::StrategyName(s) << "'s gradient error does not shrink with K";
    previous_error = error;
  }
}

// Invariant 4 on the GPU: checkpointing trains as exact does.
TEST_F(GpuTest, CheckpointTrainsAsExact) {
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 16, 3);
  const std::vector<double> exact = TrainLosses(g, Strategy::kExact, 16, gpu_, data, 3, 0.05);
  const std::vector<double> checkpoint = TrainLosses(g, Strategy::kCheckpoint, 16, gpu_, data, 3, 0.05);
  ASSERT_EQ(exact.size(), 3u);
  ASSERT_EQ(checkpoint.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(checkpoint[i], exact[i], 1e-4 * exact[i]) << "step " << i;
}

// approx4 learns: on one fixed batch its loss falls well below the start.
TEST_F(GpuTest, Approx4Trains) {
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 32, 4);
  const std::vector<double> losses = TrainLosses(g, Strategy::kApprox4, 32, gpu_, data, 30, 0.05);
  ASSERT_EQ(losses.size(), 30u);
  for (double l : losses) ASSERT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), 0.5 * losses.front()) << "first " << losses.front() << ", last " << losses.back();
}

// No step reads a buffer outside its lifetime: with every block NaN-poisoned
// outside it, the loss and the gradients are the same.
TEST_F(GpuTest, DebugPoisoningChangesNothing) {
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::ZooGraph("fmnist_resnet"));
  const Batch data = RandomBatch(g, 8, 5);
  for (Strategy s : {Strategy::kExact, Strategy::kApprox4, Strategy::kCheckpoint}) {
    const Gradients plain = RunForwardBackward(g, s, 8, gpu_, data);
    const Gradients poisoned = RunForwardBackward(g, s, 8, gpu_, data, /*debug=*/true);
    EXPECT_EQ(std::memcmp(&plain.loss, &poisoned.loss, sizeof(double)), 0) << planner::StrategyName(s);
    EXPECT_LT(L2RelativeError(poisoned.grads, plain.grads), 1e-5) << planner::StrategyName(s);
  }
}

// Invariant 1 on the GPU: the device memory a training executor takes is
// what its plan says.
//
// How it is measured. CudaDeviceBytesInUse is cudaMemGetInfo's total − free
// for the whole device. A fresh backend is created, then a warm-up executor
// of the same model, strategy and batch runs one training step and is
// destroyed: what stays allocated after that (the CUDA context, cuDNN and
// cuBLAS handles and whatever they allocate on first use) is the baseline.
// Then the measured executor is created and runs two training steps, the
// backend is synchronized, and measured = bytes in use − baseline. Planned
// = the plan's peak_bytes (arena + parameters + gradients + optimizer
// state). The device hands out memory in 2 MiB pages and the executor makes
// one allocation for each of those four regions, so measured is compared
// with the planned sizes each rounded up to 2 MiB, within 2 MiB.
TEST_F(GpuTest, MemoryMatchesThePlan) {
  absl::StatusOr<std::unique_ptr<Backend>> fresh = NewCudaBackend({});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  Backend* gpu = fresh->get();
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::ZooGraph("resnet56"));  // parameters of 3.4 MB: each region its own pages
  constexpr int64_t kBatch = 64;
  const Batch data = RandomBatch(g, kBatch, 6);
  auto round_up = [](int64_t bytes) { return (bytes + 2 * kMiB - 1) / (2 * kMiB) * (2 * kMiB); };
  for (Strategy s : {Strategy::kExact, Strategy::kApprox4}) {
    SCOPED_TRACE(planner::StrategyName(s));
    {
      std::unique_ptr<Executor> warmup = MakeExecutor(g, s, kBatch, gpu);
      ASSERT_NE(warmup, nullptr);
      ASSERT_TRUE(warmup->TrainStep(data.images.data(), data.labels.data(), 0.05).ok());
      gpu->Synchronize();
    }
    const int64_t baseline = CudaDeviceBytesInUse(0);
    ASSERT_GT(baseline, 0);
    std::unique_ptr<Executor> e = MakeExecutor(g, s, kBatch, gpu);
    ASSERT_NE(e, nullptr);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<StepResult> r = e->TrainStep(data.images.data(), data.labels.data(), 0.05);
      ASSERT_TRUE(r.ok()) << r.status();
    }
    gpu->Synchronize();
    const int64_t measured = CudaDeviceBytesInUse(0) - baseline;
    const v1::MemoryPlan& plan = e->plan();
    EXPECT_EQ(e->arena_bytes(), plan.arena_bytes());
    const int64_t planned = plan.peak_bytes();
    const int64_t paged = round_up(plan.arena_bytes()) + round_up(plan.parameter_bytes()) +
                          round_up(plan.gradient_bytes()) + round_up(plan.optimizer_state_bytes());
    const std::string report = absl::StrFormat(
        "measured %d B (in use %d − baseline %d); planned peak %d B = arena %d + parameters %d + gradients %d + "
        "optimizer state %d; in 2 MiB pages %d B",
        measured, measured + baseline, baseline, planned, plan.arena_bytes(), plan.parameter_bytes(),
        plan.gradient_bytes(), plan.optimizer_state_bytes(), paged);
    RecordProperty(absl::StrCat("memory_", planner::StrategyName(s)), report);
    std::printf("%s: %s\n", planner::StrategyName(s), report.c_str());
    EXPECT_GE(measured, planned - 2 * kMiB) << report;
    EXPECT_LE(std::llabs(measured - paged), 2 * kMiB) << report;
  }
  const absl::Status error = gpu->ConsumeError();
  EXPECT_TRUE(error.ok()) << error;
}

}  // namespace
}  // namespace slimtrain::engine::gpu_test
