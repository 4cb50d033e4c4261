// See planner.h.
#include "planner/planner.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/units.h"
#include "planner/arena.h"
#include "planner/data_parallel.h"
#include "planner/lifetimes.h"
#include "planner/recompute.h"
#include "planner/schedule.h"

namespace slimtrain::planner {
namespace {

// A packed schedule: offsets per buffer.
struct Packed {
  Schedule schedule;
  std::vector<StorageBlock> blocks;  // the arena's requests, in arena.offsets' order
  ArenaPlan arena;
  std::vector<int64_t> buffer_offset;
};

}  // namespace

int64_t ArenaExactNodes(double seconds) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(seconds * kArenaExactNodesPerSecond)));
}

namespace {

// The arena's requests: one per block of memory (a buffer and those reusing
// it in place).
std::vector<ArenaRequest> BlockRequests(const std::vector<StorageBlock>& blocks) {
  std::vector<ArenaRequest> requests;
  requests.reserve(blocks.size());
  for (const StorageBlock& b : blocks) {
    ArenaRequest r;
    r.size = b.size_bytes;
    r.first = b.first_step;
    r.last = b.last_step;
    requests.push_back(r);
  }
  return requests;
}

ArenaOptions PlannerArenaOptions(const PlanOptions& options, int64_t alignment) {
  ArenaOptions arena_options;
  arena_options.alignment = alignment;
  arena_options.search_seconds = options.arena_search_seconds;
  arena_options.exact_seconds = options.arena_exact_seconds;
  arena_options.exact_max_nodes = ArenaExactNodes(options.arena_exact_seconds);
  arena_options.exact_tolerance = kArenaExactTolerance;
  return arena_options;
}

// Takes `arena` as p's: each buffer at its block's offset.
void SetArena(ArenaPlan arena, Packed& p) {
  p.buffer_offset.assign(p.schedule.buffers.size(), 0);
  for (size_t i = 0; i < p.blocks.size(); ++i) {
    for (int b : p.blocks[i].buffers) p.buffer_offset[b] = arena.offsets[i];
  }
  p.arena = std::move(arena);
}

// Adds the data-parallel gradient buckets (none for one rank), then packs.
absl::StatusOr<Packed> Pack(const Graph& graph, Schedule schedule, const PlanOptions& options, int64_t alignment) {
  AddGradientBuckets(graph, options.data_parallel, schedule);
  ComputeLifetimes(graph, schedule);
  Packed packed;
  packed.blocks = StorageBlocks(schedule);
  packed.schedule = std::move(schedule);
  SLIM_ASSIGN_OR_RETURN(ArenaPlan arena,
                        PlanArena(BlockRequests(packed.blocks), PlannerArenaOptions(options, alignment)));
  SetArena(std::move(arena), packed);
  return packed;
}

// A plan whose arena misses `capacity` (the budget less the parameter
// region) though its floor does not: the exact search decides whether the
// arena fits there, from the plan's placement (arena.h step 6 with a
// capacity), and the placement it finds is taken. Where the search runs to
// its limits first or proves that nothing fits, the plan stays as it was.
absl::Status FitArenaToBudget(const PlanOptions& options, int64_t alignment, int64_t capacity, Packed& p) {
  if (capacity <= 0 || p.arena.arena_bytes <= capacity || p.arena.floor_bytes > capacity) return absl::OkStatus();
  ArenaOptions arena_options = PlannerArenaOptions(options, alignment);
  arena_options.capacity = capacity;
  arena_options.start_offsets = p.arena.offsets;
  SLIM_ASSIGN_OR_RETURN(ArenaPlan fitted, PlanArena(BlockRequests(p.blocks), arena_options));
  if (fitted.arena_bytes > capacity) return absl::OkStatus();
  fitted.exact_search = "found a placement within the budget";
  SetArena(std::move(fitted), p);
  return absl::OkStatus();
}

// Bytes of the buffers kept across the end of the forward pass.
int64_t SavedBytes(const Schedule& s) {
  int64_t bytes = 0;
  for (const ScheduleBuffer& b : s.buffers) bytes += b.saved ? b.size_bytes : 0;
  return bytes;
}

int64_t PeakBytes(const Packed& p, const ParameterBytes& params) {
  return params.total() + p.arena.arena_bytes;
}

// One mixed choice: bits for the tensors the last segment codes, after the
// segments up to the last of `checkpoints` (none: no recompute) are
// recomputed exactly.
struct MixedTry {
  std::vector<int> checkpoints;
  TensorBits bits;
  double error = 0;  // predicted: the coded tensors' sensitivities at their bits
  int64_t recompute_flops = 0;
};

// Slack per step with range add and range minimum, O(log n) each (a segment
// tree with lazy additions): the mixed choice asks it once per upgrade.
class StepSlack {
 public:
  explicit StepSlack(const std::vector<int64_t>& values) : n_(static_cast<int>(values.size())) {
    min_.assign(4 * n_, 0);
    add_.assign(4 * n_, 0);
    Build(1, 0, n_ - 1, values);
  }
  int64_t Min(int lo, int hi) const { return Min(1, 0, n_ - 1, lo, hi); }
  void Add(int lo, int hi, int64_t v) { Add(1, 0, n_ - 1, lo, hi, v); }

