// See executor.h: making an executor. Create plans and keeps the schedule the
// plan was packed from; CreateFromPlan derives the schedule from a stored
// plan and checks it; both end in Assemble, which allocates once.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "engine/executor.h"
#include "planner/data_parallel.h"
#include "planner/planner.h"

namespace slimtrain::engine {

using planner::Node;

namespace {

// Compares a stored plan's buffers and steps with the schedule derived from
// it (CreateFromPlan), index by index.
absl::Status CheckPlanMatches(const v1::MemoryPlan& plan, const planner::Schedule& s) {
  if (plan.buffers_size() != static_cast<int>(s.buffers.size())) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "plan has %d buffers, the schedule for it %d", plan.buffers_size(), s.buffers.size()));
  }
  if (plan.steps_size() != static_cast<int>(s.steps.size())) {
    return absl::FailedPreconditionError(
        absl::StrFormat("plan has %d steps, the schedule for it %d", plan.steps_size(), s.steps.size()));
  }
  for (int i = 0; i < plan.buffers_size(); ++i) {
    const v1::Buffer& b = plan.buffers(i);
    const planner::ScheduleBuffer& want = s.buffers[i];
    if (b.kind() != want.kind || b.size_bytes() != want.size_bytes || b.first_step() != want.first_step ||
        b.last_step() != want.last_step || b.in_place_of() != want.in_place_of) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "plan buffer %d ('%s': %d bytes, steps %d-%d) does not match the schedule ('%s': %d bytes, "
          "steps %d-%d)",
          i, b.name(), b.size_bytes(), b.first_step(), b.last_step(), want.name, want.size_bytes,
          want.first_step, want.last_step));
    }
  }
  return absl::OkStatus();
}

