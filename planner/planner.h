// planner.h — the planner's entry point: memory plans, and budget answers.
//
// Start reading here. A plan is made in five stages (docs/DESIGN.md, "How a plan is made"):
//   Graph::Build (graph.h)        validate the ModelSpec, infer shapes
//   BuildSchedule (schedule.h)    steps and buffers for a strategy
//   (AddGradientBuckets (data_parallel.h): a data-parallel plan's ALLREDUCE
//    buffers)
//   ComputeLifetimes (lifetimes.h) first/last step, saved, in-place chains
//   PlanArena (arena.h)           offsets in one arena
//   → v1::MemoryPlan (proto/plan.proto); PlanToRun also hands back the
//     Schedule it packed, for the engine to run
//
//   absl::StatusOr<Graph> graph = Graph::Build(ZooModel("resnet164").value());
//   PlanOptions options;
//   options.batch_size = 128;
//   DefaultCostModel cost;
//   absl::StatusOr<v1::MemoryPlan> plan =
//       PlanMemory(*graph, Strategy::kApprox4, options, cost);
//   // plan->peak_bytes(), plan->arena_bytes(), plan->saved_activation_bytes()
//
// Memory outside the arena (the parameter region): parameters plus batch-norm
// running statistics, one gradient per parameter, and the optimizer state:
// sgd (with momentum) one buffer per parameter, adam two (first and second
// moments), rmsprop two (square average and momentum buffer).
#ifndef SLIMTRAIN_PLANNER_PLANNER_H_
#define SLIMTRAIN_PLANNER_PLANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/cost_model.h"
#include "planner/data_parallel.h"
#include "planner/graph.h"
#include "planner/mixed.h"
#include "planner/plan_stop.h"
#include "planner/schedule.h"
#include "planner/strategy.h"
#include "proto/plan.pb.h"

