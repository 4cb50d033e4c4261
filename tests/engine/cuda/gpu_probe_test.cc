// The CUDA-linked probe runs on any machine: without a GPU (or without CUDA in
// the build) it says so and exits 0; with one, its kernel computes correctly.
#include <string>

#include "engine/cuda/gpu_info.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::engine::cuda {
namespace {

using ::slimtrain::test_util::CommandResult;
using ::slimtrain::test_util::RunCommand;

TEST(GpuProbeTest, ReportsGpusOrTheirAbsenceAndExitsZero) {
  const CommandResult run = RunCommand("engine/cuda/gpu_probe");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("slimtrain GPU probe: " + CudaBuildDescription()),
            std::string::npos)
      << run.output;
  if (ListGpus().ok()) {
    EXPECT_NE(run.output.find("GPU 0:"), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find("probe kernel: ok"), run.output.find("probe kernel:"))
        << run.output;
  } else {
    EXPECT_NE(run.output.find("no GPU present"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("training will use the CPU"), std::string::npos) << run.output;
  }
}

TEST(GpuInfoTest, NoGpuIsUnavailableWithAReason) {
  auto gpus = ListGpus();
  if (gpus.ok()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(gpus.status().code(), absl::StatusCode::kUnavailable) << gpus.status();
  EXPECT_FALSE(gpus.status().message().empty());
}

// GPU test: skipped where no GPU is present.
TEST(GpuInfoTest, ProbeKernelComputesSaxpyOnEveryGpu) {
  auto gpus = ListGpus();
  if (!gpus.ok()) GTEST_SKIP() << "no GPU: " << gpus.status().message();
  for (const GpuInfo& gpu : *gpus) {
    EXPECT_GT(gpu.total_bytes, 0);
    EXPECT_TRUE(RunProbeKernel(gpu.index).ok()) << gpu.name;
  }
}

}  // namespace
}  // namespace slimtrain::engine::cuda
