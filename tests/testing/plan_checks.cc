// plan_checks.cc — plan_checks.h's helpers.
#include "tests/testing/plan_checks.h"

#include "gtest/gtest.h"
#include "planner/cost_model.h"
#include "planner/plan_blocks.h"

namespace slimtrain::test_util {

using planner::DefaultCostModel;
using planner::Graph;
using planner::PlanOptions;
using planner::Strategy;

v1::MemoryPlan PlanOrDie(const Graph& g, Strategy s, PlanOptions options) {
  absl::StatusOr<v1::MemoryPlan> plan = PlanMemory(g, s, options, DefaultCostModel());
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.ok() ? *plan : v1::MemoryPlan();
}

void ExpectPlanInvariants(const v1::MemoryPlan& plan) {
  SCOPED_TRACE(plan.model() + " " + plan.strategy());
  ASSERT_GT(plan.buffers_size(), 0);
  EXPECT_GE(plan.arena_bytes(), plan.arena_lower_bound_bytes());
  EXPECT_EQ(plan.peak_bytes(),
            plan.parameter_bytes() + plan.gradient_bytes() + plan.optimizer_state_bytes() + plan.arena_bytes());
  const int n = plan.buffers_size();
  for (int i = 0; i < n; ++i) {
    const v1::Buffer& b = plan.buffers(i);
    ASSERT_EQ(b.id(), i);
    ASSERT_LT(b.in_place_of(), i) << b.name();
    if (b.in_place_of() >= 0) {
      EXPECT_EQ(b.offset_bytes(), plan.buffers(b.in_place_of()).offset_bytes()) << b.name();
      EXPECT_EQ(plan.buffers(b.in_place_of()).last_step(), b.first_step()) << b.name();
    }
    EXPECT_EQ(b.offset_bytes() % plan.alignment_bytes(), 0) << b.name();
    EXPECT_LE(b.offset_bytes() + b.size_bytes(), plan.arena_bytes()) << b.name();
    EXPECT_LE(b.first_step(), b.last_step()) << b.name();
  }
  // In-place chains as the blocks the arena packed: one arena, with the plan's bound.
  const absl::Status one_arena = planner::VerifyPlanArena(plan);
  EXPECT_TRUE(one_arena.ok()) << one_arena;
  // Steps touch only buffers alive at that step.
  for (const v1::Step& step : plan.steps()) {
    for (const auto* ids : {&step.reads(), &step.writes()}) {
      for (int id : *ids) {
        const v1::Buffer& b = plan.buffers(id);
        EXPECT_TRUE(b.first_step() <= step.index() && step.index() <= b.last_step())
            << "step " << step.index() << " touches " << b.name();
      }
    }
  }
  int64_t saved = 0;
  for (const v1::Buffer& b : plan.buffers()) {
    if (b.saved()) {
      saved += b.size_bytes();
      EXPECT_FALSE(b.reason().empty()) << b.name();
    }
  }
  EXPECT_EQ(saved, plan.saved_activation_bytes());
}

}  // namespace slimtrain::test_util
