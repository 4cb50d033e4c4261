// recompute.h — where to cut the graph into recomputed segments.
//
// Both choosers pick checkpoints among the graph's cut points (CutPoints in
// schedule.h) using per-node byte counts taken from the exact schedule (with
// lifetimes computed), the "liveness bound":
//   S(v)  bytes node v's forward produces that exact keeps for backward,
//   ck(v) bytes a checkpoint at v keeps: its output plus its statistics or
//         argmax indices,
//   F(v)  transient bytes alive at v's forward step (live minus saved),
//   B(v)  transient bytes alive at v's backward step (live minus saved),
//   G(v)  the gradient of v's output.
// A segmentation with boundaries b1 < ... < bk is estimated to peak at the
// largest, over its segments (i, j], of C(i) (the input batch and the
// checkpoints up to i) plus
//   backward at v in (i, j]:  S(i+1..v) + B(v)
//   recompute at v in (i, j): S(i+1..v) + F(v) + S(j) + G(j)
// and for the last segment (t, end], not recomputed, S(t+1..v) + max(B, F).
// The estimate is not the packed arena (on the zoo it is 0-25% above it):
// callers build the schedule for the chosen checkpoints, pack it and check.
//
// SqrtCheckpoints (Chen et al. 2016): k = round(√m) checkpoints for m cut
// points, placed at the cut points nearest the k equal-byte quantiles of the
// exact saved bytes, so segments hold about equal memory.
//
// OptimalCheckpoints: dynamic programming over cut points.
//   1. h(j) = least checkpoint bytes C of a valid segmentation of the prefix
//      ending at cut j: h(j) = ck(j) + min h(i) over cuts i < j whose segment
//      (i, j] fits the limit L given h(i). O(m²) per limit.
//   2. The last segment (t, end] is not recomputed; recompute FLOPs are the
//      forward FLOPs of the nodes before t (less the checkpoint nodes), so the
//      earliest feasible t gives the least recompute.
//   3. Without a budget, binary search for the least feasible L (least peak).
// Optimal for the estimate; the estimate bounds the real peak from the exact
// schedule's transients, which recomputation can change slightly.
#ifndef SLIMTRAIN_PLANNER_RECOMPUTE_H_
#define SLIMTRAIN_PLANNER_RECOMPUTE_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "planner/graph.h"
#include "planner/plan_stop.h"
#include "planner/schedule.h"

namespace slimtrain::planner {

struct CheckpointChoice {
  std::vector<int> checkpoints;    // node ids, ascending
  int64_t estimated_peak_bytes = 0;  // arena bytes by the liveness estimate
  bool fits = true;                  // estimate <= the limit asked for
};

// `exact` is the exact schedule of the same graph and batch, lifetimes
// computed. Alignment rounds every size as the arena will.
CheckpointChoice SqrtCheckpoints(const Graph& graph, const Schedule& exact, int64_t alignment);

// The least-recompute segmentation whose estimated arena peak is at most
// `arena_limit_bytes`; with arena_limit_bytes <= 0, or when nothing fits, the
// least-peak segmentation (fits = false in the latter case). Fails only with
// `stop`'s status (plan_stop.h; nullptr: never), which it asks as it goes.
absl::StatusOr<CheckpointChoice> OptimalCheckpoints(const Graph& graph, const Schedule& exact, int64_t alignment,
                                                    int64_t arena_limit_bytes, const PlanStop* stop = nullptr);

// A recomputed prefix for a plan that codes the rest (mixed): the
// segmentation of the nodes up to cut point `cut` with the fewest checkpoint
// bytes whose recomputed segments fit the limit, by the estimate above.
struct PrefixSegmentation {
  int cut = 0;                    // node id of the last checkpoint
  std::vector<int> checkpoints;   // node ids, ascending, ending with `cut`
  int64_t checkpoint_bytes = 0;   // the input's and the checkpoints' bytes
};

// One per cut point that has a valid segmentation, ascending. Fails only
// with `stop`'s status.
absl::StatusOr<std::vector<PrefixSegmentation>> PrefixSegmentations(const Graph& graph, const Schedule& exact,
                                                                    int64_t alignment, int64_t arena_limit_bytes,
                                                                    const PlanStop* stop = nullptr);

}  // namespace slimtrain::planner

#endif  // SLIMTRAIN_PLANNER_RECOMPUTE_H_
