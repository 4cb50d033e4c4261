// The executor on a backend whose kernel memory is not the host's (the CUDA
// backend's situation), checked on the CPU: a reference backend that says
// host_addressable() == false and keeps its arena and parameters in
// allocations of its own. The executor must then move inputs, labels, the
// loss and the probabilities through CopyToDevice/CopyToHost, and the
// parameter region must keep its host and device copies in step (host
// writes pushed before the next kernel, kernel results pulled before a
// host read): any missed copy changes a loss or a weight, and the run would
// no longer match the plain reference backend bit for bit.
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/checkpoint.h"
#include "engine/cpu/reference_backend.h"
#include "engine/executor.h"
#include "gtest/gtest.h"
#include "tests/engine/executor_test_util.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine {
namespace {

using planner::Graph;
using planner::Strategy;

// Reference kernels over "device" memory: separate allocations that host
// code may only reach through the copies, which this backend counts.
class DeviceLikeBackend : public ReferenceBackend {
 public:
  DeviceLikeBackend() : ReferenceBackend(DType::kF32) {}
  bool host_addressable() const override { return false; }
  absl::StatusOr<DeviceBuffer> Allocate(int64_t bytes) override {
    allocated_bytes += bytes;
    ++allocations;
    return ReferenceBackend::Allocate(bytes);
  }
  void CopyToDevice(void* dst, const void* src, int64_t bytes) override {
    ++to_device;
    ReferenceBackend::CopyToDevice(dst, src, bytes);
  }
  void CopyToHost(void* dst, const void* src, int64_t bytes) override {
    ++to_host;
    ReferenceBackend::CopyToHost(dst, src, bytes);
  }
  int64_t allocated_bytes = 0, allocations = 0, to_device = 0, to_host = 0;
};

// Convolution, BN→ReLU, residual add, pooling, dropout and a classifier.
constexpr char kModel[] = R"pb(
  name: "small"
  input { dims: 2 dims: 8 dims: 8 }
  num_classes: 5
  layers { name: "conv1" inputs: "input" conv2d { out_channels: 4 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "bn1" inputs: "conv1" batch_norm {} }
  layers { name: "relu1" inputs: "bn1" relu {} }
  layers { name: "conv2" inputs: "relu1" conv2d { out_channels: 4 kernel_size: 3 padding: 1 } }
  layers { name: "bn2" inputs: "conv2" batch_norm {} }
  layers { name: "relu2" inputs: "bn2" relu {} }
  layers { name: "add" inputs: "relu2" inputs: "relu1" add {} }
  layers { name: "pool" inputs: "add" max_pool { kernel_size: 2 } }
  layers { name: "drop" inputs: "pool" dropout { p: 0.25 } }
  layers { name: "flat" inputs: "drop" flatten {} }
  layers { name: "fc" inputs: "flat" linear { out_features: 5 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

constexpr int64_t kBatch = 6;

using engine::testing::Batch;
using engine::testing::RandomBatch;

std::unique_ptr<Executor> Make(const Graph& g, Strategy s, Backend* backend) {
  ExecutorOptions options;
  options.seed = 3;
  options.optimizer.kind = "adam";  // two state buffers, both on the device
  absl::StatusOr<std::unique_ptr<Executor>> e = Executor::Create(g, s, kBatch, backend, options);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

std::vector<double> AllParams(const ParameterRegion& p) {
  std::vector<double> out(p.total_count());
  for (int64_t i = 0; i < p.total_count(); ++i) out[i] = p.Get(i);
  return out;
}

class DeviceMemoryTest : public ::testing::TestWithParam<Strategy> {};

TEST_P(DeviceMemoryTest, TrainsBitForBitAsTheHostBackend) {
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::GraphFromText(kModel));
  ReferenceBackend host(DType::kF32);
  DeviceLikeBackend device;
  std::unique_ptr<Executor> a = Make(g, GetParam(), &host), b = Make(g, GetParam(), &device);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  // The arena and the three parameter buffers (values, gradients, state),
  // each allocated once.
  EXPECT_EQ(device.allocations, 4);
  EXPECT_EQ(device.allocated_bytes,
            a->plan().arena_bytes() + b->params().bytes() + 3 * b->params().trainable_count() * 4);
  for (int step = 0; step < 4; ++step) {
    const Batch d = RandomBatch(g, kBatch, step);
    absl::StatusOr<StepResult> ra = a->TrainStep(d.images.data(), d.labels.data(), 0.01);
    absl::StatusOr<StepResult> rb = b->TrainStep(d.images.data(), d.labels.data(), 0.01);
    ASSERT_TRUE(ra.ok() && rb.ok()) << ra.status() << rb.status();
    EXPECT_EQ(ra->loss, rb->loss) << "step " << step;
    EXPECT_EQ(ra->correct, rb->correct);
    if (step == 1) {
      // A host write between steps (as a checkpoint restore makes) must
      // reach the kernels of the next step.
      a->params().Set(0, 0.25);
      b->params().Set(0, 0.25);
    }
  }
  EXPECT_EQ(AllParams(a->params()), AllParams(b->params()));
  EXPECT_GT(device.to_host, 0);

  const Batch d = RandomBatch(g, kBatch, 99);
  absl::StatusOr<StepResult> ea = a->Evaluate(d.images.data(), d.labels.data(), 4);
  absl::StatusOr<StepResult> eb = b->Evaluate(d.images.data(), d.labels.data(), 4);
  ASSERT_TRUE(ea.ok() && eb.ok());
  EXPECT_EQ(ea->loss, eb->loss);
  std::vector<float> la(kBatch * 5), lb(kBatch * 5);
  ASSERT_TRUE(a->Predict(d.images.data(), la.data()).ok());
  ASSERT_TRUE(b->Predict(d.images.data(), lb.data()).ok());
  EXPECT_EQ(la, lb);
}

TEST_P(DeviceMemoryTest, CheckpointResumesOnTheDevice) {
  ASSERT_OK_AND_ASSIGN(const Graph g, test_util::GraphFromText(kModel));
  DeviceLikeBackend device;
  std::unique_ptr<Executor> whole = Make(g, GetParam(), &device);
  ASSERT_NE(whole, nullptr);
  const std::string path = absl::StrCat(::testing::TempDir(), "/device_", static_cast<int>(GetParam()), ".ckpt");
  for (int step = 0; step < 3; ++step) {
    const Batch d = RandomBatch(g, kBatch, step);
    ASSERT_TRUE(whole->TrainStep(d.images.data(), d.labels.data(), 0.01).ok());
    if (step == 1) {
      TrainingState state;
      state.step = whole->steps_run();
      ASSERT_TRUE(SaveCheckpoint(path, whole->params(), state).ok());
    }
  }
  std::unique_ptr<Executor> resumed = Make(g, GetParam(), &device);
  ASSERT_NE(resumed, nullptr);
  absl::StatusOr<TrainingState> state = LoadCheckpoint(path, resumed->params());
  ASSERT_TRUE(state.ok()) << state.status();
  resumed->set_steps_run(state->step);
  const Batch d = RandomBatch(g, kBatch, 2);
  ASSERT_TRUE(resumed->TrainStep(d.images.data(), d.labels.data(), 0.01).ok());
  EXPECT_EQ(AllParams(whole->params()), AllParams(resumed->params()));
}

INSTANTIATE_TEST_SUITE_P(Strategies, DeviceMemoryTest,
                         ::testing::Values(Strategy::kExact, Strategy::kApprox4, Strategy::kCheckpoint),
                         [](const ::testing::TestParamInfo<Strategy>& info) {
                           return std::string(planner::StrategyName(info.param));
                         });

}  // namespace
}  // namespace slimtrain::engine
