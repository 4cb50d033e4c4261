// OneDnnPlanCost answers as the FastBackend it stands for: the same name,
// element size, alignment and every workspace, whatever order the batches
// come in (it replaces its plan-only backend whenever the batch changes);
// and a plan made with it is the plan made with a running FastBackend.
#include "engine/cpu/onednn_plan_cost.h"

#include <cstdint>
#include <string>

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

TEST(OneDnnPlanCostTest, EveryWorkspaceIsTheFastBackends) {
  for (const std::string model : {"fmnist_resnet", "fmnist_vit"}) {
    ASSERT_OK_AND_ASSIGN(const planner::Graph graph, test_util::ZooGraph(model));
    const FastBackend fast(2);
    const OneDnnPlanCost cost(2);
    EXPECT_EQ(cost.name(), fast.name());
    EXPECT_EQ(cost.element_bytes(), fast.element_bytes());
    EXPECT_EQ(cost.alignment_bytes(), fast.alignment_bytes());
    int64_t with_workspace = 0;
    // Batches back and forth, as a search for the largest batch asks.
    for (const int64_t batch : {8, 64, 8, 1, 64}) {
      for (const planner::Node& node : graph.nodes()) {
        for (const Pass pass : {Pass::kForward, Pass::kBackward}) {
          const int64_t bytes = fast.WorkspaceBytes(graph, node, batch, pass);
          EXPECT_EQ(cost.WorkspaceBytes(graph, node, batch, pass), bytes)
              << model << " " << node.name << " batch " << batch;
          with_workspace += bytes > 0;
        }
      }
    }
    EXPECT_GT(with_workspace, 0) << model << ": no layer has a workspace, so nothing was compared";
  }
}

TEST(OneDnnPlanCostTest, APlanIsTheFastBackendsPlan) {
  ASSERT_OK_AND_ASSIGN(const planner::Graph graph, test_util::ZooGraph("fmnist_resnet"));
  planner::PlanOptions options;
  options.batch_size = 32;
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan with_fast,
                       planner::PlanMemory(graph, planner::Strategy::kApprox4, options, FastBackend(1)));
  ASSERT_OK_AND_ASSIGN(const v1::MemoryPlan with_cost,
                       planner::PlanMemory(graph, planner::Strategy::kApprox4, options, OneDnnPlanCost(1)));
  EXPECT_EQ(with_cost.cost_model(), "onednn");
  EXPECT_EQ(with_cost.SerializeAsString(), with_fast.SerializeAsString());
}

// A plan-only FastBackend describes oneDNN's primitives without compiling
// them: a kernel call on one aborts, naming the layer, instead of running
// nothing.
TEST(OneDnnPlanCostDeathTest, APlanOnlyBackendRefusesToRunAKernel) {
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
