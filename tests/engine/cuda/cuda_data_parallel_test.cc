// Data-parallel training on the CUDA backend over NCCL: the executor's
// gradient buckets packed, summed and unpacked in device memory by the
// backend's kernels and NcclCommunicator train as one process does, and a
// communicator that cannot reach device memory (MPI's host buffers), or
// sync batch norm's host path, is refused naming why. Skipped without a GPU
// (cuda_test_util.h) or without libnccl.
#include <memory>
#include <vector>

#include "engine/comm/communicator.h"
#include "engine/comm/nccl_communicator.h"
#include "gmock/gmock.h"
#include "tests/engine/cuda/cuda_test_util.h"
#include "tests/engine/executor_test_util.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::gpu_test {
namespace {

using ::testing::HasSubstr;
using testing::Batch;
using testing::L2RelativeError;
using testing::RandomBatch;

constexpr const char* kModel = test_util::kConvNetBnModel;

constexpr int64_t kBatch = 4;
constexpr int kSteps = 3;

// Two ranks on one GPU that hold the same gradients: each collective is the
// one-rank NcclCommunicator's (in device memory, after the backend's
// stream), then an all-reduce's sum is doubled by the backend (the second
// rank's equal share). The mean over the two is then each rank's gradient,
// so a run must match one process's. Counts the elements summed.
class TwinCommunicator final : public comm::Communicator {
 public:
  TwinCommunicator(comm::Communicator* nccl, Backend* backend) : nccl_(nccl), backend_(backend) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int local_rank() const override { return 0; }
  comm::BufferMemory buffer_memory() const override { return nccl_->buffer_memory(); }

  int64_t elements = 0;

 protected:
  std::unique_ptr<comm::PendingCollective> Start(const Collective& op) override {
    switch (op.kind) {
      case Collective::Kind::kAllReduceSum: {
        elements += op.count;
        absl::Status s = op.type == ElementType::kFloat64
                             ? nccl_->AllReduceSum(static_cast<double*>(op.data), op.count)
                             : nccl_->AllReduceSum(static_cast<float*>(op.data), op.count);
        if (s.ok()) backend_->Copy(op.count, op.data, op.data, /*accumulate=*/true);  // + the twin's
        return comm::FinishedCollective(s);
      }
      case Collective::Kind::kBroadcast:
        return comm::FinishedCollective(nccl_->Broadcast(op.data, op.count, op.root));
      case Collective::Kind::kBarrier:
        return comm::FinishedCollective(nccl_->Barrier());
    }
    return comm::FinishedCollective(absl::InternalError("unknown collective"));
  }

 private:
  comm::Communicator* nccl_;
  Backend* backend_;
};

// A communicator of two ranks whose buffers are `memory`: what the executor
// checks before anything runs (never started here).
class TwoRanksOf final : public comm::Communicator {
 public:
  explicit TwoRanksOf(comm::BufferMemory memory) : memory_(memory) {}
  int rank() const override { return 0; }
  int size() const override { return 2; }
  int local_rank() const override { return 0; }
  comm::BufferMemory buffer_memory() const override { return memory_; }

 protected:
  std::unique_ptr<comm::PendingCollective> Start(const Collective&) override {
    return comm::FinishedCollective(absl::InternalError("not for running"));
  }

 private:
  comm::BufferMemory memory_;
};

// Every value of the parameter region after kSteps steps on one batch
// (rank 0's weights broadcast first, as the trainer does).
std::vector<double> Train(Executor& e, const Batch& data) {
  EXPECT_TRUE(e.BroadcastParameters(0).ok());
  for (int step = 0; step < kSteps; ++step) {
    absl::StatusOr<StepResult> r = e.TrainStep(data.images.data(), data.labels.data(), 0.05);
    EXPECT_TRUE(r.ok()) << r.status();
  }
  std::vector<double> values;
  for (int64_t i = 0; i < e.params().total_count(); ++i) values.push_back(e.params().Get(i));
  return values;
}

class NcclTrainingTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto created = comm::NcclCommunicator::Create(bootstrap_, 0, gpu_->stream(), {});
    if (!created.ok()) GTEST_SKIP() << "a GPU but no NCCL here: " << created.status();
    nccl_ = *std::move(created);
  }
  comm::LocalCommunicator bootstrap_;
  std::unique_ptr<comm::NcclCommunicator> nccl_;
};

TEST_F(NcclTrainingTest, TwoRanksOverNcclTrainAsOneProcess) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::GraphFromText(kModel));
  const Batch data = RandomBatch(g, kBatch, /*seed=*/3);
  for (bool overlap : {true, false}) {
    SCOPED_TRACE(overlap ? "buckets during backward" : "buckets after backward");
    ExecutorOptions alone;
    alone.seed = 7;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> one,
                         Executor::Create(g, Strategy::kExact, kBatch, gpu_, alone));
    TwinCommunicator twin(nccl_.get(), gpu_);
    ExecutorOptions ranked = alone;
    ranked.communicator = &twin;
    ranked.bucket_bytes = 256;
    ranked.overlap_communication = overlap;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> two,
                         Executor::Create(g, Strategy::kExact, kBatch, gpu_, ranked));
    ASSERT_GT(two->gradient_buckets().size(), 1u);
    const std::vector<double> trained_two = Train(*two, data);
    const std::vector<double> trained_one = Train(*one, data);
    EXPECT_LT(L2RelativeError(trained_two, trained_one), 1e-5);
    EXPECT_EQ(twin.elements, kSteps * g.parameter_count()) << "every trainable element summed once a step";
    EXPECT_TRUE(gpu_->ConsumeError().ok());
  }
}

// One rank over NCCL: what `slimtrain train --ranks 1 --backend cuda` gets;
// accepted, and training alone.
TEST_F(NcclTrainingTest, OneRankOverNcclTrainsAsWithout) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::GraphFromText(kModel));
  const Batch data = RandomBatch(g, kBatch, /*seed=*/4);
  ExecutorOptions alone;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> one, Executor::Create(g, Strategy::kExact, kBatch, gpu_, alone));
  ExecutorOptions with = alone;
  with.communicator = nccl_.get();
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<Executor> nccl, Executor::Create(g, Strategy::kExact, kBatch, gpu_, with));
  EXPECT_LT(L2RelativeError(Train(*nccl, data), Train(*one, data)), 1e-6);
}

TEST_F(GpuTest, ACommunicatorOfHostBuffersAndSyncBatchNormAreRefused) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::GraphFromText(kModel));
  TwoRanksOf host(comm::BufferMemory::kHost);
  ExecutorOptions options;
  options.communicator = &host;
  absl::StatusOr<std::unique_ptr<Executor>> refused = Executor::Create(g, Strategy::kExact, kBatch, gpu_, options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("which this communicator (host buffers, MPI) cannot reach"));
  TwoRanksOf device(comm::BufferMemory::kDevice);
  options.communicator = &device;
  options.sync_batch_norm = true;
  refused = Executor::Create(g, Strategy::kExact, kBatch, gpu_, options);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(refused.status().message(), HasSubstr("sync batch norm on"));
}

}  // namespace
}  // namespace slimtrain::engine::gpu_test