// A tied linear's backward writes the shared table's gradient and the
// embedding's adds to it, so the linear's must run first (Graph::Build puts
// the embedding upstream, and backward runs in reverse).
absl::Status CheckTiedOrder(const planner::Graph& graph, const planner::Schedule& s) {
  std::vector<int> backward_step(graph.size(), -1);
  for (int t = 0; t < static_cast<int>(s.steps.size()); ++t) {
    if (s.steps[t].kind == v1::Step::BACKWARD) backward_step[s.steps[t].node] = t;
  }
  for (const Node& n : graph.nodes()) {
    if (n.tied_to >= 0 && !(backward_step[n.id] < backward_step[n.tied_to])) {
      return absl::InternalError(absl::StrFormat(
          "the schedule runs embedding '%s''s backward (step %d) before its tied linear '%s''s (step %d)",
          graph.node(n.tied_to).name, backward_step[n.tied_to], n.name, backward_step[n.id]));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(const planner::Graph& graph, planner::Strategy strategy,
                                                           int64_t batch, Backend* backend,
                                                           const ExecutorOptions& options) {
  planner::PlanOptions plan_options;
  plan_options.batch_size = batch;
  plan_options.checkpoint_budget_bytes = options.checkpoint_budget_bytes;
  plan_options.sensitivity = options.sensitivity;
  plan_options.tensor_bits = options.tensor_bits;
  plan_options.device = backend->name();
  plan_options.optimizer = options.optimizer.kind;
  plan_options.data_parallel.ranks = options.communicator != nullptr ? options.communicator->size() : 1;
  plan_options.data_parallel.bucket_bytes = options.bucket_bytes;
  plan_options.data_parallel.overlap_communication = options.overlap_communication;
  plan_options.data_parallel.sync_batch_norm = options.sync_batch_norm;
  // The plan and the schedule it was packed from: run as they are.
  SLIM_ASSIGN_OR_RETURN(planner::RunnablePlan planned,
                        planner::PlanToRun(graph, strategy, plan_options, *backend));
  const v1::MemoryPlan& plan = planned.plan;
  if (options.peak_limit_bytes > 0 && plan.peak_bytes() > options.peak_limit_bytes) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the plan on %s needs %s (peak of %s at batch %d; %d bytes), more than %s: %s (%d bytes)", backend->name(),
        base::FormatBytes(plan.peak_bytes()), plan.strategy(), plan.batch_size(), plan.peak_bytes(),
        options.peak_limit_name, base::FormatBytes(options.peak_limit_bytes), options.peak_limit_bytes));
  }
  return Assemble(graph, std::move(planned.plan), std::move(planned.schedule), backend, options);
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::CreateFromPlan(const planner::Graph& graph,
                                                                   const v1::MemoryPlan& plan, Backend* backend,
                                                                   const ExecutorOptions& options) {
  if (plan.buffers_size() == 0) {
    return absl::FailedPreconditionError("the plan has no buffers; plan with include_buffers to run it");
  }
  if (plan.element_bytes() != backend->element_bytes()) {
    return absl::FailedPreconditionError(absl::StrFormat("the plan is for %d-byte elements, backend '%s' uses %d",
                                                         plan.element_bytes(), backend->name(),
                                                         backend->element_bytes()));
  }
  // The proto carries no operands: derive the schedule from the plan's own
  // decisions (strategy, checkpoints, each code's bits), nothing re-chosen,
  // and check that it is the one the plan was packed from.
  SLIM_ASSIGN_OR_RETURN(planner::Strategy strategy, planner::ParseStrategy(plan.strategy()));
  std::vector<int> checkpoints;
  for (const std::string& name : plan.checkpoints()) {
    const int id = graph.Find(name);
    if (id < 0) return absl::FailedPreconditionError(absl::StrCat("plan checkpoint '", name, "' is not a layer"));
    checkpoints.push_back(id);
  }
  // mixed: each coded tensor's bits, as the plan's codes say.
  planner::TensorBits tensor_bits;
  for (const v1::Buffer& b : plan.buffers()) {
    if (strategy != planner::Strategy::kMixed || b.kind() != v1::Buffer::CODE) continue;
    const v1::Buffer::Representation r = b.representation();
    tensor_bits[b.layer()] = r == v1::Buffer::CODE8   ? 8
                             : r == v1::Buffer::CODE4 ? 4
                             : r == v1::Buffer::CODE2 ? 2
                                                      : planner::kPassThroughBits;
  }
  SLIM_ASSIGN_OR_RETURN(planner::Schedule schedule, planner::BuildSchedule(graph, strategy, plan.batch_size(),
                                                                           *backend, checkpoints, tensor_bits));
  // Data-parallel: the buckets as the plan's fields say (one process's plan
  // leaves them unset).
  planner::DataParallelOptions data_parallel;
  ExecutorOptions run_options = options;
  if (plan.ranks() > 1) {
    data_parallel.ranks = plan.ranks();
    data_parallel.bucket_bytes = plan.bucket_bytes();
    data_parallel.overlap_communication = plan.overlap_communication();
    data_parallel.sync_batch_norm = plan.sync_batch_norm();
    SLIM_RETURN_IF_ERROR(planner::CheckDataParallelOptions(data_parallel, backend->element_bytes()));
    run_options.bucket_bytes = plan.bucket_bytes();
    run_options.overlap_communication = plan.overlap_communication();
    run_options.sync_batch_norm = plan.sync_batch_norm();
  }
  planner::AddGradientBuckets(graph, data_parallel, schedule);
  planner::ComputeLifetimes(graph, schedule);
  SLIM_RETURN_IF_ERROR(CheckPlanMatches(plan, schedule));
  return Assemble(graph, plan, std::move(schedule), backend, run_options);
}

absl::StatusOr<std::unique_ptr<Executor>> Executor::Assemble(const planner::Graph& graph, v1::MemoryPlan plan,
                                                             planner::Schedule schedule, Backend* backend,
                                                             const ExecutorOptions& options) {
  SLIM_RETURN_IF_ERROR(planner::OptimizerStateSlots(options.optimizer.kind).status());
  SLIM_RETURN_IF_ERROR(CheckTiedOrder(graph, schedule));
  SLIM_RETURN_IF_ERROR(CheckDataParallel(schedule, *backend, options));
  SLIM_RETURN_IF_ERROR(backend->Prepare(graph, plan.batch_size()));
  SLIM_ASSIGN_OR_RETURN(DeviceBuffer arena, backend->Allocate(plan.arena_bytes()));
  std::unique_ptr<Executor> exec(
      new Executor(graph, std::move(plan), std::move(schedule), backend, options, std::move(arena)));
  if (!exec->params_.shape_errors().empty()) {
    return absl::InvalidArgumentError(exec->params_.shape_errors().front());
  }
  SLIM_RETURN_IF_ERROR(exec->params_.AttachDevice(backend));
  SLIM_RETURN_IF_ERROR(backend->ConsumeError());
  return exec;
}

}  // namespace slimtrain::engine