 private:
  void Build(int node, int l, int r, const std::vector<int64_t>& v) {
    if (l == r) {
      min_[node] = v[l];
      return;
    }
    const int m = (l + r) / 2;
    Build(2 * node, l, m, v);
    Build(2 * node + 1, m + 1, r, v);
    min_[node] = std::min(min_[2 * node], min_[2 * node + 1]);
  }
  int64_t Min(int node, int l, int r, int lo, int hi) const {
    if (hi < l || r < lo) return std::numeric_limits<int64_t>::max();
    if (lo <= l && r <= hi) return min_[node];
    const int m = (l + r) / 2;
    return add_[node] + std::min(Min(2 * node, l, m, lo, hi), Min(2 * node + 1, m + 1, r, lo, hi));
  }
  void Add(int node, int l, int r, int lo, int hi, int64_t v) {
    if (hi < l || r < lo) return;
    if (lo <= l && r <= hi) {
      min_[node] += v;
      add_[node] += v;
      return;
    }
    const int m = (l + r) / 2;
    Add(2 * node, l, m, lo, hi, v);
    Add(2 * node + 1, m + 1, r, lo, hi, v);
    min_[node] = add_[node] + std::min(min_[2 * node], min_[2 * node + 1]);
  }

  int n_;
  std::vector<int64_t> min_, add_;  // add_: pending for the whole subtree, included in min_
};

// The lifetime-aware choice (mixed.h) for `checkpoints`: every coded tensor at
// 2 bits, then the upgrades that keep the live bytes of every step its code is
// alive at most `arena_budget` less `margin` (the arena's packing loss).
// nullopt when the live bytes of all at 2 bits exceed the arena budget at
// some step.
absl::StatusOr<std::optional<MixedTry>> ChooseMixedFor(const Graph& graph, const CostModel& cost, int64_t batch,
                                                       const std::vector<MixedCandidate>& candidates,
                                                       const Sensitivity& sensitivity,
                                                       const std::vector<int>& checkpoints, int64_t arena_budget,
                                                       int64_t margin, int64_t alignment,
                                                       const DataParallelOptions& data_parallel) {
  const TensorBits all2 = ChooseMixedBits(candidates, sensitivity, 0, nullptr);
  SLIM_ASSIGN_OR_RETURN(Schedule s2, BuildSchedule(graph, Strategy::kMixed, batch, cost, checkpoints, all2));
  AddGradientBuckets(graph, data_parallel, s2);  // the buckets take their share of every step they live at
  ComputeLifetimes(graph, s2);
  // Live bytes per step by a difference array.
  std::vector<int64_t> slack(s2.steps.size() + 1, 0);
  for (const StorageBlock& block : StorageBlocks(s2)) {
    const int64_t size = AlignUp(block.size_bytes, alignment);
    slack[block.first_step] += size;
    slack[block.last_step + 1] -= size;
  }
  int64_t live = 0;
  for (int64_t& s : slack) {
    live += s;
    s = arena_budget - live;
    if (s < 0) return std::nullopt;
    s -= margin;
  }
  StepSlack tree(slack);
  // Only the tensors the last segment codes: the others are recomputed.
  std::map<std::string, std::pair<int, int>> steps_of;
  for (const ScheduleBuffer& b : s2.buffers) {
    if (b.kind == v1::Buffer::CODE) steps_of[graph.node(b.node).name] = {b.first_step, b.last_step};
  }
  std::vector<MixedCandidate> coded;
  for (const MixedCandidate& c : candidates) {
    if (steps_of.count(c.name)) coded.push_back(c);
  }
  auto admit = [&](size_t i, int64_t added) {
    const auto [first, last] = steps_of.at(coded[i].name);
    if (tree.Min(first, last) < added) return false;
    tree.Add(first, last, -added);
    return true;
  };
  MixedTry mixed;
  mixed.checkpoints = checkpoints;
  mixed.bits = ChooseMixedBits(coded, sensitivity, admit, &mixed.error);
  mixed.recompute_flops = s2.recompute_flops;
  return mixed;
}

// Recomputed prefixes tried besides none: at most this many, evenly spread
// over the cut points.
constexpr int kMixedPrefixes = 24;
// Among choices whose predicted error is within this factor of the least,
// the one recomputing the fewest FLOPs.
constexpr double kMixedErrorTolerance = 1.1;

std::string DescribeMixedTry(const Graph& graph, const Schedule& s, size_t candidates, double error, double at4,
                             double at2, bool measured) {
  TensorBits chosen;
  for (const ScheduleBuffer& b : s.buffers) {
    if (b.kind == v1::Buffer::CODE) chosen[graph.node(b.node).name] = b.bits;
  }
  std::string recompute;
  if (!s.checkpoints.empty()) {
    recompute = absl::StrFormat("recomputes %d segments up to '%s' exactly (%s); the rest coded: ",
                                s.checkpoints.size(), graph.node(s.checkpoints.back()).name,
                                base::FormatFlops(s.recompute_flops));
  }
  return absl::StrFormat("%s%s; predicted gradient error %.4g (all at 4 bits: %.4g, at 2 bits: %.4g)%s", recompute,
                         DescribeMixedBits(chosen, candidates), error, at4, at2,
                         measured ? "" : "; sensitivities assumed, not measured");
}

// mixed (mixed.h): without a budget, upgrades from all at 2 bits worth
// approx4's saved bytes; with one, it tries no recompute and up to
// kMixedPrefixes recomputed prefixes (PrefixSegmentations: the segments up
// to a cut point recomputed from exact checkpoints, the rest coded), each
// with the least predicted error that fits, and picks the fewest recomputed
// FLOPs that reach approx4's predicted error, or else the least error. The
// screening keeps every step's live bytes under the budget less the packing
// loss of the all-2-bit plan; the choice is then packed, the margin grown by
// the miss while its packed peak is over.
absl::StatusOr<Packed> PlanMixed(const Graph& graph, const PlanOptions& options, const CostModel& cost,
                                 int64_t alignment, const ParameterBytes& params, std::string* choice) {
  const int64_t batch = options.batch_size;
  SLIM_ASSIGN_OR_RETURN(Schedule approx2, BuildSchedule(graph, Strategy::kApprox2, batch, cost));
  const std::vector<MixedCandidate> candidates = MixedCandidates(graph, approx2);
  static const Sensitivity kNone;
  const Sensitivity sensitivity =
      CompleteSensitivity(candidates, options.sensitivity != nullptr ? *options.sensitivity : kNone);
  auto pack = [&](const std::vector<int>& checkpoints, const TensorBits& bits) -> absl::StatusOr<Packed> {
    SLIM_ASSIGN_OR_RETURN(Schedule s, BuildSchedule(graph, Strategy::kMixed, batch, cost, checkpoints, bits));
    return Pack(graph, std::move(s), options, alignment);
  };
  if (options.tensor_bits != nullptr) {
    *choice = absl::StrCat(DescribeMixedBits(*options.tensor_bits, candidates.size()), "; given, not chosen");
    return pack(options.mixed_checkpoints != nullptr ? *options.mixed_checkpoints : std::vector<int>{},
                *options.tensor_bits);
  }
  const double at2 = UniformMixedError(candidates, sensitivity, 2), at4 = UniformMixedError(candidates, sensitivity, 4);
  const bool measured = options.sensitivity != nullptr;
  double best_error = at2;
  SLIM_ASSIGN_OR_RETURN(Packed best, pack({}, ChooseMixedBits(candidates, sensitivity, 0, nullptr)));
  const int64_t budget = options.checkpoint_budget_bytes;
  if (budget <= 0) {
    SLIM_ASSIGN_OR_RETURN(Schedule approx4, BuildSchedule(graph, Strategy::kApprox4, batch, cost));
    ComputeLifetimes(graph, approx4);
    const TensorBits bits =
        ChooseMixedBits(candidates, sensitivity, SavedBytes(approx4) - SavedBytes(best.schedule), &best_error);
    SLIM_ASSIGN_OR_RETURN(best, pack({}, bits));
    *choice = DescribeMixedTry(graph, best.schedule, candidates.size(), best_error, at4, at2, measured);
    return best;
  }
  const int64_t arena_budget = budget - params.total();
  const int64_t margin0 = best.arena.arena_bytes - best.arena.lower_bound_bytes + alignment;
  std::vector<MixedTry> tries;
  SLIM_ASSIGN_OR_RETURN(std::optional<MixedTry> none, ChooseMixedFor(graph, cost, batch, candidates, sensitivity, {},
                                                                     arena_budget, margin0, alignment,
                                                                     options.data_parallel));
  if (none) tries.push_back(std::move(*none));
  if (options.mixed_recompute) {
    SLIM_ASSIGN_OR_RETURN(Schedule exact, BuildSchedule(graph, Strategy::kExact, batch, cost));
    ComputeLifetimes(graph, exact);
    SLIM_ASSIGN_OR_RETURN(const std::vector<PrefixSegmentation> prefixes,
                          PrefixSegmentations(graph, exact, alignment, arena_budget - margin0, options.stop));
    const size_t n = prefixes.size();
    const size_t tried = std::min<size_t>(n, kMixedPrefixes);
    for (size_t k = 1; k <= tried; ++k) {
      SLIM_RETURN_IF_ERROR(CheckStop(options.stop));
      const PrefixSegmentation& prefix = prefixes[k * n / tried - 1];
      SLIM_ASSIGN_OR_RETURN(std::optional<MixedTry> t,
                            ChooseMixedFor(graph, cost, batch, candidates, sensitivity, prefix.checkpoints,
                                           arena_budget, margin0, alignment, options.data_parallel));
      if (t) tries.push_back(std::move(*t));
    }
  }
  if (tries.empty()) {
    *choice = DescribeMixedTry(graph, best.schedule, candidates.size(), best_error, at4, at2, measured);
    return best;  // all at 2 bits, over the budget
  }
  // The target is approx4's predicted error (every tensor at 4 bits: the
  // paper's accuracy). Of the tries reaching it, the fewest recomputed FLOPs,
  // then the least error; if none does, the least error, and of the tries
  // within kMixedErrorTolerance of it the fewest FLOPs.
  const MixedTry* pick = nullptr;
  for (const MixedTry& t : tries) {
    if (t.error > at4 * (1 + 1e-9)) continue;
    if (pick == nullptr || t.recompute_flops < pick->recompute_flops ||
        (t.recompute_flops == pick->recompute_flops && t.error < pick->error)) {
      pick = &t;
    }
  }
  const bool reached = pick != nullptr;
  if (!reached) {
    double least = tries[0].error;
    for (const MixedTry& t : tries) least = std::min(least, t.error);
    for (const MixedTry& t : tries) {
      if (t.error <= least * kMixedErrorTolerance && (pick == nullptr || t.recompute_flops < pick->recompute_flops)) {
        pick = &t;
      }
    }
  }
  // Pack the pick; while its packed peak is over the budget, choose its bits
  // again with the miss taken off the limit.
  int64_t margin = margin0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    SLIM_RETURN_IF_ERROR(CheckStop(options.stop));
    SLIM_ASSIGN_OR_RETURN(std::optional<MixedTry> t, ChooseMixedFor(graph, cost, batch, candidates, sensitivity,
                                                                    pick->checkpoints, arena_budget, margin,
                                                                    alignment, options.data_parallel));
    if (!t) break;
    SLIM_ASSIGN_OR_RETURN(Packed p, pack(t->checkpoints, t->bits));
    const int64_t over = PeakBytes(p, params) - budget;
    if (over <= 0 || PeakBytes(p, params) < PeakBytes(best, params)) {
      best = std::move(p);
      best_error = t->error;
    }
    if (over <= 0) break;
    margin += over + alignment;
  }
  *choice = DescribeMixedTry(graph, best.schedule, candidates.size(), best_error, at4, at2, measured);
  absl::StrAppend(choice, reached ? "; approx4's error reached with the fewest recomputed FLOPs tried"
                                  : "; approx4's error not reachable in the budget: the least error tried");
  return best;
}

