// See admission.h.
#include "server/admission.h"

#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "engine/cuda/workspace_bounds.h"
#include "engine/job_spec.h"
#include "planner/cost_model.h"
#include "planner/plan_request.h"
#include "planner/planner.h"
#include "server/cpu_planner.h"
#include "server/plan_job.h"

namespace slimtrain::server {
namespace {

// The GPU with the most room for a plan (gpus not empty).
const Gpu& LargestGpu(const std::vector<Gpu>& gpus) {
  return *std::max_element(gpus.begin(), gpus.end(), [](const Gpu& a, const Gpu& b) {
    return a.total_bytes - a.overhead_bytes < b.total_bytes - b.overhead_bytes;
  });
}

// The GPU with the k-th most room (1 <= k <= gpus.size()).
const Gpu& KthLargestGpu(const std::vector<Gpu>& gpus, int k) {
  std::vector<const Gpu*> sorted;
  for (const Gpu& g : gpus) sorted.push_back(&g);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Gpu* a, const Gpu* b) {
    return a->total_bytes - a->overhead_bytes > b->total_bytes - b->overhead_bytes;
  });
  return *sorted[k - 1];
}

}  // namespace

int RankThreads(const v1::Resources& res, const RankLayout& layout, const ServerConfig& config) {
  if (res.cpu_threads() > 0) return res.cpu_threads();
  return std::max(1, config.cpu_threads / layout.per_node);
}


absl::StatusOr<std::string> ResolveInsideRoot(const std::string& root, const std::string& path) {
  const absl::Status outside =
      absl::InvalidArgumentError("dataset.path: must be a folder inside the server's data root");
  if (root.empty() || path.empty() || path[0] == '/') return outside;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return outside;
  }
  const std::string joined = root + "/" + path;
  char real_root[PATH_MAX], real_path[PATH_MAX];
  if (realpath(root.c_str(), real_root) == nullptr) return outside;
  if (realpath(joined.c_str(), real_path) != nullptr &&
      !absl::StartsWith(std::string(real_path) + "/", std::string(real_root) + "/")) {
    return outside;  // a symbolic link out of the root
  }
  return joined;
}

namespace {

// Each rank's shard of a known dataset holds a batch.
absl::Status CheckShard(const v1::JobSpec& spec, const RankLayout& layout) {
  const int64_t examples = engine::TrainingExamples(spec.dataset());
  if (examples > 0 && examples / layout.ranks() < spec.batch_size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch_size: %d per process is more than the %d training examples each of the %d processes gets",
        spec.batch_size(), examples / layout.ranks(), layout.ranks()));
  }
  return absl::OkStatus();
}

// A data-parallel job this server can run: CPU processes within its hosts,
// or GPUs of this host (one process each, over NCCL); a shard of at least a
// batch per rank.
absl::Status CheckDataParallel(const v1::JobSpec& spec, const RankLayout& layout, const ServerConfig& config,
                               const DevicePool& pool) {
  const v1::Resources& res = spec.resources();
  if (res.gpu_count() > 1) {
    // One process per GPU of this host (the server knows only its own).
    if (res.device() == "cpu") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "resources.gpu_count: %d GPUs for a job whose resources.device is 'cpu'; ask for cuda or any",
          res.gpu_count()));
    }
    if (layout.nodes > 1) {
      return absl::UnimplementedError(absl::StrFormat(
          "resources: %d GPUs on each of %d nodes: this server runs GPU jobs on its own GPUs only (one node); ask "
          "for node_count 1, or CPU processes across its hosts",
          res.gpu_count(), layout.nodes));
    }
    if (static_cast<int>(pool.gpus.size()) < res.gpu_count()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "resources.gpu_count: %d, but this server has %d usable GPU%s%s; ask for fewer", res.gpu_count(),
          pool.gpus.size(), pool.gpus.size() == 1 ? "" : "s",
          pool.gpus.empty() ? absl::StrCat(" (", pool.no_gpu_reason, ")") : ""));
    }
  } else if (res.device() == "cuda") {
    return absl::UnimplementedError(absl::StrFormat(
        "resources: a cuda job on %d nodes: this server runs GPU jobs on its own GPUs only (one node); ask for "
        "node_count 1 with gpu_count GPUs, or CPU processes across its hosts",
        layout.nodes));
  }
  if (res.gpu_count() > 1) return CheckShard(spec, layout);
  int hosts_with_room = 0;
  for (const Host& h : config.hosts) hosts_with_room += h.slots >= layout.per_node ? 1 : 0;
  if (hosts_with_room < layout.nodes) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "resources: %d processes on each of %d nodes, but this server's hosts (%s) have %d with %d slots or more: "
        "ask for fewer, or start the server with more --hosts",
        layout.per_node, layout.nodes, HostListString(config.hosts), hosts_with_room, layout.per_node));
  }
  return CheckShard(spec, layout);
}

}  // namespace

