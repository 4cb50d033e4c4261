// On a GPU: every workspace the CUDA backend reports (the cuDNN algorithm it
// chose, with its filter copy and padded input; cuBLAS's plans) is within
// CudaWorkspaceBound's, the cost model a server admits GPU jobs with
// (engine/cuda/workspace_bounds.h). Skips without a GPU; run for real by
// tools/device/check.sh.
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/workspace_bounds.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::cuda {
namespace {

TEST(WorkspaceBoundsGpuTest, EveryChosenWorkspaceIsWithinItsBound) {
  for (const bool tf32 : {false, true}) {
    absl::StatusOr<std::unique_ptr<Backend>> gpu = NewCudaBackend({0, tf32});
    if (!gpu.ok()) GTEST_SKIP() << "no GPU: " << gpu.status();
    const CudaWorkspaceBound bound;
    int checked = 0;
    for (const char* model : {"resnet20", "fmnist_resnet", "mobilenet_v2_cifar", "vit_tiny_cifar", "resnet50"}) {
      ASSERT_OK_AND_ASSIGN(const planner::Graph g, test_util::ZooGraph(model));
      for (const int64_t batch : {1, 32, 256}) {
        for (const planner::Node& n : g.nodes()) {
          for (const planner::Pass pass : {planner::Pass::kForward, planner::Pass::kBackward}) {
            const int64_t chosen = (*gpu)->WorkspaceBytes(g, n, batch, pass);
            const int64_t most = bound.WorkspaceBytes(g, n, batch, pass);
            SCOPED_TRACE(absl::StrCat(model, " batch ", batch, " ", n.name, tf32 ? " tf32" : ""));
            if (n.kind == planner::OpKind::kLinear) EXPECT_EQ(chosen, most);
            EXPECT_LE(chosen, most);
            checked += n.kind == planner::OpKind::kConv2d;
          }
        }
        ASSERT_TRUE((*gpu)->ConsumeError().ok());
      }
    }
    EXPECT_GT(checked, 100);
  }
}

}  // namespace
}  // namespace slimtrain::engine::cuda
