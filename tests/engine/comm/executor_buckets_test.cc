// The executor's gradient buckets, in one process: a communicator of two
// ranks that hold the same gradients (MirrorCommunicator: the sum is twice
// this rank's, exactly) must train exactly as one process does, so the
// gradients copied into the plan's ALLREDUCE buffers come back as they
// left, every element once; NaN-poisoning every block outside its lifetime
// changes nothing, so a bucket's buffer lives from its packing to its
// unpacking. A stored data-parallel plan runs as the plan it is
// (CreateFromPlan derives the same buckets), and one for other ranks than
// the communicator's is refused naming both.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/comm/communicator.h"
#include "engine/cpu/fast_backend.h"
#include "engine/cpu/reference_backend.h"
#include "engine/executor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/engine/executor_test_util.h"
#include "tests/engine/comm/mirror_communicator.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine {
namespace {

using ::testing::HasSubstr;

using test_util::MirrorCommunicator;

constexpr const char* kModel = test_util::kConvNetBnModel;

constexpr int64_t kBatch = 4;
constexpr int kSteps = 3;

// Every value of the parameter region after kSteps steps on one batch.
std::vector<double> Train(Executor& e, const testing::Batch& data) {
  for (int step = 0; step < kSteps; ++step) {
    absl::StatusOr<StepResult> r = e.TrainStep(data.images.data(), data.labels.data(), 0.05);
    EXPECT_TRUE(r.ok()) << r.status();
  }
  std::vector<double> values;
  for (int64_t i = 0; i < e.params().total_count(); ++i) values.push_back(e.params().Get(i));
  return values;
}

struct Setting {
  planner::Strategy strategy;
  DType dtype;
  int64_t bucket_bytes;
  bool overlap;
  bool fast = false;  // the fast CPU backend (float32), else the reference one
};

std::unique_ptr<Backend> BackendFor(const Setting& s) {
  if (s.fast) return std::make_unique<FastBackend>(1);
  return std::make_unique<ReferenceBackend>(s.dtype);
}

TEST(ExecutorBucketsTest, TwoMirroredRanksTrainExactlyAsOneProcess) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::GraphFromText(kModel));
  const testing::Batch data = testing::RandomBatch(g, kBatch, /*seed=*/3);
  for (const Setting& s : {Setting{planner::Strategy::kExact, DType::kF32, 64, true},
                           Setting{planner::Strategy::kExact, DType::kF64, 64, false},
                           Setting{planner::Strategy::kCheckpoint, DType::kF32, 1024, true},
                           Setting{planner::Strategy::kApprox4, DType::kF32, planner::kDefaultBucketBytes, true},
                           Setting{planner::Strategy::kApprox4, DType::kF64, 512, false},
                           Setting{planner::Strategy::kExact, DType::kF32, 64, true, /*fast=*/true},
                           Setting{planner::Strategy::kApprox4, DType::kF32, 1024, false, /*fast=*/true}}) {
    SCOPED_TRACE(absl::StrCat(planner::StrategyName(s.strategy), s.dtype == DType::kF64 ? ", float64" : "",
                              ", ", s.bucket_bytes, "-byte buckets", s.overlap ? "" : ", after backward",
                              s.fast ? ", fast backend" : ""));
    const std::unique_ptr<Backend> owned = BackendFor(s);
    Backend& backend = *owned;
    ExecutorOptions alone;
    alone.seed = 7;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> one, Executor::Create(g, s.strategy, kBatch, &backend, alone));
    MirrorCommunicator mirror(2);
    ExecutorOptions ranked = alone;
    ranked.communicator = &mirror;
    ranked.bucket_bytes = s.bucket_bytes;
    ranked.overlap_communication = s.overlap;
    ranked.debug = true;  // every block NaN outside its lifetime
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> two, Executor::Create(g, s.strategy, kBatch, &backend, ranked));
    const v1::MemoryPlan& plan = two->plan();
    EXPECT_EQ(plan.ranks(), 2);
    const auto& buckets = two->gradient_buckets();
    ASSERT_FALSE(buckets.empty());
    EXPECT_EQ(plan.allreduce_buckets(), static_cast<int>(buckets.size()));
    for (const planner::GradientBucket& b : buckets) {
      EXPECT_EQ(plan.buffers(b.buffer).kind(), v1::Buffer::ALLREDUCE);
    }
    EXPECT_EQ(two->arena_bytes(), plan.arena_bytes());
    EXPECT_EQ(Train(*two, data), Train(*one, data)) << "the mean of two equal gradients is each";
    // Every bucket summed once a step, every trainable element in one.
    EXPECT_EQ(mirror.all_reduces, kSteps * static_cast<int64_t>(buckets.size()));
    EXPECT_EQ(mirror.elements, kSteps * g.parameter_count());
  }
}