// Builds and packs the schedule of `strategy`, choosing checkpoints for the
// checkpointing strategies.
absl::StatusOr<Packed> PlanSchedule(const Graph& graph, Strategy strategy, const PlanOptions& options,
                                    const CostModel& cost, int64_t alignment, const ParameterBytes& params,
                                    std::string* choice) {
  const int64_t batch = options.batch_size;
  if (strategy == Strategy::kMixed) return PlanMixed(graph, options, cost, alignment, params, choice);
  if (!IsCheckpointing(strategy)) {
    SLIM_ASSIGN_OR_RETURN(Schedule s, BuildSchedule(graph, strategy, batch, cost));
    return Pack(graph, std::move(s), options, alignment);
  }
  SLIM_ASSIGN_OR_RETURN(Schedule exact, BuildSchedule(graph, Strategy::kExact, batch, cost));
  ComputeLifetimes(graph, exact);
  if (strategy == Strategy::kCheckpoint) {
    const CheckpointChoice choice = SqrtCheckpoints(graph, exact, alignment);
    SLIM_ASSIGN_OR_RETURN(Schedule s, BuildSchedule(graph, strategy, batch, cost, choice.checkpoints));
    return Pack(graph, std::move(s), options, alignment);
  }
  // checkpoint_optimal: the DP works on an estimate that is a little above
  // the packed arena. Pack its choice; if the packed peak misses the budget,
  // tighten the limit by the miss and retry; if it fits, loosen the limit by
  // bisection towards no checkpoints at all while the packed plan still fits,
  // keeping the plan with the least recompute.
  const int64_t budget = options.checkpoint_budget_bytes;
  if (budget <= 0) {
    SLIM_ASSIGN_OR_RETURN(const CheckpointChoice least, OptimalCheckpoints(graph, exact, alignment, 0, options.stop));
    SLIM_ASSIGN_OR_RETURN(Schedule s, BuildSchedule(graph, strategy, batch, cost, least.checkpoints));
    return Pack(graph, std::move(s), options, alignment);
  }
  auto pack_for_limit = [&](int64_t limit) -> absl::StatusOr<Packed> {
    SLIM_ASSIGN_OR_RETURN(const CheckpointChoice choice,
                          OptimalCheckpoints(graph, exact, alignment, limit, options.stop));
    SLIM_ASSIGN_OR_RETURN(Schedule s, BuildSchedule(graph, strategy, batch, cost, choice.checkpoints));
    return Pack(graph, std::move(s), options, alignment);
  };
  auto fits = [&](const Packed& p) { return PeakBytes(p, params) <= budget; };
  int64_t limit = budget - params.total();
  SLIM_ASSIGN_OR_RETURN(Packed best, pack_for_limit(limit));
  for (int attempt = 0; attempt < 4 && !fits(best) && limit > 0; ++attempt) {
    limit -= PeakBytes(best, params) - budget + alignment;
    if (limit <= 0) break;
    SLIM_ASSIGN_OR_RETURN(Packed tighter, pack_for_limit(limit));
    if (fits(tighter) || PeakBytes(tighter, params) < PeakBytes(best, params)) best = std::move(tighter);
  }
  if (!fits(best)) return best;
  // No checkpoints at all (the estimate's own limit) needs no recompute.
  int64_t lo = limit;
  SLIM_ASSIGN_OR_RETURN(const CheckpointChoice unlimited,
                        OptimalCheckpoints(graph, exact, alignment, int64_t{1} << 62, options.stop));
  int64_t hi = unlimited.estimated_peak_bytes;
  SLIM_ASSIGN_OR_RETURN(Packed none, pack_for_limit(hi));
  if (fits(none)) return none;
  for (int probe = 0; probe < 8 && lo + alignment < hi; ++probe) {
    const int64_t mid = lo + (hi - lo) / 2;
    SLIM_ASSIGN_OR_RETURN(Packed candidate, pack_for_limit(mid));
    if (fits(candidate)) {
      if (candidate.schedule.recompute_flops <= best.schedule.recompute_flops) best = std::move(candidate);
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return best;
}

// Buffer i of the plan is p.schedule.buffers[i] and step t its steps[t]
// (RunnablePlan's index alignment, which the engine relies on).
void FillDetail(const Graph& graph, const Packed& p, v1::MemoryPlan& plan) {
  const Schedule& s = p.schedule;
  for (size_t i = 0; i < s.buffers.size(); ++i) {
    const ScheduleBuffer& b = s.buffers[i];
    v1::Buffer* out = plan.add_buffers();
    out->set_id(static_cast<int32_t>(i));
    out->set_name(b.name);
    out->set_kind(b.kind);
    out->set_size_bytes(b.size_bytes);
    out->set_offset_bytes(p.buffer_offset[i]);
    out->set_first_step(b.first_step);
    out->set_last_step(b.last_step);
    out->set_layer(graph.node(b.node).name);
    for (int64_t d : b.shape) out->add_shape(d);
    out->set_saved(b.saved);
    out->set_representation(b.representation);
    if (b.saved || b.kind == v1::Buffer::ALLREDUCE) out->set_reason(b.reason);
    out->set_in_place_of(b.in_place_of);
    if (b.kind == v1::Buffer::CODE) out->set_coding(CodingName(b.coding));
    out->set_code_of(b.code_of);
    out->set_decoded_from(b.decoded_from);
  }
  for (size_t t = 0; t < s.steps.size(); ++t) {
    const ScheduleStep& step = s.steps[t];
    v1::Step* out = plan.add_steps();
    out->set_index(static_cast<int32_t>(t));
    out->set_kind(step.kind);
    if (step.node >= 0) out->set_layer(graph.node(step.node).name);
    for (int r : step.reads()) out->add_reads(r);
    for (int w : step.writes()) out->add_writes(w);
    out->set_flops(step.flops);
  }
}

// PlanMemory and PlanToRun: the plan (with buffers and steps when
// `include_buffers`) and the schedule it was packed from.
absl::StatusOr<RunnablePlan> MakePlan(const Graph& graph, Strategy strategy, const PlanOptions& options,
                                      const CostModel& cost, bool include_buffers) {
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size must be >= 1, got ", options.batch_size));
  }
  if (options.alignment_bytes < 0 || options.alignment_bytes > kMaxAlignmentBytes) {
    return absl::InvalidArgumentError(absl::StrCat("alignment_bytes must be in [0, ", kMaxAlignmentBytes, "], got ",
                                                   options.alignment_bytes));
  }
  if (!(options.arena_exact_seconds >= 0 && options.arena_exact_seconds <= kMaxArenaExactSeconds)) {
    return absl::InvalidArgumentError(absl::StrCat("arena_exact_seconds must be in [0, ", kMaxArenaExactSeconds,
                                                   "], got ", options.arena_exact_seconds));
  }
  if (options.budget_bytes < 0 || options.checkpoint_budget_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("budget must be >= 0 bytes, got ",
                                                   std::min(options.budget_bytes, options.checkpoint_budget_bytes)));
  }
  SLIM_RETURN_IF_ERROR(CheckDataParallelOptions(options.data_parallel, cost.element_bytes()));
  SLIM_RETURN_IF_ERROR(CheckStop(options.stop));
  // Sizes first: no cost model (a backend library) sees an unchecked shape.
  SLIM_RETURN_IF_ERROR(graph.CheckBatch(options.batch_size, cost.element_bytes()));
  const int64_t alignment = options.alignment_bytes > 0 ? options.alignment_bytes : cost.alignment_bytes();
  SLIM_ASSIGN_OR_RETURN(ParameterBytes params,
                        ParameterRegionBytes(graph, options.optimizer, cost.element_bytes()));
  std::string choice;
  SLIM_ASSIGN_OR_RETURN(Packed p, PlanSchedule(graph, strategy, options, cost, alignment, params, &choice));
  if (options.budget_bytes > 0 && options.arena_exact_seconds > 0) {
    SLIM_RETURN_IF_ERROR(FitArenaToBudget(options, alignment, options.budget_bytes - params.total(), p));
  }

  RunnablePlan out;
  v1::MemoryPlan& plan = out.plan;
  plan.set_strategy(StrategyName(strategy));
  plan.set_batch_size(options.batch_size);
  plan.set_model(graph.spec().name());
  plan.set_device(options.device);
  plan.set_cost_model(cost.name());
  plan.set_optimizer(options.optimizer);
  plan.set_parameter_count(graph.parameter_count());
  plan.set_parameter_bytes(params.parameters);
  plan.set_gradient_bytes(params.gradients);
  plan.set_optimizer_state_bytes(params.optimizer_state);
  plan.set_saved_activation_bytes(SavedBytes(p.schedule));
  plan.set_arena_bytes(p.arena.arena_bytes);
  plan.set_arena_lower_bound_bytes(p.arena.lower_bound_bytes);
  plan.set_arena_method(p.arena.method);
  plan.set_arena_proven_optimal(p.arena.proven_optimal);
  plan.set_arena_exact_search(p.arena.exact_search);
  plan.set_peak_bytes(PeakBytes(p, params));
  plan.set_forward_flops(p.schedule.forward_flops);
  plan.set_backward_flops(p.schedule.backward_flops);
  plan.set_recompute_flops(p.schedule.recompute_flops);
  plan.set_element_bytes(static_cast<int32_t>(cost.element_bytes()));
  plan.set_alignment_bytes(alignment);
  plan.set_budget_bytes(options.budget_bytes);
  plan.set_fits(options.budget_bytes <= 0 || plan.peak_bytes() <= options.budget_bytes);
  for (int c : p.schedule.checkpoints) plan.add_checkpoints(graph.node(c).name);
  plan.set_choice(choice);
  if (const DataParallelOptions& dp = options.data_parallel; dp.ranks > 1) {
    // One process's plan leaves these unset: it stays what it was before
    // data parallelism, byte for byte.
    const CommunicationVolume volume = CommunicationPerStep(graph, p.schedule, dp);
    plan.set_ranks(dp.ranks);
    plan.set_bucket_bytes(dp.bucket_bytes);
    plan.set_overlap_communication(dp.overlap_communication);
    plan.set_sync_batch_norm(dp.sync_batch_norm);
    plan.set_allreduce_gradient_bytes_per_step(volume.gradient_bytes);
    plan.set_sync_batch_norm_bytes_per_step(volume.sync_batch_norm_bytes);
    plan.set_sent_bytes_per_step(volume.sent_bytes);
    plan.set_allreduce_buckets(static_cast<int32_t>(p.schedule.buckets.size()));
  }
  if (include_buffers) FillDetail(graph, p, plan);
  out.schedule = std::move(p.schedule);
  return out;
}

}  // namespace

