// plan_job.h — a job's plan and a PlanMemory answer on one cost model, and the
// PlanTask a worker process runs to make them on this server's CPU.
//
// The CPU's cost model is oneDNN's (engine::FastBackend: the workspaces its
// primitives ask for, which depend on the thread count), and only the worker
// binary links oneDNN. So the server plans a GPU job in its own process
// (cuDNN's workspaces at their bounds, engine/cuda/workspace_bounds.h) and a
// CPU one in
// `slimtrain_worker --plan` (cpu_planner.h), which calls RunPlanTask; both
// sides call PlanJob, so the plan is made by the same code either way.
//
//   SLIM_ASSIGN_OR_RETURN(v1::MemoryPlan plan,
//                         PlanJob(graph, spec, room, "cuda", engine::cuda::CudaWorkspaceBound(), &stop));
#ifndef SLIMTRAIN_SERVER_PLAN_JOB_H_
#define SLIMTRAIN_SERVER_PLAN_JOB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/cost_model.h"
#include "planner/graph.h"
#include "planner/limits.h"
#include "planner/plan_request.h"
#include "planner/plan_stop.h"
#include "proto/job.pb.h"
#include "proto/plan.pb.h"
#include "proto/plan_task.pb.h"

namespace slimtrain::server {

// A job's processes: `per_node` on each of `nodes` hosts (hosts.h); more
// than one in all trains data-parallel, each process (rank) with the spec's
// batch.
struct RankLayout {
  int nodes = 1;
  int per_node = 1;
  int ranks() const { return nodes * per_node; }
};
// From resources: node_count, and cpu_ranks (or gpu_count for a cuda job)
// per node; 0 counts as 1.
RankLayout RanksOf(const v1::Resources& resources);

// The plan `spec`'s worker runs on `device` ("cpu", "cuda"), buffers
// included: its strategy ("auto": the first that fits, else
// FAILED_PRECONDITION saying why), batch, optimizer, checkpoint budget and
// sensitivity table from `spec`, and as budget spec.budget_bytes or else
// `room`; a data-parallel job's (RanksOf) is one rank's, with its gradient
// buckets (planner/data_parallel.h's defaults). `graph` is the spec's model built at its batch; the spec's fields
// were checked (engine::ValidateJobSpec).
absl::StatusOr<v1::MemoryPlan> PlanJob(const planner::Graph& graph, const v1::JobSpec& spec, int64_t room,
                                       const std::string& device, const planner::CostModel& cost,
                                       const planner::PlanStop* stop);

// The task's bounds and devices, and back.
void SetTaskBounds(const planner::PlanRequestBounds& bounds, const std::vector<planner::DeviceProfile>& devices,
                   v1::PlanTask& task);
planner::SizeLimits TaskLimits(const v1::PlanTask& task);
planner::PlanStop TaskStop(const v1::PlanTask& task);

// What `task` asks, answered with `cost` (the worker's side of
// `slimtrain_worker --plan`): the job's plan or the request's response, or
// the error in code and message.
v1::PlanTaskResult RunPlanTask(const v1::PlanTask& task, const planner::CostModel& cost);

// `slimtrain_worker --plan`: reads one PlanTask from standard input, answers
// it with make_cost(task.cpu_threads()), and writes the PlanTaskResult to
// standard output. 0, or 1 (with a line on standard error) when the input is
// not a task or the result cannot be written.
int ServePlanTask(const std::function<std::unique_ptr<planner::CostModel>(int threads)>& make_cost);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_PLAN_JOB_H_
