// model_fuzzer — a model file as users pass it (`--model-file`, a PlanMemory
// or SubmitJob request's inline spec): text or JSON ModelSpec → Graph::Build →
// PlanMemory at batches 1..4 under every strategy, with the planner's
// DefaultCostModel and with the fast CPU backend (which asks oneDNN about each
// conv/linear shape, as the server's workers do).
//
// Checks besides "no crash": what model_io.h promises (a parsed spec prints
// to text and to JSON and parses back equal) and what plan.proto promises
// (arena_bytes >= arena_lower_bound_bytes, peak_bytes is the sum of its parts,
// no byte count is negative, fits says peak_bytes <= budget_bytes), and that
// the arena is one: the buffers' storage blocks (in-place chains together)
// pass VerifyArena and their lower bound is the plan's. (A budget between a
// plan's lower bound and its arena, which makes the planner ask the exact
// search, was tried here too: over 774 corpus inputs no plan had an arena
// above its bound, so it never ran.)
//
// Caps (fuzz_util.h): models with more than 64 layers are built but not
// planned; the batch is 1..4, and the fast backend plans one strategy per
// batch (its workspaces do not depend on the strategy).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/cpu/fast_backend.h"
#include "google/protobuf/util/message_differencer.h"
#include "planner/cost_model.h"
#include "planner/graph.h"
#include "planner/model_io.h"
#include "planner/plan_blocks.h"
#include "planner/planner.h"
#include "planner/strategy.h"
#include "tests/fuzz/fuzz_util.h"

namespace slimtrain::fuzz {
namespace {

using google::protobuf::util::MessageDifferencer;

// `spec` printed as `format` parses back to an equal spec.
void CheckRoundTrip(const v1::ModelSpec& spec, planner::ModelFormat format) {
  const bool text = format == planner::ModelFormat::kText;
  const std::string printed = text ? planner::ModelToText(spec) : planner::ModelToJson(spec);
  absl::StatusOr<v1::ModelSpec> back = planner::ParseModel(printed, format, text ? "printed.pbtxt" : "printed.json");
  FUZZ_CHECK(back.ok(), "the printed model does not parse: " << back.status() << "\n" << printed);
  FUZZ_CHECK(MessageDifferencer::Equals(spec, *back), "the printed model parses to another spec:\n"
                                                          << printed << "\nparsed back:\n"
                                                          << back->DebugString());
}

void CheckPlan(const v1::MemoryPlan& plan) {
  FUZZ_CHECK(plan.arena_bytes() >= plan.arena_lower_bound_bytes(),
             "arena " << plan.arena_bytes() << " < lower bound " << plan.arena_lower_bound_bytes());
  FUZZ_CHECK(plan.arena_lower_bound_bytes() >= 0 && plan.parameter_bytes() >= 0 && plan.gradient_bytes() >= 0 &&
                 plan.optimizer_state_bytes() >= 0 && plan.saved_activation_bytes() >= 0,
             "a negative byte count:\n" << plan.DebugString());
  FUZZ_CHECK(plan.peak_bytes() ==
                 plan.parameter_bytes() + plan.gradient_bytes() + plan.optimizer_state_bytes() + plan.arena_bytes(),
             "peak_bytes is not the sum of its parts:\n" << plan.DebugString());
  FUZZ_CHECK(plan.fits() == (plan.budget_bytes() == 0 || plan.peak_bytes() <= plan.budget_bytes()),
             "fits " << plan.fits() << " with peak " << plan.peak_bytes() << " and budget " << plan.budget_bytes());
  // The buffers as the arena packed them (in-place chains as blocks).
  for (int i = 0; i < plan.buffers_size(); ++i) {
    const v1::Buffer& b = plan.buffers(i);
    FUZZ_CHECK(b.id() == i && b.in_place_of() < i, "buffer " << i << ": id " << b.id() << ", in place of "
                                                              << b.in_place_of());
    FUZZ_CHECK(b.in_place_of() < 0 || b.offset_bytes() == plan.buffers(b.in_place_of()).offset_bytes(),
               b.name() << " is in place of a buffer at another offset");
  }
  const absl::Status one_arena = planner::VerifyPlanArena(plan);
  FUZZ_CHECK(one_arena.ok(), plan.model() << " " << plan.strategy() << ": " << one_arena);
}

void Plan(const planner::Graph& graph, planner::Strategy strategy, int64_t batch, const planner::CostModel& cost) {
  planner::PlanOptions options;
  options.batch_size = batch;
  options.include_buffers = true;
  absl::StatusOr<v1::MemoryPlan> plan = planner::PlanMemory(graph, strategy, options, cost);
  if (plan.ok()) CheckPlan(*plan);
}

}  // namespace
}  // namespace slimtrain::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace slimtrain;  // NOLINT: a fuzz target's one function
  const absl::string_view contents(reinterpret_cast<const char*>(data), size);
  // As LoadModelFile does for a file without a known extension.
  const planner::ModelFormat format = planner::DetectModelFormat("fuzz", contents);
  absl::StatusOr<v1::ModelSpec> spec = planner::ParseModel(contents, format, "fuzz");
  if (!spec.ok()) return 0;
  fuzz::CheckRoundTrip(*spec, planner::ModelFormat::kText);
  fuzz::CheckRoundTrip(*spec, planner::ModelFormat::kJson);

  absl::StatusOr<planner::Graph> graph = planner::Graph::Build(*spec);
  if (!graph.ok() || spec->layers_size() > fuzz::kMaxPlannedLayers) return 0;
  const planner::DefaultCostModel default_cost;
  // A backend per input, as the server makes one per request: its cache of
  // oneDNN primitives grows with every new shape. One thread: the fuzzer
  // runs one input at a time.
  const engine::FastBackend fast(/*threads=*/1);
  const std::vector<planner::Strategy>& strategies = planner::AllStrategies();
  for (int64_t batch = 1; batch <= fuzz::kMaxBatch; ++batch) {
    for (planner::Strategy strategy : strategies) fuzz::Plan(*graph, strategy, batch, default_cost);
    fuzz::Plan(*graph, strategies[batch % strategies.size()], batch, fast);
  }
  return 0;
}
