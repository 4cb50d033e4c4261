// plan_request.h — answers a PlanMemoryRequest (proto/service.proto): the one
// function behind both `slimtrain plan` (local) and the server's PlanMemory RPC.
//
//   v1::PlanMemoryRequest request;
//   request.mutable_model()->set_zoo("resnet164");
//   request.set_batch_size(128);
//   request.add_strategies("exact");
//   request.add_strategies("approx4");
//   absl::StatusOr<v1::PlanMemoryResponse> response =
//       AnswerPlanRequest(request, DefaultCostModel());
//
// The budget is request.budget_bytes, or else the device's memory less its
// reserve (cost_model.h). Strategies empty: all of them; ["auto"]: the
// first that fits (planner.h's ChooseStrategy), whose plans are all returned.
#ifndef SLIMTRAIN_PLANNER_PLAN_REQUEST_H_
#define SLIMTRAIN_PLANNER_PLAN_REQUEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/cost_model.h"
#include "planner/data_parallel.h"
#include "planner/graph.h"
#include "planner/limits.h"
#include "planner/plan_stop.h"
#include "proto/model.pb.h"
#include "proto/service.pb.h"

namespace slimtrain::planner {

// The model a ModelRef names: a zoo model, or the inline spec. INVALID_ARGUMENT
// when neither is set; NOT_FOUND for an unknown zoo name.
absl::StatusOr<v1::ModelSpec> ResolveModel(const v1::ModelRef& ref);

// How much one request may ask for. The defaults bound nothing but sizes.
struct PlanRequestBounds {
  // Sizes of the model and the batch (limits.h).
  SizeLimits limits;
  // Planning work in layer-plans: layers × the plans the request needs (one
  // per strategy, and for max_batch about two per power of two up to the
  // largest batch the limits allow). Over it: RESOURCE_EXHAUSTED naming
  // max_work_name. 0: unbounded.
  int64_t max_work = 0;
  std::string max_work_name = "the limit";
  // Deadline, cancellation, time limit (plan_stop.h); nullptr: none.
  const PlanStop* stop = nullptr;
};

// Validates every field (errors name it: "batch_size must be >= 1, got 0",
// "strategies[1]: unknown strategy 'fast'", "device: unknown device 'x'; known:
// ..."), builds the graph, and plans.
// `devices`: targets besides the known profiles (a server's own GPUs, e.g.
// "cuda:0"), found first by name. request.data_parallel: plan each rank of
// a data-parallel job (data_parallel.h; the request's batch_size is each
// rank's; its ranks and bucket size checked, naming data_parallel.*); unset,
// one process.
absl::StatusOr<v1::PlanMemoryResponse> AnswerPlanRequest(const v1::PlanMemoryRequest& request,
                                                         const CostModel& cost,
                                                         const std::vector<DeviceProfile>& devices = {},
                                                         const PlanRequestBounds& bounds = PlanRequestBounds());

// A request's or a job's data-parallel planning as options (0s are the
// defaults; ranks 0 is 1).
DataParallelOptions DataParallelOf(const v1::DataParallelPlanning& planning);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_PLAN_REQUEST_H_
