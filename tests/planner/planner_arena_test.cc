// The planner's arena search (planner/arena.h step 6 under PlanMemory): the
// same plan each time under its node cap, its tolerance and the decision at
// the tolerance's edge, plans fitted to their budget, the range of
// arena_exact_seconds.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "planner/arena.h"
#include "planner/cost_model.h"
#include "planner/plan_blocks.h"
#include "planner/planner.h"
#include "planner/zoo.h"
#include "tests/testing/plan_checks.h"
#include "tests/testing/status_assertions.h"
#include "tests/testing/test_models.h"

namespace slimtrain::planner {
namespace {

using test_util::ExpectPlanInvariants;
using test_util::PlanOrDie;
using test_util::ZooGraph;

// DenseNet-BC-100's approx8 plan at batch 128 is one the heuristics leave
// 0.9% above the lower bound (bench/planner_bench): the exact search, on by
// default, packs it at the bound, within its node budget, so planning it
// twice gives the same offsets; arena_exact_seconds 0 turns it off.
TEST(PlannerArenaTest, ExactArenaSearchPacksAHardPlanTheSameWayEachTime) {
  absl::StatusOr<Graph> g = Graph::Build(ZooModel("densenet_bc_100").value());
  ASSERT_TRUE(g.ok()) << g.status();
  PlanOptions options;
  options.batch_size = 128;
  options.include_buffers = true;
  options.arena_exact_seconds = 0;
  const v1::MemoryPlan off = PlanOrDie(*g, Strategy::kApprox8, options);
  EXPECT_GT(off.arena_bytes(), off.arena_lower_bound_bytes() * 1.005) << "the premise: a plan the heuristics miss";
  EXPECT_FALSE(off.arena_proven_optimal());
  EXPECT_EQ(off.arena_exact_search(), "off");
  EXPECT_NE(off.arena_method(), "exact");
  options.arena_exact_seconds = PlanOptions().arena_exact_seconds;
  const v1::MemoryPlan a = PlanOrDie(*g, Strategy::kApprox8, options);
  const v1::MemoryPlan b = PlanOrDie(*g, Strategy::kApprox8, options);
  ExpectPlanInvariants(a);
  EXPECT_EQ(a.arena_bytes(), a.arena_lower_bound_bytes());
  EXPECT_TRUE(a.arena_proven_optimal());
  EXPECT_EQ(a.arena_method(), "exact");
  EXPECT_EQ(a.arena_exact_search(), "proved it optimal");
  ASSERT_EQ(a.buffers_size(), b.buffers_size());
  for (int i = 0; i < a.buffers_size(); ++i) {
    EXPECT_EQ(a.buffers(i).offset_bytes(), b.buffers(i).offset_bytes()) << a.buffers(i).name();
  }
}

// The requests and offsets of a plan's arena blocks (plan_blocks.h).
struct Blocks {
  std::vector<ArenaRequest> requests;
  std::vector<int64_t> offsets;
};
Blocks BlocksOf(const v1::MemoryPlan& plan) {
  Blocks blocks;
  for (const PlanBlock& b : PlanBlocks(plan)) {
    blocks.requests.push_back(b.request);
    blocks.offsets.push_back(b.offset_bytes);
  }
  return blocks;
}

// ResNet-50's approx8 plan at batch 64, with its buffers: the zoo's
// hardest arena for the planner's search.
v1::MemoryPlan ResNet50Approx8() {
  absl::StatusOr<Graph> g = ZooGraph("resnet50");
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return v1::MemoryPlan();
  PlanOptions options;
  options.batch_size = 64;
  options.include_buffers = true;
  return PlanOrDie(*g, Strategy::kApprox8, options);
}

// PlanArena's options for a plan's blocks with one stream, ended by a node
// cap, not the clock (deterministic).
ArenaOptions UnderANodeCap(const v1::MemoryPlan& plan, int64_t max_nodes) {
  ArenaOptions options;
  options.alignment = plan.alignment_bytes();
  options.exact_seconds = 60;
  options.exact_max_nodes = max_nodes;
  return options;
}

// ResNet-50's approx8 plan at batch 64: the search's bisection ends 1.39%
// above the bound at its node cap; the decision at the tolerance's edge,
// with a quarter more, packs it within 0.01% of the bound. Its offsets are
// a valid warm start for PlanArena on the same blocks, and nothing there
// ends above them.
TEST(PlannerArenaTest, ExactArenaSearchDecidesAtTheTolerancesEdge) {
  const v1::MemoryPlan plan = ResNet50Approx8();
  ExpectPlanInvariants(plan);
  EXPECT_EQ(plan.arena_method(), "exact");
  EXPECT_EQ(plan.arena_exact_search(), "stopped within 0.01% of optimal");
  EXPECT_LE(static_cast<double>(plan.arena_bytes() - plan.arena_lower_bound_bytes()),
            kArenaExactTolerance * static_cast<double>(plan.arena_lower_bound_bytes()));
  const Blocks blocks = BlocksOf(plan);
  ArenaOptions again;
  again.alignment = plan.alignment_bytes();
  again.start_offsets = blocks.offsets;
  absl::StatusOr<ArenaPlan> replaced = PlanArena(blocks.requests, again);
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_LE(replaced->arena_bytes, plan.arena_bytes());
  EXPECT_EQ(replaced->start_bytes, plan.arena_bytes());
  EXPECT_EQ(replaced->lower_bound_bytes, plan.arena_lower_bound_bytes());
}

// The planner's step 6 on the same blocks, one stream under its node cap
// (deterministic): the minimisation's first 4 nodes a buffer, then the
// decision at the tolerance's edge, which lands within it. The rest of the
// cap is not spent (the order before spent all 20,000 nodes first).
TEST(PlannerArenaTest, ExactArenaSearchDecidesAtTheEdgeBeforeSpendingItsCap) {
  const v1::MemoryPlan planned = ResNet50Approx8();
  ASSERT_GT(planned.buffers_size(), 0);
  ArenaOptions search = UnderANodeCap(planned, ArenaExactNodes(PlanOptions().arena_exact_seconds));
  search.exact_tolerance = kArenaExactTolerance;
  const Blocks blocks = BlocksOf(planned);
  absl::StatusOr<ArenaPlan> plan = PlanArena(blocks.requests, search);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->exact_search, "stopped within 0.01% of optimal");
  EXPECT_LE(static_cast<double>(plan->arena_bytes - plan->floor_bytes),
            kArenaExactTolerance * static_cast<double>(plan->floor_bytes));
  const int64_t first = 4 * static_cast<int64_t>(blocks.requests.size());
  EXPECT_GT(plan->exact_nodes, first) << "the edge decision ran";
  EXPECT_LT(plan->exact_nodes, first + search.exact_max_nodes / 4) << "and nothing after it";
}

// Without a tolerance (`slimtrain arena`), the search first decides a
// quantum above the lower bound: the same blocks, searched from the
// heuristics with one stream under a 10,000-node cap (deterministic), end
// one 256-byte unit above the bound (the bisection alone ends over 1%
// above it under that cap).
TEST(PlannerArenaTest, ExactArenaSearchTriesAQuantumAboveTheBoundFirst) {
  const v1::MemoryPlan planned = ResNet50Approx8();
  ASSERT_GT(planned.buffers_size(), 0);
  ArenaOptions search = UnderANodeCap(planned, 10000);
  search.exact_min_gap = 0;
  absl::StatusOr<ArenaPlan> plan = PlanArena(BlocksOf(planned).requests, search);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->arena_bytes, plan->lower_bound_bytes + search.alignment) << plan->exact_search;
}

