// See plan_request.h.
#include "planner/onnx_import.h"
#include "planner/plan_request.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "planner/mixed.h"
#include "planner/planner.h"
#include "planner/strategy.h"
#include "planner/zoo.h"

namespace slimtrain::planner {

absl::StatusOr<v1::ModelSpec> ResolveModel(const v1::ModelRef& ref) {
  switch (ref.source_case()) {
    case v1::ModelRef::kZoo:
      return ZooModel(ref.zoo());
    case v1::ModelRef::kSpec:
      return ref.spec();
    case v1::ModelRef::kOnnx: {
      OnnxImportOptions options;
      if (!ref.onnx().loss().empty()) options.loss = ref.onnx().loss();
      options.weight_values = false;  // the graph only
      SLIM_ASSIGN_OR_RETURN(OnnxImport im, ImportOnnx(ref.onnx().model(), "model.onnx", options));
      return std::move(im.spec);
    }
    case v1::ModelRef::SOURCE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("model: set a zoo name (zoo), an inline spec (spec) or an ONNX model (onnx)");
}

DataParallelOptions DataParallelOf(const v1::DataParallelPlanning& d) {
  DataParallelOptions o;
  o.ranks = d.ranks() == 0 ? 1 : d.ranks();
  if (d.bucket_bytes() != 0) o.bucket_bytes = d.bucket_bytes();
  o.overlap_communication = !d.no_overlap();
  o.sync_batch_norm = d.sync_batch_norm();
  return o;
}

absl::StatusOr<v1::PlanMemoryResponse> AnswerPlanRequest(const v1::PlanMemoryRequest& request, const CostModel& cost,
                                                         const std::vector<DeviceProfile>& devices,
                                                         const PlanRequestBounds& bounds) {
  if (request.batch_size() < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be >= 1, got ", request.batch_size()));
  }
  if (request.budget_bytes() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("budget_bytes must be >= 0, got ", request.budget_bytes()));
  }
  if (request.alignment_bytes() < 0 || request.alignment_bytes() > kMaxAlignmentBytes) {
    return absl::InvalidArgumentError(absl::StrCat("alignment_bytes must be in [0, ", kMaxAlignmentBytes, "], got ",
                                                   request.alignment_bytes()));
  }
  if (request.has_arena_exact_seconds() &&
      !(request.arena_exact_seconds() >= 0 && request.arena_exact_seconds() <= kMaxArenaExactSeconds)) {
    return absl::InvalidArgumentError(absl::StrCat("arena_exact_seconds must be in [0, ", kMaxArenaExactSeconds,
                                                   "], got ", request.arena_exact_seconds()));
  }
  if (request.strategies_size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategies: ", request.strategies_size(), " given, at most 64 (each known one once is enough)"));
  }
  bool use_auto = false;
  std::vector<Strategy> strategies;
  for (int i = 0; i < request.strategies_size(); ++i) {
    if (request.strategies(i) == "auto") {
      if (request.strategies_size() != 1) {
        return absl::InvalidArgumentError("strategies: 'auto' must be the only strategy");
      }
      use_auto = true;
      break;
    }
    absl::StatusOr<Strategy> s = ParseStrategy(request.strategies(i));
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("strategies[", i, "]: ", s.status().message()));
    }
    strategies.push_back(*s);
  }
  if (request.strategies_size() == 0) strategies = AllStrategies();
  const std::string device_name = request.device().empty() ? "cpu" : request.device();
  absl::StatusOr<DeviceProfile> device = absl::NotFoundError("");
  for (const DeviceProfile& d : devices) {
    if (d.name == device_name) device = d;
  }
  if (!device.ok()) device = FindDevice(device_name);
  if (!device.ok()) return absl::InvalidArgumentError(absl::StrCat("device: ", device.status().message()));
  SLIM_ASSIGN_OR_RETURN(v1::ModelSpec spec, ResolveModel(request.model()));
  SLIM_ASSIGN_OR_RETURN(Graph graph, Graph::Build(spec, bounds.limits));
  SLIM_RETURN_IF_ERROR(graph.CheckBatch(request.batch_size(), cost.element_bytes()));
  if (bounds.max_work > 0) {
    // Plans the request needs: one per strategy (auto may try all five of
    // its order), and for max_batch a doubling and a bisection search.
    const int64_t plans_per_strategy =
        1 + (request.max_batch() ? 2 * (64 - __builtin_clzll(std::max<int64_t>(
                                                  graph.MaxCheckedBatch(cost.element_bytes()), 1)))
                                 : 0);
    const int64_t count = use_auto ? static_cast<int64_t>(AutoOrder().size()) : static_cast<int64_t>(strategies.size());
    const int64_t work = spec.layers_size() * count * plans_per_strategy;
    if (work > bounds.max_work) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "this request plans %d strategies%s for a %d-layer model: %d layer-plans, over %s of %d; ask for fewer "
          "strategies%s, or plan it locally with `slimtrain plan`",
          count, request.max_batch() ? " with max_batch" : "", spec.layers_size(), work, bounds.max_work_name,
          bounds.max_work, request.max_batch() ? " or without max_batch" : ""));
    }
  }

  PlanOptions options;
  options.batch_size = request.batch_size();
  options.optimizer = OptimizerOrDefault(request.optimizer());
  options.budget_bytes = request.budget_bytes() > 0 ? request.budget_bytes() : device->budget_bytes();
  // checkpoint_optimal trades recompute for a budget the user gave; without
  // one it shows its least peak.
  options.checkpoint_budget_bytes = request.budget_bytes();
  options.alignment_bytes = request.alignment_bytes();
  if (request.has_arena_exact_seconds()) options.arena_exact_seconds = request.arena_exact_seconds();
  Sensitivity sensitivity;
  if (request.has_sensitivity()) {
    SLIM_ASSIGN_OR_RETURN(sensitivity, SensitivityFromTable(request.sensitivity()));
    options.sensitivity = &sensitivity;
  }
  options.include_buffers = request.include_buffers();
  options.device = device_name;
  options.stop = bounds.stop;
  options.data_parallel = DataParallelOf(request.data_parallel());

  v1::PlanMemoryResponse response;
  response.set_budget_bytes(options.budget_bytes);
  if (use_auto) {
    SLIM_ASSIGN_OR_RETURN(StrategyChoice choice, ChooseStrategy(graph, options, cost));
    for (const v1::MemoryPlan& plan : choice.plans) *response.add_plans() = plan;
    if (choice.fits) response.set_chosen_strategy(StrategyName(choice.strategy));
    response.set_choice_reason(choice.reason);
  } else {
    for (Strategy s : strategies) {
      SLIM_ASSIGN_OR_RETURN(*response.add_plans(), PlanMemory(graph, s, options, cost));
    }
  }
  if (request.max_batch()) {
    for (v1::MemoryPlan& plan : *response.mutable_plans()) {
      SLIM_ASSIGN_OR_RETURN(Strategy s, ParseStrategy(plan.strategy()));
      SLIM_ASSIGN_OR_RETURN(int64_t max_batch, MaxBatchSize(graph, s, options, cost));
      plan.set_max_batch_size(max_batch);
    }
  }
  return response;
}

}  // namespace slimtrain::planner
