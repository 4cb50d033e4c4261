// engine/cuda/gpu_targets.h: the GPUs a job can run on, as the server's
// device pool (`slimtrain_worker --probe-gpus`) and a local `slimtrain plan
// --device cuda:N` see them. Without a GPU the probe says why, as the runtime
// does; on one (tools/device/check.sh) every GPU is measured with a backend
// running and released again.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/gpu_info.h"
#include "engine/cuda/gpu_targets.h"
#include "gtest/gtest.h"

namespace slimtrain::engine {
namespace {

TEST(GpuTargetsTest, WithoutAGpuTheProbeSaysWhy) {
  const absl::StatusOr<std::vector<cuda::GpuInfo>> gpus = cuda::ListGpus();
  if (gpus.ok()) GTEST_SKIP() << "this machine has " << gpus->size() << " GPU(s)";
  const absl::StatusOr<std::vector<UsableGpu>> usable = ProbeUsableGpus();
  ASSERT_FALSE(usable.ok());
  EXPECT_EQ(usable.status(), gpus.status());
  EXPECT_EQ(ProbeUsableGpus(0).status(), gpus.status());
}

TEST(GpuTargetsTest, EveryGpuIsMeasuredWithABackendRunning) {
  const absl::StatusOr<std::vector<cuda::GpuInfo>> gpus = cuda::ListGpus();
  if (!gpus.ok()) GTEST_SKIP() << "no GPU: " << gpus.status();
  const absl::StatusOr<std::vector<UsableGpu>> usable = ProbeUsableGpus();
  ASSERT_TRUE(usable.ok()) << usable.status();
  ASSERT_EQ(usable->size(), gpus->size()) << "a GPU where the CUDA backend did not start";
  for (size_t i = 0; i < usable->size(); ++i) {
    const UsableGpu& g = (*usable)[i];
    SCOPED_TRACE(g.name);
    EXPECT_EQ(g.index, (*gpus)[i].index);
    EXPECT_EQ(g.name, (*gpus)[i].name);
    EXPECT_EQ(g.total_bytes, (*gpus)[i].total_bytes);
    // A context with cuDNN and cuBLAS loaded takes some memory, and far from all of it.
    EXPECT_GT(g.overhead_bytes, 0);
    EXPECT_LT(g.overhead_bytes, g.total_bytes / 2);
    // The backend is released again: what stays taken is at most what was
    // taken while it ran (the context may stay).
    EXPECT_LE(CudaDeviceBytesInUse(g.index), g.overhead_bytes);
  }
  // One GPU alone, and one past the last named with those there are.
  const absl::StatusOr<std::vector<UsableGpu>> last = ProbeUsableGpus(gpus->back().index);
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(last->size(), 1u);
  EXPECT_EQ(last->front().index, gpus->back().index);
  const absl::StatusOr<std::vector<UsableGpu>> none = ProbeUsableGpus(gpus->back().index + 1);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound) << none.status();
  EXPECT_NE(none.status().message().find(absl::StrCat("this machine has cuda:0 (", gpus->front().name, ")")),
            std::string::npos)
      << none.status();
}

}  // namespace
}  // namespace slimtrain::engine