// A plan whose arena misses the budget though its lower bound does not:
// ResNet-50's approx2 plan at batch 64 is 0.19% above its bound (the
// minimising search leaves plans within 0.5% alone). With a budget of its
// parameter region plus its bound, the search decides that capacity and the
// plan fits, at the bound; a byte less and nothing can fit (the bound is
// above it), so the plan stays as without a budget.
TEST(PlannerArenaTest, ArenaIsFittedToTheBudgetWhereItsBoundFits) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("resnet50"));
  PlanOptions options;
  options.batch_size = 64;
  const v1::MemoryPlan free = PlanOrDie(g, Strategy::kApprox2, options);
  ASSERT_GT(free.arena_bytes(), free.arena_lower_bound_bytes()) << "the premise: the heuristics miss the bound";
  EXPECT_EQ(free.arena_exact_search(), "not run: within 0.5% of the lower bound");
  const int64_t region = free.parameter_bytes() + free.gradient_bytes() + free.optimizer_state_bytes();
  options.budget_bytes = region + free.arena_lower_bound_bytes();
  options.include_buffers = true;
  const v1::MemoryPlan fitted = PlanOrDie(g, Strategy::kApprox2, options);
  ExpectPlanInvariants(fitted);
  EXPECT_TRUE(fitted.fits());
  EXPECT_LE(fitted.peak_bytes(), options.budget_bytes);
  EXPECT_EQ(fitted.arena_exact_search(), "found a placement within the budget");
  options.budget_bytes -= 1;
  const v1::MemoryPlan too_small = PlanOrDie(g, Strategy::kApprox2, options);
  EXPECT_FALSE(too_small.fits());
  EXPECT_EQ(too_small.arena_bytes(), free.arena_bytes());
  EXPECT_EQ(too_small.arena_exact_search(), free.arena_exact_search());
}

// ResNet-101's approx4 plan at batch 64: the heuristics leave it 0.6% above
// its bound; the search gets within one 256-byte unit of it and stops there
// (kArenaExactTolerance), rather than spend its node cap on that unit.
TEST(PlannerArenaTest, ExactArenaSearchStopsWithinItsTolerance) {
  ASSERT_OK_AND_ASSIGN(const Graph g, ZooGraph("resnet101"));
  PlanOptions options;
  options.batch_size = 64;
  const v1::MemoryPlan plan = PlanOrDie(g, Strategy::kApprox4, options);
  EXPECT_EQ(plan.arena_method(), "exact");
  EXPECT_LE(static_cast<double>(plan.arena_bytes() - plan.arena_lower_bound_bytes()),
            kArenaExactTolerance * static_cast<double>(plan.arena_lower_bound_bytes()));
  EXPECT_EQ(plan.arena_exact_search(),
            plan.arena_proven_optimal() ? "proved it optimal" : "stopped within 0.01% of optimal");
}

TEST(PlannerArenaTest, ArenaExactSecondsOutsideItsRangeIsRefused) {
  absl::StatusOr<Graph> g = Graph::Build(ZooModel("resnet20").value());
  ASSERT_TRUE(g.ok()) << g.status();
  PlanOptions options;
  options.batch_size = 8;
  for (double seconds : {-1.0, 61.0, std::nan("")}) {
    options.arena_exact_seconds = seconds;
    absl::StatusOr<v1::MemoryPlan> plan = PlanMemory(*g, Strategy::kExact, options, DefaultCostModel());
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << seconds;
    EXPECT_NE(std::string(plan.status().message()).find("arena_exact_seconds must be in [0, 60]"), std::string::npos)
        << plan.status();
  }
}

}  // namespace
}  // namespace slimtrain::planner
