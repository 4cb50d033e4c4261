// cpu_planner.h — planning for this server's CPU, in a worker process.
//
// The CPU's cost model is oneDNN's, which only slimtrain_worker links (the
// server does not): these run `worker_path --plan`, send it the task on its
// standard input and read its PlanTaskResult (plan_job.h). A crash or an
// out-of-memory kill of the planner fails the one request, not the server.
// `stop` is checked while the process runs: when it says stop, the process
// is killed and its status returned (DEADLINE_EXCEEDED, CANCELLED, or
// RESOURCE_EXHAUSTED with the time limit's reason).
//
//   SLIM_ASSIGN_OR_RETURN(v1::MemoryPlan plan,
//                         PlanJobOnCpu(config.worker_path, resolved_spec, room, threads, bounds));
#ifndef SLIMTRAIN_SERVER_CPU_PLANNER_H_
#define SLIMTRAIN_SERVER_CPU_PLANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/cost_model.h"
#include "planner/plan_request.h"
#include "proto/job.pb.h"
#include "proto/plan.pb.h"
#include "proto/plan_task.pb.h"
#include "proto/service.pb.h"

namespace slimtrain::server {

// The task's result as the worker returned it (its own error included), or
// why there is none: INTERNAL when the worker cannot be started, exits
// without a result or is killed by a signal (the message says which, with
// the end of its standard error), or `stop`'s status.
absl::StatusOr<v1::PlanTaskResult> RunPlanTaskInWorker(const std::string& worker_path, const v1::PlanTask& task,
                                                       const planner::PlanStop* stop);

// PlanJob (plan_job.h) for the CPU with `threads` threads. `spec.model` must
// hold the resolved model (ResolveJob's).
absl::StatusOr<v1::MemoryPlan> PlanJobOnCpu(const std::string& worker_path, const v1::JobSpec& spec,
                                            int64_t room, int threads, const planner::PlanRequestBounds& bounds);

// planner::AnswerPlanRequest with the CPU's cost model at `threads` threads.
absl::StatusOr<v1::PlanMemoryResponse> AnswerOnCpu(const std::string& worker_path,
                                                   const v1::PlanMemoryRequest& request, int threads,
                                                   const std::vector<planner::DeviceProfile>& devices,
                                                   const planner::PlanRequestBounds& bounds);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_CPU_PLANNER_H_