// An inline spec or an ONNX model within the server's --max-model-bytes.
absl::Status CheckModelSize(const v1::ModelRef& model, int64_t limit) {
  if (model.has_spec() && static_cast<int64_t>(model.spec().ByteSizeLong()) > limit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model.spec: %d bytes, over this server's limit of %d", model.spec().ByteSizeLong(), limit));
  }
  if (model.has_onnx() && static_cast<int64_t>(model.onnx().model().size()) > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model.onnx: %d bytes (the ONNX file with its weights), over this server's limit of %d (--max-model-bytes)",
        model.onnx().model().size(), limit));
  }
  return absl::OkStatus();
}

absl::StatusOr<ResolvedJob> ResolveJob(const v1::JobSpec& spec, const ServerConfig& config, const DevicePool& pool) {
  // Every field in its range (the strategy auto is resolved by PlanOnPool),
  // the model built and checked at the batch.
  SLIM_RETURN_IF_ERROR(CheckModelSize(spec.model(), config.max_model_bytes));
  const bool use_auto = spec.strategy() == "auto";
  v1::JobSpec check = spec;
  if (use_auto) check.set_strategy(planner::kDefaultStrategy);
  SLIM_ASSIGN_OR_RETURN(engine::CheckedJob checked, engine::CheckJobSpec(check, config.limits));

  // This server's policy: data-parallel jobs on the CPU over its hosts, its
  // time limit, its data root.
  const v1::Resources& res = spec.resources();
  const RankLayout layout = RanksOf(res);
  if (layout.ranks() > 1) SLIM_RETURN_IF_ERROR(CheckDataParallel(spec, layout, config, pool));
  if (res.device() == "cuda" && pool.gpus.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("resources.device: 'cuda', but this server has no usable GPU (",
                                                      pool.no_gpu_reason, "); ask for cpu or any"));
  }
  if (res.max_run_seconds() > config.max_run_seconds) {
    return absl::InvalidArgumentError(absl::StrFormat("resources.max_run_seconds: %d, must be in [0, %d]",
                                                      res.max_run_seconds(), config.max_run_seconds));
  }
  if (!spec.dataset().path().empty()) {
    SLIM_RETURN_IF_ERROR(ResolveInsideRoot(config.data_root, spec.dataset().path()).status());
  }
  return ResolvedJob{spec, std::move(checked.model), std::move(checked.graph), layout};
}