namespace slimtrain::planner {

// The largest arena alignment a plan may ask for (1 GiB).
inline constexpr int64_t kMaxAlignmentBytes = int64_t{1} << 30;

// The most time PlanOptions.arena_exact_seconds may give the exact search.
inline constexpr double kMaxArenaExactSeconds = 60.0;

struct PlanOptions {
  int64_t batch_size = 0;         // examples per step, >= 1
  std::string optimizer = kDefaultOptimizer;  // "sgd", "adam" or "rmsprop"
  // Memory the plan is checked against (MemoryPlan.fits); 0: no budget.
  // With the exact arena search on, an arena that misses what the budget
  // leaves (less the parameter region) while its lower bound fits is
  // searched again as a decision at that capacity, from its placement, and
  // the placement found is the plan's ("found a placement within the
  // budget"): such a plan fits where it can be made to.
  int64_t budget_bytes = 0;
  // The budget checkpoint_optimal segments for (the least recompute whose
  // peak fits it; 0: the least peak) and mixed chooses bits for (the least
  // predicted error whose peak fits it; 0: approx4's saved bytes). Callers
  // set it to a budget the user gave, not to a device's default.
  int64_t checkpoint_budget_bytes = 0;
  // mixed: each tensor's measured sensitivity (mixed.h); null: assumed.
  // Not owned.
  const Sensitivity* sensitivity = nullptr;
  // mixed: these bits per tensor (a tensor not named is exact) instead of a
  // choice (calibration, tests); null: chosen. Not owned.
  const TensorBits* tensor_bits = nullptr;
  // mixed with tensor_bits: recompute the segments up to the last of these
  // checkpoints (cut points' node ids) too. Not owned.
  const std::vector<int>* mixed_checkpoints = nullptr;
  // mixed with a budget: may recompute segments (exactly) to code fewer
  // tensors or code them with more bits; false: codes only.
  bool mixed_recompute = true;
  // Arena alignment in bytes, at most kMaxAlignmentBytes; 0: the cost
  // model's.
  int64_t alignment_bytes = 0;
  // Fill MemoryPlan.buffers and .steps.
  bool include_buffers = false;
  // Target recorded in the plan ("cpu", "h200", ...).
  std::string device = "cpu";
  // Extra time the arena planner may search on hard inputs (arena.h).
  double arena_search_seconds = 0.0;
  // The arena's exact search (arena.h step 6) on plans the heuristics leave
  // more than 0.5% above the lower bound, in seconds, in [0,
  // kMaxArenaExactSeconds]; 0: off. It runs as a node budget
  // (ArenaExactNodes: kArenaExactNodesPerSecond per second) that ends it
  // before the clock on machines like the one it was measured on, so the
  // same input gives the same plan; the clock at these seconds is a
  // backstop on much slower machines (there, plans may differ run to run).
  // A plan the search leaves outside kArenaExactTolerance gets a quarter
  // more for one decision at the tolerance's edge (arena.h step 6).
  double arena_exact_seconds = 1.0;
  // Ends planning early (a deadline, a cancellation, a time limit); nullptr:
  // never. Not owned.
  const PlanStop* stop = nullptr;
  // Data-parallel training: each rank's plan, with its gradient buckets as
  // ALLREDUCE buffers of the arena and MemoryPlan's communication fields
  // (data_parallel.h). The default, one rank, plans one process.
  DataParallelOptions data_parallel;
};

// The exact search's node budget for `seconds` of PlanOptions.arena_exact_seconds.
inline constexpr double kArenaExactNodesPerSecond = 20000;
// The planner's exact search stops once its arena is within this fraction of
// optimal (ArenaOptions.exact_tolerance): ResNet-101 approx4's plan is one
// 256-byte unit above its 994 MiB bound after a few thousand nodes, and
// proving the last unit took the rest of the node cap.
inline constexpr double kArenaExactTolerance = 0.0001;
int64_t ArenaExactNodes(double seconds);

// The plan of one training step. INVALID_ARGUMENT for a bad batch size,
// optimizer, alignment, arena_exact_seconds or data_parallel field (naming
// the field and value),
// or sizes over the graph's limits at this batch (Graph::CheckBatch: checked
// before the cost model is asked anything); options.stop's status when it
// stops the work.
absl::StatusOr<v1::MemoryPlan> PlanMemory(const Graph& graph, Strategy strategy,
                                          const PlanOptions& options, const CostModel& cost);

// A plan together with the schedule it was packed from: what an executor
// runs (engine/executor.h's Executor::Create), so that nothing has to be
// rebuilt from the plan and compared with it.
//
// Index-aligned: schedule.buffers[i] is plan.buffers(i) (same name, kind,
// size, first/last step, in_place_of; its offset is
// plan.buffers(i).offset_bytes()) and schedule.steps[t] is plan.steps(t);
// data-parallel, schedule.buckets are the plan's ALLREDUCE buffers, in order;
// the schedule's lifetimes are computed (ComputeLifetimes). For every
// strategy, mixed's and the checkpointing strategies' searches included, the
// schedule is the very one whose packing the plan reports (its checkpoints
// are plan.checkpoints(), its codes' bits the plan's CODE buffers').
struct RunnablePlan {
  v1::MemoryPlan plan;  // always with buffers and steps
  Schedule schedule;    // with operands: which buffer each step reads and writes, and how
};

// PlanMemory with options.include_buffers taken as true, and the schedule
// kept: plan is the PlanMemory answer byte for byte (same code path). Fails
// as PlanMemory.
absl::StatusOr<RunnablePlan> PlanToRun(const Graph& graph, Strategy strategy, const PlanOptions& options,
                                       const CostModel& cost);

// Bytes of the parameter region: {parameters (+BN running stats), gradients,
// optimizer state}.
struct ParameterBytes {
  int64_t parameters = 0;
  int64_t gradients = 0;
  int64_t optimizer_state = 0;
  int64_t total() const { return parameters + gradients + optimizer_state; }
};
// Optimizer state buffers per parameter: sgd 1, adam 2, rmsprop 2;
// INVALID_ARGUMENT naming an unknown optimizer.
absl::StatusOr<int> OptimizerStateSlots(absl::string_view optimizer);

absl::StatusOr<ParameterBytes> ParameterRegionBytes(const Graph& graph, absl::string_view optimizer,
                                                    int64_t element_bytes);

// The largest batch whose peak_bytes fits options.budget_bytes (which must be
// > 0), at most Graph::MaxCheckedBatch; 0 when not even batch 1 fits.
// Searches by doubling, then bisection, planning each probe in full with the
// heuristics alone; then, with the exact arena search on, gallops up from that
// batch with it (the search only lowers arenas), so the answer is the plan's
// own: it fits as PlanMemory plans it, and one more does not.
absl::StatusOr<int64_t> MaxBatchSize(const Graph& graph, Strategy strategy, const PlanOptions& options,
                                     const CostModel& cost);

// The strategy `auto` picks for options.budget_bytes (> 0): the first that
// fits in the order exact, approx8, approx4 (no recompute, the paper's
// accuracy), mixed (the least predicted error for
// options.checkpoint_budget_bytes, recomputing segments where that lowers
// it), checkpoint_optimal, approx2.
struct StrategyChoice {
  bool fits = false;             // false: nothing fits
  Strategy strategy = Strategy::kExact;  // the choice (when fits)
  std::string reason;            // e.g. "exact needs 21.3 GiB > budget 16.0 GiB; approx8 fits in 9.1 GiB"
  std::vector<v1::MemoryPlan> plans;  // the plans tried, in order
};
absl::StatusOr<StrategyChoice> ChooseStrategy(const Graph& graph, const PlanOptions& options,
                                              const CostModel& cost);

// The order `auto` tries strategies in.
const std::vector<Strategy>& AutoOrder();

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_PLANNER_H_