TEST(ExecutorBucketsTest, AStoredPlanRunsItsOwnBucketsForItsRanks) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::GraphFromText(kModel));
  const testing::Batch data = testing::RandomBatch(g, kBatch, /*seed=*/4);
  ReferenceBackend backend(DType::kF32);
  MirrorCommunicator mirror(2);
  ExecutorOptions options;
  options.communicator = &mirror;
  options.bucket_bytes = 256;
  options.overlap_communication = false;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> planned,
                       Executor::Create(g, planner::Strategy::kExact, kBatch, &backend, options));
  // Run from the stored plan with other bucket options: the plan's hold.
  ExecutorOptions other = options;
  other.bucket_bytes = planner::kDefaultBucketBytes;
  other.overlap_communication = true;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> stored, Executor::CreateFromPlan(g, planned->plan(), &backend, other));
  EXPECT_EQ(stored->plan().SerializeAsString(), planned->plan().SerializeAsString());
  ASSERT_EQ(stored->gradient_buckets().size(), planned->gradient_buckets().size());
  ASSERT_GT(planned->gradient_buckets().size(), 1u);
  for (size_t k = 0; k < planned->gradient_buckets().size(); ++k) {
    const planner::GradientBucket& a = planned->gradient_buckets()[k];
    const planner::GradientBucket& b = stored->gradient_buckets()[k];
    EXPECT_EQ(a.buffer, b.buffer);
    EXPECT_EQ(a.ready_step, b.ready_step);
    EXPECT_EQ(a.ranges, b.ranges);
  }
  EXPECT_EQ(Train(*stored, data), Train(*planned, data));

  // Ranks the communicator does not have: refused before anything runs.
  ExecutorOptions alone;
  absl::StatusOr<std::unique_ptr<Executor>> without = Executor::CreateFromPlan(g, planned->plan(), &backend, alone);
  EXPECT_EQ(without.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(without.status().message(),
              HasSubstr("the plan's ranks (data-parallel processes), 2, are not the communicator's size, 1"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> single,
                       Executor::Create(g, planner::Strategy::kExact, kBatch, &backend, alone));
  MirrorCommunicator four(4);
  ExecutorOptions with_four = alone;
  with_four.communicator = &four;
  absl::StatusOr<std::unique_ptr<Executor>> refused = Executor::CreateFromPlan(g, single->plan(), &backend, with_four);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("the plan's ranks (data-parallel processes), 1, are not the communicator's size, 4"));
}

// Three ranks: the backend's scaled copy back gives each gradient as the
// host loop it replaced did, float(sum) * float(1/3) in float32 and
// sum * (1/3) in float64, bit for bit, on both CPU backends.
TEST(ExecutorBucketsTest, ThreeRanksMeanIsTheSumTimesOneThirdExactly) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::GraphFromText(kModel));
  const testing::Batch data = testing::RandomBatch(g, kBatch, /*seed=*/5);
  for (const Setting& s : {Setting{planner::Strategy::kExact, DType::kF32, 256, true},
                           Setting{planner::Strategy::kExact, DType::kF64, 256, false},
                           Setting{planner::Strategy::kExact, DType::kF32, 256, true, /*fast=*/true}}) {
    SCOPED_TRACE(absl::StrCat(s.dtype == DType::kF64 ? "float64" : "float32", s.fast ? ", fast backend" : ""));
    const std::unique_ptr<Backend> owned = BackendFor(s);
    ExecutorOptions alone;
    alone.seed = 9;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> one,
                         Executor::Create(g, s.strategy, kBatch, owned.get(), alone));
    MirrorCommunicator mirror(3);
    ExecutorOptions ranked = alone;
    ranked.communicator = &mirror;
    ranked.bucket_bytes = s.bucket_bytes;
    ranked.overlap_communication = s.overlap;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> three,
                         Executor::Create(g, s.strategy, kBatch, owned.get(), ranked));
    ASSERT_GT(three->gradient_buckets().size(), 1u);
    ASSERT_TRUE(one->TrainStep(data.images.data(), data.labels.data(), 0.05).ok());
    ASSERT_TRUE(three->TrainStep(data.images.data(), data.labels.data(), 0.05).ok());
    const std::vector<double> grads = one->params().Gradients();
    const std::vector<double> means = three->params().Gradients();
    ASSERT_EQ(means.size(), grads.size());
    int64_t exact = 0;
    for (size_t i = 0; i < grads.size(); ++i) {
      double expected;
      if (s.dtype == DType::kF64) {
        expected = (grads[i] * 3) * (1.0 / 3);
      } else {
        const float sum = static_cast<float>(grads[i]) * 3.0f;
        expected = sum * static_cast<float>(1.0 / 3);
      }
      if (means[i] == expected) ++exact;
    }
    EXPECT_EQ(exact, static_cast<int64_t>(grads.size())) << "gradients not the sum times 1/3 bit for bit";
    EXPECT_EQ(mirror.elements, g.parameter_count());
  }
}

// A communicator must reach the backend's memory: a device one (NCCL) on a
// CPU backend is refused naming why, before anything runs; as is sync
// batch norm's host path anywhere but a host-addressable backend (here
// only the refusal on the CPU's side can be checked; the CUDA test covers
// the other).
TEST(ExecutorBucketsTest, ACommunicatorThatCannotReachTheBackendsMemoryIsRefused) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::GraphFromText(kModel));
  ReferenceBackend backend(DType::kF32);
  MirrorCommunicator device(2, comm::BufferMemory::kDevice);
  ExecutorOptions options;
  options.communicator = &device;
  absl::StatusOr<std::unique_ptr<Executor>> refused =
      Executor::Create(g, planner::Strategy::kExact, kBatch, &backend, options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("the communicator takes device buffers (NCCL)"));
  MirrorCommunicator either(2, comm::BufferMemory::kEither);
  options.communicator = &either;
  EXPECT_TRUE(Executor::Create(g, planner::Strategy::kExact, kBatch, &backend, options).ok());
}

}  // namespace
}  // namespace slimtrain::engine