absl::StatusOr<PlacedPlan> PlanOnPool(const ResolvedJob& job, const ServerConfig& config, const DevicePool& pool,
                                      planner::PlanStop& stop) {
  const v1::JobSpec& spec = job.spec;
  const v1::Resources& res = spec.resources();
  const int64_t capacity = pool.cpu_capacity_bytes;
  v1::MemoryPlan plan;
  // Data-parallel jobs train on GPUs when they ask for several, else on the
  // CPU (CheckDataParallel).
  const bool gpu_ranks = res.gpu_count() > 1;
  bool on_gpu = gpu_ranks ||
                (job.layout.ranks() == 1 && (res.device() == "cuda" || (res.device() != "cpu" && !pool.gpus.empty())));
  if (on_gpu) {
    // The server holds no CUDA context: GPU jobs are admitted with every
    // cuDNN workspace at its bound (workspace_bounds.h), and the worker's own
    // plan, with the workspaces its GPU's cuDNN chose, must fit this peak.
    // A job of k GPUs must fit the k-th largest.
    const Gpu& largest = gpu_ranks ? KthLargestGpu(pool.gpus, res.gpu_count()) : LargestGpu(pool.gpus);
    const int64_t room = largest.total_bytes - largest.overhead_bytes;
    absl::StatusOr<v1::MemoryPlan> gpu_plan =
        PlanJob(job.graph, spec, room, "cuda", engine::cuda::CudaWorkspaceBound(), &stop);
    const bool fits = gpu_plan.ok() && gpu_plan->peak_bytes() <= room;
    if (fits) {
      plan = *std::move(gpu_plan);
    } else if (res.device() == "cuda" || gpu_ranks ||
               (!gpu_plan.ok() && !absl::IsFailedPrecondition(gpu_plan.status()))) {
      if (!gpu_plan.ok()) return gpu_plan.status();
      return absl::FailedPreconditionError(absl::StrFormat(
          "the plan needs %s (peak of %s at batch %d; %d bytes) but the largest GPU of this server, cuda:%d (%s), "
          "has %s for it (%d bytes, after %s for the worker's CUDA context and libraries): choose a smaller batch "
          "or a strategy that fits (slimtrain plan --max-batch)",
          base::FormatBytes(gpu_plan->peak_bytes()), gpu_plan->strategy(), gpu_plan->batch_size(),
          gpu_plan->peak_bytes(), largest.index, largest.name, base::FormatBytes(room), room,
          base::FormatBytes(largest.overhead_bytes)));
    } else {
      on_gpu = false;  // any device: the CPU may still fit it
    }
  }
  if (!on_gpu) {
    // The CPU as this job's worker will run: its thread count sets the
    // workspaces (oneDNN's, planned in a worker process: cpu_planner.h), so
    // the worker's executor takes this plan as it is.
    v1::JobSpec resolved = spec;
    *resolved.mutable_model()->mutable_spec() = job.model;
    planner::PlanRequestBounds bounds;
    bounds.limits = config.limits;
    bounds.stop = &stop;
    SLIM_ASSIGN_OR_RETURN(plan, PlanJobOnCpu(config.worker_path, resolved, capacity,
                                             RankThreads(res, job.layout, config), bounds));
  }
  if (spec.budget_bytes() > 0 && plan.peak_bytes() > spec.budget_bytes()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "budget_bytes: the plan needs %s (peak of %s at batch %d; %d bytes) but budget_bytes is %d bytes: raise "
        "it, or choose a smaller batch or a strategy that fits (slimtrain plan --budget %d --strategies auto)",
        base::FormatBytes(plan.peak_bytes()), plan.strategy(), plan.batch_size(), plan.peak_bytes(),
        spec.budget_bytes(), spec.budget_bytes()));
  }
  if (!on_gpu && job.layout.per_node > 1 && plan.peak_bytes() * job.layout.per_node > capacity) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the plan needs %s per process (peak of %s at batch %d; %d bytes), %s for the %d processes on each host, "
        "but a host of this server has %s available (%d bytes): ask for fewer processes per node, a smaller batch "
        "or a strategy that fits (slimtrain plan --max-batch)",
        base::FormatBytes(plan.peak_bytes()), plan.strategy(), plan.batch_size(), plan.peak_bytes(),
        base::FormatBytes(plan.peak_bytes() * job.layout.per_node), job.layout.per_node, base::FormatBytes(capacity),
        capacity));
  }
  if (!on_gpu && plan.peak_bytes() > capacity) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the plan needs %s (peak of %s at batch %d; %d bytes) but the largest device of this server, cpu, has %s "
        "available (%d bytes): choose a smaller batch or a strategy that fits (slimtrain plan --max-batch)",
        base::FormatBytes(plan.peak_bytes()), plan.strategy(), plan.batch_size(), plan.peak_bytes(),
        base::FormatBytes(capacity), capacity));
  }
  return PlacedPlan{std::move(plan), on_gpu};
}

absl::StatusOr<v1::PlanMemoryResponse> AnswerPlanMemory(const v1::PlanMemoryRequest& request,
                                                        const ServerConfig& config, const DevicePool& pool,
                                                        planner::PlanStop& stop) {
  planner::PlanRequestBounds bounds;
  bounds.limits = config.limits;
  bounds.max_work = config.max_plan_work;
  bounds.max_work_name = "this server's limit (--max-plan-work)";
  bounds.stop = &stop;
  // This server's GPUs as targets ("cuda:0": their memory less a worker's
  // overhead) besides the profiles. GPU targets plan with cuDNN's workspaces
  // at their bounds, as GPU jobs are admitted; the CPU as its workers run.
  std::vector<planner::DeviceProfile> devices;
  for (const Gpu& g : pool.gpus) {
    devices.push_back(planner::GpuDevice(g.index, g.name, g.total_bytes, g.overhead_bytes, "this server's"));
  }
  const std::string name = request.device().empty() ? "cpu" : request.device();
  absl::StatusOr<planner::DeviceProfile> profile = planner::FindDevice(name);
  const bool gpu = absl::StartsWith(name, "cuda:") || (profile.ok() && profile->gpu);
  if (gpu) return planner::AnswerPlanRequest(request, engine::cuda::CudaWorkspaceBound(), devices, bounds);
  // The CPU as its workers run (workspaces depend on the thread count), in
  // a worker process of its own (cpu_planner.h).
  return AnswerOnCpu(config.worker_path, request, config.cpu_threads, devices, bounds);
}


}  // namespace slimtrain::server