absl::StatusOr<int> OptimizerStateSlots(absl::string_view optimizer) {
  if (optimizer == "sgd") return 1;
  if (optimizer == "adam" || optimizer == "rmsprop") return 2;
  return absl::InvalidArgumentError(
      absl::StrCat("optimizer: unknown optimizer '", optimizer, "'; known: sgd, adam, rmsprop"));
}

absl::StatusOr<ParameterBytes> ParameterRegionBytes(const Graph& graph, absl::string_view optimizer,
                                                    int64_t element_bytes) {
  SLIM_ASSIGN_OR_RETURN(int slots, OptimizerStateSlots(optimizer));
  ParameterBytes b;
  b.parameters = (graph.parameter_count() + graph.buffer_count()) * element_bytes;
  b.gradients = graph.parameter_count() * element_bytes;
  b.optimizer_state = slots * graph.parameter_count() * element_bytes;
  return b;
}

absl::StatusOr<v1::MemoryPlan> PlanMemory(const Graph& graph, Strategy strategy, const PlanOptions& options,
                                          const CostModel& cost) {
  SLIM_ASSIGN_OR_RETURN(RunnablePlan r, MakePlan(graph, strategy, options, cost, options.include_buffers));
  return std::move(r.plan);
}

absl::StatusOr<RunnablePlan> PlanToRun(const Graph& graph, Strategy strategy, const PlanOptions& options,
                                       const CostModel& cost) {
  return MakePlan(graph, strategy, options, cost, /*include_buffers=*/true);
}

