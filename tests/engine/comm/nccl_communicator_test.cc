// NcclCommunicator: without a GPU (or CUDA in the build) creation is
// UNAVAILABLE with the reason; on a GPU, a job of one rank (bootstrapped
// over the local communicator) runs every collective on device memory.
// Tagged "gpu": run for real on the GPU machine.
#include "engine/comm/nccl_communicator.h"

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "engine/comm/communicator.h"
#include "engine/cuda/gpu_info.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_assertions.h"

#if SLIMTRAIN_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace slimtrain::engine::comm {
namespace {

TEST(NcclCommunicatorTest, WithoutAGpuCreationIsUnavailableSayingWhy) {
  if (cuda::ListGpus().ok()) GTEST_SKIP() << "a GPU is present";
  LocalCommunicator bootstrap;
  const auto nccl = NcclCommunicator::Create(bootstrap, 0, nullptr, {});
  EXPECT_EQ(nccl.status().code(), absl::StatusCode::kUnavailable) << nccl.status();
#if SLIMTRAIN_HAVE_CUDA
  EXPECT_THAT(nccl.status().message(), ::testing::HasSubstr("NCCL on rank 0 of 1: "));
#else
  EXPECT_THAT(nccl.status().message(), ::testing::HasSubstr("this build has no CUDA toolkit"));
#endif
  std::printf("the reason: %s\n", std::string(nccl.status().message()).c_str());
}

TEST(NcclCommunicatorTest, RefusesADeviceBootstrap) {
  // A bootstrap must take host buffers: an NcclCommunicator cannot bootstrap
  // another. Checked before anything else, so it runs without a GPU too.
  class DeviceOnly final : public Communicator {
   public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    int local_rank() const override { return 0; }
    BufferMemory buffer_memory() const override { return BufferMemory::kDevice; }

   protected:
    std::unique_ptr<PendingCollective> Start(const Collective&) override {
      return FinishedCollective(absl::OkStatus());
    }
  };
  DeviceOnly bootstrap;
  const auto nccl = NcclCommunicator::Create(bootstrap, 0, nullptr, {});
#if SLIMTRAIN_HAVE_CUDA
  EXPECT_EQ(nccl.status().code(), absl::StatusCode::kInvalidArgument) << nccl.status();
#else
  EXPECT_EQ(nccl.status().code(), absl::StatusCode::kUnavailable) << nccl.status();
#endif
}

#if SLIMTRAIN_HAVE_CUDA
// GPU test: skipped where no GPU is present.
TEST(NcclCommunicatorTest, OneRankRunsEveryCollectiveOnDeviceMemory) {
  if (!cuda::ListGpus().ok()) GTEST_SKIP() << "no GPU: " << cuda::ListGpus().status().message();
  LocalCommunicator bootstrap;
  CommunicatorOptions options;
  options.timeout = absl::Seconds(60);
  auto created = NcclCommunicator::Create(bootstrap, 0, nullptr, options);
  if (!created.ok() && absl::StrContains(created.status().message(), "cannot be loaded")) {
    GTEST_SKIP() << "a GPU but no libnccl here: " << created.status().message();
  }
  ASSERT_TRUE(created.ok()) << created.status();
  NcclCommunicator& nccl = **created;
  EXPECT_EQ(nccl.buffer_memory(), BufferMemory::kDevice);

  constexpr int64_t kCount = 1 << 20;
  std::vector<float> host(kCount);
  for (int64_t i = 0; i < kCount; ++i) host[i] = static_cast<float>(i % 977);
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, kCount * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), kCount * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);

  // The sum over one rank is its own value; two in flight at once.
  std::unique_ptr<PendingCollective> first = nccl.StartAllReduceSum(device, kCount / 2);
  std::unique_ptr<PendingCollective> second = nccl.StartAllReduceSum(device + kCount / 2, kCount / 2);
  EXPECT_TRUE(second->Wait().ok());
  EXPECT_TRUE(first->Wait().ok());
  EXPECT_TRUE(nccl.Broadcast(device, 4096, 0).ok());
  EXPECT_TRUE(nccl.Barrier().ok());
  EXPECT_TRUE(nccl.AllReduceSum(device, 0).ok());
  std::vector<float> back(kCount);
  ASSERT_EQ(cudaMemcpy(back.data(), device, kCount * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(back, host);
  EXPECT_EQ(nccl.Broadcast(device, 4, 1).code(), absl::StatusCode::kInvalidArgument);
  cudaFree(device);
}
#endif

}  // namespace
}  // namespace slimtrain::engine::comm
