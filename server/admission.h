// admission.h — what a submission or a plan request is on this server before
// anything is queued: its fields checked against the server's limits, its
// model resolved and built, and its plan on a device of the server's pool
// (the CPU with its workers' cost model, oneDNN's, in a worker process:
// cpu_planner.h; a GPU with every cuDNN workspace at its bound, which the
// worker's own plan must fit). No store, no queue, no lock: JobManager::Submit
// admits what these return, and bounds the planning (PlanStop, slots).
//
//   SLIM_ASSIGN_OR_RETURN(ResolvedJob job, ResolveJob(spec, config, pool));
//   SLIM_ASSIGN_OR_RETURN(PlacedPlan placed, PlanOnPool(job, config, pool, stop));
#ifndef SLIMTRAIN_SERVER_ADMISSION_H_
#define SLIMTRAIN_SERVER_ADMISSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/graph.h"
#include "planner/plan_stop.h"
#include "proto/job.pb.h"
#include "proto/plan.pb.h"
#include "proto/service.pb.h"
#include "server/plan_job.h"
#include "server/server_config.h"

namespace slimtrain::server {

// The devices jobs can run on, as JobManager::Start found them.
struct DevicePool {
  std::vector<Gpu> gpus;      // none without a usable GPU
  std::string no_gpu_reason;  // why gpus is empty
  int64_t cpu_capacity_bytes = 0;  // the CPU's memory for jobs (RAM less a reserve)
};

// CPU threads of each of a job's processes: resources.cpu_threads, else the
// server's threads per job shared by the processes on a host (at least 1).
int RankThreads(const v1::Resources& resources, const RankLayout& layout, const ServerConfig& config);

// A submission whose every field is in range, with its model built at its
// batch.
struct ResolvedJob {
  v1::JobSpec spec;
  v1::ModelSpec model;
  planner::Graph graph;
  RankLayout layout;
};

// A plan and where it runs.
struct PlacedPlan {
  v1::MemoryPlan plan;
  bool on_gpu = false;
};

// Every field of `spec` in its range (INVALID_ARGUMENT naming it; strategy
// "auto" is resolved by PlanOnPool), the model built and checked at the
// batch, and this server's policy: data-parallel jobs on the CPU, over its
// hosts (UNIMPLEMENTED for more than one GPU: NCCL training is not built;
// FAILED_PRECONDITION when its hosts cannot hold the layout), a GPU only
// where the pool has one, its time limit, datasets inside its data root.
absl::StatusOr<ResolvedJob> ResolveJob(const v1::JobSpec& spec, const ServerConfig& config, const DevicePool& pool);

// The job's plan on a GPU when it asks for one, or for any device and the
// pool has GPUs (unless it fits none of them), else on the CPU; a
// data-parallel job's, per rank, on the CPU, and every host must hold its
// ranks there. FAILED_
// PRECONDITION with the needed and available bytes when it fits no device or
// exceeds the spec's budget_bytes.
absl::StatusOr<PlacedPlan> PlanOnPool(const ResolvedJob& job, const ServerConfig& config, const DevicePool& pool,
                                      planner::PlanStop& stop);

// A PlanMemory request answered with this server's devices: "cpu" (default),
// one of its GPUs ("cuda:0": its memory less a worker's overhead) or a
// profile, within config's planning bounds.
absl::StatusOr<v1::PlanMemoryResponse> AnswerPlanMemory(const v1::PlanMemoryRequest& request,
                                                        const ServerConfig& config, const DevicePool& pool,
                                                        planner::PlanStop& stop);

// An inline spec or an ONNX model within the server's --max-model-bytes.
absl::Status CheckModelSize(const v1::ModelRef& model, int64_t limit);

// `path` (a JobSpec's dataset.path) resolved inside `root`: relative, no way
// out through ".." or symbolic links. INVALID_ARGUMENT saying only that it
// must be inside the data root, never whether it exists.
absl::StatusOr<std::string> ResolveInsideRoot(const std::string& root, const std::string& path);

}  // namespace slimtrain::server

#endif  // SLIMTRAIN_SERVER_ADMISSION_H_