namespace {

using FitsProbe = std::function<absl::StatusOr<bool>(int64_t)>;

// The largest batch in [lo, hi) `fits` accepts, given that lo does and hi
// does not.
absl::StatusOr<int64_t> Bisect(int64_t lo, int64_t hi, const FitsProbe& fits) {
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    SLIM_ASSIGN_OR_RETURN(bool ok, fits(mid));
    (ok ? lo : hi) = mid;
  }
  return lo;
}

// The largest batch `fits` accepts, by doubling and then bisection, up to the
// graph's checked limit; 0 when batch 1 does not fit.
absl::StatusOr<int64_t> MaxBatchByProbes(const Graph& graph, const CostModel& cost, const FitsProbe& fits) {
  // Batches past the graph's size limits are not probed.
  const int64_t max_batch = graph.MaxCheckedBatch(cost.element_bytes());
  if (max_batch < 1) return 0;
  SLIM_ASSIGN_OR_RETURN(bool one, fits(1));
  if (!one) return 0;
  int64_t lo = 1, hi = 2;  // lo fits; hi is unknown, then does not fit
  while (hi <= max_batch) {
    SLIM_ASSIGN_OR_RETURN(bool ok, fits(hi));
    if (!ok) break;
    lo = hi;
    hi *= 2;
  }
  if (hi > max_batch) {
    // Everything up to the last power of two fits: search up to the limit.
    if (lo == max_batch) return lo;
    SLIM_ASSIGN_OR_RETURN(bool top, fits(max_batch));
    if (top) return max_batch;
    hi = max_batch;
  }
  return Bisect(lo, hi, fits);
}

}  // namespace

