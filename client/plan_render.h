// plan_render.h — memory plans as people and scripts read them: a table, JSON,
// and an SVG picture of the arena.
//
//   RenderOptions options;
//   options.format = "json";
//   absl::Status s = PrintPlans(response, options, std::cout, std::cerr);
//
// The same renderers serve the local `slimtrain plan` and the remote
// `slimtrain plan --server`, which get their plans from the PlanMemory RPC.
#ifndef SLIMTRAIN_CLIENT_PLAN_RENDER_H_
#define SLIMTRAIN_CLIENT_PLAN_RENDER_H_

#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "proto/plan.pb.h"
#include "proto/service.pb.h"

namespace slimtrain::client {

struct RenderOptions {
  std::string format = "table";  // "table" or "json"
  bool max_batch = false;        // show max_batch_size
  bool buffers = false;          // JSON: include buffers and steps
  std::string svg;               // write arena pictures here (see PrintPlans)
  std::string arena_csv;         // write the arenas' buffer lists here (see PrintPlans)
};

// One row per plan, human units, each plan's peak as a ratio to the exact
// plan's (when one is among them), the budget verdict, and auto's choice;
// for a data-parallel job's plans (ranks > 1), its ranks and buckets and
// each plan's bytes sent per step.
std::string PlansTable(const v1::PlanMemoryResponse& response, const RenderOptions& options);

// {"plans": [...], "budget_bytes": ..., and for auto "chosen_strategy",
// "choice_reason"}, each plan with the proto field names (64-bit integers as
// strings, per the proto3 JSON mapping); max_batch_size only with
// options.max_batch, buffers and steps only with options.buffers.
absl::StatusOr<std::string> PlansJson(const v1::PlanMemoryResponse& response, const RenderOptions& options);

// Writes the table or JSON to `out`; with options.svg, writes each plan's
// render::ArenaSvg to that path ("out.svg"; "out.<strategy>.svg" for several plans)
// and says so on `err`; with options.arena_csv, each plan's ArenaCsvOfPlan
// likewise ("out.csv"; "out.<strategy>.csv"). Errors name the file that
// could not be written.
// The blocks a plan packed into its arena, as `slimtrain arena` reads them:
// "id,lower,upper,size,offset" (MiniMalloc's solution format), one line per
// block of memory: a buffer and those that reuse it in place (one id, the
// first buffer's; the largest size; from its first step to the last one's
// last, upper exclusive), at the plan's offset. Needs plan.buffers.
std::string ArenaCsvOfPlan(const v1::MemoryPlan& plan);

absl::Status PrintPlans(const v1::PlanMemoryResponse& response, const RenderOptions& options, std::ostream& out,
                        std::ostream& err);

}  // namespace slimtrain::client

#endif  // SLIMTRAIN_CLIENT_PLAN_RENDER_H_
