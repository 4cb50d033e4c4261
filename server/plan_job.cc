// See plan_job.h.
#include "server/plan_job.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "planner/mixed.h"
#include "planner/planner.h"
#include "planner/strategy.h"

namespace slimtrain::server {

RankLayout RanksOf(const v1::Resources& res) {
  RankLayout l;
  l.nodes = std::max(1, res.node_count());
  const bool gpu = res.device() == "cuda" || res.gpu_count() > 1;
  l.per_node = std::max(1, gpu ? res.gpu_count() : res.cpu_ranks());
  return l;
}

absl::StatusOr<v1::MemoryPlan> PlanJob(const planner::Graph& graph, const v1::JobSpec& spec, int64_t room,
                                       const std::string& device, const planner::CostModel& cost,
                                       const planner::PlanStop* stop) {
  planner::PlanOptions options;
  options.batch_size = spec.batch_size();
  options.optimizer = planner::OptimizerOrDefault(spec.optimizer().kind());
  options.checkpoint_budget_bytes = spec.budget_bytes();
  options.budget_bytes = spec.budget_bytes() > 0 ? spec.budget_bytes() : room;
  options.device = device;
  options.stop = stop;
  options.include_buffers = true;  // the worker runs this plan (Submit stores it whole)
  options.data_parallel = planner::DataParallelOf(spec.data_parallel());
  options.data_parallel.ranks = RanksOf(spec.resources()).ranks();
  // mixed with the job's own sensitivity table plans what its worker will;
  // without one it assumes sensitivities, and the worker runs these bits.
  planner::Sensitivity sensitivity;
  if (spec.sensitivity().tensors_size() > 0) {
    SLIM_ASSIGN_OR_RETURN(sensitivity, planner::SensitivityFromTable(spec.sensitivity()));
    options.sensitivity = &sensitivity;
  }
  if (spec.strategy() == "auto") {
    SLIM_ASSIGN_OR_RETURN(planner::StrategyChoice choice, planner::ChooseStrategy(graph, options, cost));
    if (!choice.fits) {
      return absl::FailedPreconditionError(
          spec.budget_bytes() > 0
              ? absl::StrFormat("budget_bytes: no strategy fits %d bytes: %s", spec.budget_bytes(), choice.reason)
              : absl::StrCat("strategy auto: ", choice.reason));
    }
    return choice.plans.back();
  }
  SLIM_ASSIGN_OR_RETURN(planner::Strategy s, planner::ParseStrategyOrDefault(spec.strategy()));
  return planner::PlanMemory(graph, s, options, cost);
}

void SetTaskBounds(const planner::PlanRequestBounds& bounds, const std::vector<planner::DeviceProfile>& devices,
                   v1::PlanTask& task) {
  task.set_max_layers(bounds.limits.max_layers);
  task.set_max_name_bytes(bounds.limits.max_name_bytes);
  task.set_max_batch_size(bounds.limits.max_batch_size);
  task.set_max_tensor_bytes(bounds.limits.max_tensor_bytes);
  task.set_max_parameters(bounds.limits.max_parameters);
  task.set_max_work(bounds.max_work);
  task.set_max_work_name(bounds.max_work_name);
  if (bounds.stop != nullptr) {
    const planner::PlanStop& stop = *bounds.stop;
    if (stop.deadline != absl::InfiniteFuture()) task.set_deadline_unix_micros(absl::ToUnixMicros(stop.deadline));
    if (stop.time_limit != absl::InfiniteFuture()) {
      task.set_time_limit_unix_micros(absl::ToUnixMicros(stop.time_limit));
    }
    task.set_time_limit_reason(stop.time_limit_reason);
  }
  for (const planner::DeviceProfile& d : devices) {
    v1::PlanDevice* p = task.add_devices();
    p->set_name(d.name);
    p->set_gpu(d.gpu);
    p->set_memory_bytes(d.memory_bytes);
    p->set_reserve_bytes(d.reserve_bytes);
    p->set_description(d.description);
  }
}

planner::SizeLimits TaskLimits(const v1::PlanTask& task) {
  planner::SizeLimits limits;
  limits.max_layers = task.max_layers();
  limits.max_name_bytes = task.max_name_bytes();
  limits.max_batch_size = task.max_batch_size();
  limits.max_tensor_bytes = task.max_tensor_bytes();
  limits.max_parameters = task.max_parameters();
  return limits;
}

planner::PlanStop TaskStop(const v1::PlanTask& task) {
  planner::PlanStop stop;
  if (task.deadline_unix_micros() != 0) stop.deadline = absl::FromUnixMicros(task.deadline_unix_micros());
  if (task.time_limit_unix_micros() != 0) stop.time_limit = absl::FromUnixMicros(task.time_limit_unix_micros());
  if (!task.time_limit_reason().empty()) stop.time_limit_reason = task.time_limit_reason();
  return stop;
}

namespace {

absl::Status Run(const v1::PlanTask& task, const planner::CostModel& cost, v1::PlanTaskResult& result) {
  const planner::PlanStop stop = TaskStop(task);
  if (task.has_job()) {
    const v1::JobSpec& spec = task.job();
    if (!spec.model().has_spec()) return absl::InvalidArgumentError("plan task: the job's model is not resolved");
    SLIM_ASSIGN_OR_RETURN(planner::Graph graph, planner::Graph::Build(spec.model().spec(), TaskLimits(task)));
    SLIM_ASSIGN_OR_RETURN(*result.mutable_plan(), PlanJob(graph, spec, task.room_bytes(), "cpu", cost, &stop));
    return absl::OkStatus();
  }
  if (task.has_request()) {
    planner::PlanRequestBounds bounds;
    bounds.limits = TaskLimits(task);
    bounds.max_work = task.max_work();
    bounds.max_work_name = task.max_work_name();
    bounds.stop = &stop;
    std::vector<planner::DeviceProfile> devices;
    for (const v1::PlanDevice& p : task.devices()) {
      devices.push_back({p.name(), p.gpu(), p.memory_bytes(), p.reserve_bytes(), p.description()});
    }
    SLIM_ASSIGN_OR_RETURN(*result.mutable_response(),
                          planner::AnswerPlanRequest(task.request(), cost, devices, bounds));
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("plan task: neither a job nor a request");
}

}  // namespace

v1::PlanTaskResult RunPlanTask(const v1::PlanTask& task, const planner::CostModel& cost) {
  v1::PlanTaskResult result;
  const absl::Status status = Run(task, cost, result);
  if (!status.ok()) {
    result.Clear();
    result.set_code(static_cast<int>(status.code()));
    result.set_message(std::string(status.message()));
  }
  return result;
}

int ServePlanTask(const std::function<std::unique_ptr<planner::CostModel>(int threads)>& make_cost) {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  v1::PlanTask task;
  if (!task.ParseFromString(input)) {
    std::cerr << "slimtrain_worker --plan: standard input is not a plan task (" << input.size() << " bytes)\n";
    return 1;
  }
  const std::unique_ptr<planner::CostModel> cost = make_cost(task.cpu_threads());
  const std::string output = RunPlanTask(task, *cost).SerializeAsString();
  size_t written = 0;
  while (written < output.size()) {
    const ssize_t w = write(STDOUT_FILENO, output.data() + written, output.size() - written);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      std::cerr << "slimtrain_worker --plan: cannot write the result\n";
      return 1;
    }
    written += static_cast<size_t>(w);
  }
  return 0;
}

}  // namespace slimtrain::server
