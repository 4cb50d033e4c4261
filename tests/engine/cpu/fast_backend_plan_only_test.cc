// A plan-only FastBackend (oneDNN's primitives described, not compiled: what
// `slimtrain plan` and the server's plan worker count workspaces with)
// answers as a running one: the same name, element size, alignment and every
// workspace, whatever order the batches come in; a plan made with it is the
// running backend's plan byte for byte; and a kernel call on it aborts,
// naming the layer, instead of running nothing.
#include <cstdint>
#include <string>

#include "engine/backend.h"
#include "engine/cpu/fast_backend.h"
#include "gtest/gtest.h"
#include "planner/graph.h"
#include "planner/planner.h"
#include "planner/strategy.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine {
namespace {

using planner::Pass;

TEST(FastBackendPlanOnlyTest, EveryWorkspaceIsTheRunningBackends) {
  for (const std::string model : {"fmnist_resnet", "fmnist_vit"}) {
    ASSERT_OK_AND_ASSIGN(const planner::Graph graph, test_util::ZooGraph(model));
    const FastBackend running(2);
    const FastBackend plan_only(2, /*plan_only=*/true);
    EXPECT_EQ(plan_only.name(), running.name());
    EXPECT_EQ(plan_only.element_bytes(), running.element_bytes());
    EXPECT_EQ(plan_only.alignment_bytes(), running.alignment_bytes());
    int64_t with_workspace = 0;
    // Batches back and forth, as a search for the largest batch asks.
    for (const int64_t batch : {8, 64, 8, 1, 64}) {
      for (const planner::Node& node : graph.nodes()) {
        for (const Pass pass : {Pass::kForward, Pass::kBackward}) {
          const int64_t bytes = running.WorkspaceBytes(graph, node, batch, pass);
          EXPECT_EQ(plan_only.WorkspaceBytes(graph, node, batch, pass), bytes)
              << model << " " << node.name << " batch " << batch;
          with_workspace += bytes > 0;
        }
      }
    }
    EXPECT_GT(with_workspace, 0) << model << ": no layer has a workspace, so nothing was compared";
  }
}

TEST(FastBackendPlanOnlyTest, APlanIsTheRunningBackendsPlan) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph graph, test_util::ZooGraph("fmnist_resnet"));
  planner::PlanOptions options;
  options.batch_size = 32;
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan running,
                       planner::PlanMemory(graph, planner::Strategy::kApprox4, options, FastBackend(1)));
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan plan_only,
                       planner::PlanMemory(graph, planner::Strategy::kApprox4, options,
                                           FastBackend(1, /*plan_only=*/true)));
  EXPECT_EQ(plan_only.cost_model(), "onednn");
  EXPECT_EQ(plan_only.SerializeAsString(), running.SerializeAsString());
}

TEST(FastBackendPlanOnlyDeathTest, RefusesToRunAKernel) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph graph, test_util::ZooGraph("fmnist_resnet"));
  const planner::Node* conv = nullptr;
  for (const planner::Node& node : graph.nodes()) {
    if (node.kind == planner::OpKind::kConv2d && conv == nullptr) conv = &node;
  }
  ASSERT_NE(conv, nullptr);
  FastBackend plan_only(1, /*plan_only=*/true);
  ASSERT_TRUE(plan_only.Prepare(graph, 4).ok());
  EXPECT_DEATH(plan_only.Conv2dForward(*conv, 4, nullptr, nullptr, nullptr, nullptr, Workspace{nullptr, 0}),
               "layer '" + conv->name + "': forward on an op created for its workspace sizes alone");
}

}  // namespace
}  // namespace slimtrain::engine
