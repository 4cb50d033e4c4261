// plan_checks.h — planning in tests and checking what every plan must hold.
//
//   const v1::MemoryPlan plan = PlanOrDie(graph, Strategy::kApprox4, options);
//   ExpectPlanInvariants(plan);  // needs options.include_buffers
#ifndef SLIMTRAIN_TESTS_TESTING_PLAN_CHECKS_H_
#define SLIMTRAIN_TESTS_TESTING_PLAN_CHECKS_H_

#include "planner/graph.h"
#include "planner/planner.h"
#include "planner/strategy.h"
#include "proto/plan.pb.h"

namespace slimtrain::test_util {

// PlanMemory with the default cost model; a test failure (and an empty plan)
// when it errs.
v1::MemoryPlan PlanOrDie(const planner::Graph& g, planner::Strategy s, planner::PlanOptions options);

// Checks docs/DESIGN.md's invariants 1-2 on a plan with buffers: storage blocks
// (in-place chains) never overlap while alive, offsets are aligned, the arena
// covers every buffer and is at least the lower bound, every step reads only
// live buffers, and the summary adds up.
void ExpectPlanInvariants(const v1::MemoryPlan& plan);

}  // namespace slimtrain::test_util

#endif  // SLIMTRAIN_TESTS_TESTING_PLAN_CHECKS_H_
