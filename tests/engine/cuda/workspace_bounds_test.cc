// The CUDA backend's workspace formulas and bounds, computed without a GPU
// (engine/cuda/workspace_bounds.h): each checked by hand on small layers, and
// a plan with CudaWorkspaceBound holds every conv2d pass at its bound.
#include "engine/cuda/workspace_bounds.h"

#include <string>

#include "gtest/gtest.h"
#include "planner/planner.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine::cuda {
namespace {

using planner::Graph;
using test_util::GraphFromText;

constexpr char kModel[] = R"pb(
  name: "bounds"
  input { dims: 3 dims: 32 dims: 32 }
  num_classes: 10
  layers { name: "conv" inputs: "input" conv2d { out_channels: 16 kernel_size: 3 padding: 1 bias: false } }
  layers { name: "asym" inputs: "conv" conv2d { out_channels: 8 kernel_size: 2 pads: [0, 0, 1, 1] groups: 2 } }
  layers { name: "fc" inputs: "asym" linear { out_features: 10 } }
  layers { name: "loss" inputs: "fc" softmax_cross_entropy {} }
)pb";

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(WorkspaceBoundsTest, AConvsCapIsTheLargerOf64MiBAndItsLargestTensor) {
  ASSERT_OK_AND_ASSIGN(Graph g, GraphFromText(kModel));
  const planner::Node& conv = g.node(g.Find("conv"));
  // y (16,32,32) is its largest tensor: 65,536 bytes an example.
  EXPECT_EQ(ConvWorkspaceCap(conv, 128), 64 * kMiB);      // 8 MiB of y
  EXPECT_EQ(ConvWorkspaceCap(conv, 1024), 64 * kMiB);     // exactly 64 MiB
  EXPECT_EQ(ConvWorkspaceCap(conv, 2048), 128 * kMiB);
  // The filter copy, 16·3·3·3 floats = 1,728 bytes, rounds up to 1,792.
  EXPECT_EQ(ConvWorkspaceBound(conv, 128), 1792 + 64 * kMiB);
  EXPECT_EQ(ConvWorkspaceBound(conv, 2048), 1792 + 128 * kMiB);
}

TEST(WorkspaceBoundsTest, AsymmetricPaddingAddsTheZeroPaddedInput) {
  ASSERT_OK_AND_ASSIGN(Graph g, GraphFromText(kModel));
  const planner::Node& asym = g.node(g.Find("asym"));
  // x (16,32,32) padded at the bottom and right to (16,33,33): 17,424 floats
  // an example, the largest tensor; filter 8·(16/2)·2·2 = 256 floats, 1,024 bytes.
  const int64_t padded = 4 * 16 * 33 * 33;
  EXPECT_EQ(ConvWorkspaceCap(asym, 4096), 4096 * padded);
  EXPECT_EQ(ConvWorkspaceBound(asym, 4096), 1024 + 4096 * padded + 4096 * padded);
  EXPECT_EQ(ConvWorkspaceBound(asym, 8), 1024 + RoundUpWorkspace(8 * padded) + 64 * kMiB);
}

TEST(WorkspaceBoundsTest, ALinearOnAnImageFlattensOrPermutesInItsWorkspace) {
  ASSERT_OK_AND_ASSIGN(Graph g, GraphFromText(kModel));
  const planner::Node& fc = g.node(g.Find("fc"));  // (8,32,32) → 10
  const int64_t features = 8 * 32 * 32;
  EXPECT_EQ(LinearWorkspaceBytes(fc, 4), 4 * features * 4);    // batch <= outputs: the flattened input
  EXPECT_EQ(LinearWorkspaceBytes(fc, 64), 10 * features * 4);  // the permuted weight
  // Features alone, or one channel, need none.
  ASSERT_OK_AND_ASSIGN(Graph small, test_util::ZooGraph("resnet20"));
  for (const planner::Node& n : small.nodes()) {
    if (n.kind == planner::OpKind::kLinear) EXPECT_EQ(LinearWorkspaceBytes(n, 128), 0) << n.name;
  }
}

TEST(WorkspaceBoundsTest, APlanWithTheBoundReservesItForEveryConvPass) {
  ASSERT_OK_AND_ASSIGN(Graph g, test_util::ZooGraph("resnet20"));
  planner::PlanOptions options;
  options.batch_size = 128;
  options.include_buffers = true;
  const CudaWorkspaceBound bound;
  ASSERT_OK_AND_ASSIGN(v1::MemoryPlan with, planner::PlanMemory(g, planner::Strategy::kExact, options, bound));
  ASSERT_OK_AND_ASSIGN(v1::MemoryPlan without,
                       planner::PlanMemory(g, planner::Strategy::kExact, options, planner::DefaultCostModel()));
  int workspaces = 0;
  for (const v1::Buffer& b : with.buffers()) {
    if (b.kind() != v1::Buffer::WORKSPACE) continue;
    const int id = g.Find(b.layer());
    ASSERT_GE(id, 0) << b.name();
    EXPECT_EQ(b.size_bytes(), ConvWorkspaceBound(g.node(id), 128)) << b.name();
    ++workspaces;
  }
  EXPECT_GT(workspaces, 19 * 2 - 1);  // forward and backward of 19 convs (the first's backward has no data pass)
  EXPECT_GE(with.peak_bytes(), without.peak_bytes() + 64 * kMiB);
}

}  // namespace
}  // namespace slimtrain::engine::cuda