absl::StatusOr<int64_t> MaxBatchSize(const Graph& graph, Strategy strategy, const PlanOptions& options,
                                     const CostModel& cost) {
  if (options.budget_bytes <= 0) {
    return absl::InvalidArgumentError("max batch: a budget is needed (--budget, or a device's memory)");
  }
  // The probes pack with the heuristics alone (the exact search would cost
  // up to its budget at each of about 2·log2(batch) probes); the exact
  // search only lowers an arena, so the batch they find fits with it too,
  // and the batches just above it are then probed with it (below).
  PlanOptions probe = options;
  probe.include_buffers = false;
  probe.arena_exact_seconds = 0;
  auto fits = [&](int64_t batch) -> absl::StatusOr<bool> {
    probe.batch_size = batch;
    SLIM_ASSIGN_OR_RETURN(v1::MemoryPlan plan, PlanMemory(graph, strategy, probe, cost));
    return plan.peak_bytes() <= options.budget_bytes;
  };
  SLIM_ASSIGN_OR_RETURN(int64_t lo, MaxBatchByProbes(graph, cost, fits));
  if (lo == 0 || options.arena_exact_seconds <= 0) return lo;
  // With the exact search a few more may fit: gallop up from the last batch
  // that fits, then bisect.
  probe.arena_exact_seconds = options.arena_exact_seconds;
  const int64_t max_batch = graph.MaxCheckedBatch(cost.element_bytes());
  int64_t step = 1;
  int64_t hi = lo;
  while (true) {
    hi = std::min(max_batch + 1, lo + step);
    if (hi > max_batch) break;
    SLIM_ASSIGN_OR_RETURN(bool ok, fits(hi));
    if (!ok) break;
    lo = hi;
    step *= 2;
  }
  return Bisect(lo, hi, fits);
}

const std::vector<Strategy>& AutoOrder() {
  static const auto* order =
      new std::vector<Strategy>{Strategy::kExact, Strategy::kApprox8, Strategy::kApprox4, Strategy::kMixed,
                                Strategy::kCheckpointOptimal, Strategy::kApprox2};
  return *order;
}

absl::StatusOr<StrategyChoice> ChooseStrategy(const Graph& graph, const PlanOptions& options,
                                              const CostModel& cost) {
  if (options.budget_bytes <= 0) {
    return absl::InvalidArgumentError("strategy auto: a budget is needed (--budget, or a device's memory)");
  }
  StrategyChoice choice;
  std::vector<std::string> misses;
  const std::string budget = base::FormatBytes(options.budget_bytes);
  for (Strategy s : AutoOrder()) {
    SLIM_ASSIGN_OR_RETURN(v1::MemoryPlan plan, PlanMemory(graph, s, options, cost));
    choice.plans.push_back(plan);
    if (plan.fits()) {
      choice.fits = true;
      choice.strategy = s;
      misses.push_back(absl::StrFormat("%s fits in %s of %s", StrategyName(s), base::FormatBytes(plan.peak_bytes()),
                                       budget));
      if (s == Strategy::kMixed) absl::StrAppend(&misses.back(), " (", plan.choice(), ")");
      choice.reason = absl::StrJoin(misses, "; ");
      return choice;
    }
    misses.push_back(absl::StrFormat("%s needs %s > budget %s", StrategyName(s),
                                     base::FormatBytes(plan.peak_bytes()), budget));
  }
  choice.reason = absl::StrCat(absl::StrJoin(misses, "; "), "; nothing fits at batch ", options.batch_size,
                               ": try a smaller batch (--max-batch finds the largest)");
  return choice;
}

}  // namespace slimtrain::planner
